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
    fact at once, that is the kernel release and C(uname -a), the boot id, the boot time and uptime,
    the CPU model and hypervisor flag, the count of C(/proc) entries and of loaded modules, the
    network interfaces, the kernel command line, the DMI vendor, the head of C(dmesg) or the fact
    that it was refused, the signal lines of the WHOLE kernel log, memory and CPUs.
  - Compares each view with the host's and gives one of four verdicts (docs/verdicts.md),
    V(shared-kernel) when the boot id equals the host's (the same running kernel),
    V(user-space-kernel) for an application kernel such as gVisor (its fixed build string, its
    C(-gvisor) release or boot image, its log), V(vm-isolated) when the guest shows a kernel of its own
    AND a sign of a hypervisor in it, V(unknown) with the reason otherwise. Version strings alone never
    decide. Names the sandbox where the signals allow (for example V(kata/qemu), V(gvisor)).
  - The output is framed with a nonce drawn for each run, every section once and in order; output
    that breaks the framing (a forged or repeated section, a missing end, oversize output) fails that
    handler's probe as garbled or forged, with no verdict. Every value is bounded and checked; a bad
    one is listed in C(fact_errors) and left out.
  - Two witnesses. The container's output is its own word (an image's C(/bin/sh) can rewrite it), so
    while the probe container is alive (it ends in C(exec sleep)) the module also looks from the host,
    that is the task's PID as containerd reports it, the containerd shim above it (root, a root-owned
    shim binary), the real binary, owner and namespaces of the processes below it. The host's
    witness (C(host_witness) in RV(ansible_facts.kata_fleet_isolation)) is V(host-process), V(vmm),
    V(user-space-kernel) or V(unknown). Where the two disagree the probe fails as "contradicted by the
    host" with no verdict; a verdict never claims more isolation than the host saw.
  - The image is judged by content. It counts as V(built) only when its digest is the one the probe
    image built from O(busybox_path) has (the build is reproducible); any other image, whatever its
    name, is V(registry) and each result says so in C(image_source), C(image_digest) and its evidence.
  - Every container it creates is removed on success, failure and timeout. Names carry the run id
    and labels name the owning process and an expiry, and each run first sweeps what an interrupted
    earlier run left behind (reported in RV(swept)).
  - The probe container gets a network namespace of its own with no interfaces but loopback; the
    module creates no network, so no network namespace or IP reservation can leak.
  - Fails when any requested handler could not be probed, after probing all of them; the per-handler
    results, failures included, are still returned.
author:
  - kata-fleet developers (@kata-fleet)
options:
  busybox_path:
    description:
      - The static busybox the probe image is built from (as for M(kata_fleet.runtimes.probe_image)); the
        digest of the image built from it decides whether O(image) is kata-fleet's own (C(image_source)).
    type: path
    default: /bin/busybox
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
        - C(run_id), C(image), C(image_source) (V(built) when the image's digest is the one kata-fleet
          builds, else V(registry)), C(image_digest), C(host) (the host's view) and C(runtimes), one
          entry per handler with C(status) (V(ok) or V(failed)), C(error), C(runtime_type), C(client)
          (V(ctr)), C(seconds), C(image_source), C(image_digest), the container's view (the same keys
          as the host's, C(fact_errors) included), C(verdict) (V(shared-kernel), V(vm-isolated),
          V(user-space-kernel) or V(unknown)), C(verdict_reason), C(evidence) (sentences),
          C(sandbox) (for example V(kata/qemu), V(gvisor), or null), C(signals) (the short names
          of the signs that counted), C(host_witness) (what the host saw of the container, that is
          C(class), C(reason), C(task_pid), C(vmm), C(binary), C(shim), C(evidence)) and C(witness)
          (V(agrees), V(contradicted) or V(host-unknown)).
        - A contradicted probe has C(status=failed), no C(verdict), an C(error) starting with
          "contradicted by the host" and C(contradiction) (C(container), C(host)).
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
            verdict_reason: null
            sandbox: null
            signals: [boot-id-equal]
            image_source: built
            image_digest: "sha256:9b2a6f0c1d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c"
            witness: agrees
            host_witness:
              class: host-process
              reason: null
              task_pid: 4242
              vmm: null
              binary: /bin/busybox
              shim: {pid: 4230, binary: /usr/bin/containerd-shim-runc-v2}
              evidence: ["seen from the host: sh (binary /bin/busybox, root, not a trusted host binary), pid 4242, ..."]
            fact_errors: []
            evidence: ["boot id 5d1f... equals the host's: the container runs on the host kernel"]
isolation:
  description: The same data as RV(ansible_facts.kata_fleet_isolation), also returned when a handler failed.
  returned: when the handlers were probed
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _isolation
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._module import (
    finish,
    prepare_probe_run,
    probe_run_argument_spec,
)


def main():
    module = AnsibleModule(argument_spec=probe_run_argument_spec(busybox_path=dict(type="path", default="/bin/busybox")),
                           supports_check_mode=True)
    finish(module, _isolation.run(prepare_probe_run(module)))


if __name__ == "__main__":
    main()
