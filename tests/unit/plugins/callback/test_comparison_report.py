# -*- coding: utf-8 -*-
"""_report/model.py, view.py, formatting.py, markdown.py, console.py, csv_table.py: one view, every output the same."""

import csv
import io

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _verdict
from probe_output import facts as recorded_facts
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import (
    console, contract, csv_table as report_csv, formatting as fmt, markdown, model, view as report_view)

RUN = {"started": "2026-12-01T04:00:00Z", "finished": "2026-12-01T04:00:12Z",
       "controller": {"hostname": "ctl", "user": "root", "python": "3.11"},
       "versions": {"ansible_core": "2.19", "collection": "0.1.0"}, "playbooks": [], "inventory": []}


def _report(records, policies=None):
    return model.build_report(dict((name, dict(contract.new_record(), **record)) for name, record in records.items()),
                              dict(RUN), "run-1", policies or {})


def _view(records):
    report = _report(records)
    model.to_json(report)
    return report_view.build_view(report)


def _rows(records):
    return _view(records)["rows"]


def _hosts(fixture_text, fixture_json):
    host_view = fixture_json("runc_host_facts.json")
    runc = recorded_facts(fixture_text("runc_probe_output.txt"))
    runc.update(status="ok", error=None)
    runc.update(_verdict.verdict(host_view, runc))
    lab_host = fixture_json("lab_host_facts.json")
    kata = recorded_facts(fixture_text("lab_kata_probe_output.txt"))
    kata.update(status="ok", error=None)
    kata.update(_verdict.verdict(lab_host, kata))
    gvisor = dict(runc, boot_id="x", kernel_release="4.4.0", verdict="user-space-kernel", verdict_reason=None,
                  sandbox="gvisor")
    return {
        "node-a": {"status": "ok", "error": None, "host_facts": host_view,
                   "isolation": {"host": host_view, "runtimes": {"runc": runc, "kata": kata, "gvisor": gvisor}}},
        "node-b": {"status": "failed", "error": "Make sure the probe image is in containerd: ctr is not on the PATH"},
        "node-c": {"status": "unreachable", "error": "Failed to connect to the host via ssh: Connection refused"},
        "node-d": {"status": "failed", "error": "Probe each runtime handler: kata: timed out",
                   "host_facts": lab_host,
                   "isolation": {"host": lab_host, "runtimes": {
                       "kata": {"handler": "kata", "status": "failed",
                                "error": "the probe container did not finish within 60s; it was killed and removed"},
                   }}},
    }


def test_rows(fixture_text, fixture_json):
    table = _rows(_hosts(fixture_text, fixture_json))
    assert [(row["host"], row["runtime"]) for row in table] == [
        ("node-a", report_view.HOST_ROW), ("node-a", "gvisor"), ("node-a", "kata"), ("node-a", "runc"),
        ("node-b", "-"),
        ("node-c", "-"),
        ("node-d", report_view.HOST_ROW), ("node-d", "kata"), ("node-d", "-"),
    ]
    by_key = dict(((row["host"], row["runtime"]), row) for row in table)
    host_a = by_key[("node-a", report_view.HOST_ROW)]
    assert dict((key, host_a[key]) for key, _title in report_view.COLUMNS) == {
        "host": "node-a", "runtime": "(host)", "kernel": "6.18.44-fc-v1045", "cpu_model": "AMD EPYC",
        "proc_entries": "136", "modules": "n/a", "interfaces": "eth0, ifb0, ifb1, lo",
        "verdict": "-", "host_sees": "-", "startup": "-", "http": "-", "memory": "-"}
    runc = by_key[("node-a", "runc")]
    assert (runc["kernel"], runc["proc_entries"], runc["modules"], runc["interfaces"], runc["verdict"]) == \
        ("6.18.44-fc-v1045", "56", "n/a", "lo", "shared-kernel")
    kata = by_key[("node-a", "kata")]
    assert (kata["kernel"], kata["cpu_model"], kata["proc_entries"], kata["modules"], kata["interfaces"],
            kata["verdict"], kata["sandbox"]) == ("6.12.47", "Intel(R) Xeon(R) Processor", "53", "72", "eth0, lo",
                                                  "vm-isolated (kata)", "kata")
    assert by_key[("node-a", "gvisor")]["verdict"] == "user-space-kernel (gvisor)"
    failed = by_key[("node-b", "-")]
    assert failed["verdict"] == "FAILED: Make sure the probe image is in containerd: ctr is not on the PATH"
    assert failed["kernel"] == "" and failed["cpu_model"] == ""
    assert by_key[("node-c", "-")]["verdict"] == "UNREACHABLE: Failed to connect to the host via ssh: Connection refused"
    kata_d = by_key[("node-d", "kata")]
    assert kata_d["verdict"] == "FAILED: the probe container did not finish within 60s; it was killed and removed"
    assert (kata_d["kernel"], kata_d["cpu_model"], kata_d["proc_entries"], kata_d["modules"]) == ("?", "?", "?", "?")


def test_rows_carry_startup_http_and_memory_in_one_format():
    record = {"startup": {"runtimes": {"runc": {"status": "ok", "total": {"n": 10, "median": 0.193, "p95": 0.231}},
                                       "kata": {"status": "failed", "error": "warm-up run 1 timed out"}}},
              "http": {"runtimes": {"runc": {"status": "ok", "latency": {"n": 50, "p50": 0.00124, "p99": 0.00452},
                                             "memory": {"total_pss_kib": 13517}}}}}
    by_runtime = dict((row["runtime"], row) for row in _rows({"h": record}))
    assert (by_runtime["runc"]["startup"], by_runtime["runc"]["http"], by_runtime["runc"]["memory"]) == \
        ("193 ms / 231 ms", "1.24 ms / 4.52 ms", "13.2 MiB")
    assert (by_runtime["kata"]["startup"], by_runtime["kata"]["http"], by_runtime["kata"]["memory"]) == \
        ("failed: warm-up run 1 timed out", "not measured", "-")
    assert by_runtime["runc"]["numbers"] == {"startup_median_s": 0.193, "startup_p95_s": 0.231, "http_p50_s": 0.00124,
                                             "http_p99_s": 0.00452, "memory_pss_kib": 13517.0}


def test_rows_ok_host_without_results_and_unknown_modules():
    table = _rows({"quiet": {}, "partial": {"host_facts": {"kernel_release": "6.1.0", "modules": None}}})
    assert [(row["host"], row["runtime"], row["verdict"]) for row in table] == [
        ("partial", "(host)", "-"), ("quiet", "-", "SKIPPED: no probe results: the host ran none of the probe tasks")]
    assert table[0]["modules"] == "?"  # unknown, unlike "n/a" (the kernel has no /proc/modules)


def test_markdown_tables_escape_pipes_markup_and_newlines():
    hosts = {"weird|host": {"status": "failed", "error": "rc=1: a | b\nsecond <b>line</b>", "host_facts": {
        "kernel_release": "6.1|x", "cpu_model": "ACME | Virtual CPU", "proc_entries": 0, "modules": 0,
        "interfaces": [{"name": "eth|0", "addresses": []}]}}}
    lines = markdown.render(_view(hosts)).splitlines()
    start = lines.index("## Isolation per host and runtime") + 2
    table = lines[start:lines.index("", start)]
    assert table[2] == "| weird\\|host | (host) | 6.1\\|x | ACME \\| Virtual CPU | 0 | 0 | eth\\|0 | - | - |"
    assert table[3] == "| weird\\|host | - |  |  |  |  |  | FAILED: rc=1: a \\| b second &lt;b&gt;line&lt;/b&gt; |  |"
    for line in table:
        assert line.replace("\\|", "").count("|") == table[0].count("|")


def test_console_fits_its_width_and_csv_has_every_row(fixture_text, fixture_json):
    view = _view(_hosts(fixture_text, fixture_json))
    text = console.render(view, 100)
    tables = text.split("\n\n")[:2]
    assert all(len(line) <= 100 for block in tables for line in block.splitlines())
    rows = list(csv.reader(io.StringIO(report_csv.render(view))))
    assert rows[0][:len(report_view.COLUMNS)] == [title for _key, title in report_view.COLUMNS]
    assert rows[0][-len(report_view.WITNESS_COLUMNS):] == ["image_source", "image_digest", "host_witness", "witness"]
    assert len(rows) == 1 + len(view["rows"])


def test_answer_names_the_hosts_that_disagree():
    def isolation(verdict, sandbox=None):
        return {"isolation": {"runtimes": {"kata": {"status": "ok", "verdict": verdict, "sandbox": sandbox}}}}
    view = _view({"a": isolation("vm-isolated", "kata/qemu"), "b": isolation("vm-isolated", "kata/qemu"),
                  "c": isolation("shared-kernel")})
    [kata] = view["answer"]
    assert (kata["verdict"], kata["agree"], kata["hosts"], kata["disagree"]) == (
        "vm-isolated (kata/qemu)", 2, 3, [("c", "shared-kernel")])
    assert "kata: vm-isolated (kata/qemu) on 2 of 3 hosts; differs on c (shared-kernel)." in console.render(view)


def test_version_from_manifest_or_galaxy_yml(tmp_path):
    from ansible_collections.kata_fleet.runtimes.plugins.callback import comparison
    (tmp_path / "galaxy.yml").write_text("namespace: kata_fleet\n# version: 9.9.9\nversion: '1.2.3'\n")
    assert comparison.collection_version(str(tmp_path)) == "1.2.3"
    (tmp_path / "MANIFEST.json").write_text('{"collection_info": {"version": "2.0.0"}}')
    assert comparison.collection_version(str(tmp_path)) == "2.0.0"
    assert comparison.collection_version(str(tmp_path / "nowhere")) == "unknown"


def test_console_lists_at_most_listed_hosts_and_says_so():
    record = {"isolation": {"runtimes": {"runc": {"status": "ok", "verdict": "shared-kernel"}}}}
    report = _report(dict(("node-%d" % n, record) for n in range(5)))
    view = report_view.build_view(report, listed_hosts=2)
    text = console.render(view)
    assert "(3 more hosts passed and agree with the fleet: every host is in report.md and report.csv)" in text
    assert sum(1 for line in text.splitlines() if line.startswith("node-")) == 4  # 2 hosts, two tables
    assert len(view["rows"]) == 5 and "runc: shared-kernel on 5 of 5 hosts." in text


def test_gvisor_http_on_the_host_netstack_says_so():
    host = {"runtime": "gvisor", "mode": "host", "path": "the host kernel's network stack ..."}
    record = {"status": "ok", "host_facts": None, "isolation": None,
              "http": {"runtimes": {
                  "runsc": {"status": "ok", "latency": {"n": 50, "p50": 0.0031, "p99": 0.0094}, "network": host},
                  "runsc-own": {"status": "ok", "latency": {"n": 50, "p50": 0.0031, "p99": 0.0094},
                                "network": dict(host, mode="sandbox")},
                  "runsc-none": {"status": "failed", "error": "no HTTP latency", "network": dict(host, mode="none")},
                  "runsc-odd": {"status": "ok", "latency": {"n": 1, "p50": 0.001, "p99": 0.001}, "network": "host"}}}}
    by_runtime = dict((row["runtime"], row) for row in _rows({"h": record}))
    plain = fmt.pair(0.0031, 0.0094)
    assert by_runtime["runsc"]["http"] == plain + " (host netstack)"
    assert by_runtime["runsc-own"]["http"] == plain
    assert by_runtime["runsc-none"]["http"].startswith("failed")
    assert by_runtime["runsc-odd"]["http"] == fmt.pair(0.001, 0.001)
