# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The evidence data model: what the callback collected, as ``report.json`` v1.

One document holds everything the renderers (Markdown, CSV, HTML, JUnit) and
the policies read, so every file of a bundle tells the same story.  The
schema is documented in ``docs/report.schema.json``.
"""

SCHEMA = "kata_fleet.report/v1"
STATUSES = ("ok", "failed", "unreachable", "skipped")
PROBES = ("isolation", "startup", "http")


def host_entry(record):
    """A callback record (status, error, host_facts and the probe results) as a report host."""
    runtimes = {}
    for probe in PROBES:
        for handler, result in ((record.get(probe) or {}).get("runtimes") or {}).items():
            runtimes.setdefault(handler, dict((name, None) for name in PROBES))[probe] = result
    host_view = record.get("host_facts") or (record.get("isolation") or {}).get("host")
    status = record.get("status") or "ok"
    if status == "ok" and not host_view and not runtimes:
        status = "skipped"
    return {
        "status": status,
        "error": record.get("error") or ("no probe results: the host ran none of the probe tasks"
                                         if status == "skipped" else None),
        "host": host_view,
        "runtimes": runtimes,
    }


def summary(hosts):
    counts = dict((status, 0) for status in STATUSES)
    runtimes = {}
    for entry in hosts.values():
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
        for handler in entry["runtimes"]:
            runtimes[handler] = runtimes.get(handler, 0) + 1
    counts["hosts"] = len(hosts)
    counts["runtimes"] = dict(sorted(runtimes.items()))
    return counts


def build_report(records, run):
    """The report document.

    ``records`` maps host name to the callback's record; ``run`` carries
    run_id, started, finished, controller, versions and playbooks.
    """
    hosts = dict((name, host_entry(records[name])) for name in sorted(records))
    report = {"schema": SCHEMA}
    report.update(run)
    report["summary"] = summary(hosts)
    report["hosts"] = hosts
    report["policies"] = []
    report["result"] = "pass" if all(entry["status"] == "ok" for entry in hosts.values()) else "fail"
    return report
