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
  - Adds what only the host can tell, that is whether C(/dev/kvm) is usable (it is opened and asked
    for its API version, which also works on nested hosts whose C(/proc/cpuinfo) hides vmx and svm),
    vhost, vhost_net and vhost_vsock, the cgroup version, the versions of containerd, ctr, runc,
    nerdctl and the Kata shim, and the runtime handlers containerd has configured.
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

- name: Show whether KVM is usable
  ansible.builtin.debug:
    var: ansible_facts.kata_fleet_host.kvm.usable
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
          C(boot_id), C(boot_time), C(cpu_model), C(hypervisor_flag), C(cpus), C(mem_total_kib),
          C(proc_entries), C(modules), C(modules_available), C(interfaces), C(kernel_cmdline)
          and C(dmesg).
        - Host-only keys are C(architecture), C(virtualization_flags), C(kvm), C(vhost),
          C(cgroup_version), C(tools) (path, version and output line of each tool) and C(containerd)
          (address, namespace, whether it answers, server version, handlers, error).
      returned: always
      type: dict
      sample:
        kernel_release: 6.1.0-18-amd64
        boot_id: 5d1f3c0e-8d52-4a53-a1f4-3c4f3c7a2f10
        cpu_model: Intel(R) Xeon(R) CPU @ 2.20GHz
        proc_entries: 119
        modules: null
        modules_available: false
        kvm: {device: /dev/kvm, present: true, usable: true, api_version: 12, error: null}
        cgroup_version: hybrid
        containerd:
          address: /run/containerd/containerd.sock
          answers: true
          version: 1.6.20~ds1
          handlers: {runc: {runtime_type: io.containerd.runc.v2, options: {}}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import ContainerdError
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._hostinfo import host_facts
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._module import (
    client_from_params,
    containerd_argument_spec,
)


def containerd_view(module):
    """containerd's state for the report; a daemon that does not answer is a fact, not a failure."""
    view = {"address": module.params["address"], "namespace": module.params["namespace"],
            "config_path": module.params["config_path"], "answers": False, "version": None,
            "handlers": {}, "error": None}
    try:
        client = client_from_params(module)
        view["version"] = client.ping()
        view["answers"] = True
        view["handlers"] = client.runtime_handlers()
    except ContainerdError as error:
        view["error"] = str(error)
    return view


def main():
    module = AnsibleModule(argument_spec=containerd_argument_spec(), supports_check_mode=True)
    facts = host_facts(module)
    facts["containerd"] = containerd_view(module)
    module.exit_json(changed=False, ansible_facts={"kata_fleet_host": facts})


if __name__ == "__main__":
    main()
