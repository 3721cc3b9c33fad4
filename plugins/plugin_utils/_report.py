# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The comparison table: rows from report.json's hosts, as Markdown, CSV or a console table.

Every renderer takes the same rows, so the console, report.md and report.csv
cannot disagree; only the console shortens values, to fit its width.
"""

import csv
import io

ISOLATION_COLUMNS = (
    ("host", "Host"),
    ("runtime", "Runtime"),
    ("kernel", "Kernel"),
    ("cpu_model", "CPU model"),
    ("proc_entries", "/proc"),
    ("modules", "Modules"),
    ("interfaces", "Interfaces"),
    ("verdict", "Verdict"),
)
PERFORMANCE_COLUMNS = (
    ("host", "Host"),
    ("runtime", "Runtime"),
    ("startup", "Startup med/p95"),
    ("http", "HTTP p50/p99"),
    ("memory", "Memory (PSS)"),
)
COLUMNS = ISOLATION_COLUMNS + PERFORMANCE_COLUMNS[2:]
# Numbers for machines reading report.csv, beside the human-readable cells.
CSV_NUMBERS = (
    ("startup_median_s", ("startup", "total", "median")),
    ("startup_p95_s", ("startup", "total", "p95")),
    ("http_p50_s", ("http", "latency", "p50")),
    ("http_p99_s", ("http", "latency", "p99")),
    ("memory_pss_kib", ("http", "memory", "total_pss_kib")),
)
HOST_ROW = "(host)"
# On the console, shorten the least telling columns first.
# A verdict is never cut below its longest word; failures are spelled out under the table.
SHRINK_ORDER = ("verdict", "interfaces", "cpu_model", "kernel", "host")
SHRINK_FLOOR = {"verdict": len("shared-kernel")}
ELLIPSIS = "~"


def _modules(view):
    if view.get("modules") is not None:
        return str(view["modules"])
    return "n/a" if view.get("modules_available") is False else "?"


def _view_cells(view):
    return {
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
    if stats.get(low) is None and stats.get("mean") is not None:
        return "mean %s" % seconds(stats["mean"])  # recorded elsewhere with a mean only
    return "%s / %s" % (seconds(stats.get(low)), seconds(stats.get(high)))


def _http(entry):
    """p50/p99; a gVisor sandbox on runsc --network=host crossed the host kernel's stack, and the cell says so."""
    cell = _pair(entry, "latency", "p50", "p99")
    network = (entry or {}).get("network") if isinstance(entry, dict) else None
    if isinstance(network, dict) and network.get("mode") == "host" and cell not in ("-", "failed"):
        cell += " (host netstack)"
    return cell


def _memory(entry):
    memory = (entry or {}).get("memory")
    if not memory:
        return "-"
    return "%.1f MiB" % (memory["total_pss_kib"] / 1024.0)


def _verdict(entry):
    if not entry:
        return "-"
    if entry.get("status") != "ok":
        return "FAILED: %s" % entry.get("error")
    verdict = entry.get("verdict") or "?"
    return "%s (%s)" % (verdict, entry["verdict_reason"]) if entry.get("verdict_reason") else verdict


def _dig(data, path):
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def rows(hosts):
    """Rows for report.json's ``hosts``: each host's own view, one per runtime, one per failure."""
    table = []
    blank = dict((key, "") for key, _title in COLUMNS)
    for name in sorted(hosts):
        entry = hosts[name]
        if entry.get("host"):
            table.append(dict(blank, host=name, runtime=HOST_ROW, verdict="-", startup="-", http="-", memory="-",
                              **_view_cells(entry["host"])))
        for runtime in sorted(entry.get("runtimes") or {}):
            probes = entry["runtimes"][runtime]
            row = dict(blank, host=name, runtime=runtime, **_view_cells(probes.get("isolation") or {}))
            row.update(verdict=_verdict(probes.get("isolation")),
                       startup=_pair(probes.get("startup"), "total", "median", "p95"),
                       http=_http(probes.get("http")),
                       memory=_memory(probes.get("http")))
            row["numbers"] = dict((key, _dig(probes, path)) for key, path in CSV_NUMBERS)
            table.append(row)
        if entry.get("status") != "ok":
            table.append(dict(blank, host=name, runtime="-", verdict="%s: %s" % (
                entry.get("status", "no result").upper(), entry.get("error") or "")))
    return table


def _escape(cell):
    return str(cell).replace("|", "\\|").replace("\n", " ")


def markdown_table(table, columns=COLUMNS):
    lines = ["| " + " | ".join(title for _key, title in columns) + " |",
             "|" + "|".join("---" for _column in columns) + "|"]
    for row in table:
        lines.append("| " + " | ".join(_escape(row.get(key, "")) for key, _title in columns) + " |")
    return "\n".join(lines)


def csv_table(table):
    """Every column in full, plus plain numbers (seconds, KiB) for spreadsheets."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([title for _key, title in COLUMNS] + [key for key, _path in CSV_NUMBERS])
    for row in table:
        numbers = row.get("numbers") or {}
        writer.writerow([row.get(key, "") for key, _title in COLUMNS]
                        + ["" if numbers.get(key) is None else numbers[key] for key, _path in CSV_NUMBERS])
    return out.getvalue()


def _shorten(text, width):
    return text if len(text) <= width else text[:max(width - 1, 0)] + ELLIPSIS


def console_table(table, columns, width=100, shrink_order=SHRINK_ORDER):
    """An aligned table no wider than ``width``.

    Columns are shortened in ``shrink_order`` (the least telling first) down to
    a floor; the files keep every value whole.
    """
    cells = [[str(row.get(key, "")).replace("\n", " ") for key, _title in columns] for row in table]
    keys = [key for key, _title in columns]
    titles = [title for _key, title in columns]
    widths = [max([len(title)] + [len(line[index]) for line in cells]) for index, title in enumerate(titles)]
    for key in [k for k in shrink_order if k in keys] + keys:
        index = keys.index(key)
        excess = sum(widths) + 3 * (len(widths) - 1) - width
        if excess <= 0:
            break
        widths[index] = max(min(SHRINK_FLOOR.get(key, 8), widths[index]), widths[index] - excess)
    lines = [" | ".join(_shorten(title, w).ljust(w) for title, w in zip(titles, widths)).rstrip(),
             "-+-".join("-" * w for w in widths)]
    for line in cells:
        lines.append(" | ".join(_shorten(cell, w).ljust(w) for cell, w in zip(line, widths)).rstrip())
    return "\n".join(lines)
