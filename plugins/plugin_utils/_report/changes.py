# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What changed since the last run: report.json's ``changes`` section, and its plain-text rendering.

``compare(old_report, new_report)`` is the comparison of two report.json
dicts.  ``against_bundle(path, new_report, public_keys)`` and
``diff_bundles(old, new, public_keys)`` compare with bundles on disk, each
checked by verify.inspect_bundle first (SHA256SUMS, the signature when keys
are given, names, links, sizes, report.json): a bundle that fails is named
with the reason (``status: refused``) and never compared.

Everything read from the old report is hostile: any value may be missing, of
another type, or absurd, and an older report.json (fewer fields) is compared
on what both hold.  Every text in the section is one bounded line without
control or format characters; every list is bounded, with the count of what
was left out, and ``summary`` counts everything.

``weakening_results(changes, host_names, fail_on_weakening)`` makes the
``no-weakening`` policy's result per host, shaped as _policy.evaluate's, so
_policy.merge_results takes it like any other policy.  ``render_text`` is the
CLI's output (templates/changes.txt.j2).

``preload`` (the comparison callback, when a play starts, in ansible-playbook's
own process) reads and checks the previous bundle once into ``PRELOADED``;
the verify_host action, in a worker forked from that process, judges its own
host with ``host_weakening`` (``compare`` on two one-host reports) and fails
it on a weakening, so the exit status says it.  ``combine`` joins the
sections of a merged bundle's parts.
"""

import math
import os

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _policy
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import formatting as fmt

VERSION = 1
STATUSES = ("compared", "refused", "none")
WEAKENING_POLICY = "no-weakening"
# Each list of the section holds at most this many items (the summary counts them all).
MAX_ITEMS = 2000
NAME_LIMIT = 256
VALUE_LIMIT = 128
PROBLEM_LIMIT = 1000
MAX_PROBLEMS = 20
MAX_REASONS = 5

# The isolation verdicts: a strong boundary, and what a weakening goes to.
STRONG = ("vm-isolated", "user-space-kernel")
WEAK = ("shared-kernel", "unknown")
VERDICTS = STRONG + WEAK
HOST_STATUSES = ("ok", "failed", "unreachable", "skipped")
PROBE_STATUSES = ("ok", "failed")
FAILING = ("fail", "error")

# Versions compared per host: component, path in the host view (first found wins).
HOST_VERSIONS = (
    ("containerd", (("tools", "containerd", "version"), ("containerd", "version"))),
    ("runc", (("tools", "runc", "version"),)),
    ("kata-shim", (("tools", "containerd-shim-kata-v2", "version"),)),
    ("runsc", (("tools", "runsc", "version"),)),
    ("host-kernel", (("kernel_release",),)),
)
GUEST_KERNEL = "guest-kernel"

# Measurements judged against each run's own spread: name, probe, statistics block, statistic, the
# quantile it estimates (its standard error grows towards the tail), unit, the value's own path when
# it is not in the statistics block.
MEASURES = (
    ("startup_median", "startup", "total", "median", 0.5, "s", None),
    ("http_p50", "http", "latency", "p50", 0.5, "s", None),
    ("http_p99", "http", "latency", "p99", 0.99, "s", None),
    ("memory_pss", "http", "memory", "total_pss_kib", 0.5, "KiB", None),
)
# A value moved when the two runs differ by more than this many standard errors of the difference
# (about one false alarm in 370 comparisons of two runs of one unchanged host, for normal noise).
NOISE_SIGMAS = 3.0
# Memory per idle container (the PSS of its shim, VMM, virtiofsd and workload) is ONE reading per run: report.json
# records no spread for it. It is judged against a stated rule instead: it moved when the two readings differ by
# more than MEMORY_SHARE of the previous one and by more than MEMORY_FLOOR_KIB (a few pages shared with more or
# fewer other processes move a small shim's PSS by some hundred KiB). docs/evidence.md says so.
MEMORY_MEASURE = "memory_pss"
MEMORY_SHARE = 0.10
MEMORY_FLOOR_KIB = 1024.0


class DiffError(ValueError):
    """Nothing was compared: the caller's input (a path, a key) cannot be used."""


# ------------------------------------------------------------------ hostile input, bounded


def _dict(value):
    return value if isinstance(value, dict) else {}


def _list(value):
    return value if isinstance(value, list) else []


def _dig(data, path):
    """(found, value): found is False when a key on the way is absent (an older report), not when it is null."""
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return False, None
        data = data[key]
    return True, data


def text(value, limit=NAME_LIMIT):
    """A value as one bounded line, no control or format characters; None for anything but text and numbers."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        value = "%s" % value
    if not isinstance(value, str):
        return None
    return fmt.host_text(value, limit)


def _number(value, bounds):
    return fmt.number(value, bounds)


def _host_status(entry):
    status = _dict(entry).get("status")
    return status if status in HOST_STATUSES else "failed"


def _runtimes(entry):
    """{handler name: probes dict} of a host entry; names bounded, anything else ignored."""
    out = {}
    for name, probes in _dict(_dict(entry).get("runtimes")).items():
        shown = text(name)
        if shown and isinstance(probes, dict) and len(out) < 256:
            out[shown] = probes
    return out


def isolation(probes):
    """What one handler's isolation probe said: {status, verdict, sandbox}, or None when it was not probed."""
    result = _dict(probes).get("isolation")
    if not isinstance(result, dict):
        return None
    status = result.get("status")
    if status == "planned":
        return None
    if status not in PROBE_STATUSES:
        status = "failed"
    verdict = result.get("verdict")
    verdict = verdict if verdict in VERDICTS else None
    if status == "ok" and verdict is None:
        verdict = "unknown"
    return {"status": status, "verdict": verdict, "sandbox": text(result.get("sandbox"), 64)}


def boundary(seen):
    """The boundary a handler had: its verdict, "unknown" when its probe failed, None when it was not probed."""
    if seen is None:
        return None
    if seen["status"] != "ok":
        return "unknown"
    return seen["verdict"] or "unknown"


def _policy_statuses(report):
    """{(policy, host): (status, severity)} from report.policies; anything malformed is skipped."""
    out = {}
    for policy in _list(_dict(report).get("policies"))[:1000]:
        name = text(_dict(policy).get("name"))
        if not name or name == WEAKENING_POLICY:
            continue
        severity = policy.get("severity") if policy.get("severity") in _policy.SEVERITIES else None
        for result in _list(policy.get("results")):
            result = _dict(result)
            host = result.get("host")
            if isinstance(host, str) and result.get("status") in _policy.STATUSES:
                out[(name, host)] = (result["status"], severity)
    return out


# ------------------------------------------------------------------ performance


def _spread(block):
    """(n, stdev) of a statistics block when both are usable, else None."""
    block = _dict(block)
    n = block.get("n")
    stdev = _number(block.get("stdev"), (0.0, fmt.KIB_RANGE[1]))
    if isinstance(n, bool) or not isinstance(n, int) or n < 2 or stdev is None:
        return None
    return n, stdev


def _quantile_error(stdev, n, quantile):
    """The standard error of a sample quantile (normal approximation): sqrt(q(1-q)/n) / density at q."""
    z = _z(quantile)
    density = math.exp(-z * z / 2.0) / math.sqrt(2.0 * math.pi)
    return stdev * math.sqrt(quantile * (1.0 - quantile) / n) / density


def _z(quantile):
    # The quantiles used are 0.5 and 0.99; anything else is interpolated by bisection of erf.
    low, high = -10.0, 10.0
    for dummy in range(80):
        mid = (low + high) / 2.0
        if 0.5 * (1.0 + math.erf(mid / math.sqrt(2.0))) < quantile:
            low = mid
        else:
            high = mid
    return (low + high) / 2.0


def measurement(probes, measure):
    """(value, standard error or None) of one measurement of one handler, or (None, None) when absent."""
    _name, probe, block, statistic, quantile, unit, spread_path = measure
    result = _dict(_dict(probes).get(probe))
    if result.get("status") != "ok":
        return None, None
    stats = _dict(result.get(block))
    bounds = fmt.DURATION_RANGE if unit == "s" else fmt.KIB_RANGE
    value = _number(stats.get(statistic), bounds)
    if value is None:
        return None, None
    spread = _spread(_dig(result, spread_path)[1] if spread_path else stats)
    if spread is None:
        return value, None
    n, stdev = spread
    return value, _quantile_error(stdev, n, quantile)


def moved(old, new):
    """The item for a measurement that moved beyond both runs' noise, None when it did not (or cannot be judged).

    ``old`` and ``new`` are (value, standard error).  The difference is judged
    against its own standard error, sqrt(se_old^2 + se_new^2), which each run's
    spread gives: no fixed percentage.
    """
    (old_value, old_error), (new_value, new_error) = old, new
    noise = math.sqrt(old_error ** 2 + new_error ** 2)
    difference = new_value - old_value
    if abs(difference) <= NOISE_SIGMAS * noise:
        return None
    return {"old": old_value, "new": new_value, "noise": round(NOISE_SIGMAS * noise, 9),
            "change": "worse" if difference > 0 else "better"}


def moved_by_rule(old_value, new_value):
    """The item for memory per idle container when it moved by the stated rule (no spread recorded), else None.

    It moved when the readings differ by more than MEMORY_SHARE of the previous
    reading and by more than MEMORY_FLOOR_KIB; ``noise`` is that threshold.
    """
    threshold = max(MEMORY_FLOOR_KIB, MEMORY_SHARE * abs(old_value))
    difference = new_value - old_value
    if abs(difference) <= threshold:
        return None
    return {"old": old_value, "new": new_value, "noise": round(threshold, 9),
            "change": "worse" if difference > 0 else "better"}


# ------------------------------------------------------------------ the comparison


def _collector():
    return {"hosts": [], "runtimes": [], "versions": [], "policies": [], "performance": []}


def _host_changes(name, old_entry, new_entry, old_policies, new_policies, lists, counts):
    """Every change of one host found in both runs; returns (weakening reasons, strengthened, changed)."""
    reasons, strengthened, changed = [], False, False
    shown = text(name)
    old_status, new_status = _host_status(old_entry), _host_status(new_entry)
    if old_status != new_status:
        changed = True
        if new_status == "unreachable":
            change = "unreachable-now"
        elif old_status == "unreachable":
            change = "reachable-again"
        else:
            change = "status"
        weakening = change == "unreachable-now" and old_status != "unreachable"
        strengthening = change == "reachable-again" and new_status == "ok"
        lists["hosts"].append({"host": shown, "change": change, "old": old_status, "new": new_status,
                               "weakening": weakening})
        if weakening:
            reasons.append("answered in the previous run (%s), unreachable now" % old_status)
        strengthened = strengthened or strengthening
    if "unreachable" in (old_status, new_status):
        # An unreachable host has no evidence: its host row says so, not one row per handler and policy.
        return reasons, strengthened, changed

    old_runtimes, new_runtimes = _runtimes(old_entry), _runtimes(new_entry)
    # A host that answered but did not probe isolation at all this time (--tags startup, --skip-tags isolation) says
    # nothing about its boundaries: not judged, never "not probed now" for every handler. (A host that failed is.)
    judged = new_status != "ok" or any(isolation(probes) is not None for probes in new_runtimes.values())
    for handler in sorted(set(old_runtimes) | set(new_runtimes)) if judged else ():
        before = isolation(old_runtimes.get(handler)) if handler in old_runtimes else None
        after = isolation(new_runtimes.get(handler)) if handler in new_runtimes else None
        old_bound, new_bound = boundary(before), boundary(after)
        if handler not in new_runtimes:
            change = "removed"
        elif handler not in old_runtimes:
            change = "added"
        elif before == after:
            continue
        else:
            change = "changed"
        # A weakening: a strong boundary that is weak now, or any handler probed before that is not probed now.
        weakening = (old_bound in STRONG and new_bound in WEAK) or (before is not None and after is None)
        strengthening = not weakening and new_bound in STRONG and old_bound != new_bound and \
            (old_bound in WEAK or old_bound is None)
        direction = "weakening" if weakening else "strengthening" if strengthening else "information"
        item = {"host": shown, "handler": handler, "change": change, "direction": direction,
                "old": before, "new": after}
        lists["runtimes"].append(item)
        changed = True
        strengthened = strengthened or strengthening
        if weakening:
            if change == "removed" and new_status != "ok":
                reasons.append("%s: no result now, the host %s (was %s)" % (handler, new_status, describe_isolation(before)))
            elif change == "removed":
                reasons.append("%s: handler removed (was %s)" % (handler, describe_isolation(before)))
            else:
                reasons.append("%s: %s -> %s" % (handler, describe_isolation(before), describe_isolation(after)))
        counts["handlers_added" if change == "added" else "handlers_removed" if change == "removed"
               else "verdicts_changed"] += 1

    old_host, new_host = _dict(_dict(old_entry).get("host")), _dict(_dict(new_entry).get("host"))
    for component, paths in HOST_VERSIONS:
        before = _first(old_host, paths)
        after = _first(new_host, paths)
        if before is not None and after is not None and before[1] != after[1]:
            lists["versions"].append({"host": shown, "component": component, "handler": None,
                                      "old": before[1], "new": after[1]})
            changed = True
    for handler in sorted(set(old_runtimes) & set(new_runtimes)):
        before, after = isolation(old_runtimes[handler]), isolation(new_runtimes[handler])
        if boundary(before) not in STRONG or boundary(after) not in STRONG:
            continue
        found_old, old_kernel = _dig(old_runtimes[handler], ("isolation", "kernel_release"))
        found_new, new_kernel = _dig(new_runtimes[handler], ("isolation", "kernel_release"))
        old_kernel, new_kernel = text(old_kernel, VALUE_LIMIT), text(new_kernel, VALUE_LIMIT)
        if found_old and found_new and old_kernel and new_kernel and old_kernel != new_kernel:
            lists["versions"].append({"host": shown, "component": GUEST_KERNEL, "handler": handler,
                                      "old": old_kernel, "new": new_kernel})
            changed = True

    for policy in sorted(set(old_policies.get(name, {})) | set(new_policies.get(name, {}))):
        before = old_policies.get(name, {}).get(policy)
        after = new_policies.get(name, {}).get(policy)
        if after is None:
            continue
        old_failing = before is not None and before[0] in FAILING
        new_failing = after[0] in FAILING
        if old_failing == new_failing:
            continue
        if not new_failing and after[0] != "pass":
            continue  # fail -> skip: the policy no longer applies; not a pass
        lists["policies"].append({"host": shown, "policy": policy, "severity": after[1],
                                  "old": before[0] if before else None, "new": after[0],
                                  "change": "newly-failing" if new_failing else "newly-passing"})
        changed = True

    for handler in sorted(set(old_runtimes) & set(new_runtimes)):
        for measure in MEASURES:
            before = measurement(old_runtimes[handler], measure)
            after = measurement(new_runtimes[handler], measure)
            if before[0] is None or after[0] is None:
                continue
            if measure[0] == MEMORY_MEASURE:
                item = moved_by_rule(before[0], after[0])
            elif before[1] is None or after[1] is None:
                counts["performance_not_judged"] += 1
                continue
            else:
                item = moved(before, after)
            if item:
                item.update({"host": shown, "handler": handler, "measure": measure[0], "unit": measure[5]})
                lists["performance"].append(item)
                changed = True
    return reasons, strengthened, changed


def _first(host_view, paths):
    for path in paths:
        found, value = _dig(host_view, path)
        if found:
            return path, text(value, VALUE_LIMIT)
    return None


def describe_isolation(seen):
    """One handler's isolation in words: "vm-isolated (kata-qemu)", "probe failed", "not probed"."""
    if seen is None:
        return "not probed"
    if seen["status"] != "ok":
        return "probe failed"
    verdict = seen["verdict"] or "unknown"
    return "%s (%s)" % (verdict, seen["sandbox"]) if seen.get("sandbox") else verdict


def _by_host(policies):
    out = {}
    for (name, host), value in policies.items():
        out.setdefault(host, {})[name] = value
    return out


def _run(report, facts=None, path=None):
    report = _dict(report)
    run = {"run_id": text(report.get("run_id"), 64), "started": text(report.get("started"), 64),
           "finished": text(report.get("finished"), 64), "schema": text(report.get("schema"), 64)}
    if path is not None:
        run["path"] = text(os.fspath(path), 4096)
    if facts is not None:
        facts = _dict(facts)
        run["signed"] = bool(facts.get("signed"))
        run["signed_by"] = text(facts.get("signed_by"), 128)
        run["report_sha256"] = text(facts.get("report_sha256"), 64)
    return run


def empty(status, previous=None, problems=None, current=None):
    """A changes section that compared nothing: ``none`` (no previous bundle) or ``refused`` (with the problems)."""
    if status not in STATUSES:
        raise ValueError("status %r is not one of %s" % (status, ", ".join(STATUSES)))
    section = {"version": VERSION, "status": status, "previous": previous, "current": current,
               "problems": [text(item, PROBLEM_LIMIT) or "?" for item in _list(problems)[:MAX_PROBLEMS]],
               "summary": dict((key, 0) for key in SUMMARY_KEYS), "weakened": {}}
    section.update(_collector())
    section["left_out"] = dict((key, 0) for key in LISTS)
    return section


LISTS = ("hosts", "runtimes", "versions", "policies", "performance")
SUMMARY_KEYS = ("hosts_before", "hosts_now", "hosts_compared", "hosts_unchanged", "hosts_changed", "hosts_new",
                "hosts_gone", "hosts_unreachable_now", "weakenings", "strengthenings", "hosts_weakened",
                "verdicts_changed", "handlers_added", "handlers_removed", "versions_changed",
                "policies_newly_failing", "policies_newly_passing", "performance_moved", "performance_not_judged")


def _order(item):
    """Weakenings first, then by host and what changed; every key text, whatever a part's report.json holds."""
    return (0 if item.get("weakening") or item.get("direction") == "weakening" else 1,
            text(item.get("host")) or "", text(item.get("handler")) or "",
            text(item.get("component") or item.get("policy") or item.get("measure")) or "")


def compare(old_report, new_report, previous=None, current=None, max_items=MAX_ITEMS):
    """The ``changes`` section: what ``new_report`` says differently from ``old_report`` (both report.json dicts).

    ``previous`` / ``current``: what to record about each run (run id, dates,
    path, signer); by default taken from the reports.  Never raises for
    anything in ``old_report``.
    """
    old_report, new_report = _dict(old_report), _dict(new_report)
    old_hosts = dict((name, entry) for name, entry in _dict(old_report.get("hosts")).items() if isinstance(name, str))
    new_hosts = dict((name, entry) for name, entry in _dict(new_report.get("hosts")).items() if isinstance(name, str))
    section = empty("compared", previous or _run(old_report), current=current or _run(new_report))
    lists = _collector()
    counts = dict((key, 0) for key in SUMMARY_KEYS)
    old_policies, new_policies = _by_host(_policy_statuses(old_report)), _by_host(_policy_statuses(new_report))
    weakened = {}
    for name in sorted(set(old_hosts) | set(new_hosts)):
        shown = text(name)
        if name not in old_hosts:
            lists["hosts"].append({"host": shown, "change": "new", "old": None, "new": _host_status(new_hosts[name]),
                                   "weakening": False})
            counts["hosts_new"] += 1
            continue
        if name not in new_hosts:
            lists["hosts"].append({"host": shown, "change": "gone", "old": _host_status(old_hosts[name]), "new": None,
                                   "weakening": False})
            counts["hosts_gone"] += 1
            continue
        counts["hosts_compared"] += 1
        reasons, strengthened, changed = _host_changes(name, old_hosts[name], new_hosts[name], old_policies,
                                                       new_policies, lists, counts)
        if reasons:
            weakened[shown] = reasons[:MAX_REASONS] + (["and %d more" % (len(reasons) - MAX_REASONS)]
                                                       if len(reasons) > MAX_REASONS else [])
            counts["weakenings"] += len(reasons)
        if changed:
            counts["hosts_changed"] += 1
        else:
            counts["hosts_unchanged"] += 1
    counts["hosts_before"], counts["hosts_now"] = len(old_hosts), len(new_hosts)
    counts["hosts_unreachable_now"] = sum(1 for item in lists["hosts"] if item["change"] == "unreachable-now")
    counts["hosts_weakened"] = len(weakened)
    counts["strengthenings"] = sum(1 for item in lists["runtimes"] if item["direction"] == "strengthening") + \
        sum(1 for item in lists["hosts"] if item["change"] == "reachable-again" and item["new"] == "ok")
    counts["versions_changed"] = len(lists["versions"])
    counts["policies_newly_failing"] = sum(1 for item in lists["policies"] if item["change"] == "newly-failing")
    counts["policies_newly_passing"] = len(lists["policies"]) - counts["policies_newly_failing"]
    counts["performance_moved"] = len(lists["performance"])
    section["summary"] = counts
    section["weakened"] = weakened
    for key in LISTS:
        items = sorted(lists[key], key=_order)
        section[key] = items[:max_items]
        section["left_out"][key] = max(0, len(items) - max_items)
    return section


# ------------------------------------------------------------------ bundles on disk


def previous_bundle(evidence_dir, compare_with=None):
    """The bundle a run compares itself with: ``compare_with`` when given, else <evidence_dir>/latest (None: none yet)."""
    if compare_with:
        return os.fspath(compare_with)
    if not evidence_dir:
        return None
    latest = os.path.join(os.fspath(evidence_dir), "latest")
    return latest if os.path.lexists(latest) else None


def _verify():
    # Imported here: verify imports the model, which may one day import this module for its view.
    # pylint: disable=import-outside-toplevel
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import verify
    return verify


def _check(path, public_keys):
    """(report, facts, problems) of one bundle through verify.inspect_bundle; DiffError for unusable keys."""
    verify = _verify()
    try:
        report, problems, facts = verify.inspect_bundle(path, public_keys)
    except verify.PublicKeyError as error:
        raise DiffError(str(error))
    return report, facts, problems


def against_bundle(path, new_report, public_keys=None, max_items=MAX_ITEMS):
    """The ``changes`` section of ``new_report`` against the bundle at ``path`` (checked first).

    ``path`` None: ``status: none`` (no previous run).  A bundle that fails a
    check: ``status: refused``, its problems listed, nothing compared.
    """
    current = _run(new_report)
    if path is None:
        return empty("none", current=current)
    report, facts, problems = _check(path, public_keys)
    previous = _run(report or {}, facts, path)
    if report is None:
        return empty("refused", previous, problems or ["the bundle could not be read"], current)
    return compare(report, new_report, previous, current, max_items)


def diff_bundles(old, new, public_keys=None, max_items=MAX_ITEMS):
    """``changes`` between two bundles on disk, both checked first; a refused one is named in ``problems``."""
    old_report, old_facts, old_problems = _check(old, public_keys)
    new_report, new_facts, new_problems = _check(new, public_keys)
    previous = _run(old_report or {}, old_facts, old)
    current = _run(new_report or {}, new_facts, new)
    if old_report is None or new_report is None:
        problems = ["old bundle %s: %s" % (old, item) for item in old_problems] + \
                   ["new bundle %s: %s" % (new, item) for item in new_problems]
        return empty("refused", previous, problems, current)
    return compare(old_report, new_report, previous, current, max_items)


# ------------------------------------------------------------------ the policy


WEAKENING_DESCRIPTION = ("No host weakened since the previous run: no handler went from vm-isolated or "
                         "user-space-kernel to shared-kernel or unknown, no handler that was probed is missing, "
                         "no host that answered is unreachable.")
WEAKENING_EXPECT = "changes.weakened has no entry for this host (the previous bundle verified and was compared)"


def weakening_results(changes, hosts, fail_on_weakening=True):
    """{host: [result]}: the no-weakening policy on each host of the new report, as _policy.evaluate shapes results.

    ``hosts``: the new report's ``hosts`` (a host unreachable now, and not
    weakened by it, is ``skip``: there is nothing of it to judge), or just
    their names.

    ``fail_on_weakening`` (kata_fleet_fail_on_weakening, default true) makes
    the policy error severity (a weakening fails the host and the run), else
    warning.  A previous bundle that was refused makes every host ``error``
    (the weakening could not be looked for); no previous bundle, or a new
    host, is ``skip``.
    """
    changes = _dict(changes)
    status = changes.get("status")
    weakened = _dict(changes.get("weakened"))
    new_hosts = set(item.get("host") for item in _list(changes.get("hosts"))
                    if isinstance(item, dict) and item.get("change") == "new")
    previous = _dict(changes.get("previous"))
    where = previous.get("path") or previous.get("run_id") or "the previous bundle"
    base = {"name": WEAKENING_POLICY, "severity": "error" if fail_on_weakening else "warning",
            "description": WEAKENING_DESCRIPTION, "expect": WEAKENING_EXPECT,
            "controls": list(_policy.NIST_SHARED_KERNEL)}
    results = {}
    for name in hosts:
        shown = text(name)
        unreachable = isinstance(hosts, dict) and _host_status(hosts[name]) == "unreachable"
        if status == "refused":
            problem = (_list(changes.get("problems")) or ["it failed its checks"])[0]
            outcome = ("error", "%s%s was refused, not compared: %s" % (_policy.NOT_EVALUATED, where, problem))
        elif status != "compared":
            outcome = ("skip", "does not apply: no previous run to compare with")
        elif shown in weakened:
            outcome = ("fail", "; ".join(weakened[shown]))
        elif shown in new_hosts:
            outcome = ("skip", "does not apply: a new host, not in the previous run %s" % (previous.get("run_id") or ""))
        elif unreachable:
            outcome = ("skip", "does not apply: unreachable in this run, as in the previous one")
        else:
            outcome = ("pass", "no weakening since %s" % (previous.get("run_id") or "the previous run"))
        result = dict(base)
        result["controls"] = list(base["controls"])
        result["status"], result["detail"] = outcome
        results[name] = [result]
    return results


# ------------------------------------------------------------------ plain text


TEMPLATE = "changes.txt.j2"
LISTED = 50


def _date(stamp):
    return stamp[:10] if isinstance(stamp, str) and len(stamp) >= 10 else "date unknown"


def view(changes, listed=LISTED):
    """What the text rendering shows: the heading, the summary lines, each list cut to ``listed`` (0: all)."""
    changes = _dict(changes)
    previous = _dict(changes.get("previous"))
    summary = _dict(changes.get("summary"))
    when = previous.get("finished") or previous.get("started")
    heading = "CHANGES SINCE %s (%s)" % (previous.get("run_id") or "?", _date(when))
    if changes.get("status") == "none":
        heading = "CHANGES: no previous run to compare with"
    elif changes.get("status") == "refused":
        heading = "CHANGES: NOT COMPARED, the previous bundle %s was refused" % (previous.get("path") or "")
    sections = []
    for key, title, line in (
            ("hosts", "Hosts", _host_line), ("runtimes", "Runtime handlers", _runtime_line),
            ("versions", "Versions", _version_line), ("policies", "Policies", _policy_line),
            ("performance", "Performance beyond both runs' noise", _performance_line)):
        items = _list(changes.get(key))
        shown = items if not listed else items[:listed]
        more = len(items) - len(shown) + int(_dict(changes.get("left_out")).get(key) or 0)
        if items:
            sections.append({"title": title, "lines": [line(item) for item in shown], "more": more})
    counts = [
        ("weakening", summary.get("weakenings", 0)), ("strengthening", summary.get("strengthenings", 0)),
        ("new host", summary.get("hosts_new", 0)), ("gone host", summary.get("hosts_gone", 0)),
        ("host unreachable now", summary.get("hosts_unreachable_now", 0)),
        ("verdict or sandbox change", summary.get("verdicts_changed", 0)),
        ("handler added", summary.get("handlers_added", 0)), ("handler removed", summary.get("handlers_removed", 0)),
        ("version change", summary.get("versions_changed", 0)),
        ("policy newly failing", summary.get("policies_newly_failing", 0)),
        ("policy newly passing", summary.get("policies_newly_passing", 0)),
        ("measurement moved", summary.get("performance_moved", 0)),
    ]
    return {
        "heading": heading,
        "status": changes.get("status"),
        "previous": _run_view(previous),
        "current": _run_view(changes.get("current")),
        "problems": _list(changes.get("problems")),
        "hosts_line": "%d hosts compared: %d unchanged, %d changed (%d weakened)" % (
            summary.get("hosts_compared", 0), summary.get("hosts_unchanged", 0), summary.get("hosts_changed", 0),
            summary.get("hosts_weakened", 0)),
        "counts": ", ".join(_plural(number, word) for word, number in counts if number) or "no change",
        "not_judged": summary.get("performance_not_judged", 0),
        "sections": sections,
    }


def _run_view(run):
    run = _dict(run)
    return dict((key, run.get(key)) for key in ("run_id", "started", "finished", "path", "signed_by"))


def _plural(number, word):
    return "%d %s" % (number, word if number == 1 else PLURALS.get(word, word + "s"))


PLURALS = {"host unreachable now": "hosts unreachable now", "handler added": "handlers added",
           "handler removed": "handlers removed", "policy newly failing": "policies newly failing",
           "policy newly passing": "policies newly passing", "measurement moved": "measurements moved"}


def _mark(weakening):
    return "WEAKENED " if weakening else ""


def _host_line(item):
    words = {"new": "new host (%s)" % item.get("new"), "gone": "gone (was %s)" % item.get("old"),
             "unreachable-now": "unreachable now (was %s)" % item.get("old"),
             "reachable-again": "reachable again (now %s)" % item.get("new")}
    return "%s%s: %s" % (_mark(item.get("weakening")), item.get("host"),
                         words.get(item.get("change"), "%s -> %s" % (item.get("old"), item.get("new"))))


def _runtime_line(item):
    direction = item.get("direction")
    mark = "WEAKENED " if direction == "weakening" else "stronger " if direction == "strengthening" else ""
    if item.get("change") == "added":
        what = "handler added: %s" % describe_isolation(item.get("new"))
    elif item.get("change") == "removed":
        what = "handler removed (was %s)" % describe_isolation(item.get("old"))
    else:
        what = "%s -> %s" % (describe_isolation(item.get("old")), describe_isolation(item.get("new")))
    return "%s%s / %s: %s" % (mark, item.get("host"), item.get("handler"), what)


def _version_line(item):
    where = "%s / %s" % (item.get("host"), item.get("handler")) if item.get("handler") else item.get("host")
    return "%s: %s %s -> %s" % (where, item.get("component"), item.get("old"), item.get("new"))


def _policy_line(item):
    return "%s: %s (%s) %s (%s -> %s)" % (
        item.get("host"), item.get("policy"), item.get("severity") or "?", item.get("change"),
        item.get("old") or "none", item.get("new"))


def _performance_line(item):
    show = fmt.duration if item.get("unit") == "s" else fmt.mib
    return "%s / %s: %s %s -> %s (%s; noise %s)" % (
        item.get("host"), item.get("handler"), item.get("measure"), show(item.get("old")), show(item.get("new")),
        item.get("change"), show(item.get("noise")))


_ENVIRONMENTS = {}


def environment(template_dir=None):
    """A plain-text Jinja2 environment: the user's template directory first, then ours; every value one safe line."""
    key = template_dir or None
    if key not in _ENVIRONMENTS:
        # pylint: disable=import-outside-toplevel  # only the text rendering needs Jinja2
        from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined
        from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import jinja

        loaders = ([FileSystemLoader(template_dir)] if template_dir else []) + [FileSystemLoader(jinja.OURS)]
        _ENVIRONMENTS[key] = Environment(loader=ChoiceLoader(loaders), autoescape=False, undefined=StrictUndefined,
                                         keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                                         finalize=lambda value: fmt.host_text(value, 4096))
    return _ENVIRONMENTS[key]


def render_text(changes, listed=LISTED, template_dir=None):
    """The changes as plain text (the CLI's ``diff`` output, the console's section): summary first, then lists."""
    return environment(template_dir).get_template(TEMPLATE).render(view(changes, listed))


# ------------------------------------------------------------------ into a run's report (the callback, merge)

# The settings the verify_host action hands to the comparison callback in its result, as it hands over
# kata_fleet_evidence_dir (None in a result: not set, the callback's own option counts).
SETTINGS = ("kata_fleet_compare_with", "kata_fleet_fail_on_weakening", "kata_fleet_compare_public_keys")
# At most this many lines of each list on the console (report.json keeps up to MAX_ITEMS).
CONSOLE_LISTED = 20
# ssh-keygen -y on a key that asks for a passphrase would wait for it: never longer than this.
KEY_TIMEOUT = 30


def public_key_of(private_key, timeout=KEY_TIMEOUT):
    """The public key's text of the SSH private key at ``private_key`` (``ssh-keygen -y -f``); DiffError if none."""
    # pylint: disable=import-outside-toplevel  # only a signing controller needs it
    import subprocess
    path = os.fspath(private_key)
    try:
        result = subprocess.run(["ssh-keygen", "-y", "-P", "", "-f", path], stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise DiffError("ssh-keygen is not installed: the public key of the signing key %s cannot be derived" % path)
    except subprocess.TimeoutExpired:
        raise DiffError("ssh-keygen -y -f %s did not answer within %d s" % (path, timeout))
    lines = [line.strip() for line in (result.stdout or "").splitlines() if line.strip()]
    if result.returncode != 0 or len(lines) != 1 or len(lines[0]) > 16384:
        raise DiffError("the public key of the signing key %s cannot be derived (ssh-keygen -y: %s)" % (
            path, text((result.stderr or result.stdout or "no output").strip(), 300)))
    return lines[0]


def load_previous(evidence_dir, compare_with=None, public_keys=None, signing_key=None):
    """The previous bundle, found and checked ONCE: a dict the run's comparisons share; never raises.

    The previous bundle is ``compare_with`` (kata_fleet_compare_with), else
    <evidence_dir>/latest, which still names the previous run while this
    run's bundle is not yet written.  ``public_keys`` (kata_fleet_compare_public_keys:
    key texts or files, allowed-signers lines included) verify its signature;
    without them, the public key of ``signing_key`` (this controller's own
    key) does, so the previous signed bundle of the same controller verifies.

    The dict: ``path`` (None: no previous bundle), ``report`` (its report.json,
    only when every check passed), ``facts`` (verify.inspect_bundle's),
    ``problems`` (why it was refused), ``refused`` (a reason that is not the
    bundle's: keys that cannot be used, a comparison that broke), ``derived``
    (a signing key whose public key could not be derived).
    """
    previous = {"path": previous_bundle(evidence_dir, compare_with), "report": None, "facts": None, "problems": [],
                "refused": None, "derived": []}
    if previous["path"] is None:
        return previous
    keys = [item for item in _list(public_keys) if item]
    if not keys and signing_key:
        try:
            keys = [public_key_of(signing_key)]
        except DiffError as error:
            previous["derived"].append("%s, so no key could verify a signed previous bundle" % error)
    try:
        previous["report"], previous["facts"], previous["problems"] = _check(previous["path"], keys or None)
    except DiffError as error:
        previous["refused"] = "the public keys cannot be used: %s" % error
    except Exception as error:  # pylint: disable=broad-except  # a check that broke is named, never a traceback
        previous["refused"] = "the comparison failed: %s: %s" % (type(error).__name__, error)
    return previous


def section_for(previous, report, max_items=MAX_ITEMS):
    """The ``changes`` section of a run's ``report`` against ``previous`` (load_previous's); never raises.

    A bundle that nothing could verify is ``refused`` with the reason, never
    compared unverified.
    """
    current = _run(report)
    if previous["path"] is None:
        return empty("none", current=current)
    if previous["refused"]:
        return empty("refused", _run({}, None, previous["path"]), [previous["refused"]], current)
    try:
        if previous["report"] is None:
            section = empty("refused", _run({}, previous["facts"], previous["path"]),
                            previous["problems"] or ["the bundle could not be read"], current)
        else:
            section = compare(previous["report"], report, _run(previous["report"], previous["facts"], previous["path"]),
                              current, max_items)
    except Exception as error:  # pylint: disable=broad-except  # a comparison that broke is named, never a traceback
        return empty("refused", _run({}, None, previous["path"]),
                     ["the comparison failed: %s: %s" % (type(error).__name__, error)], current)
    if section["status"] == "refused" and previous["derived"]:
        section["problems"] = (section["problems"] + [text(item, PROBLEM_LIMIT) for item in previous["derived"]])[
            :MAX_PROBLEMS]
    return section


def for_run(report, evidence_dir, compare_with=None, public_keys=None, signing_key=None, max_items=MAX_ITEMS):
    """The ``changes`` section of a run's ``report`` against its previous bundle (load_previous, section_for)."""
    return section_for(load_previous(evidence_dir, compare_with, public_keys, signing_key), report, max_items)


# ------------------------------------------------------------------ preloaded for the play's hosts

# Set by the comparison callback in ansible-playbook's own process when a play starts, before any worker forks
# for the play's tasks: ansible-core's workers are forked (ansible.utils.multiprocessing's context is 'fork'),
# so each verify_host action sees it as it was, and the previous bundle is read and verified once per play, not
# once per host.  None: nothing preloaded (the callback is not enabled, or the play is not reported), and the
# action does not judge.  See preload().
PRELOADED = None
# What the verify_host action adds to its result when it failed the host for a weakening: the callback keeps
# the host's status as the report has always had it (the no-weakening policy fails the run), not a failed host.
WEAKENING_KEY = "kata_fleet_weakening"


def preload(evidence_dir, compare_with=None, public_keys=None, signing_key=None, fail_on_weakening=True,
            settings=None):
    """Find and check the previous bundle once (load_previous) and keep it in ``PRELOADED``; returns it.

    ``settings``: the kata_fleet_evidence_dir / _compare_with /
    _compare_public_keys values the play's variables gave (None when unset):
    a host whose own settings name another bundle is not judged by the action
    (the callback then compares the report with that bundle at the end).
    """
    global PRELOADED  # pylint: disable=global-statement  # the one holder the forked workers inherit
    PRELOADED = {"previous": load_previous(evidence_dir, compare_with, public_keys, signing_key),
                 "fail_on_weakening": bool(fail_on_weakening),
                 "settings": dict((name, (settings or {}).get(name)) for name in PRELOAD_SETTINGS)}
    return PRELOADED


def clear_preloaded():
    global PRELOADED  # pylint: disable=global-statement
    PRELOADED = None


PRELOAD_SETTINGS = ("kata_fleet_evidence_dir", "kata_fleet_compare_with", "kata_fleet_compare_public_keys")


def refusal(previous):
    """Why the previous bundle (load_previous's) was refused, as one bounded line; None when it was not
    refused (none found, or it verified)."""
    previous = _dict(previous)
    if previous.get("path") is None or (previous.get("report") is not None and not previous.get("refused")):
        return None
    reasons = [previous["refused"]] if previous.get("refused") else _list(previous.get("problems"))
    return text("; ".join(str(item) for item in reasons[:MAX_REASONS]) or "the bundle could not be read",
                PROBLEM_LIMIT)


def host_weakening(previous, host, new_entry):
    """(reasons, section) of one host's new report.json entry against its entry in ``previous`` (load_previous's).

    The same rules as the whole report's (``compare`` on two one-host
    reports).  ``reasons`` is None when nothing can be judged: no previous
    bundle, a refused one, or a host that is not in it; else the weakening
    reasons ([] for none).
    """
    old_report = _dict(previous).get("report")
    old_entry = _dict(_dict(old_report).get("hosts")).get(host) if isinstance(host, str) else None
    if not isinstance(old_entry, dict) or not isinstance(new_entry, dict):
        return None, None
    old_one = {"run_id": old_report.get("run_id"), "started": old_report.get("started"),
               "finished": old_report.get("finished"), "schema": old_report.get("schema"), "hosts": {host: old_entry}}
    section = compare(old_one, {"hosts": {host: new_entry}})
    return list(section["weakened"].get(text(host)) or []), section


def weakening_message(section, host):
    """The host's failure message for a weakening: since which run, what it was and is now, how to accept it."""
    previous = _dict(_dict(section).get("previous"))
    shown = text(host)
    parts = []
    for item in _list(_dict(section).get("hosts")):
        if item.get("host") == shown and item.get("weakening"):
            parts.append("this host answered (%s), now it is %s" % (item.get("old"), item.get("new")))
    for item in _list(_dict(section).get("runtimes")):
        if item.get("host") != shown or item.get("direction") != "weakening":
            continue
        if item.get("new") is None:
            parts.append("%s on this host was %s, now it is not probed (removed from containerd's configuration, "
                         "or no longer probed)" % (item.get("handler"), describe_isolation(item.get("old"))))
        else:
            parts.append("%s on this host was %s, now %s" % (
                item.get("handler"), describe_isolation(item.get("old")), describe_isolation(item.get("new"))))
    if not parts:
        parts = _list(_dict(section.get("weakened")).get(shown))
    when = previous.get("finished") or previous.get("started")
    return "weakened since run %s (%s): %s; kata_fleet_fail_on_weakening: false accepts it" % (
        previous.get("run_id") or "?", _date(when), "; ".join(parts[:MAX_REASONS]) or "see the report's changes")


def judge(report, section, fail_on_weakening=True):
    """Put ``section`` into ``report`` (in place) as its ``changes``, with the no-weakening policy on every host.

    The policy's results join ``report.policies`` (an earlier no-weakening
    entry is replaced) and ``summary`` and ``result`` are made again by the
    model's own functions, so a weakening fails the run when
    ``fail_on_weakening`` (error severity) and is a warning otherwise.
    """
    # pylint: disable=import-outside-toplevel  # the model may one day import this module for its view
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import model
    hosts = report["hosts"]
    policies = [policy for policy in report.get("policies") or [] if policy.get("name") != WEAKENING_POLICY]
    if hosts:
        policies.extend(_policy.merge_results(weakening_results(section, hosts, fail_on_weakening), hosts))
    report["policies"] = policies
    report["summary"] = model.summary(hosts)
    report["result"] = model.overall_result(hosts, policies)
    report["changes"] = section
    return report


def combine(parts, merged_report=None, max_items=MAX_ITEMS):
    """One ``changes`` section from the sections of the parts of a merged bundle (merge.py); None when no part has one.

    ``parts``: [(part number, section, {host: name in the merged report})].
    Each part was compared with its own previous bundle by the same rules, so
    nothing is compared again: counts are added, lists joined (hosts renamed
    as the merged report names them), weakenings first, each list cut to
    ``max_items``.  Status: ``refused`` when a part's was, ``none`` when no
    part had a previous run, else ``compared``; ``problems`` names the parts
    that differ (refused, no previous run, another previous run).  The
    parts' no-weakening results are each host's own and stay as they are.
    """
    usable = [(number, section, renamed or {}) for number, section, renamed in parts
              if isinstance(section, dict) and section.get("status") in STATUSES]
    if not usable:
        return None
    statuses = [section["status"] for _number, section, _renamed in usable]
    status = "refused" if "refused" in statuses else "none" if set(statuses) == {"none"} else "compared"
    compared = [item for item in usable if item[1]["status"] == "compared"] or usable
    previous = _dict(compared[0][1].get("previous")) or None
    problems = []
    for number, section, _renamed in usable:
        if section["status"] == "refused":
            problems.extend("part %d: %s" % (number, problem) for problem in _list(section.get("problems")))
        elif section["status"] == "none" and status != "none":
            problems.append("part %d: no previous run to compare with, its hosts are not compared" % number)
        elif section["status"] == "compared" and previous is not None and \
                _dict(section.get("previous")).get("run_id") != previous.get("run_id"):
            problems.append("part %d: compared with run %s, not %s" % (
                number, _dict(section.get("previous")).get("run_id"), previous.get("run_id")))
    combined = empty(status, previous, problems, _run(merged_report) if merged_report is not None else None)
    lists, weakened = _collector(), {}
    for number, section, renamed in usable:
        for key, value in _dict(section.get("summary")).items():
            if key in combined["summary"] and isinstance(value, int) and not isinstance(value, bool):
                combined["summary"][key] += value
        for key, value in _dict(section.get("left_out")).items():
            if key in combined["left_out"] and isinstance(value, int) and not isinstance(value, bool):
                combined["left_out"][key] += value
        for host, reasons in _dict(section.get("weakened")).items():
            if isinstance(host, str):
                weakened[renamed.get(host, host)] = _list(reasons)
        for key in LISTS:
            for item in _list(section.get(key)):
                # A part's section is its report.json's: an item without a host name of text is left out.
                if isinstance(item, dict) and isinstance(item.get("host"), str) and all(
                        value is None or isinstance(value, (str, int, float, dict)) and not (
                            isinstance(value, dict) and name not in ("old", "new"))
                        for name, value in item.items()):
                    item = dict(item)
                    item["host"] = renamed.get(item["host"], item["host"])
                    lists[key].append(item)
    combined["weakened"] = dict(sorted(weakened.items()))
    for key in LISTS:
        items = sorted(lists[key], key=_order)
        combined[key] = items[:max_items]
        combined["left_out"][key] += max(0, len(items) - max_items)
    return combined


def page_view(changes, listed=LISTED):
    """What report.md and report.html show of ``changes`` (None when the report has none): view() plus the weakenings."""
    if not isinstance(changes, dict):
        return None
    shown = view(changes, listed)
    weakened = sorted(_dict(changes.get("weakened")).items())
    shown["weakened"] = [{"host": text(host), "reasons": [text(reason, PROBLEM_LIMIT) for reason in _list(reasons)]}
                         for host, reasons in (weakened if not listed else weakened[:listed])]
    shown["weakened_more"] = len(weakened) - len(shown["weakened"])
    shown["summary"] = dict((key, int(value)) for key, value in _dict(changes.get("summary")).items()
                            if isinstance(value, int) and not isinstance(value, bool))
    return shown
