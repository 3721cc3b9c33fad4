#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: startup_bench
short_description: Time container startup under each runtime handler
version_added: 0.1.0
description:
  - For each runtime handler, runs O(warmup) uncounted containers, then O(runs) counted runs of a
    no-op container (C(/bin/true)) from the probe image, each the same single command a user would
    time (C(ctr run --rm), or C(nerdctl run --rm) where nerdctl is used). The image is already in
    containerd (M(kata_fleet.runtimes.probe_image)), so no pull is timed.
  - Reports n, min, median, mean, p95, p99, max, sample standard deviation and coefficient of
    variation, in seconds. Each sample is the command's own lifetime, from its start to the moment
    it was reaped, with its output bounded (not the read loop of C(AnsibleModule.run_command), which
    can add a whole second to a sample).
  - Then O(phase_runs) more containers go through ctr's separate steps to split the time into
    phases, that is C(create) (container record and snapshot), C(start) (the shim starts, the runtime
    creates and starts the task), C(task_delete) (waits for the exit, tears the task and shim down)
    and C(remove) (container and snapshot). Each phase carries the cost of one ctr invocation, so
    the phases add up to more than the single-command total. ctr cannot tell when the first output
    appears, so that is not split.
  - Where the guest's kernel log is readable and the kernel is not the host's (a VM runtime), also
    the guest kernel's own boot time, taken from its C(Freeing unused kernel) line as Kata's
    launch-time metrics do.
  - Every container is removed on success, failure and timeout; the sweep of M(kata_fleet.runtimes.isolation_probe)
    runs first.
author:
  - kata-fleet developers (@kata-fleet)
extends_documentation_fragment:
  - kata_fleet.runtimes.containerd
  - kata_fleet.runtimes.probe_run
  - kata_fleet.runtimes.capabilities.startup
attributes:
  check_mode:
    support: full
    description: Reports what it would measure (handlers, number of containers) and runs nothing.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
  facts:
    support: full
    description: Returns its result under C(ansible_facts.kata_fleet_startup).
"""

EXAMPLES = r"""
- name: Time startup of every configured handler
  kata_fleet.runtimes.startup_bench:
    image: "{{ probe.image }}"

- name: A longer series for runc and kata
  kata_fleet.runtimes.startup_bench:
    image: "{{ probe.image }}"
    runtimes: [runc, kata]
    runs: 30
    warmup: 3
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: success
  type: dict
  contains:
    kata_fleet_startup:
      description:
        - C(run_id), C(image), C(check_mode), and C(runtimes), one entry per handler with C(status), C(error),
          C(client), C(total) (statistics of the counted runs, seconds), C(samples), C(phases)
          (statistics per phase), C(phases_skipped) (why there are no phases, e.g. for a handler whose
          BinaryName ctr containers create cannot pass) and C(guest_kernel_boot_seconds).
      returned: success
      type: dict
      sample:
        runtimes:
          runc:
            status: ok
            client: ctr
            total: {n: 10, min: 0.118, median: 0.124, mean: 0.126, p95: 0.137, p99: 0.139, max: 0.14,
                    stdev: 0.006, cov: 0.048}
            phases: {create: {median: 0.031}, start: {median: 0.069}, task_delete: {median: 0.027},
                     remove: {median: 0.024}}
            guest_kernel_boot_seconds: null
startup:
  description: The same data as RV(ansible_facts.kata_fleet_startup), also returned when a handler failed.
  returned: when the handlers were probed
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _startup
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._module import (
    finish,
    prepare_probe_run,
    probe_run_argument_spec,
)


def main():
    module = AnsibleModule(argument_spec=probe_run_argument_spec(**_startup.ARGUMENT_SPEC), supports_check_mode=True)
    problem = _startup.problem(module.params)
    if problem:
        module.fail_json(msg=problem)
    finish(module, _startup.run(prepare_probe_run(module)))


if __name__ == "__main__":
    main()
