# -*- coding: utf-8 -*-
"""report.json's workload and audit per host (issues 21, 24): validated, and shown by every output."""

import csv
import io
import json
import xml.etree.ElementTree as ET

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import (
    console, contract, csv_table as report_csv, html, junit, markdown, model, narrative, view as report_view)
from conftest import REPO_ROOT  # noqa: E402  pylint: disable=wrong-import-position

RUN = {"started": "2026-12-01T04:00:00Z", "finished": "2026-12-01T04:00:12Z",
       "controller": {"hostname": "ctl", "user": "root", "python": "3.11"},
       "versions": {"ansible_core": "2.19", "collection": "0.1.0"}, "playbooks": [], "inventory": []}


def _isolation(verdict, sandbox=None):
    return {"status": "ok", "error": None, "verdict": verdict, "sandbox": sandbox, "kernel_release": "6.1.0"}


def _wl(ratio, cov=0.03, noise=0.09, within=True, status="ok", at_least=None, error=None):
    return {"status": status, "error": error, "count": 100, "unit": "loop iterations", "unit_seconds": 0.001,
            "stats": {"n": 7, "median": 0.1, "cov": cov}, "ratio": ratio, "ratio_at_least": at_least,
            "noise": noise, "within_noise": within, "samples": [0.1] * 7}


def workload():
    return {"run_id": "run-1", "workloads": ["cpu", "syscall", "rootfs_io", "tmpfs_io"],
            "host": {"cpu": {"status": "ok", "unit_seconds": 0.001, "stats": {"n": 7, "cov": 0.02}}},
            "runtimes": {
                "runc": {"handler": "runc", "status": "ok", "error": None, "summary": "Inside the noise: cpu 1.02x +/-0.09.",
                         "workloads": {"cpu": _wl(1.02), "syscall": _wl(1.05, within=True),
                                       "rootfs_io": _wl(1.01), "tmpfs_io": _wl(0.99)}},
                "runsc": {"handler": "runsc", "status": "failed", "error": "tmpfs_io: the worker died",
                          "summary": "Outside the noise, a real difference: syscall 212.40x +/-0.31 (slower than the host).",
                          "workloads": {"cpu": _wl(1.35, within=False), "syscall": _wl(212.4, within=False),
                                        "rootfs_io": _wl(None, within=None, noise=None, status="over_budget", at_least=12.3),
                                        "tmpfs_io": _wl(None, within=None, noise=None, status="failed",
                                                        error="the worker died")}}}}


def audit(names="full"):
    result = {"names": names, "status": "failed", "namespaces": 2, "containers": 3, "not_running": 0,
              "excluded_probes": 0, "truncated": 0, "pods": 1,
              "classes": {"host-process": 2, "vmm": 0, "user-space-kernel": 1, "unknown": 0}, "vmms": {},
              "handlers": {"runc": {"host-process": 2, "vmm": 0, "user-space-kernel": 0, "unknown": 0},
                           "runsc": {"host-process": 0, "vmm": 0, "user-space-kernel": 1, "unknown": 0}},
              "findings_by_severity": {"error": 1, "warning": 0, "info": 0}}
    if names == "full":
        result["findings"] = [{"severity": "error", "code": "sandbox-not-isolated",
                               "message": "pod secret/web-1 is runsc, but the host sees an ordinary process",
                               "container": {"namespace": "k8s.io", "id": "abc123"}}]
    else:
        result["findings"] = [{"severity": "error", "code": "sandbox-not-isolated", "count": 1}]
    return result


def records(**extra):
    base = {"status": "ok", "error": None, "host_facts": {"kernel_release": "6.1.0"},
            "isolation": {"runtimes": {"runc": _isolation("shared-kernel"),
                                       "runsc": _isolation("user-space-kernel", "gvisor")}}}
    base.update(extra)
    return {"localhost": dict(contract.new_record(), **base)}


def report_of(recs):
    report = model.build_report(recs, dict(RUN), "run-1", {})
    model.to_json(report)
    return report


def test_report_json_keeps_the_figures_and_the_summary():
    report = report_of(records(workload=workload(), audit=audit()))
    entry = report["hosts"]["localhost"]
    runsc = entry["workload"]["runtimes"]["runsc"]
    assert runsc["workloads"]["syscall"]["ratio"] == 212.4
    assert runsc["workloads"]["syscall"]["within_noise"] is False
    assert runsc["workloads"]["rootfs_io"]["ratio_at_least"] == 12.3
    assert runsc["workloads"]["tmpfs_io"]["status"] == "failed"
    assert runsc["workloads"]["cpu"]["cov"] == 0.03 and runsc["workloads"]["cpu"]["unit_seconds"] == 0.001
    assert "samples" not in runsc["workloads"]["cpu"]
    assert runsc["summary"].startswith("Outside the noise")
    assert entry["workload"]["status"] == "failed"
    assert entry["audit"]["classes"]["host-process"] == 2
    assert entry["audit"]["handlers"]["runsc"]["user-space-kernel"] == 1
    assert entry["audit"]["findings"][0]["container"] == {"namespace": "k8s.io", "id": "abc123"}
    assert report["errors"] == []
    json.loads(model.to_json(report))


def test_no_workload_no_audit_adds_no_keys():
    entry = report_of(records())["hosts"]["localhost"]
    assert "workload" not in entry and "audit" not in entry
    text = console.render(report_view.build_view(report_of(records())))
    assert "Syscalls" not in text and "Audit " not in text


def test_names_counts_keeps_no_message_or_container():
    recs = records(audit=audit("counts"))
    recs["localhost"]["audit"]["findings"][0]["message"] = "pod secret/web-1"
    entry = report_of(recs)["hosts"]["localhost"]
    assert entry["audit"]["findings"] == [{"severity": "error", "code": "sandbox-not-isolated", "count": 1}]
    assert "secret/web-1" not in json.dumps(entry)


def test_hostile_values_become_null_with_a_named_error():
    bad = workload()
    runc = bad["runtimes"]["runc"]["workloads"]
    runc["cpu"]["ratio"] = float("nan")
    runc["syscall"]["ratio"] = "1.0; rm -rf"
    runc["rootfs_io"]["stats"] = ["x"]
    runc["tmpfs_io"]["within_noise"] = "yes"
    runc["bogus"] = {}
    bad["runtimes"]["runc"]["summary"] = "x" * 100000
    bad_audit = audit()
    bad_audit["classes"]["host-process"] = -5
    bad_audit["classes"]["alien"] = 3
    bad_audit["findings"].append({"severity": "fatal", "code": "<script>", "message": 7})
    bad_audit["findings"].append("not a finding")
    report = report_of(records(workload=bad, audit=bad_audit))
    entry = report["hosts"]["localhost"]
    cells = entry["workload"]["runtimes"]["runc"]["workloads"]
    assert cells["cpu"]["ratio"] is None and cells["syscall"]["ratio"] is None
    assert cells["rootfs_io"]["cov"] is None and cells["tmpfs_io"]["within_noise"] is None
    assert "bogus" not in cells and entry["workload"]["runtimes"]["runc"]["summary"] is None
    assert entry["audit"]["classes"]["host-process"] == 0 and "alien" not in entry["audit"]["classes"]
    assert entry["audit"]["findings"][1] == {"severity": "error", "code": "unknown", "count": 1, "message": None}
    assert len(entry["audit"]["findings"]) == 2
    errors = [item["error"] for item in report["errors"]]
    for where in ("workload/runtimes/runc/workloads/cpu/ratio", "workload/runtimes/runc/workloads/syscall/ratio",
                  "workload/runtimes/runc/workloads/rootfs_io/stats", "workload/runtimes/runc/workloads/tmpfs_io/within_noise",
                  "workload/runtimes/runc/summary", "audit/classes/host-process", "audit/classes",
                  "audit/findings/1/severity", "audit/findings/1/code", "audit/findings/1/message", "audit/findings/2"):
        assert any(error.startswith(where + ":") for error in errors), where
    assert all(item["host"] == "localhost" for item in report["errors"])
    report_view.build_view(report)


def test_workload_and_audit_that_are_not_mappings():
    report = report_of(records(workload=["x"], audit="boom"))
    entry = report["hosts"]["localhost"]
    assert entry["workload"] is None and entry["audit"] is None
    assert [e["error"].split(":")[0] for e in report["errors"]] == ["workload", "audit"]


def test_failed_audit_capability_is_shown_with_its_error():
    report = report_of(records(audit={"status": "failed", "error": "ctr namespaces ls failed (rc=1): \x1b[31mboom"}))
    text = console.render(report_view.build_view(report))
    assert "Audit localhost: audit failed: ctr namespaces ls failed" in text
    assert "\x1b" not in text


def test_console_third_table_and_audit_footer():
    text = console.render(report_view.build_view(report_of(records(workload=workload(), audit=audit()))), width=120)
    header = [line for line in text.splitlines() if line.startswith("Host") and "Syscalls" in line]
    assert header and [c.strip() for c in header[0].split("|")] == [
        "Host", "Runtime", "CPU", "Syscalls", "Rootfs I/O", "tmpfs I/O"]
    runsc = [line for line in text.splitlines() if line.startswith("localhost") and "212x" in line]
    assert runsc and ">=12.3x" in runsc[0] and "1.35x" in runsc[0] and "failed" in runsc[0]
    runc = [line for line in text.splitlines() if line.startswith("localhost") and "~1.0x" in line]
    assert runc
    assert ("Audit localhost: 3 containers: 2 host-process, 1 user-space-kernel; 1 error finding") in text


def _outputs():
    report = report_of(records(workload=workload(), audit=audit()))
    view = report_view.build_view(report)
    return report, view


def test_markdown_and_html_sections():
    report, view = _outputs()
    text = markdown.render(view)
    assert "## Workload cost" in text and "## Audit" in text
    assert "| localhost | runsc | 1.35x | 212x | &gt;=12.3x | failed |" in text  # md escapes > as &gt;
    assert "sandbox-not-isolated" in text and "k8s.io/abc123" in text
    page = html.render(view)
    assert 'id="chart-workload"' in page and 'id="audit-findings"' in page and 'id="audit-filter"' in page
    assert page.index('id="chart-http"') < page.index('id="chart-workload"') < page.index('id="workload"')


def test_hostile_text_is_escaped_everywhere():
    bad = workload()
    bad["runtimes"]["<img src=x>|x"] = bad["runtimes"].pop("runsc")
    bad["runtimes"]["<img src=x>|x"]["summary"] = "<script>alert(1)</script> | \x1b]0;pwned\x07"
    bad_audit = audit()
    bad_audit["findings"][0]["message"] = "=HYPERLINK(\"x\") <b>bold</b> | \x1b[2J"
    report = report_of(records(workload=bad, audit=bad_audit))
    view = report_view.build_view(report)
    page = html.render(view)
    assert "<script>alert" not in page and "<img src=x>" not in page and "<b>bold</b>" not in page
    text = markdown.render(view)
    assert "<script>" not in text and "\x1b" not in text
    assert "\x1b" not in console.render(view)
    rows = list(csv.reader(io.StringIO(report_csv.render(view))))
    assert all(not cell.startswith("=") for row in rows for cell in row)
    ET.fromstring(junit.render(report).encode("utf-8"))


def test_csv_has_ratio_columns_and_the_audit_on_the_host_row():
    _report, view = _outputs()
    rows = list(csv.DictReader(io.StringIO(report_csv.render(view))))
    runsc = [row for row in rows if row["Runtime"] == "runsc"][0]
    assert runsc["syscall_ratio"] == "212.4" and runsc["syscall_within_noise"] == "false"
    assert runsc["rootfs_io_ratio"] == ">=12.3" and runsc["tmpfs_io_ratio"] == ""
    host = [row for row in rows if row["Runtime"] == report_view.HOST_ROW][0]
    assert host["audit"].startswith("localhost: 3 containers")
    assert host["audit_findings"].startswith("error sandbox-not-isolated: pod secret/web-1")
    assert runsc["audit"] == ""
    plain = list(csv.DictReader(io.StringIO(report_csv.render(report_view.build_view(report_of(records()))))))
    assert "cpu_ratio" not in plain[0] and "audit" not in plain[0]


def test_junit_audit_errors_fail_and_workloads_pass_or_fail():
    report, _view = _outputs()
    root = ET.fromstring(junit.render(report).encode("utf-8"))
    suites = dict((suite.get("name"), suite) for suite in root.iter("testsuite"))
    audit_cases = list(suites["workload-audit"].iter("testcase"))
    assert len(audit_cases) == 1 and audit_cases[0].find("failure") is not None
    assert "ordinary process" in audit_cases[0].find("failure").get("message")
    work = dict((case.get("name"), case) for case in suites["workload-cost"].iter("testcase"))
    assert len(work) == 8
    assert work["localhost runsc tmpfs_io"].find("failure") is not None
    assert work["localhost runsc syscall"].find("failure") is None
    assert "212x" in work["localhost runsc syscall"].find("system-out").text
    assert suites["workload-cost"].get("failures") == "1"


def test_junit_clean_audit_is_one_passing_case():
    clean = audit()
    clean["findings"] = []
    clean["status"] = "ok"
    root = ET.fromstring(junit.render(report_of(records(audit=clean))).encode("utf-8"))
    suite = [s for s in root.iter("testsuite") if s.get("name") == "workload-audit"][0]
    assert suite.get("tests") == "1" and suite.get("failures") == "0"


def test_tradeoffs_use_the_measured_ratios_on_the_same_host():
    report, _view = _outputs()
    trade = [section for section in narrative.sections(report) if section["title"] == "Trade-offs"][0]
    line = [item for item in trade["bullets"] if item.startswith("Workload cost")]
    assert line and "localhost runsc: CPU 1.4x, syscalls 212x" in line[0]
    assert "runc: CPU ~1.0x (inside the noise)" in line[0]
    advice = trade["paragraphs"][0][1]
    assert "measured cost" in advice and "too heavy" not in advice
    without = report_of(records())
    advice = [s for s in narrative.sections(without) if s["title"] == "Trade-offs"][0]["paragraphs"][0][1]
    assert "too heavy" in advice


def test_advice_says_noise_where_the_hosts_saw_only_noise():
    # make verify printed "runsc CPU 1.5x" in the advice while the host's own line said "CPU ~1.0x (inside the
    # noise)": the median over the hosts must keep the noise rule the per-host figures follow.
    quiet = workload()
    quiet["runtimes"]["runsc"]["workloads"]["cpu"] = _wl(1.5, within=True)
    trade = [s for s in narrative.sections(report_of(records(workload=quiet))) if s["title"] == "Trade-offs"][0]
    advice = trade["paragraphs"][0][1]
    assert "runsc CPU ~1.0x, syscalls 212x" in advice and "1.5x" not in advice
    loud = [s for s in narrative.sections(_outputs()[0]) if s["title"] == "Trade-offs"][0]["paragraphs"][0][1]
    assert "runsc CPU 1.4x" in loud


def test_report_json_fits_the_schema_even_from_hostile_input():
    import pathlib
    import jsonschema
    schema = json.loads((REPO_ROOT / "docs" / "report.schema.json").read_text())
    bad = workload()
    bad["runtimes"]["runc"]["workloads"]["cpu"].update(ratio=-1, noise=float("inf"), stats={"cov": "x", "n": True})
    bad_audit = audit()
    bad_audit["findings"].append({"severity": None, "code": "Bad Code", "container": "x"})
    for recs in (records(workload=workload(), audit=audit()), records(workload=bad, audit=bad_audit),
                 records(audit=audit("counts")), records(audit={"status": "failed", "error": "no containerd"})):
        report = json.loads(model.to_json(report_of(recs)))
        jsonschema.validate(report, schema)
