# -*- coding: utf-8 -*-
"""plugins/plugin_utils/_report.py: the comparison table's rows and its Markdown."""

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _evidence, _report
from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _probe
from probe_output import facts as recorded_facts


def _rows(records):
    """Rows as the renderers see them: from report.json's hosts, built from callback records."""
    return _report.rows(dict((name, _evidence.host_entry(record)) for name, record in records.items()))


def _hosts(fixture_text, fixture_json):
    host_view = fixture_json("runc_host_facts.json")
    runc = recorded_facts(fixture_text("runc_probe_output.txt"))
    runc.update(status="ok", error=None)
    runc.update(_probe.verdict(host_view, runc))
    lab_host = fixture_json("lab_host_facts.json")
    kata = recorded_facts(fixture_text("lab_kata_probe_output.txt"))
    kata.update(status="ok", error=None)
    kata.update(_probe.verdict(lab_host, kata))
    gvisor = dict(runc, boot_id="x", kernel_release="4.4.0", verdict="unknown",
                  verdict_reason="a user-space kernel such as gVisor?")
    return {
        "node-a": {"status": "ok", "error": None, "host_facts": host_view,
                   "isolation": {"host": host_view, "runtimes": {"runc": runc, "kata": kata, "gvisor": gvisor}}},
        "node-b": {"status": "failed", "error": "Make sure the probe image is in containerd: ctr is not on the PATH",
                   "host_facts": None, "isolation": None},
        "node-c": {"status": "unreachable", "error": "Failed to connect to the host via ssh: Connection refused",
                   "host_facts": None, "isolation": None},
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
        ("node-a", _report.HOST_ROW), ("node-a", "gvisor"), ("node-a", "kata"), ("node-a", "runc"),
        ("node-b", "-"),
        ("node-c", "-"),
        ("node-d", _report.HOST_ROW), ("node-d", "kata"), ("node-d", "-"),
    ]
    by_key = dict(((row["host"], row["runtime"]), row) for row in table)

    host_a = by_key[("node-a", _report.HOST_ROW)]
    assert host_a == {"host": "node-a", "runtime": "(host)", "kernel": "6.18.44-fc-v1045", "cpu_model": "AMD EPYC",
                      "proc_entries": "136", "modules": "n/a", "interfaces": "eth0, ifb0, ifb1, lo",
                      "verdict": "-", "startup": "-", "http": "-", "memory": "-"}
    runc = by_key[("node-a", "runc")]
    assert (runc["kernel"], runc["proc_entries"], runc["modules"], runc["interfaces"], runc["verdict"]) == \
        ("6.18.44-fc-v1045", "56", "n/a", "lo", "shared-kernel")
    kata = by_key[("node-a", "kata")]
    assert (kata["kernel"], kata["cpu_model"], kata["proc_entries"], kata["modules"], kata["interfaces"],
            kata["verdict"]) == ("6.12.47", "Intel(R) Xeon(R) Processor", "53", "72", "eth0, lo", "vm-isolated")
    assert by_key[("node-a", "gvisor")]["verdict"] == "unknown (a user-space kernel such as gVisor?)"

    failed = by_key[("node-b", "-")]
    assert failed["verdict"] == "FAILED: Make sure the probe image is in containerd: ctr is not on the PATH"
    assert failed["kernel"] == "" and failed["cpu_model"] == ""
    assert by_key[("node-c", "-")]["verdict"] == \
        "UNREACHABLE: Failed to connect to the host via ssh: Connection refused"

    host_d = by_key[("node-d", _report.HOST_ROW)]
    assert (host_d["kernel"], host_d["proc_entries"], host_d["modules"], host_d["interfaces"]) == \
        ("6.15.4", "528", "354", "-")
    kata_d = by_key[("node-d", "kata")]
    assert kata_d["verdict"] == \
        "FAILED: the probe container did not finish within 60s; it was killed and removed"
    assert (kata_d["kernel"], kata_d["cpu_model"], kata_d["proc_entries"], kata_d["modules"]) == ("?", "?", "?", "?")


def test_rows_carry_startup_http_and_memory_columns():
    record = {"status": "ok", "host_facts": None, "isolation": None,
              "startup": {"runtimes": {"runc": {"status": "ok", "total": {"n": 10, "median": 0.193, "p95": 0.231}},
                                       "kata": {"status": "failed", "error": "warm-up run 1 timed out"}}},
              "http": {"runtimes": {"runc": {"status": "ok", "latency": {"n": 50, "p50": 0.00124, "p99": 0.00452},
                                             "memory": {"total_pss_kib": 13517}}}}}
    by_runtime = dict((row["runtime"], row) for row in _rows({"h": record}))
    assert (by_runtime["runc"]["startup"], by_runtime["runc"]["http"], by_runtime["runc"]["memory"]) == \
        ("193ms / 231ms", "1.24ms / 4.52ms", "13.2 MiB")
    # A runtime only measured, not probed, still gets its row; a failed measurement says so.
    assert (by_runtime["kata"]["startup"], by_runtime["kata"]["http"], by_runtime["kata"]["memory"]) == \
        ("failed", "-", "-")
    assert _report.seconds(6.6) == "6.6s" and _report.seconds(None) == "?"


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
    assert by_runtime["runsc"]["http"] == "3.1ms / 9.4ms (host netstack)"
    assert by_runtime["runsc-own"]["http"] == "3.1ms / 9.4ms"
    assert by_runtime["runsc-none"]["http"] == "failed"
    assert by_runtime["runsc-odd"]["http"] == "1ms / 1ms"


def test_rows_ok_host_without_results_and_unknown_modules():
    table = _rows({
        "quiet": {"status": "ok", "error": None, "host_facts": None, "isolation": None},
        "partial": {"status": "ok", "host_facts": {"kernel_release": "6.1.0", "modules": None}},
    })
    assert [(row["host"], row["runtime"], row["verdict"]) for row in table] == [
        ("partial", "(host)", "-"), ("quiet", "-", "SKIPPED: no probe results: the host ran none of the probe tasks")]
    assert table[0]["modules"] == "?"  # unknown, unlike "n/a" (the kernel has no /proc/modules)


def test_rows_without_any_result_is_skipped():
    [row] = _rows({"ghost": {}})
    assert row["verdict"].startswith("SKIPPED: no probe results")


def test_markdown_table(fixture_text, fixture_json):
    hosts = _hosts(fixture_text, fixture_json)
    table = _rows(hosts)
    text = _report.markdown_table(table)
    lines = text.splitlines()
    assert lines[0] == ("| Host | Runtime | Kernel | CPU model | /proc | Modules | Interfaces | Verdict | Startup med/p95 | "
                        "HTTP p50/p99 | Memory (PSS) |")
    assert lines[1] == "|" + "---|" * 11
    assert len(lines) == 2 + len(table)
    assert "| node-a | runc | 6.18.44-fc-v1045 | AMD EPYC | 56 | n/a | lo | shared-kernel | - | - | - |" in lines
    assert "| node-a | kata | 6.12.47 | Intel(R) Xeon(R) Processor | 53 | 72 | eth0, lo | vm-isolated | - | - | - |" in lines
    assert ("| node-c | - |  |  |  |  |  | UNREACHABLE: Failed to connect to the host via ssh: Connection refused"
            " |  |  |  |") in lines
    for line in lines:
        assert line.startswith("| ") or line.startswith("|---")
        assert line.endswith(" |") or line.endswith("---|")


def test_markdown_table_escapes_pipes_and_newlines():
    hosts = {"weird|host": {"status": "failed", "error": "rc=1: a | b\nsecond line", "host_facts": {
        "kernel_release": "6.1|x", "cpu_model": "ACME | Virtual CPU", "proc_entries": 0, "modules": 0,
        "interfaces": [{"name": "eth|0", "addresses": []}]}}}
    text = _report.markdown_table(_rows(hosts))
    lines = text.splitlines()
    assert lines[2] == ("| weird\\|host | (host) | 6.1\\|x | ACME \\| Virtual CPU | 0 | 0 | eth\\|0 | - | - | - | - |")
    assert lines[3] == "| weird\\|host | - |  |  |  |  |  | FAILED: rc=1: a \\| b second line |  |  |  |"
    # every row still has exactly as many unescaped separators as the header
    header_pipes = lines[0].count("|")
    for line in lines[2:]:
        assert line.replace("\\|", "").count("|") == header_pipes


def test_markdown_table_empty():
    assert _report.markdown_table([]).splitlines() == [
        "| Host | Runtime | Kernel | CPU model | /proc | Modules | Interfaces | Verdict | Startup med/p95 | "
        "HTTP p50/p99 | Memory (PSS) |",
        "|" + "---|" * 11]
