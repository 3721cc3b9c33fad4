#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: verify_host
short_description: Everything verify needs from a host in one module run
version_added: 0.2.0
description:
  - Runs, in one process, what M(kata_fleet.runtimes.host_facts), M(kata_fleet.runtimes.probe_image),
    M(kata_fleet.runtimes.isolation_probe), M(kata_fleet.runtimes.startup_bench),
    M(kata_fleet.runtimes.http_latency), M(kata_fleet.runtimes.workload_bench) and
    M(kata_fleet.runtimes.workload_audit) do, in that order, with the same code. One module run per host saves
    the fixed cost of six more (building the module on the controller, starting Python and importing on the
    host, and over SSH several round trips each).
  - One containerd client, one ping, one read of the runtime handlers and one sweep of what interrupted
    earlier runs left serve every capability.
  - Each capability fails on its own; one that fails never hides the others. The probes need the probe
    image, so when containerd does not answer or the image cannot be made, they fail with that reason while
    the host's view is still returned.
  - The options are those of the seven modules, with the same meaning; O(image) is the registry image to
    pull (as for M(kata_fleet.runtimes.probe_image)), and the probes run whatever image that step gives.
    M(kata_fleet.runtimes.workload_audit)'s own options take the prefix C(audit_) here (O(audit_names),
    O(audit_timeout), ...), as its O(kata_fleet.runtimes.workload_audit#module:timeout) would clash with the probes'.
  - Fails when any capability failed, with every failed capability's message; each capability's own result
    is in RV(module_results) either way (C(results) is a name Ansible keeps for loops).
  - "An action plugin of the same name runs on the controller around the one module run, so that
    C(playbooks/verify.yml) is one task per host: it reads verify's settings, the C(kata_fleet_*) variables
    (README.md, C(roles/kata_fleet/meta/argument_specs.yml)), checks them and the policies before anything runs
    on the host (a problem fails the host naming the variable or the policy), builds the module's options from
    them, runs the module once, evaluates the runtime policies on the controller as
    M(kata_fleet.runtimes.policy_check) does (RV(module_results.policy_check)), and fails the host when a
    capability or an error-severity policy failed, with every message."
  - "It also fails the host when it weakened since the previous run (C(kata_fleet_fail_on_weakening), default
    true), judged against the previous bundle the M(kata_fleet.runtimes.comparison) callback read and verified
    once when the play started; without that callback nothing is judged here. See C(docs/evidence.md)."
  - An option given on the task (or in C(module_defaults)) wins over the setting it stands for
    (O(address) over C(kata_fleet_containerd_address), O(runtimes) over C(kata_fleet_runtimes), ...).
    C(kata_fleet_bin_dir) is put first on the module's C(PATH).
  - C(--tags) and C(--skip-tags) naming the phases C(facts), C(isolation), C(startup), C(http), C(workload),
    C(audit) and C(policy)
    pick what runs (the host's view always runs); tags that name none of them run every phase.
  - Like C(playbooks/verify.yml), the action stops when the M(kata_fleet.runtimes.comparison) callback is not
    enabled, unless C(kata_fleet_require_comparison) is false (a play of your own that only registers the result).
author:
  - kata-fleet developers (@kata-fleet)
extends_documentation_fragment:
  - kata_fleet.runtimes.containerd
  - kata_fleet.runtimes.capabilities.image
  - kata_fleet.runtimes.probe_run
  - kata_fleet.runtimes.capabilities.startup
  - kata_fleet.runtimes.capabilities.http
  - kata_fleet.runtimes.capabilities.workload
options:
  image:
    description:
      - A registry image to pull instead of building the probe image (as for
        M(kata_fleet.runtimes.probe_image)). It must provide C(/bin/sh), the busybox applets the probes use
        and busybox C(httpd) (alpine does). Every probe runs the image this step gives.
    type: str
    required: false
  capabilities:
    description:
      - Which probes to run besides the host's view, which always runs. V(isolation) is
        M(kata_fleet.runtimes.isolation_probe), V(startup) M(kata_fleet.runtimes.startup_bench), V(http)
        M(kata_fleet.runtimes.http_latency), V(workload) M(kata_fleet.runtimes.workload_bench) and V(audit)
        M(kata_fleet.runtimes.workload_audit) (read-only, run last, after every probe container is gone).
      - The probe image is made only when a probe needs it (not for V(http) with O(url) alone, nor for V(audit)).
    type: list
    elements: str
    choices: [isolation, startup, http, workload, audit]
    default: [isolation, startup, http, workload, audit]
  audit_names:
    description: As O(kata_fleet.runtimes.workload_audit#module:names).
    type: str
    choices: [full, counts]
    default: full
  audit_sandboxed_namespaces:
    description:
      - As O(kata_fleet.runtimes.workload_audit#module:audit_sandboxed_namespaces).
    type: list
    elements: str
    default: []
  audit_max_containers:
    description: As O(kata_fleet.runtimes.workload_audit#module:max_containers).
    type: int
    default: 2000
  audit_parallel:
    description: As O(kata_fleet.runtimes.workload_audit#module:parallel).
    type: int
    default: 4
  audit_timeout:
    description: As O(kata_fleet.runtimes.workload_audit#module:timeout).
    type: int
    default: 60
attributes:
  check_mode:
    support: full
    description:
      - The action checks the settings and the policies and says what would run, one line each, without
        running anything on the host.
      - The module alone (called without the action) handles check mode as each capability's own module does,
        that is the host's view, the isolation probe and the (read-only) audit run, the image is neither imported
        nor pulled, startup, HTTP and the workloads report what they would measure.
  diff_mode:
    support: none
    description: Nothing changes but the image in containerd, which has no text to diff.
  facts:
    support: full
    description: Returns the host's view under C(ansible_facts.kata_fleet_host), as M(kata_fleet.runtimes.host_facts) does.
seealso:
  - module: kata_fleet.runtimes.host_facts
  - module: kata_fleet.runtimes.probe_image
  - module: kata_fleet.runtimes.isolation_probe
  - module: kata_fleet.runtimes.startup_bench
  - module: kata_fleet.runtimes.http_latency
  - module: kata_fleet.runtimes.workload_bench
  - module: kata_fleet.runtimes.workload_audit
"""

EXAMPLES = r"""
- name: Verify this host in one module run
  kata_fleet.runtimes.verify_host:
    runtimes: [runc, kata]
    runs: 10
    requests: 50
  register: verify

- name: Show each handler's verdict
  ansible.builtin.debug:
    msg: "{{ verify.module_results.isolation_probe.isolation.runtimes | dict2items
             | map(attribute='value.verdict') | list }}"

- name: Isolation only, with alpine from a registry, in a play without the comparison callback
  kata_fleet.runtimes.verify_host:
    image: docker.io/library/alpine:3.19
    capabilities: [isolation]
  vars:
    kata_fleet_require_comparison: false
    kata_fleet_expected_runtimes: [runc]
"""

RETURN = r"""
module_results:
  description:
    - One result per capability that ran, under the name of the module that gives it alone, shaped as that
      module's result (with C(changed), and C(failed) and C(msg) when it failed). A capability that was not
      asked for is left out.
  returned: always
  type: dict
  contains:
    host_facts:
      description: The result of M(kata_fleet.runtimes.host_facts) (C(ansible_facts.kata_fleet_host)).
      returned: always
      type: dict
    probe_image:
      description: The result of M(kata_fleet.runtimes.probe_image) (C(image), C(source), C(digest)).
      returned: when a probe that needs the image was asked for
      type: dict
    isolation_probe:
      description: The result of M(kata_fleet.runtimes.isolation_probe) (C(isolation), C(swept)).
      returned: when V(isolation) is in O(capabilities)
      type: dict
    startup_bench:
      description: The result of M(kata_fleet.runtimes.startup_bench) (C(startup), C(swept)).
      returned: when V(startup) is in O(capabilities)
      type: dict
    http_latency:
      description: The result of M(kata_fleet.runtimes.http_latency) (C(http), C(swept), C(foreign)).
      returned: when V(http) is in O(capabilities)
      type: dict
    workload_bench:
      description:
        - The result of M(kata_fleet.runtimes.workload_bench) (C(workload), C(swept), and on success
          C(ansible_facts.kata_fleet_workload)).
      returned: when V(workload) is in O(capabilities)
      type: dict
    workload_audit:
      description: The result of M(kata_fleet.runtimes.workload_audit) (C(audit)).
      returned: when V(audit) is in O(capabilities)
      type: dict
    policy_check:
      description:
        - The runtime policies the action evaluated on the controller, shaped as the result of
          M(kata_fleet.runtimes.policy_check) (C(policies), C(failed), C(msg), C(warnings)).
      returned: when the policy phase runs (not with C(--tags) that leave it out or C(--skip-tags policy))
      type: dict
  sample:
    host_facts: {changed: false, ansible_facts: {kata_fleet_host: {kernel_release: 6.1.0-18-amd64}}}
    probe_image: {changed: false, image: "localhost/kata-fleet/probe:3f0c2a9b1d4e", source: built}
    isolation_probe: {changed: false, swept: [], isolation: {runtimes: {runc: {status: ok, verdict: shared-kernel}}}}
    startup_bench: {failed: true, msg: "runc: counted run 1 failed (rc=1): ..."}
ansible_facts:
  description: The host's view, as M(kata_fleet.runtimes.host_facts) returns it.
  returned: always
  type: dict
  contains:
    kata_fleet_host:
      description: See M(kata_fleet.runtimes.host_facts).
      returned: always
      type: dict
kata_fleet_stage:
  description:
    - Where the action stopped, set on the controller. V(settings) a setting or a policy is wrong (nothing ran on
      the host), V(check) check mode (nothing ran), V(host) the module ran. The comparison callback reports a run
      only when some host got to V(host) (or was unreachable).
  returned: always
  type: str
  sample: host
kata_fleet_evidence_dir:
  description: The setting C(kata_fleet_evidence_dir), handed to the comparison callback.
  returned: when the setting is set and the module ran
  type: str
module_seconds:
  description:
    - Wall-clock seconds the module's work took on the host, from its arguments being checked to its result
      (Python's start and imports not counted). The task's duration minus this is what Ansible and the
      connection cost that host (bench/README.md, docs/fleet.md).
  returned: always
  type: float
  sample: 4.07
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import (
    _audit,
    _hostview,
    _httpprobe,
    _image,
    _isolation,
    _startup,
    _workload,
)
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._capabilities import (
    CAPABILITIES,
    MODULES,
    PROBE_MODULES,
)
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import ContainerdError
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._module import (
    prepare,
    probe_run_argument_spec,
    validated_run_id,
)

# CAPABILITIES, and which module gives each (MODULES, the probes first: PROBE_MODULES): _capabilities' map.
# Capability -> its function; every one takes the ProbeSetup (_module.prepare) and returns its module's result.
RUN = {"isolation": _isolation.run, "startup": _startup.run, "http": _httpprobe.run, "workload": _workload.run}
# workload_audit's options take this prefix here (its ``timeout`` and ``names`` would clash or say too little).
AUDIT_PREFIX = "audit_"


def audit_option(name):
    """verify_host's name for one of workload_audit's options."""
    return name if name.startswith(AUDIT_PREFIX) else AUDIT_PREFIX + name


def argument_spec():
    spec = probe_run_argument_spec(**dict(_startup.ARGUMENT_SPEC, **dict(_httpprobe.ARGUMENT_SPEC,
                                                                         **_workload.ARGUMENT_SPEC)))
    spec.update(_image.ARGUMENT_SPEC)
    spec.update((audit_option(name), option) for name, option in _audit.ARGUMENT_SPEC.items())
    spec["capabilities"] = dict(type="list", elements="str", choices=list(CAPABILITIES), default=list(CAPABILITIES))
    return spec


def failure(message):
    return {"failed": True, "changed": False, "msg": message}


def probes(module, client, view, wanted, run_id):
    """The probe capabilities' results, each failing on its own; they share one client, handler list and sweep."""
    params = module.params
    results = {}
    problems = {"startup": _startup.problem(params), "http": _httpprobe.problem(params),
                "workload": _workload.problem(params)}
    for capability, name in PROBE_MODULES:
        if capability in wanted and problems.get(capability):
            results[name] = failure(problems[capability])
    url_only = params["url"] and "http" in wanted
    needs_image = [capability for capability, name in PROBE_MODULES
                   if capability in wanted and name not in results and not (capability == "http" and url_only)]
    if url_only and "http_latency" not in results:
        results["http_latency"] = _httpprobe.measure_url(params, run_id, module.check_mode)
    if not needs_image:
        return results
    setup = None
    if client is None:
        # The ping's own message (where, and the fix), as probe_image alone would fail with it.
        results["probe_image"] = failure(view["error"])
    else:
        message = _image.problem(params)
        results["probe_image"] = failure(message) if message else _image.run(module, client)
    blocked = results["probe_image"]["msg"] if results["probe_image"].get("failed") else None
    if blocked is None:
        # The probes run the image probe_image gave (params' ``image`` is the registry image to pull), with the
        # start every probe module makes (_module.prepare): the same checks, sweep and messages.
        try:
            setup = prepare(module, client, view["handlers"], run_id,
                            dict(params, image=results["probe_image"]["image"], url=None),
                            digest=results["probe_image"]["digest"], host=_hostview.shared_view(view["facts"]))
        except ContainerdError as error:
            blocked = str(error)
    for capability, name in PROBE_MODULES:
        if capability in needs_image:
            # What the one sweep removed is reported once, by the first probe (setup.take_swept).
            results[name] = dict(failure(blocked), swept=[]) if setup is None else RUN[capability](setup)
    return results


def audit(module, client, view):
    """workload_audit's result: read-only, so it runs in check mode too; it needs containerd, not the image."""
    params = module.params
    message = _audit.problem(params, AUDIT_PREFIX)
    if message:
        return failure(message)
    if client is None:
        return failure(view["error"])
    try:
        return {"changed": False, "audit": _audit.audit(
            client, params["audit_names"], params["audit_sandboxed_namespaces"], params["audit_max_containers"],
            params["audit_parallel"], params["audit_timeout"])}
    except (ContainerdError, _audit.AuditError) as error:
        return failure(str(error))


def main():
    started = time.monotonic()
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_id = validated_run_id(module)
    host_result, client = _hostview.run(module)
    facts = host_result["ansible_facts"]["kata_fleet_host"]
    view = dict(facts["containerd"], facts=facts)
    results = {"host_facts": host_result}
    wanted = [capability for capability in CAPABILITIES if capability in module.params["capabilities"]]
    results.update(probes(module, client, view, wanted, run_id))
    if "audit" in wanted:
        results["workload_audit"] = audit(module, client, view)
    failed = [name for name in ("probe_image",) + tuple(name for dummy, name in MODULES)
              if results.get(name, {}).get("failed")]
    outcome = dict(changed=any(result.get("changed") for result in results.values()), module_results=results,
                   ansible_facts=host_result["ansible_facts"], module_seconds=round(time.monotonic() - started, 3))
    if failed:
        module.fail_json(msg="; ".join("%s: %s" % (name, results[name]["msg"]) for name in failed), **outcome)
    module.exit_json(**outcome)


if __name__ == "__main__":
    main()
