#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: isolation_probe
short_description: Prove what isolation each containerd runtime handler gives, from inside a container
version_added: 0.1.0
description:
  - For each runtime handler, runs ONE container from the probe image that gathers every isolation
    fact at once, that is the kernel release and C(uname -a), the boot id, the CPU model and hypervisor
    flag, the count of C(/proc) entries and of loaded modules, the network interfaces, the head of
    C(dmesg) or the fact that it was refused, the kernel command line, memory and CPUs.
  - Compares each view with the host's and gives a verdict, V(shared-kernel) when the boot id equals
    the host's (the same running kernel), V(vm-isolated) when the boot id differs and the guest shows
    a separately booted kernel and a hypervisor, V(unknown) with the reason otherwise. Version strings
    alone never decide.
  - Every container it creates is removed on success, failure and timeout. Names carry the run id
    and labels name the owning process and an expiry, and each run first sweeps what an interrupted
    earlier run left behind (reported in RV(swept)).
  - The probe container gets a network namespace of its own with no interfaces but loopback; the
    module creates no network, so no network namespace or IP reservation can leak.
  - Fails when any requested handler could not be probed, after probing all of them; the per-handler
    results, failures included, are still returned.
author:
  - kata-fleet developers (@kata-fleet)
extends_documentation_fragment:
  - kata_fleet.runtimes.containerd
  - kata_fleet.runtimes.probe_run
attributes:
  check_mode:
    support: full
    description: A probe changes nothing that outlives it, so it runs in check mode too.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
  facts:
    support: full
    description: Returns its result under C(ansible_facts.kata_fleet_isolation).
"""

EXAMPLES = r"""
- name: Probe every configured handler
  kata_fleet.runtimes.isolation_probe:
    image: "{{ probe.image }}"

- name: Probe runc and kata only, on a second containerd instance
  kata_fleet.runtimes.isolation_probe:
    image: "{{ probe.image }}"
    runtimes: [runc, kata]
    address: /run/containerd-2/containerd.sock
    config_path: /etc/containerd-2/config.toml
"""

RETURN = r"""
swept:
  description: Leftovers of interrupted earlier runs that this run removed.
  returned: always
  type: list
  elements: str
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: success
  type: dict
  contains:
    kata_fleet_isolation:
      description:
        - C(run_id), C(image), C(host) (the host's view) and C(runtimes), one entry per handler with
          C(status) (V(ok) or V(failed)), C(error), C(runtime_type), C(client), C(seconds), the
          container's view (the same keys as the host's), C(verdict), C(verdict_reason) and
          C(evidence).
      returned: success
      type: dict
      sample:
        run_id: 20261201T040000-1a2b
        runtimes:
          runc:
            status: ok
            kernel_release: 6.1.0-18-amd64
            proc_entries: 55
            verdict: shared-kernel
            evidence: ["boot id 5d1f... equals the host's: the container runs on the host kernel"]
isolation:
  description: The same data as RV(ansible_facts.kata_fleet_isolation), also returned when a handler failed.
  returned: when the handlers were probed
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _probe
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._hostinfo import host_sections
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._module import (
    prepare_probe_run,
    probe_run_argument_spec,
)


def probe_handler(client, name, handler, image, run_id, timeout, host):
    """One container run under ``handler``; its facts, or the reason there are none."""
    container = client.container_name(run_id, name, "iso")
    run = client.run_once(container, image, handler, ["/bin/sh", "-c", _probe.script()], run_id, timeout)
    entry = {"handler": name, "runtime_type": handler["runtime_type"], "seconds": round(run.seconds, 3),
             "client": "nerdctl" if client.uses_nerdctl(handler) else "ctr", "status": "failed", "error": None}
    if run.timed_out:
        entry["error"] = ("the probe container did not finish within %ds; it was killed and removed "
                          "(raise timeout if this runtime is just slow to start)" % timeout)
    elif run.rc != 0 or not _probe.is_complete(run.stdout):
        tail = " ".join((run.stderr or run.stdout).strip().splitlines()[-3:])
        entry["error"] = "the probe container failed (rc=%d): %s" % (run.rc, tail or "no output")
    else:
        entry.update(_probe.parse_output(run.stdout))
        entry["verdict"], entry["verdict_reason"], entry["evidence"] = _probe.verdict(host, entry)
        entry["status"] = "ok"
    return entry


def main():
    module = AnsibleModule(argument_spec=probe_run_argument_spec(), supports_check_mode=True)
    params = module.params
    client, handlers, requested, run_id, swept = prepare_probe_run(module)
    host = _probe.facts_from_sections(host_sections(module))
    runtimes = dict(
        (name, probe_handler(client, name, handlers[name], params["image"], run_id, params["timeout"], host))
        for name in requested)
    isolation = {"run_id": run_id, "image": params["image"], "host": host, "runtimes": runtimes}
    failed = sorted(name for name, entry in runtimes.items() if entry["status"] != "ok")
    if failed:
        module.fail_json(msg="; ".join("%s: %s" % (name, runtimes[name]["error"]) for name in failed),
                         swept=swept, isolation=isolation)
    module.exit_json(changed=False, swept=swept, isolation=isolation,
                     ansible_facts={"kata_fleet_isolation": isolation})


if __name__ == "__main__":
    main()
