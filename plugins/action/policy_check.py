# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin kata_fleet.runtimes.policy_check (documented in plugins/modules/policy_check.py).

It runs on the controller: the evidence is already in the registered results
of the probe tasks, so nothing needs to run on the host, and the policies'
JMESPath library is only needed where Ansible itself runs.
"""

from ansible.plugins.action import ActionBase

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _evidence
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _policy

# The probes' registered results carry their evidence under the key the record uses.
PROBES = ("isolation", "startup", "http")

ARGUMENT_SPEC = {
    "policies": {"type": "list", "elements": "dict", "default": []},
    "use_default_policies": {"type": "bool", "default": True},
    "startup_p95_seconds": {"type": "float"},
    "http_p99_seconds": {"type": "float"},
    "threshold_severity": {"type": "str", "default": "warning", "choices": list(_policy.SEVERITIES)},
    "results": {
        "type": "dict",
        "default": {},
        "options": {
            "host_facts": {"type": "dict"},
            "isolation": {"type": "dict"},
            "startup": {"type": "dict"},
            "http": {"type": "dict"},
        },
    },
}


def build_record(results):
    """The comparison callback's record for this host, from the registered results.

    A result that was skipped, or failed before returning its data, counts as
    missing; a probe that failed after probing (some handler failed) still
    gives its per-handler data, as the callback keeps it.  A failed probe
    makes the record ``failed`` with the probes' messages, as the play's last
    task will.
    """
    results = _policy.plain(results or {})
    record = {"status": "ok", "error": None, "host_facts": None, "isolation": None, "startup": None, "http": None}
    errors = []
    facts = results.get("host_facts") or {}
    record["host_facts"] = (facts.get("ansible_facts") or {}).get("kata_fleet_host") or None
    for name in ("host_facts",) + PROBES:
        result = results.get(name) or {}
        if name in PROBES and not result.get("skipped"):
            record[name] = result.get(name) or None
        if result.get("failed"):
            errors.append(str(result.get("msg") or "%s failed" % name))
    if errors:
        record["status"] = "failed"
        record["error"] = "; ".join(errors)
    return record


def summary(results):
    """How many results of each status, e.g. "1 pass, 2 skip"."""
    counts = dict((status, 0) for status in _policy.STATUSES)
    for result in results:
        counts[result["status"]] += 1
    return ", ".join("%d %s" % (counts[status], status) for status in _policy.STATUSES if counts[status])


class ActionModule(ActionBase):
    """Evaluate the runtime policies against this host's probe results."""

    _requires_connection = False
    _supports_check_mode = True
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        host = str(task_vars.get("inventory_hostname") or "")
        result["changed"] = False

        try:
            policies = _policy.policy_set(
                policies=args["policies"],
                use_default_policies=args["use_default_policies"],
                startup_p95_seconds=args.get("startup_p95_seconds"),
                http_p99_seconds=args.get("http_p99_seconds"),
                threshold_severity=args["threshold_severity"],
            )
        except _policy.PolicyError as exc:
            result.update(failed=True, policies=[], msg=str(exc))
            return result

        if self._task.check_mode:
            result.update(skipped=True, policies=[],
                          msg="check mode: the probes did not run, so there is no evidence to check; the %d policies are valid"
                          % len(policies))
            return result

        entry = _evidence.host_entry(build_record(args.get("results")))
        evaluated = _policy.evaluate(policies, host, entry)
        blocking = _policy.blocking(evaluated)
        warned = _policy.warned(evaluated)
        result["policies"] = evaluated
        result["failed"] = bool(blocking)
        if warned:
            result["warnings"] = ["policy %s" % _policy.describe(item) for item in warned]
        if blocking:
            result["msg"] = "%d error-severity polic%s did not pass: %s" % (
                len(blocking), "y" if len(blocking) == 1 else "ies", "; ".join(_policy.describe(item) for item in blocking))
        else:
            result["msg"] = "%d polic%s: %s" % (len(evaluated), "y" if len(evaluated) == 1 else "ies",
                                                summary(evaluated) or "none given")
        return result
