# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/plugin_utils/_report/csv_table.py: report.csv, every row of the view, cells whole, plain numbers."""

import csv
import io

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import csv_table, view as report_view

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _table(view):
    return list(csv.reader(io.StringIO(csv_table.render(view))))


def _by_row(view):
    rows = list(csv.DictReader(io.StringIO(csv_table.render(view))))
    return dict(((row["Host"], row["Runtime"]), row) for row in rows)


def test_the_sample_head_and_every_row(sample_report):
    view = report_view.build_view(sample_report)
    table = _table(view)
    assert table[0] == [title for _key, title in report_view.COLUMNS] + [
        "startup_median_s", "startup_p95_s", "http_p50_s", "http_p99_s", "memory_pss_kib",
        "image_source", "image_digest", "host_witness", "witness"]
    # No host ran workload_bench or workload_audit: no columns of theirs (older readers keep theirs).
    assert not [title for title in table[0] if title.endswith("_ratio") or title.startswith("audit")]
    assert [tuple(row[:2]) for row in table[1:]] == [
        ("dev-vm", "(host)"), ("dev-vm", "runc"), ("lab-laptop", "(host)"), ("lab-laptop", "kata"),
        ("lab-laptop", "runc"), ("node-unreachable", "'-")]
    assert all(len(row) == len(table[0]) for row in table)


def test_cells_are_the_views_and_numbers_are_plain(sample_report):
    view = report_view.build_view(sample_report)
    rows = _by_row(view)
    runc = rows[("dev-vm", "runc")]
    assert (runc["Startup med/p95"], runc["HTTP p50/p99"], runc["Memory (PSS)"]) == (
        "168 ms / 177 ms", "0.803 ms / 1.86 ms", "13.3 MiB")
    assert (runc["startup_median_s"], runc["http_p99_s"], runc["memory_pss_kib"]) == ("0.167615", "0.001863", "13618.0")
    assert float(runc["startup_p95_s"]) == sample_report["hosts"]["dev-vm"]["runtimes"]["runc"]["startup"]["total"]["p95"]
    kata = rows[("lab-laptop", "kata")]
    assert (kata["HTTP p50/p99"], kata["http_p50_s"], kata["memory_pss_kib"]) == ("not measured", "", "")
    assert [kata[key] for key in ("image_source", "image_digest", "host_witness", "witness")] == ["not recorded"] * 4
    host = rows[("dev-vm", "(host)")]
    assert host["Interfaces"] == "eth0, ifb0, ifb1, lo" and host["startup_median_s"] == "" and host["image_source"] == ""
    # The unreachable host's reason is whole in the file (only the console shortens).
    assert rows[("node-unreachable", "'-")]["Verdict"] == (
        "UNREACHABLE: " + sample_report["hosts"]["node-unreachable"]["error"])


def test_no_cell_a_host_sent_can_run_as_a_formula(sample_report):
    isolation = sample_report["hosts"]["dev-vm"]["runtimes"]["runc"]["isolation"]
    isolation.update(kernel_release="=HYPERLINK(\"http://evil.invalid\",\"click\")", cpu_model="+cmd|' /C calc'!A0",
                     interfaces=[{"name": "@SUM(1+1)"}], verdict_reason="-2+3", image_digest="=1+1")
    sample_report["hosts"]["dev-vm"]["host"]["kernel_release"] = "\t=cmd"
    sample_report["hosts"]["=evil"] = sample_report["hosts"].pop("node-unreachable")
    table = _table(report_view.build_view(sample_report))
    for row in table[1:]:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS) or cell == "-", row
    cells = set(cell for row in table for cell in row)
    assert {"'=HYPERLINK(\"http://evil.invalid\",\"click\")", "'+cmd|' /C calc'!A0", "'@SUM(1+1)", "'=evil",
            "\ufffd=cmd", "invalid"} <= cells
    assert "shared-kernel ('-2+3)" not in cells and "shared-kernel (-2+3)" in cells  # inside a cell: harmless


def test_hidden_characters_and_newlines_stay_inside_their_cell(sample_report):
    isolation = sample_report["hosts"]["dev-vm"]["runtimes"]["runc"]["isolation"]
    isolation["kernel_release"] = "6.1\n,injected,\"row\"\u202e\u2028"
    rows = _by_row(report_view.build_view(sample_report))
    assert rows[("dev-vm", "runc")]["Kernel"] == "6.1 ,injected,\"row\"\ufffd\ufffd"
    assert len(rows) == 6


def test_a_report_without_hosts_is_a_head_only(sample_report):
    sample_report["hosts"] = {}
    table = _table(report_view.build_view(sample_report))
    assert len(table) == 1 and table[0][0] == "Host"
