# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.md and the console summary: the tables, the fleet summary, policies and the findings."""

import textwrap

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _narrative, _policy, _report


def performance_rows(table):
    """The host's own row has nothing to measure: leave it out of the performance table."""
    return [row for row in table if row["runtime"] != _report.HOST_ROW]


def fleet_summary(report):
    """Counts, runtimes, and every failure and broken policy with its reason, one line each."""
    summary = report["summary"]
    lines = ["Hosts: %d (ok %d, failed %d, unreachable %d, skipped %d). Result: %s." % (
        summary["hosts"], summary["ok"], summary["failed"], summary["unreachable"], summary["skipped"],
        report["result"].upper())]
    if summary["runtimes"]:
        lines.append("Runtimes: " + ", ".join("%s on %d host%s" % (name, count, "" if count == 1 else "s")
                                              for name, count in sorted(summary["runtimes"].items())) + ".")
    for name, entry in sorted(report["hosts"].items()):
        for runtime, probes in sorted((entry.get("runtimes") or {}).items()):
            for probe in ("isolation", "startup", "http"):
                if (probes.get(probe) or {}).get("status") == "failed":
                    lines.append("- %s %s %s failed: %s" % (name, runtime, probe, probes[probe].get("error")))
        if entry["status"] != "ok":
            lines.append("- %s %s: %s" % (name, entry["status"], entry.get("error") or "no reason given"))
    for policy in report.get("policies") or []:
        for result in policy["results"]:
            # A host that was never evaluated is already listed above with its reason.
            if result["status"] in ("fail", "error") and not result["detail"].startswith(_policy.NOT_EVALUATED):
                lines.append("- %s breaks policy %s (%s): %s" % (
                    result["host"], policy["name"], policy["severity"], result["detail"]))
    return "\n".join(lines)


def policy_table(report):
    lines = ["| Policy | Severity | Pass | Fail | Error | Skip |", "|---|---|---|---|---|---|"]
    for policy in report.get("policies") or []:
        counts = dict((status, 0) for status in ("pass", "fail", "error", "skip"))
        for result in policy["results"]:
            counts[result["status"]] += 1
        lines.append("| %s | %s | %d | %d | %d | %d |" % (
            policy["name"], policy["severity"], counts["pass"], counts["fail"], counts["error"], counts["skip"]))
    return "\n".join(lines)


def render(report):
    """The whole of report.md."""
    table = _report.rows(report["hosts"])
    parts = [
        "# kata-fleet runtime isolation report",
        "Run `%s`, %s to %s, from %s (ansible-core %s, kata_fleet.runtimes %s)." % (
            report["run_id"], report["started"], report["finished"], report["controller"]["hostname"],
            report["versions"]["ansible_core"], report["versions"]["collection"]),
        "## Summary",
        fleet_summary(report),
        "## Isolation per host and runtime",
        _report.markdown_table(table, _report.ISOLATION_COLUMNS),
        "## Startup, HTTP latency and memory",
        _report.markdown_table(performance_rows(table), _report.PERFORMANCE_COLUMNS),
    ]
    if report.get("policies"):
        parts += ["## Policies", policy_table(report)]
    for title, body in _narrative.sections(report):
        parts += ["## " + title, body]
    return "\n\n".join(parts) + "\n"


def _wrap(text, width):
    """Fold prose to ``width``; list items keep a hanging indent."""
    lines = []
    for line in text.splitlines():
        indent = "  " if line.startswith("- ") else ""
        lines.extend(textwrap.wrap(line, width, subsequent_indent=indent) or [""])
    return "\n".join(lines)


def console(report, width=100):
    """What the callback prints at the end of the play: readable at ``width`` columns."""
    table = _report.rows(report["hosts"])
    sections = _narrative.sections(report)
    return "\n\n".join([
        _report.console_table(table, _report.ISOLATION_COLUMNS, width),
        _report.console_table(performance_rows(table), _report.PERFORMANCE_COLUMNS, width),
        _wrap(fleet_summary(report), width),
    ] + ["%s\n%s" % (title.upper(), _wrap(body.replace("**", ""), width)) for title, body in sections[1:]])
