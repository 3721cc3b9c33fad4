# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.csv: the comparison table's cells in full, plus plain numbers (seconds, KiB) for spreadsheets.

A data writer, not a template: cells come from the view, text cells that a
spreadsheet would run as a formula are neutralised (``formatting.csv_cell``).
The last columns name the probe image and the host's witness in plain words
(image_source, image_digest, host_witness class, witness), each validated by
the view: "not recorded" for an older record, "invalid" for a refused value.
"""

import csv
import io

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import formatting as fmt
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report.view import (
    COLUMNS, HOST_ROW, NUMBERS, WITNESS_COLUMNS)


def render(view):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    extra_titles, extra_cells = _workload_audit_columns(view)
    writer.writerow([title for _key, title in COLUMNS] + [key for key, _path, _bounds in NUMBERS]
                    + [column for _key, column in WITNESS_COLUMNS] + extra_titles)
    blank = dict((key, None) for key, _path, _bounds in NUMBERS)
    for row in view["rows"]:
        numbers = row.get("numbers") or blank
        witness = row.get("witness") or {}
        writer.writerow([fmt.csv_cell(row.get(key, "")) for key, _title in COLUMNS]
                        + ["" if numbers.get(key) is None else repr(numbers[key]) for key, _path, _bounds in NUMBERS]
                        + [fmt.csv_cell(witness.get(key, "")) for key, _column in WITNESS_COLUMNS] + extra_cells(row))
    return out.getvalue()


# ---- workload cost and audit (issues 21, 24) ----
# Only when some host has workload (audit) results, so older reports keep their columns.  Per runtime row, each
# workload's ratio to the host as a plain number (">=" before a lower bound; "" when there is none) and whether it
# is inside the noise band; on the host's own "(host)" row, the audit in words and its findings, "; "-separated.
def _workload_audit_columns(view):
    workloads = dict(((row["host"], row["runtime"]), row) for row in view.get("workload_rows") or [])
    audits = dict((line["host"], line["text"]) for line in view.get("audit_lines") or [])
    findings = {}
    for finding in view.get("audit_findings") or []:
        findings.setdefault(finding["host"], []).append("%s %s%s%s" % (
            finding["severity"], finding["code"], ": " + finding["message"] if finding["message"] else "",
            " (x%d)" % finding["count"] if finding["count"] > 1 else ""))
    names = [key for key, _title in view.get("workload_columns", ())[2:]] if workloads else []
    titles = [title for name in names for title in ("%s_ratio" % name, "%s_within_noise" % name)]
    titles += ["audit", "audit_findings"] if audits else []

    def cells(row):
        out = []
        item = workloads.get((row.get("host"), row.get("runtime")))
        for name in names:
            ratio = item["ratios"].get(name) if item else None
            at_least = item is not None and str(item.get(name, "")).startswith(">=")
            noise = item["within_noise"].get(name) if item else None
            out += ["" if ratio is None else (">=" if at_least else "") + repr(ratio),
                    "" if noise is None else str(noise).lower()]
        if audits:
            own = row.get("runtime") == HOST_ROW or row.get("kind") == "error"
            out += [fmt.csv_cell(audits.get(row.get("host"), "")) if own else "",
                    fmt.csv_cell("; ".join(findings.get(row.get("host"), []))) if own else ""]
        return out
    return titles, cells
# ---- end workload cost and audit ----
