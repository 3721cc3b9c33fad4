# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: turn the per-host results into the comparison table.

Kept apart from the callback so it can be tested, and later reused by other
renderers, without an Ansible run.  A host record is
``{"status", "error", "host_facts", "isolation", "startup", "http"}``, each
probe part being what the module returned.
"""

COLUMNS = (
    ("host", "Host"),
    ("runtime", "Runtime"),
    ("kernel", "Kernel"),
    ("cpu_model", "CPU model"),
    ("proc_entries", "/proc"),
    ("modules", "Modules"),
    ("interfaces", "Interfaces"),
    ("verdict", "Verdict"),
    ("startup", "Startup med/p95"),
    ("http", "HTTP p50/p99"),
    ("memory", "Memory (PSS)"),
)
HOST_ROW = "(host)"


def _modules(view):
    if view.get("modules") is not None:
        return str(view["modules"])
    return "n/a" if view.get("modules_available") is False else "?"


def _view_cells(host, runtime, view):
    return {
        "host": host,
        "runtime": runtime,
        "kernel": view.get("kernel_release") or "?",
        "cpu_model": view.get("cpu_model") or "?",
        "proc_entries": "?" if view.get("proc_entries") is None else str(view["proc_entries"]),
        "modules": _modules(view),
        "interfaces": ", ".join(i["name"] for i in view.get("interfaces") or []) or "-",
    }


def seconds(value):
    """A duration in the unit that keeps three significant figures readable."""
    if value is None:
        return "?"
    if value < 1:
        return "%.3gms" % (value * 1000)
    return "%.3gs" % value


def _pair(entry, key, low, high):
    if not entry:
        return "-"
    if entry.get("status") not in ("ok", None):
        return "failed"
    stats = entry.get(key) or {}
    if not stats.get("n"):
        return "-"
    return "%s / %s" % (seconds(stats.get(low)), seconds(stats.get(high)))


def _memory(entry):
    memory = (entry or {}).get("memory")
    if not memory:
        return "-"
    return "%.1f MiB" % (memory["total_pss_kib"] / 1024.0)


def _runtimes(record, part):
    return (record.get(part) or {}).get("runtimes") or {}


def rows(hosts):
    """One row for each host's own view, then one per runtime; failures get a row too."""
    table = []
    blank = dict((key, "") for key, _title in COLUMNS)
    for name in sorted(hosts):
        record = hosts[name]
        host_view = record.get("host_facts") or (record.get("isolation") or {}).get("host")
        if host_view:
            table.append(dict(blank, verdict="-", startup="-", http="-", memory="-",
                              **_view_cells(name, HOST_ROW, host_view)))
        isolation, startup, http = (_runtimes(record, part) for part in ("isolation", "startup", "http"))
        for runtime in sorted(set(isolation) | set(startup) | set(http)):
            entry = isolation.get(runtime, {})
            cells = dict(blank, **_view_cells(name, runtime, entry))
            if entry.get("status") == "ok":
                cells["verdict"] = entry.get("verdict") or "?"
                if entry.get("verdict_reason"):
                    cells["verdict"] += " (%s)" % entry["verdict_reason"]
            elif entry:
                cells["verdict"] = "FAILED: %s" % entry.get("error")
            cells["startup"] = _pair(startup.get(runtime), "total", "median", "p95")
            cells["http"] = _pair(http.get(runtime), "latency", "p50", "p99")
            cells["memory"] = _memory(http.get(runtime))
            table.append(cells)
        if record.get("status") != "ok" and not isolation:
            table.append(dict(blank, host=name, runtime="-", verdict="%s: %s" % (
                record.get("status", "no result").upper(), record.get("error") or "")))
        elif record.get("status") == "ok" and not isolation and not host_view:
            table.append(dict(blank, host=name, runtime="-", verdict="NO PROBE RESULTS"))
    return table


def _escape(cell):
    return str(cell).replace("|", "\\|").replace("\n", " ")


def markdown_table(table):
    lines = ["| " + " | ".join(title for _key, title in COLUMNS) + " |",
             "|" + "|".join("---" for _column in COLUMNS) + "|"]
    for row in table:
        lines.append("| " + " | ".join(_escape(row.get(key, "")) for key, _title in COLUMNS) + " |")
    return "\n".join(lines)
