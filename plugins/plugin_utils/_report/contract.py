# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The contract between the probe modules and the controller: what makes a host record.

The comparison callback (which sees each task's result as it arrives), the
policy_check action (which gets the registered results as arguments) and the
verify_host action (which evaluates the policies on its module's result) build
a host's record here, so they can never disagree on which results count, how a
failed probe is kept, or what the run is called.
"""

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _capabilities, _runid

# Which module gives which capability is module_utils/_capabilities.py's map (the verify_host module runs by it).
# The module (short name) -> the key its per-handler results come back under, also when it failed.
PROBES = _capabilities.PER_HANDLER
PROBE_RESULTS = dict((module, capability) for capability, module in _capabilities.MODULES if capability in PROBES)
# The capabilities beyond the probes (module short name -> the key of its result, and of the host's record):
# kept whole, also when the capability failed (its message then under ``error`` in the kept dict).
CAPABILITY_RESULTS = dict((module, capability) for capability, module in _capabilities.MODULES
                          if capability not in PROBES)
# A kept capability's error message is cut to this many characters (it comes from the host).
MAX_CAPABILITY_ERROR = 4000
# verify_host runs every capability in one module run; its result carries each one's result under the name of
# the module that gives it alone (``{"module_results": {"host_facts": {...}, "isolation_probe": {...}, ...}}``; Ansible keeps ``results``
# for loops and renames it).
VERIFY_ACTION = "verify_host"
CARRIED_KEY = "module_results"
# The verify_host action adds the policies it evaluated on the controller as ``module_results.policy_check``
# (the policy_check action's result), so one task's result holds the host's whole record.
CARRIED_RESULTS = (_capabilities.HOST_MODULES + tuple(module for capability, module in _capabilities.MODULES)
                   + ("policy_check",))
# Where the verify_host action stopped: "settings" (a setting or policy is wrong: nothing ran on the host),
# "check" (check mode: nothing ran), "host" (the module ran). Set by the action on the controller, never
# taken from the module's output. Only a result that reached the host makes the run reported.
STAGE_KEY = "kata_fleet_stage"
STAGES_BEFORE_HOST = ("settings", "check")
# The evidence folder the host's settings name (kata_fleet_evidence_dir), set by the verify_host action.
EVIDENCE_KEY = "kata_fleet_evidence_dir"
# The words a failed host's error starts with when verify_host failed it (a probe or an error-severity
# policy failed). verify.yml's last task said them (its name) before the action took its place, and
# report.json and junit.xml keep them, so a bundle reads as before.
HOST_FAILED = "Fail the host when a probe or an error-severity policy failed"
# The policy_check action's ``results`` keys, in record order.
RESULT_KEYS = ("host_facts",) + PROBES + (VERIFY_ACTION,)
# A play that runs none of these (bootstrap.yml, say) gets no table and no bundle.
REPORTED_ACTIONS = frozenset(["host_facts", "policy_check", VERIFY_ACTION]) | frozenset(PROBE_RESULTS)
STATUSES = ("ok", "failed", "unreachable", "skipped")


def new_record():
    """What the controller keeps of one host before any result arrived."""
    return {"status": "ok", "error": None, "host_facts": None, "isolation": None, "startup": None, "http": None,
            "workload": None, "audit": None, "policies": None, "run_ids": []}


def unpack(action, data):
    """[(module, result)]: what a task's result holds, a verify_host result's carried results one by one.

    Anything but a dict where a result belongs is left out (a host's output is not trusted).
    """
    if action != VERIFY_ACTION:
        return [(action, data)]
    carried = data.get(CARRIED_KEY) if isinstance(data, dict) else None
    if not isinstance(carried, dict):
        return []
    return [(name, carried[name]) for name in CARRIED_RESULTS if isinstance(carried.get(name), dict)]


def keep(record, action, data, failed=False):
    """Add one module result (``data``, as the task returned it) to a host's record.

    ``failed``: the task failed and was not ignored, so the host failed.  A
    probe that failed after probing (some handler failed) still returns its
    per-handler data, which is kept.
    """
    data = data if isinstance(data, dict) else {}
    if action == VERIFY_ACTION:
        # Each carried result as if its module had run; a failed one fails the host only through
        # verify_host's own ``failed`` (which lists every failed capability's message).
        for name, result in unpack(action, data):
            keep(record, name, result)
    elif action == "host_facts":
        facts = data.get("ansible_facts")
        view = facts.get("kata_fleet_host") if isinstance(facts, dict) else None
        if view is not None:
            record["host_facts"] = view
    elif action in PROBE_RESULTS:
        probe = PROBE_RESULTS[action]
        value = data.get(probe)
        if value and not data.get("skipped"):
            record[probe] = value
            if isinstance(value, dict) and "run_id" in value:
                record["run_ids"].append(value["run_id"])
    elif action in CAPABILITY_RESULTS:
        keep_capability(record, action, data)
    elif action == "policy_check" and data.get("policies") is not None:
        record["policies"] = data["policies"]
    if failed:
        record["status"] = "failed"
        message = str(data.get("msg") or "%s failed" % action)
        record["error"] = message if not record.get("error") else "%s; %s" % (record["error"], message)


def keep_capability(record, action, data):
    """A workload_bench or workload_audit result into ``record["workload"]`` / ``record["audit"]``.

    Its dict is kept as it came (also when the capability failed, as a failed probe's is); when it failed,
    the kept dict gets its message as ``error`` (a dict holding only that when it failed before measuring).
    A skipped result, or one with neither a dict nor a failure, leaves the record as it was.
    """
    key = CAPABILITY_RESULTS[action]
    value = data.get(key)
    if data.get("skipped") or not (isinstance(value, dict) or data.get("failed")):
        return
    kept = dict(value) if isinstance(value, dict) else {}
    if data.get("failed"):
        kept["error"] = str(data.get("msg") or "%s failed" % action)[:MAX_CAPABILITY_ERROR]
    record[key] = kept
    if "run_id" in kept:
        record["run_ids"].append(kept["run_id"])


def reached_host(action, data):
    """Whether a result counts toward a report: anything but a verify_host result that stopped before the host."""
    return action != VERIFY_ACTION or not isinstance(data, dict) or data.get(STAGE_KEY) not in STAGES_BEFORE_HOST


def fail(record, task_name, action, data):
    """A task failed and was not ignored: the host failed, with the task's message.

    A verify_host result that reached the host is named HOST_FAILED (what
    verify.yml's former last task was called), anything else by its task's name.
    """
    data = data if isinstance(data, dict) else {}
    label = HOST_FAILED if action == VERIFY_ACTION and data.get(STAGE_KEY) == "host" else task_name
    record["status"] = "failed"
    record["error"] = "%s: %s" % (label, data.get("msg", "failed"))


def record_from_results(results):
    """A host's record from the registered results of its tasks (the policy_check action's ``results``).

    ``results`` maps host_facts, isolation, startup and http to what ``register``
    kept, or verify_host to its result (which carries those).  A skipped result counts as missing; a failed one fails the record
    with its message, as the task that fails the host will.
    """
    record = new_record()
    results = results if isinstance(results, dict) else {}
    actions = {"host_facts": "host_facts", VERIFY_ACTION: VERIFY_ACTION}
    actions.update((probe, action) for action, probe in PROBE_RESULTS.items())
    for key in RESULT_KEYS:
        result = results.get(key)
        if not isinstance(result, dict):
            continue
        keep(record, actions[key], result, failed=bool(result.get("failed")))
    return record


def unreachable(record, message):
    record["status"] = "unreachable"
    record["error"] = str(message or "unreachable")


def check_run_id(record, run_id):
    """The host's error when it reported a run id other than the controller's (or a hostile one)."""
    seen = [value for value in record.get("run_ids") or [] if value != run_id]
    if not seen:
        return None
    problem = _runid.problem(seen[0])
    return "the host's results name run %r, not this run %r%s: they are not this run's evidence" % (
        str(seen[0])[:80], run_id, " (%s)" % problem if problem else "")
