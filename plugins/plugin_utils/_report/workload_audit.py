# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.json's ``workload`` and ``audit`` per host: validated (``conform_*``), then shown (``*_view``).

A host's ``workload`` (workload_bench's result) and ``audit`` (workload_audit's) can hold anything: each value
kept is checked and bounded here; a value that is not what the module promises becomes null (or is left out)
and a note names where, as ``model.conform`` does for the probe results.  report.json keeps only the figures
the outputs show: per handler each workload's median time per unit, CoV, ratio (or ratio_at_least), noise band,
within_noise and status, plus the handler's summary sentence; of the audit the counts per class and per handler
and the findings (a finding's message and container only when the audit ran with names=full).
"""

import math
import re

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import formatting as fmt

WORKLOADS = ("cpu", "syscall", "rootfs_io", "tmpfs_io")
WORKLOAD_TITLES = {"cpu": "CPU", "syscall": "Syscalls", "rootfs_io": "Rootfs I/O", "tmpfs_io": "tmpfs I/O"}
WORKLOAD_STATUSES = ("ok", "over_budget", "failed", "planned")
AUDIT_CLASSES = ("host-process", "vmm", "user-space-kernel", "unknown")
SEVERITIES = ("error", "warning", "info")
NAMES = ("full", "counts")
RATIO_RANGE = (1e-6, 1e6)
COV_RANGE = (0.0, 1e3)
NOISE_RANGE = (0.0, 1e6)
COUNT_RANGE = (0, 10 ** 9)
MAX_HANDLERS = 64
MAX_FINDINGS = 500
TEXT_LIMIT = 2000
_CODE = re.compile(r"\A[a-z0-9][a-z0-9-]{0,63}\Z")


def _short(value):
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return "a %s that cannot be shown" % type(value).__name__
    return fmt.host_text(text if len(text) <= 80 else text[:77] + "...", 80)


def _number(value, bounds, where, notes, allow_zero=True):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not bounds[0] <= value <= bounds[1] or (not allow_zero and value == 0):
        notes.append("%s: %s is not a number within %s..%s: written as null" % (where, _short(value), bounds[0], bounds[1]))
        return None
    return value


def _count(value, where, notes):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not COUNT_RANGE[0] <= value <= COUNT_RANGE[1]:
        notes.append("%s: %s is not a count: written as null" % (where, _short(value)))
        return None
    return value


def _text(value, where, notes, limit=TEXT_LIMIT):
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        notes.append("%s: %s is not a text of at most %d characters: written as null" % (where, _short(value), limit))
        return None
    return value


def _choice(value, allowed, where, notes, default=None):
    if value in allowed:
        return value
    if value is not None:
        notes.append("%s: %s is not one of %s: read as %s" % (where, _short(value), ", ".join(allowed), default))
    return default


def _mapping(value, where, notes):
    if value is None:
        return None
    if not isinstance(value, dict):
        notes.append("%s: %s is not a mapping: left out" % (where, _short(value)))
        return None
    return value


def _workload_entry(entry, where, notes, host_side=False):
    stats = entry.get("stats") if isinstance(entry.get("stats"), dict) else {}
    if entry.get("stats") is not None and not isinstance(entry.get("stats"), dict):
        notes.append("%s/stats: %s is not statistics: left out" % (where, _short(entry.get("stats"))))
    out = {"status": _choice(entry.get("status"), WORKLOAD_STATUSES, where + "/status", notes, "failed"),
           "error": _text(entry.get("error"), where + "/error", notes),
           "unit_seconds": _number(entry.get("unit_seconds"), fmt.DURATION_RANGE, where + "/unit_seconds", notes),
           "cov": _number(stats.get("cov"), COV_RANGE, where + "/stats/cov", notes),
           "n": _count(stats.get("n"), where + "/stats/n", notes)}
    if host_side:
        return out
    out.update({"ratio": _number(entry.get("ratio"), RATIO_RANGE, where + "/ratio", notes),
                "ratio_at_least": _number(entry.get("ratio_at_least"), RATIO_RANGE, where + "/ratio_at_least", notes),
                "noise": _number(entry.get("noise"), NOISE_RANGE, where + "/noise", notes),
                "within_noise": entry.get("within_noise") if entry.get("within_noise") in (True, False) else None})
    if entry.get("within_noise") is not None and out["within_noise"] is None:
        notes.append("%s/within_noise: %s is not true or false: written as null" % (where, _short(entry.get("within_noise"))))
    if out["status"] == "failed" and out["error"] is None:
        out["error"] = "failed (the host gave no reason)"
    return out


def _workloads(value, where, notes, host_side=False):
    value = _mapping(value, where, notes) or {}
    out = {}
    for name, entry in value.items():
        if name not in WORKLOADS:
            notes.append("%s: %s is not a workload (%s): left out" % (where, _short(name), ", ".join(WORKLOADS)))
            continue
        entry = _mapping(entry, "%s/%s" % (where, name), notes)
        if entry is not None:
            out[name] = _workload_entry(entry, "%s/%s" % (where, name), notes, host_side)
    return dict((name, out[name]) for name in WORKLOADS if name in out)


def conform_workload(value, notes):
    """report.json's ``workload`` of a host from workload_bench's ``workload`` dict (None: not run)."""
    value = _mapping(value, "workload", notes)
    if value is None:
        return None
    out = {"status": "ok", "error": _text(value.get("error"), "workload/error", notes),
           "host": _workloads(value.get("host"), "workload/host", notes, host_side=True), "runtimes": {}}
    runtimes = _mapping(value.get("runtimes"), "workload/runtimes", notes) or {}
    for handler in sorted(runtimes, key=str)[:MAX_HANDLERS]:
        where = "workload/runtimes/%s" % fmt.host_text(handler, 128)
        entry = _mapping(runtimes[handler], where, notes)
        if entry is None or not isinstance(handler, str) or len(handler) > 128:
            if entry is not None:
                notes.append("%s: %s is not a handler name: left out" % (where, _short(handler)))
            continue
        out["runtimes"][handler] = {
            "status": _choice(entry.get("status"), WORKLOAD_STATUSES, where + "/status", notes, "failed"),
            "error": _text(entry.get("error"), where + "/error", notes),
            "summary": _text(entry.get("summary"), where + "/summary", notes),
            "workloads": _workloads(entry.get("workloads"), where + "/workloads", notes)}
    if len(runtimes) > MAX_HANDLERS:
        notes.append("workload/runtimes: %d handlers, more than %d: the rest left out" % (len(runtimes), MAX_HANDLERS))
    if out["error"] or any(r["status"] == "failed" for r in out["runtimes"].values()) \
            or any(w["status"] == "failed" for w in out["host"].values()):
        out["status"] = "failed"
    elif value.get("status") == "failed" or value.get("failed") is True:
        out["status"] = "failed"
    return out


def _class_counts(value, where, notes):
    value = _mapping(value, where, notes) or {}
    out = dict((cls, 0) for cls in AUDIT_CLASSES)
    for cls, number in value.items():
        if cls not in AUDIT_CLASSES:
            notes.append("%s: %s is not a class (%s): left out" % (where, _short(cls), ", ".join(AUDIT_CLASSES)))
            continue
        out[cls] = _count(number, "%s/%s" % (where, cls), notes) or 0
    return out


def _finding(value, names, where, notes):
    value = _mapping(value, where, notes)
    if value is None:
        return None
    severity = _choice(value.get("severity"), SEVERITIES, where + "/severity", notes, "error")
    code = value.get("code")
    if not (isinstance(code, str) and _CODE.match(code)):
        notes.append("%s/code: %s is not a finding code: read as unknown" % (where, _short(code)))
        code = "unknown"
    out = {"severity": severity, "code": code, "count": 1}
    if names == "full":
        out["message"] = _text(value.get("message"), where + "/message", notes)
        container = value.get("container")
        if isinstance(container, dict) and all(isinstance(container.get(k), str) and len(container[k]) <= 256
                                               for k in ("namespace", "id")):
            out["container"] = {"namespace": container["namespace"], "id": container["id"]}
        elif container is not None:
            notes.append("%s/container: %s is not a namespace and id: left out" % (where, _short(container)))
    elif value.get("count") is not None:
        out["count"] = _count(value.get("count"), where + "/count", notes) or 0
    return out


def conform_audit(value, notes):
    """report.json's ``audit`` of a host from workload_audit's ``audit`` dict (None: not run).

    Names (container ids, messages naming pods) are kept only when the audit ran with names=full.
    """
    value = _mapping(value, "audit", notes)
    if value is None:
        return None
    names = _choice(value.get("names"), NAMES, "audit/names", notes, "counts")
    out = {"status": _choice(value.get("status"), ("ok", "failed"), "audit/status", notes, "failed"),
           "error": _text(value.get("error") if value.get("error") is not None else value.get("msg"), "audit/error", notes),
           "names": names,
           "containers": _count(value.get("containers"), "audit/containers", notes),
           "pods": _count(value.get("pods"), "audit/pods", notes),
           "truncated": _count(value.get("truncated"), "audit/truncated", notes),
           "classes": _class_counts(value.get("classes"), "audit/classes", notes),
           "handlers": {}, "findings": []}
    handlers = _mapping(value.get("handlers"), "audit/handlers", notes) or {}
    for handler in sorted(handlers, key=str)[:MAX_HANDLERS]:
        if not isinstance(handler, str) or len(handler) > 128:
            notes.append("audit/handlers: %s is not a handler name: left out" % _short(handler))
            continue
        out["handlers"][handler] = _class_counts(handlers[handler], "audit/handlers/%s" % fmt.host_text(handler, 128), notes)
    findings = value.get("findings")
    if findings is not None and not isinstance(findings, list):
        notes.append("audit/findings: %s is not a list: left out" % _short(findings))
        findings = []
    for index, finding in enumerate((findings or [])[:MAX_FINDINGS]):
        finding = _finding(finding, names, "audit/findings/%d" % index, notes)
        if finding is not None:
            out["findings"].append(finding)
    if findings and len(findings) > MAX_FINDINGS:
        notes.append("audit/findings: %d findings, more than %d: the rest left out" % (len(findings), MAX_FINDINGS))
    if out["error"] and out["status"] == "ok":
        notes.append("audit: an error with status ok: read as failed")
        out["status"] = "failed"
    if any(f["severity"] == "error" for f in out["findings"]):
        out["status"] = "failed"
    return out


def conform(entry):
    """Validate ``entry["workload"]`` and ``entry["audit"]`` in place (keys absent: nothing run); the notes."""
    notes = []
    for key, check in (("workload", conform_workload), ("audit", conform_audit)):
        if key in entry:
            try:
                entry[key] = check(entry[key], notes)
            except Exception as error:  # pylint: disable=broad-except  # a host's nonsense costs that section only
                notes.append("%s: could not be read: %s: %s: left out" % (key, type(error).__name__, _short(str(error))))
                entry[key] = None
    return notes


# ------------------------------------------------------------------ view


def ratio_text(value, at_least=False):
    if value is None:
        return None
    digits = "%.2f" % value if value < 10 else "%.1f" % value if value < 100 else "%d" % round(value)
    return (">=" if at_least else "") + digits + "x"


def workload_cell(entry):
    """One workload's ratio as a table cell: "1.35x", "~1.0x" inside the noise, ">=12x", "failed", "-"."""
    if not entry:
        return "-"
    if entry.get("ratio") is not None:
        if entry.get("within_noise"):
            return "~1.0x"
        return ratio_text(entry["ratio"])
    if entry.get("ratio_at_least") is not None:
        return ratio_text(entry["ratio_at_least"], at_least=True)
    return "failed" if entry.get("status") == "failed" else "?"


def workload_rows(report):
    rows = []
    for name in sorted(report["hosts"]):
        workload = report["hosts"][name].get("workload")
        if not isinstance(workload, dict):
            continue
        for handler, entry in sorted((workload.get("runtimes") or {}).items()):
            row = {"host": fmt.host_text(name, 256), "runtime": fmt.host_text(handler, 128),
                   "status": entry.get("status"), "summary": fmt.host_text(entry.get("summary") or "", TEXT_LIMIT),
                   "error": fmt.host_text(entry["error"], TEXT_LIMIT) if entry.get("error") else None,
                   "ratios": {}, "within_noise": {}}
            for workload_name in WORKLOADS:
                item = (entry.get("workloads") or {}).get(workload_name)
                row[workload_name] = workload_cell(item)
                row["ratios"][workload_name] = (item or {}).get("ratio")
                row["within_noise"][workload_name] = (item or {}).get("within_noise")
                if item and item.get("ratio") is None and item.get("ratio_at_least") is not None:
                    row["ratios"][workload_name] = item["ratio_at_least"]
            rows.append(row)
    return rows


def audit_line(host, audit):
    """"localhost: 3 containers: 2 host-process, 1 user-space-kernel; 1 error finding"."""
    if audit.get("containers") is None and audit.get("error"):
        return "%s: audit failed: %s" % (host, fmt.host_text(audit["error"], 500))
    classes = ", ".join("%d %s" % (number, cls) for cls, number in (audit.get("classes") or {}).items() if number)
    text = "%s: %s" % (host, fmt.plural(audit.get("containers") or 0, "container"))
    if classes:
        text += ": " + classes
    counts = {}
    for finding in audit.get("findings") or []:
        counts[finding["severity"]] = counts.get(finding["severity"], 0) + (finding.get("count") or 1)
    text += "; " + (", ".join(fmt.plural(counts[s], "%s finding" % s) for s in SEVERITIES if counts.get(s))
                    or "no findings")
    if audit.get("error"):
        text += "; error: %s" % fmt.host_text(audit["error"], 500)
    return text


def audit_view(report):
    """Per host the footer line, and every finding as a row (host, severity, code, message, count)."""
    lines, findings = [], []
    for name in sorted(report["hosts"]):
        audit = report["hosts"][name].get("audit")
        if not isinstance(audit, dict):
            continue
        host = fmt.host_text(name, 256)
        lines.append({"host": host, "text": audit_line(host, audit), "status": audit.get("status")})
        for finding in audit.get("findings") or []:
            container = finding.get("container") or {}
            findings.append({"host": host, "severity": finding["severity"], "code": fmt.host_text(finding["code"], 64),
                             "message": fmt.host_text(finding.get("message") or "", TEXT_LIMIT),
                             "container": fmt.host_text("%s/%s" % (container["namespace"], container["id"]), 520)
                             if container else "", "count": finding.get("count") or 1})
    return lines, findings


def view(report):
    """The keys build_view adds: workload_rows, workload_columns, audit_lines, audit_findings."""
    lines, findings = audit_view(report)
    return {"workload_rows": workload_rows(report),
            "workload_columns": (("host", "Host"), ("runtime", "Runtime"))
            + tuple((name, WORKLOAD_TITLES[name]) for name in WORKLOADS),
            "audit_lines": lines, "audit_findings": findings}
