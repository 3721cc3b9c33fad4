# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: policy_check
short_description: Check a host's runtime evidence against JMESPath policies
version_added: 0.1.0
description:
  - Evaluates runtime policies against the evidence the probe tasks of a play gathered on this host (the results of
    M(kata_fleet.runtimes.host_facts), M(kata_fleet.runtimes.isolation_probe), M(kata_fleet.runtimes.startup_bench)
    and M(kata_fleet.runtimes.http_latency), passed in O(results)), for example that every Kata handler is
    C(vm-isolated).
  - A policy has a C(name), a C(severity) (V(error) or V(warning)), a C(description), an optional C(applies_to) and an
    C(expect) JMESPath expression, and an optional C(detail) expression whose value is shown as what was seen.
    The expressions read this host's entry of C(report.json) (C(status), C(error), C(host), C(runtimes)) plus C(name),
    the host's name; the entry is built from O(results) by the same code the comparison callback builds it with, so
    a policy sees what the report shows. C(applies_to) false means V(skip); C(expect) true means V(pass), false V(fail); an expression that
    fails to evaluate gives V(error).
  - Every policy is checked before any is evaluated; a missing name or expect, a bad severity, an unknown key, a
    duplicate name or an expression that does not compile fails the task with a message naming the policy.
  - An error-severity policy that fails or errors fails the task. A warning-severity one only adds a warning.
  - Runs on the controller; nothing is sent to the host. The expressions need the Python library C(jmespath) on the
    controller.
  - The default policies, how to configure them in group_vars and how the results reach C(report.json) and
    C(junit.xml) are described in the collection's C(docs/policies.md).
author:
  - kata-fleet developers (@kata-fleet)
requirements:
  - jmespath (on the controller)
options:
  policies:
    description:
      - Policies to check, each a mapping with the keys C(name) (required), C(severity) (V(error), the default, or
        V(warning)), C(description), C(applies_to), C(expect) (required) and C(detail).
      - With O(use_default_policies=true) they are checked after the default ones; a policy named like a default
        replaces that default.
    type: list
    elements: dict
    default: []
  use_default_policies:
    description:
      - Whether to check the default policies C(kata-vm-isolated), C(gvisor-user-space-kernel),
        C(runc-shared-kernel) and C(kata-preflight) besides O(policies).
    type: bool
    default: true
  startup_p95_seconds:
    description:
      - Adds the policy C(startup-p95), that no handler's startup p95 (from M(kata_fleet.runtimes.startup_bench))
        is above this many seconds. Unset, there is no such policy.
    type: float
  http_p99_seconds:
    description:
      - Adds the policy C(http-p99), that no handler's HTTP p99 (from M(kata_fleet.runtimes.http_latency)) is above
        this many seconds. Unset, there is no such policy.
    type: float
  threshold_severity:
    description:
      - Severity of the C(startup-p95) and C(http-p99) policies.
    type: str
    choices: [error, warning]
    default: warning
  results:
    description:
      - The registered results of this host's probe tasks. Any may be missing, skipped or failed; a result that
        failed without returning its data counts as missing evidence.
    type: dict
    default: {}
    suboptions:
      host_facts:
        description: The registered result of M(kata_fleet.runtimes.host_facts).
        type: dict
      isolation:
        description: The registered result of M(kata_fleet.runtimes.isolation_probe).
        type: dict
      startup:
        description: The registered result of M(kata_fleet.runtimes.startup_bench).
        type: dict
      http:
        description: The registered result of M(kata_fleet.runtimes.http_latency).
        type: dict
      verify_host:
        description:
          - The registered result of M(kata_fleet.runtimes.verify_host), which carries the results of the four
            above (playbooks/verify.yml passes only this one).
        type: dict
attributes:
  action:
    support: full
    description: An action plugin that runs on the controller.
  check_mode:
    support: full
    description: In check mode the probes do not run, so the policies are only validated and the task is skipped.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
  platform:
    support: full
    platforms: all
    description: Only reads the registered results on the controller.
notes:
  - Policy expressions pass through Ansible's templating like any variable, so an expression that contains C({{)
    must be marked C(!unsafe) or written with a space between the braces.
seealso:
  - module: kata_fleet.runtimes.isolation_probe
  - name: JMESPath specification
    description: The expression language of C(applies_to), C(expect) and C(detail).
    link: https://jmespath.org/specification.html
"""

EXAMPLES = r"""
- name: Check the runtime policies
  kata_fleet.runtimes.policy_check:
    policies: "{{ kata_fleet_policies | default([]) }}"
    use_default_policies: "{{ kata_fleet_use_default_policies | default(true) }}"
    startup_p95_seconds: "{{ kata_fleet_startup_p95_seconds | default(omit) }}"
    http_p99_seconds: "{{ kata_fleet_http_p99_seconds | default(omit) }}"
    results:
      host_facts: "{{ kata_fleet_host_facts_result }}"
      isolation: "{{ kata_fleet_isolation_result }}"
      startup: "{{ kata_fleet_startup_result }}"
      http: "{{ kata_fleet_http_result }}"

- name: Only a custom policy, as a warning
  kata_fleet.runtimes.policy_check:
    use_default_policies: false
    policies:
      - name: cgroup-v2
        severity: warning
        description: Hosts use the unified cgroup hierarchy.
        expect: host.cgroup_version == 'v2'
        detail: host.cgroup_version
    results:
      host_facts: "{{ kata_fleet_host_facts_result }}"
"""

RETURN = r"""
policies:
  description:
    - Each policy's result on this host, in the order checked.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The policy's name.
      type: str
      sample: kata-vm-isolated
    severity:
      description: V(error) or V(warning).
      type: str
      sample: error
    description:
      description: What the policy expects, in words.
      type: str
    applies_to:
      description: The policy's C(applies_to) expression.
      type: str
      returned: when the policy has one
    expect:
      description: The policy's C(expect) expression.
      type: str
    status:
      description: V(pass), V(fail), V(error) (an expression could not be evaluated) or V(skip) (it does not apply).
      type: str
      sample: pass
    detail:
      description:
        - What was seen, as JSON (the value of the policy's C(detail) expression, else of C(expect)), why it was
          skipped, or the evaluation error.
      type: str
      sample: '[{"handler": "kata", "verdict": "vm-isolated", "reason": null}]'
msg:
  description: How many policies passed, failed, errored or were skipped; on failure, which error-severity ones did not pass and why.
  returned: always
  type: str
  sample: "3 policies: 1 pass, 2 skip"
"""
