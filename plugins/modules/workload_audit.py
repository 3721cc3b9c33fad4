#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: workload_audit
short_description: Which running containers of a node really run in a VM, in gVisor or on the host's kernel
version_added: 0.1.0
description:
  - Lists every task of every containerd namespace of the instance (C(ctr namespaces ls), then per namespace
    C(ctr tasks ls), C(ctr containers ls) and one C(ctr containers info) per running container) and
    classifies each from the host's witness of its task PID (the shim above it and what runs below it) as
    V(host-process), V(vmm) (with the hypervisor), V(user-space-kernel) or V(unknown) with the reason.
  - Groups the containers into their pods by the CRI's labels and maps each to the configured runtime
    handler; a container whose runtime promises Kata or gVisor but which runs as an ordinary host process
    is an error-severity finding, a runc one that runs in a VM is information.
  - Strictly read-only; it starts, stops, signals and enters nothing. kata-fleet's own live probe
    containers are left out and counted. U(docs/audit.md) in the collection says what the audit can and
    cannot tell.
author:
  - kata-fleet developers (@kata-fleet)
extends_documentation_fragment:
  - kata_fleet.runtimes.containerd
options:
  names:
    description:
      - V(full) lists pods and containers by name; V(counts) reports counts and finding codes only, without any
        container id, pod, container, image or namespace name.
    type: str
    choices: [full, counts]
    default: full
  audit_sandboxed_namespaces:
    description:
      - Glob patterns over Kubernetes namespace names (label C(io.kubernetes.pod.namespace)). Every running
        container of a pod in a matching namespace must run V(vmm) (vm-isolated) or V(user-space-kernel);
        anything else, V(unknown) included, is an error-severity finding.
    type: list
    elements: str
    default: []
  max_containers:
    description: At most this many running containers are audited; more are an error-severity finding.
    type: int
    default: 2000
  parallel:
    description: How many C(ctr containers info) calls run at once.
    type: int
    default: 4
  timeout:
    description: Seconds the whole audit may take; what is left when it runs out is V(unknown), with that reason.
    type: int
    default: 60
attributes:
  check_mode:
    support: full
    description: It only reads, so it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes.
"""

EXAMPLES = r"""
- name: Which pods of this node are really sandboxed
  kata_fleet.runtimes.workload_audit:
    audit_sandboxed_namespaces: ["untrusted-*"]
  register: audit

- name: Counts only, for a report that leaves the site
  kata_fleet.runtimes.workload_audit:
    names: counts
"""

RETURN = r"""
audit:
  description:
    - C(status) (V(failed) when any finding is an error), C(names), C(namespaces), C(containers) (audited),
      C(not_running), C(excluded_probes), C(truncated), C(pods), C(classes) and C(vmms) (counts),
      C(handlers) (per configured handler, counts per class), C(configured_handlers), C(policy),
      C(findings_by_severity), C(findings), C(ctr_calls), C(processes_read), C(seconds).
    - With O(names=full) also C(namespace_names), C(excluded), C(pods_list) and C(containers_list); a finding has
      C(severity), C(code), C(message) and C(container) (namespace, id). With O(names=counts) a finding is
      C(severity), C(code) and C(count) only.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _audit
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import ContainerdError
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._module import (
    connected_client,
    containerd_argument_spec,
)


def main():
    module = AnsibleModule(argument_spec=containerd_argument_spec(**_audit.ARGUMENT_SPEC), supports_check_mode=True)
    params = module.params
    problem = _audit.problem(params)
    if problem:
        module.fail_json(msg=problem)
    client = connected_client(module)
    try:
        result = _audit.audit(client, params["names"], params["audit_sandboxed_namespaces"], params["max_containers"],
                              params["parallel"], params["timeout"])
    except (ContainerdError, _audit.AuditError) as error:
        module.fail_json(msg=str(error))
    module.exit_json(changed=False, audit=result)


if __name__ == "__main__":
    main()
