#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: workload_bench
short_description: What each runtime handler costs a running workload, as a ratio to the host
version_added: 0.1.0
description:
  - Runs the same workloads with the same static busybox binary on the host and in one container per
    handler and workload, and reports each workload's median, spread (CoV) and ratio to the host measured
    in the same run. The workloads are described under O(workloads); U(docs/workloads.md) in the collection
    says what each figure tells and does not tell.
  - The counts are calibrated on the host so one repeat takes about O(workload_repeat_seconds); every
    container runs the same counts unless it is too slow for them (below). The repeats run inside one
    container, after an uncounted warm-up, so
    container startup is not counted. They are timed from inside with C(busybox ts -s %.s) (microseconds;
    BusyBox 1.35 has no sub-second C(date)), checked against C(/proc/uptime) inside and against the
    container's whole run as the host timed it; a disagreement fails the workload.
  - The warm-up is a series of short probes (1/256 of the host's count, four times more each time); a runtime
    whose probes say one repeat of the host's count would take more than three O(workload_repeat_seconds)
    runs fewer units a repeat there, sized to about O(workload_repeat_seconds). Ratios are per unit of work
    (seconds per unit over the host's), so they stay comparable.
  - Every step is bounded inside the container; the repeats run in their own session and a watchdog kills it
    when O(workload_budget) is spent. A workload cut that way, or that stops before the budget would be
    exceeded, is V(over_budget) with the repeats it completed (its largest warm-up probe when no repeat
    finished, or only a lower bound C(ratio_at_least) when nothing did); a slow runtime is a measured result,
    not a failure. A container that still does not finish by the probe timeout is killed and removed, as every
    probe's is; that workload fails, the others are still measured.
  - A ratio is inside the noise when it differs from 1 by no more than twice the combined spread (CoV) of one
    repeat on each side; each handler's C(summary) says which differences are inside it and which are not.
  - The container's output is untrusted, so it is framed by marker lines with a per-run nonce, every line and
    number is checked; anything else fails that workload.
author:
  - kata-fleet developers (@kata-fleet)
extends_documentation_fragment:
  - kata_fleet.runtimes.containerd
  - kata_fleet.runtimes.probe_run
  - kata_fleet.runtimes.capabilities.workload
options:
  busybox_path:
    description:
      - The static busybox the host run uses. It should be the file the probe image was built from
        (M(kata_fleet.runtimes.probe_image)'s O(kata_fleet.runtimes.probe_image#module:busybox_path)), so the
        host and the containers run one binary; C(same_busybox) in RV(workload) says whether they did.
    type: path
    default: /bin/busybox
attributes:
  check_mode:
    support: full
    description: Reports what it would measure (handlers, workloads, containers, the longest it may take) and runs nothing.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
  facts:
    support: full
    description: Returns its result under C(ansible_facts.kata_fleet_workload).
"""

EXAMPLES = r"""
- name: Measure what every configured handler costs a workload
  kata_fleet.runtimes.workload_bench:
    image: "{{ probe.image }}"

- name: Only CPU and system calls, for runc and gVisor, with longer repeats
  kata_fleet.runtimes.workload_bench:
    image: "{{ probe.image }}"
    runtimes: [runc, runsc]
    workloads: [cpu, syscall]
    workload_repeats: 9
    workload_repeat_seconds: 0.2
    workload_budget: 5
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: success
  type: dict
  contains:
    kata_fleet_workload:
      description: The same data as RV(workload).
      returned: success
      type: dict
workload:
  description:
    - C(run_id), C(image), C(check_mode), C(busybox), C(same_busybox) (the image is the one built from
      O(busybox_path)), C(workloads), C(repeats), C(repeat_seconds), C(budget_seconds), C(clock) and
      C(noise_rule) (sentences), C(host) (per workload, the host's entry) and C(runtimes) (per handler).
    - A workload entry has C(status) (V(ok), V(over_budget) or V(failed)), C(error), C(count) and C(unit) (the
      amount of work of one counted repeat, the host's calibrated count, or fewer under a runtime too slow for
      it), C(samples) (seconds per counted repeat), C(sample_count) (units in each sample), C(unit_seconds)
      (the median sample per unit), C(stats) (n, min, median, mean, p50, p95, p99, max, stdev, cov),
      C(probes) (the warm-up probes that finished, each C(count) and C(seconds)), C(cut) (the step the watchdog
      killed at the budget, with C(step), C(count), C(seconds), or null), C(warmup_seconds), C(inner_seconds) (the container's
      own timing of all its repeats), C(outer_seconds) (the whole run as the host timed it, startup included),
      C(file_system) (the file system type seen inside, for the I/O workloads), C(warmup_counted) (the warm-up
      alone used the budget and is the only sample), C(clock_note) (the stamps and C(/proc/uptime) disagreed inside).
    - A runtime's workload entry also has C(host_count), C(ratio) (its seconds per unit over the host's; above
      1 is slower), C(ratio_at_least) (when nothing finished within the budget, the lower bound the cut step
      gives, C(ratio) being null), C(noise)
      (the half-width of the noise band around 1) and C(within_noise). A runtime entry has C(handler),
      C(runtime_type), C(client), C(status), C(error), C(workloads) and C(summary), a sentence saying which
      differences are inside the noise.
    - In check mode C(runtimes) holds per handler C(status=planned), C(containers), C(workloads) and
      C(at_most_seconds).
  returned: when the handlers were probed, also when one failed
  type: dict
  sample:
    same_busybox: true
    host:
      cpu: {status: ok, count: 41937, unit: loop iterations, stats: {n: 7, median: 0.101, cov: 0.03}}
    runtimes:
      runsc:
        status: ok
        workloads:
          cpu: {status: ok, ratio: 1.02, noise: 0.09, within_noise: true, stats: {n: 7, median: 0.103, cov: 0.03}}
          syscall: {status: ok, count: 390, host_count: 91812, ratio: 212.4, noise: 0.31, within_noise: false}
        summary: "Inside the noise: cpu 1.02x +/-0.09; outside the noise, a real difference: syscall ..."
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _workload
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._module import (
    finish,
    prepare_probe_run,
    probe_run_argument_spec,
)


def main():
    spec = probe_run_argument_spec(busybox_path=dict(type="path", default=_workload.DEFAULT_BUSYBOX),
                                   **_workload.ARGUMENT_SPEC)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    problem = _workload.problem(module.params)
    if problem:
        module.fail_json(msg=problem)
    finish(module, _workload.run(prepare_probe_run(module)))


if __name__ == "__main__":
    main()
