# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin kata_fleet.runtimes.policy_check (documented in plugins/modules/policy_check.py).

It runs on the controller: the evidence is already in the registered results
of the probe tasks, so nothing needs to run on the host, and the policies'
JMESPath library is only needed where Ansible itself runs.
"""

from ansible.plugins.action import ActionBase

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _policy
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import contract, model

ARGUMENT_SPEC = {
    "policies": {"type": "list", "elements": "dict", "default": []},
    "use_default_policies": {"type": "bool", "default": True},
    "startup_p95_seconds": {"type": "float"},
    "http_p99_seconds": {"type": "float"},
    "threshold_severity": {"type": "str", "default": "warning", "choices": list(_policy.SEVERITIES)},
    "results": {
        "type": "dict",
        "default": {},
        "options": dict((key, {"type": "dict"}) for key in contract.RESULT_KEYS),
    },
}


def host_entry(results):
    """This host's report.json entry from its registered results, built as the comparison callback builds it."""
    return model.host_entry(contract.record_from_results(_policy.plain(results or {})))


def summary(results):
    """How many results of each status, e.g. "1 pass, 2 skip"."""
    return _policy.summary(results)


class ActionModule(ActionBase):
    """Evaluate the runtime policies against this host's probe results."""

    _requires_connection = False
    _supports_check_mode = True
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
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

        entry = host_entry(args.get("results"))
        result.update(_policy.outcome(_policy.evaluate(policies, host, entry)))
        return result
