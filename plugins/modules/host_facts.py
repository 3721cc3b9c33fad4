#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: host_facts
short_description: The host's view of its kernel, CPU, virtualization support and container runtimes
version_added: 0.1.0
description:
  - Returns the host side of every isolation fact that M(kata_fleet.runtimes.isolation_probe)
    gathers inside containers (kernel release, boot id, CPU model, C(/proc) entries, loaded
    modules, network interfaces, kernel command line, the head of the kernel log), so the two
    can be compared field for field.
  - Adds what only the host can tell, that is what was checked about KVM (C(/dev/kvm) is opened and
    asked for its API version, and C(/proc/cpuinfo) is read for vmx and svm; no guest is started, so
    on a nested host without vmx or svm the result says the device answers but guests may not run),
    vhost, vhost_net and vhost_vsock, the cgroup version, the versions of containerd, ctr, runc,
    nerdctl and the Kata shim, and the runtime handlers containerd has configured.
  - The shared keys go through the isolation probe's own parser and bounds, so a bad value is a
    C(fact_errors) entry here as it is in a container's view.
  - A containerd that does not answer is reported in the facts, not as a failure, so the host's
    own view is still collected.
author:
  - kata-fleet developers (@kata-fleet)
extends_documentation_fragment:
  - kata_fleet.runtimes.containerd
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
  facts:
    support: full
    description: Returns its result under C(ansible_facts.kata_fleet_host).
"""

EXAMPLES = r"""
- name: Gather the host's runtime and virtualization facts
  kata_fleet.runtimes.host_facts:
    address: "{{ kata_fleet_containerd_address | default('/run/containerd/containerd.sock') }}"

- name: Show what was checked about KVM
  ansible.builtin.debug:
    var: ansible_facts.kata_fleet_host.kvm.summary
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: dict
  contains:
    kata_fleet_host:
      description:
        - The host's view. Keys shared with the isolation probe are C(kernel_release), C(uname),
          C(boot_id), C(boot_id_status), C(boot_time), C(uptime_seconds), C(idle_seconds), C(cpu_model),
          C(hypervisor_flag), C(cpus), C(mem_total_kib), C(proc_entries), C(modules),
          C(modules_available), C(interfaces), C(kernel_cmdline), C(dmi_present), C(dmi), C(dmesg),
          C(dmesg_signals), C(hypervisor_log) and C(fact_errors).
        - Host-only keys are C(architecture), C(virtualization_flags), C(kvm), C(vhost),
          C(cgroup_version), C(tools) (path, version and output line of each tool) and C(containerd)
          (address, namespace, whether it answers, server version, handlers, error).
        - C(kvm) says what was checked and only that. C(answers) is true when C(/dev/kvm) answered
          KVM_GET_API_VERSION with 12; C(usable) is kept for older policies and reports and means
          exactly C(answers). C(cpu_virtualization_flags) lists vmx/svm from C(/proc/cpuinfo),
          C(guest_started) is always false (no guest is booted), C(checked) lists what was checked,
          C(summary) says it in one sentence, and C(warning) is set when the device answers on a host
          without vmx or svm (nested), where KVM guests may not run.
      returned: always
      type: dict
      sample:
        kernel_release: 6.1.0-18-amd64
        boot_id: 5d1f3c0e-8d52-4a53-a1f4-3c4f3c7a2f10
        cpu_model: Intel(R) Xeon(R) CPU @ 2.20GHz
        proc_entries: 119
        modules: null
        modules_available: false
        kvm:
          device: /dev/kvm
          present: true
          answers: true
          usable: true
          api_version: 12
          cpu_virtualization_flags: []
          hypervisor_flag: true
          guest_started: false
          checked: ["the KVM device answers, API 12", "no vmx/svm flag in /proc/cpuinfo"]
          summary: "the KVM device answers, API 12; no vmx/svm flag in /proc/cpuinfo: nested, guests may not run"
          warning: "nested virtualization without vmx/svm in /proc/cpuinfo: the KVM device answers, but KVM guests may not run"
          error: null
        cgroup_version: hybrid
        containerd:
          address: /run/containerd/containerd.sock
          answers: true
          version: 1.6.20~ds1
          handlers: {runc: {runtime_type: io.containerd.runc.v2, options: {}}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _hostview
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._module import containerd_argument_spec, finish


def main():
    module = AnsibleModule(argument_spec=containerd_argument_spec(), supports_check_mode=True)
    finish(module, _hostview.run(module)[0])


if __name__ == "__main__":
    main()
