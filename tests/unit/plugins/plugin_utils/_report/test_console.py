# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/plugin_utils/_report/console.py: the end-of-play text, from the view, fitted to a width.

(console.progress_line, printed as each host arrives, is tested in test_console_progress.py.)
"""

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import console, view as report_view

RUN = {"started": "2026-12-01T04:00:00Z", "finished": "2026-12-01T04:00:12Z"}


def _blocks(text):
    return text.split("\n\n")


def test_the_sample_as_the_operator_sees_it(sample_report):
    text = console.render(report_view.build_view(sample_report), 100)
    isolation, performance, summary = _blocks(text)[:3]
    assert isolation.splitlines()[0].split(" | ")[:3] == ["Host            ", "Runtime", "Kernel        "]
    # An older record (no host witness): no "Host sees" column, one line says why.
    assert "Host sees" not in isolation.splitlines()[0]
    assert isolation.splitlines()[-1] == "Host sees: not recorded (no host witness in these results)"
    assert "Probe image: not recorded, on every host" in isolation
    assert "dev-vm           | runc    | 168 ms / 177 ms | 0.803 ms / 1.86 ms            | 13.3 MiB" in performance
    assert "lab-laptop       | runc    | 600 ms / 600 ms | mean 0.3 ms (no p50 recorded) | -" in performance
    assert summary.splitlines()[:3] == ["Hosts: 3 (ok 2, failed 0, unreachable 1, skipped 0). Result: FAIL.",
                                        "kata: vm-isolated on 1 of 1 hosts.", "runc: shared-kernel on 2 of 2 hosts."]
    assert "- node-unreachable unreachable: Failed to connect to the host via ssh" in summary
    # The findings after the table the summary already gives: the boundary, then the trade-offs.
    assert [block.splitlines()[0] for block in _blocks(text)[3:]] == ["WHAT THE BOUNDARY MEANS", "TRADE-OFFS"]
    assert "- Startup, kata vs runc on the same host: lab-laptop 6.6 s vs 600 ms (11x)." in text


@pytest.mark.parametrize("width", [100, 120, 160])
def test_the_tables_fit_the_width(sample_report, width):
    isolation, performance = _blocks(console.render(report_view.build_view(sample_report), width))[:2]
    table_lines = [line for line in (isolation + "\n" + performance).splitlines() if " | " in line or "-+-" in line]
    assert len(table_lines) == 2 + 6 + 2 + 4 and all(len(line) <= width for line in table_lines)


def test_every_other_line_wraps_at_the_width(sample_report):
    text = console.render(report_view.build_view(sample_report), 70)
    prose = [line for block in _blocks(text)[2:] for line in block.splitlines()]
    assert prose and all(len(line) <= 70 for line in prose)


def test_a_host_witness_column_when_a_host_sent_one(sample_report):
    kata = sample_report["hosts"]["lab-laptop"]["runtimes"]["kata"]["isolation"]
    kata.update(image_source="built", image_digest="sha256:" + "c" * 64, witness="agrees",
                host_witness={"class": "vmm", "vmm": "qemu", "task_pid": 7})
    del sample_report["hosts"]["node-unreachable"]  # its long reason would take the width
    isolation = _blocks(console.render(report_view.build_view(sample_report), 200))[0]
    assert isolation.splitlines()[0].rstrip().endswith("| Host sees")
    kata_line = [line for line in isolation.splitlines() if line.startswith("lab-laptop") and "| kata " in line][0]
    assert kata_line.rstrip().endswith("| vmm (qemu)")  # the console's short word for a hypervisor, named


def test_terminal_sequences_from_a_host_never_reach_the_operator(sample_report):
    entry = sample_report["hosts"].pop("dev-vm")
    entry["runtimes"]["runc"]["isolation"]["kernel_release"] = "6.1\x1b]0;owned\x07\x1b[2J"
    entry["runtimes"]["runc"]["isolation"]["verdict_reason"] = "look \u202eelif\u202c\r\x08\x9b"
    sample_report["hosts"]["evil\x1b[31m\u2028host"] = entry
    text = console.render(report_view.build_view(sample_report), 200)
    assert not any(char in text for char in "\x1b\x07\x08\r\x9b\u202e\u2028")
    assert "evil\ufffd[31m\ufffdhost" in text and "6.1\ufffd]0;owned" in text


def test_listed_hosts_bound_the_tables_not_the_summary(sample_report):
    for number in range(6):
        sample_report["hosts"]["zz-%d" % number] = dict(sample_report["hosts"]["dev-vm"])
    view = report_view.build_view(sample_report, listed_hosts=3)
    text = console.render(view, 120)
    isolation, performance, summary = _blocks(text)[:3]
    hosts = set(line.split(" ")[0] for line in isolation.splitlines()[2:] if " | " in line)
    assert len(hosts) == 3 and "node-unreachable" in hosts  # the failed host first
    assert "(6 more hosts passed and agree with the fleet: every host is in report.md and report.csv)" in performance
    assert "runc: shared-kernel on 8 of 8 hosts." in summary


@pytest.mark.parametrize("cell, short", [("host-process", "process"), ("vmm (qemu)", "vmm (qemu)"),
                                         ("user-space-kernel", "sandbox"), ("user-space-kernel (gvisor)", "sandbox (gvisor)"),
                                         ("unknown: no task pid", "unknown: no task pid"), ("-", "-"),
                                         ("host-processes", "host-processes"), (None, None)])
def test_host_sees_in_short_words(cell, short):
    assert console._host_sees_short(cell) == short  # pylint: disable=protected-access


def test_console_keeps_the_longest_verdict_word_whole():
    """A shortened verdict cell still shows 'user-space-kernel' whole, then the shortening mark."""
    columns = (("host", "Host"), ("verdict", "Verdict"))
    text = console.table([{"host": "h" * 70, "verdict": "user-space-kernel (gvisor)"}], columns, width=80)
    assert "user-space-kernel~" in text.splitlines()[-1]


def test_table_shortens_the_least_telling_columns_first():
    columns = (("host", "Host"), ("kernel", "Kernel"), ("interfaces", "Interfaces"), ("verdict", "Verdict"))
    row = {"host": "node-1", "kernel": "6.1.0-13-amd64-with-a-long-suffix", "interfaces": "eth0, eth1, eth2, lo, veth0",
           "verdict": "vm-isolated (kata/qemu)"}
    text = console.table([row], columns, width=70)
    head, rule, line = text.splitlines()
    assert len(head) <= 70 and len(rule) <= 70 and len(line) <= 70
    cells = [cell.strip() for cell in line.split(" | ")]
    # The verdict gives way down to its floor (its longest word and the mark), the interfaces to theirs,
    # then the kernel what is still too much; the host keeps its name.
    assert cells == ["node-1", row["kernel"][:30] + console.ELLIPSIS, "eth0," + console.ELLIPSIS,
                     "vm-isolated (kata" + console.ELLIPSIS]
    assert len(cells[3]) == console.SHRINK_FLOOR["verdict"]
    assert console.table([], columns).splitlines()[0].startswith("Host | Kernel")  # a head even without rows


def test_a_changes_section_is_printed_after_the_summary(sample_report):
    view = report_view.build_view(sample_report)
    assert console.changes_part(view) is None
    view["report"] = dict(view["report"], changes="not a mapping")
    assert console.changes_part(view) is None
