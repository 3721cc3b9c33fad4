# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin kata_fleet.runtimes.verify_host (documented in plugins/modules/verify_host.py).

verify.yml is this one task per host. Ansible pays for every task and host
(a forked worker that templates the task, the main process computing the
host's variables and taking in the result), so everything verify does on the
controller happens here, around ONE run of the verify_host module on the host:

1. the settings (the ``kata_fleet_*`` variables) are checked against their
   spec (plugin_utils/_settings.py) and the policies compiled; a problem fails
   the host before anything runs on it, naming the variable or policy;
2. in check mode, says what would run, and stops;
3. runs the module (``_execute_module``: host view, probe image, isolation,
   startup, HTTP, workload, audit);
4. evaluates the policies on the controller against the module's result, as
   the policy_check action does (plugin_utils/_policy.py), and carries them as
   ``module_results.policy_check``;
5. fails the host when a probe or an error-severity policy failed, with every
   failed part's message;
6. fails the host when it weakened since the previous run (kata_fleet_fail_on_weakening),
   judged against the previous bundle the comparison callback read and verified
   once at the play's start (changes.PRELOADED, inherited by this forked worker),
   so that ansible-playbook's exit status says it; report.json stays as it was
   (changes.WEAKENING_KEY tells the callback).
"""

import os

from ansible.plugins.action import ActionBase

from ansible_collections.kata_fleet.runtimes.plugins.action import policy_check
from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _runid
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _policy, _settings
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import changes, contract

MODULE = "kata_fleet.runtimes.verify_host"


def _warm():
    """Read the settings' spec and compile the default policies in the process that imports this plugin.

    ansible-playbook's main process imports it (the strategy loads the action's class) before it forks one
    worker per host, so every worker inherits both instead of reading the YAML and compiling the JMESPath
    again: 7 ms of CPU per host less in the workers at 200 hosts (bench/README.md, 9.6). A failure here is
    left to the task's own call, which names it.
    """
    try:
        _settings.spec()
        _policy.policy_set()
    except Exception:  # pylint: disable=broad-except  # named by the task's own call, never here
        pass


_warm()


def host_entry(module_result):
    """The host's report.json entry from the module's result: the policy_check action's, given it as verify_host."""
    return policy_check.host_entry({contract.VERIFY_ACTION: module_result})


class ActionModule(ActionBase):
    """Check the settings, run verify_host once, evaluate the policies, fail the host on what failed."""

    _supports_check_mode = True
    _supports_async = False
    TRANSFERS_FILES = False

    def _values(self, task_vars):
        """The settings that are set for this host (inventory, group_vars, play or task vars, -e), templated."""
        values = {}
        for name in _settings.names():
            if name in task_vars:
                values[name] = _policy.plain(self._templar.template(task_vars[name]))
        return values

    def _stop(self, result, stage, message):
        result.update(failed=True, changed=False, msg=message)
        result[contract.STAGE_KEY] = stage
        return result

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}

        settings, problems = _settings.validate(self._values(task_vars))
        if problems:
            return self._stop(result, "settings", "verify's settings are not valid (README.md, \"Inventory variables\"):\n"
                              + "\n".join(problems))
        selected = _settings.phases(task_vars.get("ansible_run_tags"), task_vars.get("ansible_skip_tags"))
        wanted = _settings.capabilities(settings, selected)
        policies = None
        if "policy" in selected:
            try:
                policies = _policy.policy_set(**_settings.policy_options(settings))
            except _policy.PolicyError as exc:
                return self._stop(result, "settings", str(exc))

        # The comparison callback names the run in KATA_FLEET_RUN_ID before any host starts, so every host
        # names its probes alike under any strategy; without the callback each host names its own.
        run_id = settings["kata_fleet_run_id"] or os.environ.get(_runid.VARIABLE) or _runid.new_run_id()
        args = _settings.module_args(settings, wanted, run_id)
        # An option given on the task (or in module_defaults) wins over the setting it stands for.
        args.update(self._task.args)
        # A run id the hosts would refuse (containerd names every probe container after it) fails here, before
        # anything runs, with the modules' own reason.
        problem = _runid.problem(args["run_id"]) if args.get("run_id") else None
        if problem:
            named = ("run_id" if "run_id" in self._task.args else
                     "kata_fleet_run_id" if settings["kata_fleet_run_id"] else _runid.VARIABLE)
            return self._stop(result, "settings", "%s: %s" % (named, problem))
        # The comparison callback named the run (KATA_FLEET_RUN_ID, from kata_fleet_run_id as the play's first host
        # renders it when the play starts): a host whose own kata_fleet_run_id renders otherwise would be failed at the end as
        # another run's evidence, after all its probes ran; it stops here instead.
        callback_id = os.environ.get(_runid.VARIABLE)
        if settings["kata_fleet_run_id"] and callback_id and "run_id" not in self._task.args \
                and settings["kata_fleet_run_id"] != callback_id and _settings.callback_enabled():
            return self._stop(result, "settings", (
                "kata_fleet_run_id is %s on this host, but the comparison callback named this run %s (the play's "
                "first host's kata_fleet_run_id): give every host of the play one run id (-e, group_vars/all or the "
                "play's vars), not a host variable or a template of one" % (
                    settings["kata_fleet_run_id"], callback_id)))

        if self._task.check_mode:
            result.update(changed=False, msg=_settings.check_mode_lines(
                settings, args.get("capabilities") or [], None if policies is None else len(policies)))
            result[contract.STAGE_KEY] = "check"
            # Shown without -v, as ansible.builtin.debug's message is.
            result["_ansible_verbose_always"] = True
            return result

        environment = _settings.path_environment(settings)
        if environment:
            self._task.environment = list(self._task.environment or []) + [environment]
        module_result = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        result.update(module_result)
        result[contract.STAGE_KEY] = "host"
        result.pop(contract.EVIDENCE_KEY, None)
        if settings.get("kata_fleet_evidence_dir") is not None:
            result[contract.EVIDENCE_KEY] = settings["kata_fleet_evidence_dir"]
        # What changed since the last run: the comparison callback's settings, handed over as the evidence dir is.
        for name in changes.SETTINGS:
            result.pop(name, None)
            if settings.get(name) is not None:
                result[name] = settings[name]

        messages = [str(module_result.get("msg") or "verify_host failed")] if module_result.get("failed") else []
        carried = result.get(contract.CARRIED_KEY)
        if not isinstance(carried, dict):
            carried = result[contract.CARRIED_KEY] = {}
        # Only the controller's evaluation counts: a module's output never brings its own.
        carried.pop("policy_check", None)
        entry = host_entry(module_result) if policies is not None or changes.PRELOADED is not None else None
        if policies is not None:
            host = str(task_vars.get("inventory_hostname") or "")
            checked = _policy.outcome(_policy.evaluate(policies, host, entry))
            carried["policy_check"] = checked
            if checked.get("warnings"):
                result["warnings"] = list(result.get("warnings") or []) + checked["warnings"]
            if checked["failed"]:
                messages.append(checked["msg"])
        # The audit's error findings (a sandbox promised, an ordinary host process seen; a pod of a namespace
        # that must be sandboxed that is not) fail the host as an error-severity policy does.
        audited = carried.get("workload_audit")
        audit = audited.get("audit") if isinstance(audited, dict) else None
        if isinstance(audit, dict) and audit.get("status") == "failed" and not audited.get("failed"):
            errors = (audit.get("findings_by_severity") or {}).get("error") if isinstance(
                audit.get("findings_by_severity"), dict) else None
            messages.append("workload_audit: %s error finding(s) among the running containers (see the audit)" % (
                errors if isinstance(errors, int) and not isinstance(errors, bool) else "some"))
        weakened = self._weakened(settings, task_vars, entry, result)
        if weakened:
            # The evidence stays in the result as it is: the callback writes the same report and bundle, and keeps
            # the host's status what the other failures make it (changes.WEAKENING_KEY).
            result[changes.WEAKENING_KEY] = {"message": weakened, "other_failures": bool(messages),
                                             "other_msg": "; ".join(messages) if messages else None}
            messages.append(weakened)
        result["failed"] = bool(messages)
        if messages:
            result["msg"] = "; ".join(messages)
        else:
            result.pop("msg", None)
        return result

    @staticmethod
    def _weakened(settings, task_vars, entry, result):
        """The failure message when this host weakened since the previous run and that fails it, else None.

        Only against the previous bundle the comparison callback read and
        verified once at the play's start (changes.PRELOADED, inherited by
        this forked worker); nothing preloaded (the callback is not enabled,
        kata_fleet_require_comparison false), a host that is not in it, or
        settings naming another bundle: not judged here (the report at the end
        still is). A refused previous bundle fails every host, as it fails the
        report.
        """
        result.pop(changes.WEAKENING_KEY, None)
        preloaded = changes.PRELOADED
        if not isinstance(preloaded, dict):
            return None
        # Exactly the bundle this host's own settings name: unset and set differ too (the first host's
        # kata_fleet_compare_with is not every host's).
        if any(settings.get(name) != preloaded["settings"].get(name) for name in changes.PRELOAD_SETTINGS):
            return None
        fail = settings.get("kata_fleet_fail_on_weakening")
        if not (preloaded["fail_on_weakening"] if fail is None else fail):
            return None
        previous = preloaded["previous"]
        refusal = changes.refusal(previous)
        if refusal:
            # The report says FAIL (no-weakening is an error on every host) when the previous bundle is refused:
            # the exit status says it too, or a tampered evidence/latest would hide a weakening.
            return ("the previous bundle %s was refused (%s), so no weakening since it can be ruled out; restore "
                    "it, name a bundle that verifies with kata_fleet_compare_with, or set "
                    "kata_fleet_fail_on_weakening: false" % (previous.get("path"), refusal))
        host = str(task_vars.get("inventory_hostname") or "")
        reasons, section = changes.host_weakening(previous, host, entry)
        if not reasons:
            return None
        return changes.weakening_message(section, host)
