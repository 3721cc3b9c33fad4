# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one report model: ``build_report`` makes report.json, ``build_view`` what every output shows.

report.json (schema in docs/report.schema.json) keeps what each host sent.
The view is derived from it once: every cell already formatted (``format``),
every verdict, figure, policy sentence and finding decided, so the console,
report.md, report.html and report.csv are pure renderings that cannot
disagree.  Each host is built on its own: a host whose results make no sense
becomes that host's error, never a lost report.
"""

import json
import math

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _policy
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import contract, format as fmt

SCHEMA = "kata_fleet.report/v1"
# From the weakest boundary to the strongest; the order trade-offs compare in.
VERDICTS = ("shared-kernel", "user-space-kernel", "vm-isolated")
HOST_ROW = "(host)"
# Columns of the comparison table: key, title.  One list for every output.
ISOLATION_COLUMNS = (
    ("host", "Host"), ("runtime", "Runtime"), ("kernel", "Kernel"), ("cpu_model", "CPU model"),
    ("proc_entries", "/proc"), ("modules", "Modules"), ("interfaces", "Interfaces"), ("verdict", "Verdict"),
)
PERFORMANCE_COLUMNS = (
    ("host", "Host"), ("runtime", "Runtime"), ("startup", "Startup med/p95"), ("http", "HTTP p50/p99"),
    ("memory", "Memory (PSS)"),
)
COLUMNS = ISOLATION_COLUMNS + PERFORMANCE_COLUMNS[2:]
# Plain numbers for machines reading report.csv: column, probe, path, bounds.
NUMBERS = (
    ("startup_median_s", ("startup", "total", "median"), fmt.DURATION_RANGE),
    ("startup_p95_s", ("startup", "total", "p95"), fmt.DURATION_RANGE),
    ("http_p50_s", ("http", "latency", "p50"), fmt.DURATION_RANGE),
    ("http_p99_s", ("http", "latency", "p99"), fmt.DURATION_RANGE),
    ("memory_pss_kib", ("http", "memory", "total_pss_kib"), fmt.KIB_RANGE),
)


def _dict(value):
    return value if isinstance(value, dict) else {}


def _list(value):
    return value if isinstance(value, list) else []


def dig(data, path):
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


# ------------------------------------------------------------------ report.json


def host_entry(record):
    """A record (contract.new_record) as report.json's host entry: status, error, host view, runtimes."""
    runtimes = {}
    for probe in contract.PROBES:
        for handler, result in _dict(_dict(record.get(probe)).get("runtimes")).items():
            runtimes.setdefault(str(handler), dict((name, None) for name in contract.PROBES))[probe] = result
    host_view = record.get("host_facts") or _dict(record.get("isolation")).get("host")
    status = record.get("status") or "ok"
    if status not in contract.STATUSES:
        status = "failed"
    if status == "ok" and not host_view and not runtimes:
        status = "skipped"
    error = record.get("error") or ("no probe results: the host ran none of the probe tasks"
                                    if status == "skipped" else None)
    return {"status": status, "error": None if error is None else str(error),
            "host": host_view if isinstance(host_view, dict) else None, "runtimes": runtimes}


PROBE_STATUSES = ("ok", "failed", "planned")
VERDICT_VALUES = VERDICTS + ("unknown",)
STATS_BLOCKS = {"startup": ("total",), "http": ("latency",), "isolation": ()}


def _short(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def conform(entry):
    """Make one host entry fit report.json's schema; returns a note per value it had to refuse.

    A probe result that is not a mapping, a status or verdict outside the
    schema's words, or statistics that are not numbers would make report.json
    invalid for every reader: each such value is replaced (null, "failed",
    "unknown") and the note says what the host sent.
    """
    notes = []
    for runtime, probes in list(entry["runtimes"].items()):
        for probe in contract.PROBES:
            result = probes.get(probe)
            where = "runtimes/%s/%s" % (runtime, probe)
            if result is None:
                continue
            if not isinstance(result, dict):
                notes.append("%s: %s is not a probe result: left out" % (where, _short(result)))
                probes[probe] = None
                continue
            if result.get("status") not in PROBE_STATUSES:
                notes.append("%s/status: %s is not ok, failed or planned: read as failed" % (where, _short(result.get("status"))))
                result["status"] = "failed"
                result["error"] = str(result.get("error") or "the host sent status %s" % _short(result.get("status")))
            if "verdict" in result and result["verdict"] not in VERDICT_VALUES:
                notes.append("%s/verdict: %s is not a verdict: read as unknown" % (where, _short(result["verdict"])))
                result["verdict"] = "unknown"
            for block in STATS_BLOCKS[probe]:
                stats = result.get(block)
                if stats is None:
                    continue
                if not isinstance(stats, dict) or isinstance(stats.get("n"), bool) or not isinstance(stats.get("n"), int) \
                        or stats["n"] < 0:
                    notes.append("%s/%s: %s are not statistics with a count n: left out" % (where, block, _short(stats)))
                    result[block] = None
                    continue
                for key, value in list(stats.items()):
                    if key != "n" and value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                        notes.append("%s/%s/%s: %s is not a number: written as null" % (where, block, key, _short(value)))
                        stats[key] = None
    return notes


def summary(hosts):
    counts = dict((status, 0) for status in contract.STATUSES)
    runtimes = {}
    for entry in hosts.values():
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
        for handler in entry["runtimes"]:
            runtimes[handler] = runtimes.get(handler, 0) + 1
    counts["hosts"] = len(hosts)
    counts["runtimes"] = dict(sorted(runtimes.items()))
    return counts


def error_policies(policies):
    """Names of the error-severity policies that failed or could not be evaluated on some host (decided here only)."""
    names = []
    for policy in policies or []:
        severity = policy.get("severity")
        if any(_policy.blocks(severity, result.get("status"))
               for result in _list(policy.get("results")) if isinstance(result, dict)):
            names.append(str(policy.get("name")))
    return names


def overall_result(hosts, policies):
    """pass when every host is ok and no error-severity policy failed anywhere."""
    if any(entry["status"] != "ok" for entry in hosts.values()) or error_policies(policies):
        return "fail"
    return "pass"


def build_report(records, run, run_id, policies=None):
    """report.json as a dict.

    ``records`` maps host name to its record (contract); ``run`` carries
    started, finished, controller, versions, playbooks and inventory;
    ``run_id`` is the controller's name for this run: a host whose results
    name another run is failed with the reason.  ``policies``: per host, the
    policy_check results (None: take them from the records).
    """
    hosts, errors = {}, []
    for name in sorted(records, key=str):
        record = records[name]
        try:
            entry = host_entry(record)
            errors.extend({"host": str(name), "error": note} for note in conform(entry))
            mismatch = contract.check_run_id(record, run_id)
            if mismatch:
                entry["status"] = "failed"
                entry["error"] = mismatch if not entry["error"] else "%s; %s" % (mismatch, entry["error"])
        except Exception as error:  # pylint: disable=broad-except  # one host's nonsense is that host's error
            entry = {"status": "failed", "host": None, "runtimes": {},
                     "error": "the controller could not read this host's results: %s: %s" % (type(error).__name__, error)}
            errors.append({"host": str(name), "error": entry["error"]})
        hosts[str(name)] = entry
    if policies is None:
        policies = dict((name, record["policies"]) for name, record in records.items()
                        if isinstance(record, dict) and record.get("policies"))
    report = {"schema": SCHEMA, "run_id": run_id}
    report.update(run)
    report["summary"] = summary(hosts)
    report["hosts"] = hosts
    try:
        report["policies"] = _policy.merge_results(policies, hosts)
    except Exception as error:  # pylint: disable=broad-except  # malformed policy results cost the policies, not the report
        report["policies"] = []
        errors.append({"host": None, "error": "policy results could not be merged: %s: %s" % (type(error).__name__, error)})
    report["result"] = overall_result(hosts, report["policies"])
    report["errors"] = errors
    return report


def _finite(value, path, notes):
    """A copy of ``value`` with NaN and infinities as None, each noted with where it was."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        notes.append("%s: %r is not a number JSON can hold: written as null" % ("/".join(path), value))
        return None
    if isinstance(value, dict):
        return dict((key, _finite(item, path + [str(key)], notes)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_finite(item, path + [str(index)], notes) for index, item in enumerate(value)]
    return value


def to_json(report):
    """report.json's text, always valid JSON (RFC 8259: no NaN, no Infinity).

    Compact, one line, keys in the order the model builds them: Python's C
    encoder only runs without indent, and sorting every object's keys costs a
    quarter more at fleet size (``jq -S . report.json`` pretty-prints it sorted).  Only when a
    host sent NaN or an infinity is the report walked: each such value becomes
    null and an entry in ``errors``, and ``report`` is changed in place so
    every other output shows the same.  Values JSON cannot encode at all
    (bytes, sets) become their text.
    """
    try:
        return json.dumps(report, separators=(",", ":"), allow_nan=False) + "\n"
    except ValueError:
        pass
    for name, entry in report.get("hosts", {}).items():
        notes = []
        cleaned = _finite(entry, [], notes)
        if notes:
            report["hosts"][name] = cleaned
            report["errors"].extend({"host": name, "error": note} for note in notes)
    notes = []
    for key in [key for key in report if key != "hosts"]:
        report[key] = _finite(report[key], [key], notes)
    report["errors"].extend({"host": None, "error": note} for note in notes)
    return json.dumps(report, separators=(",", ":"), allow_nan=False, default=str) + "\n"


# ------------------------------------------------------------------ the view


def sandbox_text(isolation):
    sandbox = isolation.get("sandbox")
    return fmt.host_text(sandbox, 64) if isinstance(sandbox, str) and sandbox else None


def verdict_of(isolation):
    """(verdict, sandbox) of one isolation result; verdict None when not probed, 'failed' when the probe failed."""
    if not isinstance(isolation, dict) or not isolation:
        return None, None
    if isolation.get("status") == "failed":
        return "failed", None
    if isolation.get("status") == "planned":
        return None, None
    verdict = isolation.get("verdict")
    verdict = verdict if verdict in VERDICTS else "unknown"
    return verdict, sandbox_text(isolation)


def verdict_label(verdict, sandbox):
    if verdict is None:
        return "-"
    return "%s (%s)" % (verdict, sandbox) if sandbox else verdict


def _interfaces(view, notes, where):
    names = []
    for item in _list(view.get("interfaces")):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            notes.append("%s: an interface without a name (%s) is shown as ?" % (where, fmt.host_text(item, 60)))
            name = fmt.MISSING
        names.append(fmt.host_text(name, 64))
    return ", ".join(names) or "-"


def _modules(view):
    if view.get("modules") is not None:
        return fmt.count(view["modules"])
    return "n/a" if view.get("modules_available") is False else fmt.MISSING


def _check(value, bounds, what, notes, where):
    why = fmt.problem(value, bounds, what)
    if why:
        notes.append("%s: %s" % (where, why))


def view_cells(view, notes, where):
    """Kernel, CPU, /proc, modules, interfaces: the same cells for the host's view and each container's."""
    view = _dict(view)
    _check(view.get("proc_entries"), fmt.COUNT_RANGE, "/proc count", notes, where)
    _check(view.get("modules"), fmt.COUNT_RANGE, "module count", notes, where)
    return {
        "kernel": fmt.host_text(view.get("kernel_release") or fmt.MISSING, 256),
        "cpu_model": fmt.host_text(view.get("cpu_model") or fmt.MISSING, 256),
        "proc_entries": fmt.count(view.get("proc_entries")) if view.get("proc_entries") is not None else fmt.MISSING,
        "modules": _modules(view),
        "interfaces": _interfaces(view, notes, where),
    }


def _stat(entry, block, key, what, notes, where):
    value = dig(entry, (block, key))
    number = fmt.number(value, fmt.DURATION_RANGE)
    if number is None and value is not None:
        _check(value, fmt.DURATION_RANGE, what, notes, where)
    return number


def measure(entry, block, low_key, high_key, what, notes, where):
    """(low, high, note): a statistic and its tail in seconds, or the note saying why there is none."""
    if not isinstance(entry, dict) or not entry:
        return None, None, fmt.NOT_MEASURED
    if entry.get("status") == "failed":
        return None, None, "failed: %s" % fmt.host_text(entry.get("error") or "no error text", 300)
    if entry.get("status") == "planned":
        return None, None, fmt.NOT_MEASURED + " (planned only)"
    low = _stat(entry, block, low_key, "%s %s" % (what, low_key), notes, where)
    high = _stat(entry, block, high_key, "%s %s" % (what, high_key), notes, where)
    if low is None:
        mean = fmt.number(dig(entry, (block, "mean")), fmt.DURATION_RANGE)
        if mean is not None:
            return None, None, "mean %s (no %s recorded)" % (fmt.duration(mean), low_key)
        return None, None, fmt.NOT_MEASURED
    return low, high, None


def _measure_text(low, high, note):
    return note if note else fmt.pair(low, high)


def runtime_row(host, runtime, probes, notes):
    """One runtime on one host: every cell formatted, plus the figures the charts and CSV use."""
    where = "%s %s" % (host, runtime)
    isolation = probes.get("isolation")
    row = {"host": host, "runtime": fmt.host_text(runtime, 128)}
    row.update(view_cells(isolation, notes, where))
    verdict, sandbox = verdict_of(isolation)
    row["verdict_kind"] = verdict or "none"
    row["sandbox"] = sandbox
    row["verdict_label"] = verdict_label(verdict, sandbox)
    row["reason"] = None
    if verdict == "failed":
        row["reason"] = fmt.host_text(_dict(isolation).get("error") or "no error text", 300)
        row["verdict"] = "FAILED: %s" % row["reason"]
    elif verdict is None:
        row["verdict"] = fmt.NOT_MEASURED
    else:
        reason = _dict(isolation).get("verdict_reason")
        row["reason"] = fmt.host_text(reason, 300) if reason else None
        row["verdict"] = row["verdict_label"] + (" (%s)" % row["reason"] if row["reason"] else "")
    startup = measure(probes.get("startup"), "total", "median", "p95", "startup", notes, where)
    http = measure(probes.get("http"), "latency", "p50", "p99", "HTTP latency", notes, where)
    row["startup"], row["http"] = _measure_text(*startup), _measure_text(*http)
    network = _dict(probes.get("http")).get("network")
    if isinstance(network, dict) and network.get("mode") == "host" and http[2] is None:
        # gVisor on runsc --network=host: the requests crossed the host kernel's stack of the
        # probe's own namespace, not gVisor's netstack, and the cell must not pass for the latter.
        row["http"] += " (host netstack)"
    row["figures"] = {"startup": startup, "http": http}
    kib = dig(probes, ("http", "memory", "total_pss_kib"))
    _check(kib, fmt.KIB_RANGE, "memory (KiB)", notes, where)
    row["memory"] = "-" if kib is None else fmt.mib(kib)
    row["numbers"] = dict((key, fmt.number(dig(probes, path), bounds)) for key, path, bounds in NUMBERS)
    return row


def host_rows(name, entry, notes):
    """The host's own row, one row per runtime, and a row with the error of a host that is not ok."""
    rows = []
    blank = dict((key, "") for key, _title in COLUMNS)
    host = fmt.host_text(name, 256)
    if entry.get("host"):
        rows.append(dict(blank, host=host, runtime=HOST_ROW, verdict="-", verdict_kind="none", sandbox=None,
                         startup="-", http="-", memory="-", kind="host-view",
                         **view_cells(entry["host"], notes, "%s host view" % name)))
    runtimes = _dict(entry.get("runtimes"))
    for runtime in sorted(runtimes):
        row = runtime_row(host, runtime, _dict(runtimes[runtime]), notes)
        row["kind"] = "runtime"
        rows.append(row)
    status = entry.get("status") or "ok"
    if status != "ok" or not rows:
        rows.append(dict(blank, host=host, runtime="-", kind="error", status=status, verdict_kind="none", sandbox=None,
                         verdict="%s: %s" % (status.upper(), fmt.host_text(entry.get("error") or "no probe results", 2000))))
    return rows


def _sentence_item(host, item):
    """One element of a policy's detail as words: "runc on node-1: shared-kernel"."""
    if isinstance(item, dict) and "handler" in item:
        rest = dict((key, value) for key, value in item.items() if key != "handler")
        words = []
        verdict = rest.pop("verdict", None)
        reason = rest.pop("reason", None)
        if verdict is not None:
            words.append(str(verdict) + (" (%s)" % reason if reason else ""))
        for key, value in rest.items():
            words.append("%s %s" % (key, fmt.duration(value) if isinstance(value, (int, float)) and not
                                    isinstance(value, bool) else value))
        return "%s on %s: %s" % (item.get("handler") or "?", host, ", ".join(words) or "no data")
    if isinstance(item, dict):
        parts = []
        for key, value in item.items():
            if isinstance(value, list):
                value = ", ".join(str(v) for v in value) or "none"
            parts.append("%s %s" % (key.replace("_", " "), "unknown" if value is None else
                                    str(value).lower() if isinstance(value, bool) else value))
        return "%s: %s" % (host, "; ".join(parts))
    return "%s: %s" % (host, "none" if item is None else item)


def policy_sentence(host, detail):
    """A policy result's detail (JSON text from _policy) as a sentence a reader can take in."""
    try:
        value = json.loads(detail) if isinstance(detail, str) else detail
    except ValueError:
        return fmt.host_text("%s: %s" % (host, detail), 2000)
    if isinstance(value, list):
        text = "; ".join(_sentence_item(host, item) for item in value) or "%s: nothing to check" % host
    else:
        text = _sentence_item(host, value)
    return fmt.host_text(text, 2000)


def policies_view(policies, shown=None):
    """Each policy with its counts over every host, and as sentences the results of the hosts in ``shown``
    (None: every host) plus every failed or erroneous one (a sentence per result costs time at fleet size)."""
    out = []
    for policy in policies or []:
        counts = dict((status, 0) for status in _policy.STATUSES)
        results = []
        for result in _list(policy.get("results")):
            status = result.get("status") if result.get("status") in _policy.STATUSES else "error"
            counts[status] += 1
            if shown is not None and status in ("pass", "skip") and result.get("host") not in shown:
                continue
            host = fmt.host_text(result.get("host"), 256)
            results.append({"host": host, "status": status, "sentence": policy_sentence(host, result.get("detail"))})
        out.append({"name": fmt.host_text(policy.get("name"), 256), "severity": policy.get("severity"),
                    "description": fmt.host_text(policy.get("description"), 1000), "counts": counts,
                    "results": results})
    return out


def failures(report):
    """Every failure, refused value and broken policy with its reason, one line each."""
    lines = []
    for name, entry in sorted(report["hosts"].items()):
        host = fmt.host_text(name, 256)
        for runtime, probes in sorted(_dict(entry.get("runtimes")).items()):
            for probe in contract.PROBES:
                result = _dict(_dict(probes).get(probe))
                if result.get("status") == "failed":
                    lines.append("%s %s %s failed: %s" % (host, fmt.host_text(runtime, 128), probe,
                                                          fmt.host_text(result.get("error"), 500)))
        if entry["status"] != "ok":
            lines.append("%s %s: %s" % (host, entry["status"], fmt.host_text(entry.get("error") or "no reason given", 2000)))
    for policy in report.get("policies") or []:
        for result in _list(policy.get("results")):
            detail = result.get("detail") or ""
            # A host that was never evaluated is already listed above with its reason.
            if result.get("status") in ("fail", "error") and not str(detail).startswith(_policy.NOT_EVALUATED):
                lines.append("%s breaks policy %s (%s): %s" % (
                    fmt.host_text(result.get("host"), 256), fmt.host_text(policy.get("name"), 256),
                    policy.get("severity"), policy_sentence(result.get("host"), detail)))
    return lines


def answer(report):
    """Per runtime: the verdict across the fleet and which hosts disagree with it."""
    per_runtime = {}
    for name, entry in report["hosts"].items():
        for runtime, probes in _dict(entry.get("runtimes")).items():
            verdict, sandbox = verdict_of(_dict(probes).get("isolation"))
            info = per_runtime.setdefault(runtime, {"counts": {}, "hosts": {}})
            label = verdict_label(verdict or "not probed", sandbox)
            info["counts"][label] = info["counts"].get(label, 0) + 1
            info["hosts"][name] = (label, verdict or "none")
    out = []
    for runtime in sorted(per_runtime):
        info = per_runtime[runtime]
        common = max(sorted(info["counts"]), key=lambda label: info["counts"][label])
        kind = next(kind for label, kind in info["hosts"].values() if label == common)
        disagree = sorted((fmt.host_text(host, 256), label) for host, (label, _kind) in info["hosts"].items()
                          if label != common)
        out.append({"runtime": fmt.host_text(runtime, 128), "verdict": common, "kind": kind,
                    "hosts": len(info["hosts"]), "agree": info["counts"][common], "disagree": disagree})
    return out


def evidence(name, entry, notes):
    """What report.html lists per host: facts of the host's view and each runtime's evidence."""
    view = _dict(entry.get("host"))
    runtimes = []
    for runtime, probes in sorted(_dict(entry.get("runtimes")).items()):
        probes = _dict(probes)
        isolation = _dict(probes.get("isolation"))
        verdict, sandbox = verdict_of(probes.get("isolation"))
        lines = [fmt.host_text(line, 1000) for line in _list(isolation.get("evidence"))]
        problems = []
        for probe in contract.PROBES:
            result = _dict(probes.get(probe))
            if result.get("error"):
                problems.append("%s: %s" % (probe, fmt.host_text(result["error"], 1000)))
            for key in _list(result.get("fact_errors")) if isinstance(result.get("fact_errors"), list) else \
                    sorted(_dict(result.get("fact_errors")).items()):
                problems.append("%s fact: %s" % (probe, fmt.host_text(key, 500)))
        runtimes.append({
            "runtime": fmt.host_text(runtime, 128), "verdict": verdict_label(verdict, sandbox), "kind": verdict or "none",
            "evidence": lines, "problems": problems,
            "facts": _facts([("client", isolation.get("client")), ("runtime type", isolation.get("runtime_type")),
                             ("image source", isolation.get("image_source")),
                             ("kernel", isolation.get("kernel_release")), ("uname", isolation.get("uname")),
                             ("boot id", isolation.get("boot_id")), ("kernel command line", isolation.get("kernel_cmdline"))]),
            "log": _log(isolation.get("dmesg")),
        })
    containerd = _dict(view.get("containerd"))
    facts = _facts([
        ("kernel", view.get("kernel_release")), ("uname", view.get("uname")), ("boot id", view.get("boot_id")),
        ("kernel command line", view.get("kernel_cmdline")),
        ("CPU", "%s x %s" % (view.get("cpus"), view.get("cpu_model")) if view.get("cpus") else view.get("cpu_model")),
        ("memory", fmt.mib(view.get("mem_total_kib")) if view.get("mem_total_kib") is not None else None),
        ("KVM", _kvm(_dict(view.get("kvm")))),
        ("containerd", containerd and "%s at %s" % (containerd.get("version"), containerd.get("address"))),
        ("interfaces", "; ".join("%s %s" % (_dict(i).get("name", fmt.MISSING), " ".join(str(a) for a in _list(_dict(i).get("addresses"))))
                                 for i in _list(view.get("interfaces")))),
    ])
    return {"host": fmt.host_text(name, 256), "status": entry.get("status"), "error": fmt.host_text(entry.get("error"), 4000)
            if entry.get("error") else None, "facts": facts, "log": _log(view.get("dmesg")), "runtimes": runtimes,
            "notes": notes}


def _facts(pairs):
    return [(title, fmt.host_text(value, 2000)) for title, value in pairs if value not in (None, "", [], {})]


def _kvm(kvm):
    # What was checked, in host_facts' own words ("the KVM device answers, API 12; no vmx/svm...");
    # "usable" only ever meant that the device answers, which is not that a guest can run.
    if isinstance(kvm.get("summary"), str) and kvm["summary"]:
        return kvm["summary"]
    if kvm.get("usable"):
        return "the KVM device answers (%s); no guest was started" % kvm.get("device")
    if kvm.get("error"):
        return "not usable: %s" % kvm["error"]
    return "present, not usable" if kvm.get("present") else None


def _log(dmesg):
    dmesg = _dict(dmesg)
    head = _list(dmesg.get("head"))
    if head:
        return {"lines": [fmt.host_text(line, 1000) for line in head[:200]], "error": None}
    if dmesg.get("error"):
        return {"lines": [], "error": fmt.host_text(dmesg["error"], 500)}
    return None


def build_view(report, listed_hosts=None):
    """Everything the outputs show, decided once from report.json.

    ``listed_hosts``: at most this many hosts get their rows in the console
    and their rows and evidence in report.html (hosts that failed, disagree
    with the fleet or sent values the controller refused come first); None
    for all.  A page of 10,000 hosts' evidence is tens of MiB no browser
    shows well, and 20,000 table rows scroll past any terminal; report.md,
    report.csv, junit.xml and report.json always hold every host.
    """
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import narrative  # pylint: disable=import-outside-toplevel
    errors = ["%s: %s" % (item["host"], item["error"]) if item.get("host") else item["error"]
              for item in report.get("errors") or []]
    rows, per_host, noted = [], {}, set()
    for name in sorted(report["hosts"]):
        entry = report["hosts"][name]
        notes = []
        try:
            host_rows_ = host_rows(name, entry, notes)
        except Exception as error:  # pylint: disable=broad-except  # one host's nonsense costs its rows only
            notes.append("%s: this host's results could not be shown: %s: %s" % (
                fmt.host_text(name, 256), type(error).__name__, fmt.host_text(error, 300)))
            host_rows_ = [dict(dict((key, "") for key, _title in COLUMNS), host=fmt.host_text(name, 256), runtime="-",
                               kind="error", verdict_kind="none", sandbox=None, verdict="ERROR: " + notes[-1])]
        if notes:
            noted.add(name)
            errors.extend(notes)
        rows.extend(host_rows_)
        per_host[name] = (host_rows_, notes)
    answers = answer(report)
    disagreeing = set(host for item in answers for host, _label in item["disagree"])
    names = sorted(report["hosts"])
    if listed_hosts is not None and len(names) > listed_hosts:
        urgent = [name for name in names if report["hosts"][name]["status"] != "ok" or name in noted
                  or fmt.host_text(name, 256) in disagreeing]
        first = set(urgent)
        chosen = set((urgent + [name for name in names if name not in first])[:listed_hosts])
        names = [name for name in names if name in chosen]
    cards = []
    for name in names:
        try:
            cards.append(evidence(name, report["hosts"][name], per_host[name][1]))
        except Exception as error:  # pylint: disable=broad-except
            why = "%s: this host's evidence could not be shown: %s: %s" % (
                fmt.host_text(name, 256), type(error).__name__, fmt.host_text(error, 300))
            errors.append(why)
            cards.append({"host": fmt.host_text(name, 256), "status": "failed", "error": why, "facts": [], "log": None,
                          "runtimes": [], "notes": per_host[name][1]})
    summary_ = report["summary"]
    shown = set(names)
    shown_text = set(fmt.host_text(name, 256) for name in names)
    policies = policies_view(report.get("policies"), None if len(names) == len(per_host) else shown)
    return {
        "report": report,
        "result": "pass" if report.get("result") == "pass" else "fail",
        "summary": summary_,
        "reasons": ["%s %s" % (fmt.plural(summary_[status], "host"), status)
                    for status in ("failed", "unreachable", "skipped") if summary_.get(status)]
        + ["error policy failed: %s" % name for name in error_policies(report.get("policies"))],
        "answer": answers,
        "rows": rows,
        "performance_rows": [row for row in rows if row["runtime"] != HOST_ROW],
        "listed_rows": rows if len(names) == len(per_host) else [row for name in names for row in per_host[name][0]],
        "policies": policies,
        "listed_policies": policies if len(names) == len(per_host) else [
            dict(policy, results=[result for result in policy["results"] if result["host"] in shown_text])
            for policy in policies],
        "failures": failures(report),
        "errors": errors,
        "findings": narrative.sections(report),
        "evidence": cards,
        "hosts_left_out": len(per_host) - len(names),
    }
