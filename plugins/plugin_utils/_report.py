# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: turn the per-host results into the comparison table.

Kept apart from the callback so it can be tested, and later reused by other
renderers, without an Ansible run.
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


def rows(hosts):
    """One row for each host's own view, then one per runtime; failures get a row too."""
    table = []
    for name in sorted(hosts):
        record = hosts[name]
        host_view = record.get("host_facts") or (record.get("isolation") or {}).get("host")
        if host_view:
            cells = _view_cells(name, HOST_ROW, host_view)
            cells["verdict"] = "-"
            table.append(cells)
        runtimes = (record.get("isolation") or {}).get("runtimes") or {}
        for runtime in sorted(runtimes):
            entry = runtimes[runtime]
            cells = _view_cells(name, runtime, entry)
            if entry.get("status") == "ok":
                cells["verdict"] = entry.get("verdict") or "?"
                if entry.get("verdict_reason"):
                    cells["verdict"] += " (%s)" % entry["verdict_reason"]
            else:
                cells["verdict"] = "FAILED: %s" % entry.get("error")
            table.append(cells)
        if record.get("status") != "ok" and not runtimes:
            table.append(dict(dict((key, "") for key, _title in COLUMNS), host=name, runtime="-",
                              verdict="%s: %s" % (record.get("status", "no result").upper(), record.get("error") or "")))
        elif record.get("status") == "ok" and not runtimes and not host_view:
            table.append(dict(dict((key, "") for key, _title in COLUMNS), host=name, runtime="-",
                              verdict="NO PROBE RESULTS"))
    return table


def _escape(cell):
    return str(cell).replace("|", "\\|").replace("\n", " ")


def markdown_table(table):
    lines = ["| " + " | ".join(title for _key, title in COLUMNS) + " |",
             "|" + "|".join("---" for _column in COLUMNS) + "|"]
    for row in table:
        lines.append("| " + " | ".join(_escape(row.get(key, "")) for key, _title in COLUMNS) + " |")
    return "\n".join(lines)
