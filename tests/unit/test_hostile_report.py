"""Issue 11, "The evidence bundle survives anything a host sends": hostile host replies through the callback.

Each case feeds the comparison callback one good host (this machine's
recorded verify results, "good-node") and one host whose reply is hostile,
exactly as Ansible hands results over, and expects: a clear message naming
the problem, the whole bundle written (report.json valid JSON), nothing of
the good host lost, nothing written outside the evidence folder, nothing
old overwritten and nothing on the terminal a host could steer.  Every case
failed on the code before this test file (a crash, a lost bundle, a file
outside evidence_dir, NaN in report.json, an overwritten run, a formula in
report.csv or an escape sequence on the console).
"""

import csv
import io
import json
import os
import stat
from pathlib import Path

import jsonschema
import pytest

from callback_harness import host_results, run_play

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "report.schema.json").read_text())
BUNDLE = ["SHA256SUMS", "junit.xml", "report.csv", "report.html", "report.json", "report.md"]
RUN = "run-1"


def _strict_json(text):
    def refuse(constant):
        raise ValueError("not JSON: %s" % constant)
    return json.loads(text, parse_constant=refuse)


def _bundle(evidence, name=RUN):
    folder = evidence / name
    assert sorted(os.listdir(str(folder))) == BUNDLE
    report = _strict_json((folder / "report.json").read_text())
    jsonschema.validate(report, SCHEMA)
    return folder, report


def _good_host_intact(report):
    good = report["hosts"]["good-node"]
    assert good["status"] == "ok"
    assert good["runtimes"]["runc"]["isolation"]["verdict"] == "shared-kernel"
    assert good["runtimes"]["runc"]["startup"]["total"]["median"] == pytest.approx(0.168, abs=0.001)


def _play(tmp_path, mutate, **kwargs):
    evidence = tmp_path / "evidence"
    hosts = {"good-node": host_results(RUN), "bad-node": host_results(RUN, mutate)}
    callback, display = run_play(evidence, hosts, run_id=RUN, **kwargs)
    assert not [w for w in display.warnings if "could not" in w], display.warnings
    folder, report = _bundle(evidence)
    _good_host_intact(report)
    return folder, report, display


def _runc(results, probe="isolation_probe", key="isolation"):
    return results[probe][key]["runtimes"]["runc"]


def _errors(report):
    return " ".join("%s %s" % (item.get("host"), item["error"]) for item in report["errors"])


# ---------------------------------------------------------------- absurd numbers


def test_400_digit_proc_count(tmp_path):
    def mutate(results):
        _runc(results)["proc_entries"] = int("9" * 400)
    folder, report, display = _play(tmp_path, mutate)
    assert "/proc count 9999" in (folder / "report.md").read_text()
    assert "bad-node" in display.text and "is not a number between" in display.text
    assert report["hosts"]["bad-node"]["runtimes"]["runc"]["isolation"]["proc_entries"] == int("9" * 400)


def test_interface_without_a_name(tmp_path):
    def mutate(results):
        _runc(results)["interfaces"] = [{"addresses": ["10.0.0.1/24"]}, "eth-as-a-string", {"name": None}]
    folder, _report, _display = _play(tmp_path, mutate)
    assert "an interface without a name" in (folder / "report.md").read_text()


@pytest.mark.parametrize("median", [1.7e308, 5e-324])
def test_absurd_startup_median(tmp_path, median):
    def mutate(results):
        _runc(results, "startup_bench", "startup")["total"]["median"] = median
    folder, _report, _display = _play(tmp_path, mutate)
    html = (folder / "report.html").read_text()
    assert "startup median %r is not a number between" % median in html
    assert "bad-node" in html


def test_nan_dmesg_timestamp_becomes_null_and_a_note(tmp_path):
    def mutate(results):
        _runc(results)["dmesg"] = {"readable": True, "error": None, "head": ["[nan] boot"], "first_timestamp": float("nan")}
        _runc(results, "http_latency", "http")["latency"]["p99"] = float("inf")
    folder, report, display = _play(tmp_path, mutate)
    bad = report["hosts"]["bad-node"]["runtimes"]["runc"]
    assert bad["isolation"]["dmesg"]["first_timestamp"] is None and bad["http"]["latency"]["p99"] is None
    assert "runtimes/runc/isolation/dmesg/first_timestamp: nan is not a number JSON can hold" in _errors(report)
    assert "NaN" not in (folder / "report.json").read_text()
    assert "first_timestamp" in (folder / "report.md").read_text()


# ---------------------------------------------------------------- wrong shapes


@pytest.mark.parametrize("shape", ["a string", ["a", "list"], 42])
def test_probe_result_of_the_wrong_shape(tmp_path, shape):
    def mutate(results):
        results["isolation_probe"]["isolation"]["runtimes"] = shape
        results["startup_bench"]["startup"] = shape
    _folder, report, _display = _play(tmp_path, mutate)
    assert report["hosts"]["bad-node"]["status"] in ("ok", "failed", "skipped")


def test_host_view_that_is_not_a_mapping(tmp_path):
    def mutate(results):
        results["host_facts"]["ansible_facts"]["kata_fleet_host"] = "surprise"
        results["isolation_probe"]["isolation"]["host"] = ["also", "not", "a", "mapping"]
    _folder, report, _display = _play(tmp_path, mutate)
    assert report["hosts"]["bad-node"]["host"] is None


# ---------------------------------------------------------------- run ids and paths


def test_hostile_run_id_from_a_host_stays_inside_evidence_dir(tmp_path):
    def mutate(results):
        results["isolation_probe"]["isolation"]["run_id"] = "../../OUTSIDE"
    _folder, report, display = _play(tmp_path, mutate)
    assert report["run_id"] == RUN
    bad = report["hosts"]["bad-node"]
    assert bad["status"] == "failed" and "'../../OUTSIDE'" in bad["error"] and "not this run" in bad["error"]
    assert sorted(os.listdir(str(tmp_path))) == ["evidence"]
    assert os.readlink(str(tmp_path / "evidence" / "latest")) == RUN
    assert "bad-node" in display.text


def test_an_old_run_id_from_a_host_is_that_hosts_error(tmp_path):
    def mutate(results):
        results["startup_bench"]["startup"]["run_id"] = "20200101T000000-dead"
    _folder, report, _display = _play(tmp_path, mutate)
    assert report["hosts"]["bad-node"]["status"] == "failed"
    assert "20200101T000000-dead" in report["hosts"]["bad-node"]["error"]
    assert report["result"] == "fail"


def test_an_existing_run_folder_is_never_overwritten(tmp_path):
    evidence = tmp_path / "evidence"
    (evidence / RUN).mkdir(parents=True)
    (evidence / RUN / "report.json").write_text("the earlier run's evidence\n")
    _callback, display = run_play(evidence, {"good-node": host_results(RUN)}, run_id=RUN)
    assert (evidence / RUN / "report.json").read_text() == "the earlier run's evidence\n"
    _folder, report = _bundle(evidence, RUN + "-2")
    _good_host_intact(report)
    assert os.readlink(str(evidence / "latest")) == RUN + "-2"
    assert any("already exists and is kept" in warning for warning in display.warnings)


def test_hostile_run_id_in_the_environment_is_replaced(tmp_path):
    evidence = tmp_path / "evidence"
    callback, display = run_play(evidence, {"good-node": host_results("x")}, env_run_id="../../etc")
    assert any("KATA_FLEET_RUN_ID is not used" in warning for warning in display.warnings)
    assert sorted(os.listdir(str(tmp_path))) == ["evidence"]
    assert callback.run_id != "../../etc" and os.path.isdir(str(evidence / callback.run_id))


def test_planted_links_in_the_evidence_dir_are_not_followed(tmp_path):
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    for name in ("latest.tmp", ".latest.tmp", "report.md.tmp"):
        os.symlink(str(victim), str(evidence / name))
    os.mkdir(str(evidence / RUN))
    os.symlink(str(victim), str(evidence / RUN / "report.md.tmp"))
    _callback, _display = run_play(evidence, {"good-node": host_results(RUN)}, run_id=RUN)
    assert victim.read_text() == "precious\n"
    _folder, report = _bundle(evidence, RUN + "-2")
    _good_host_intact(report)


def test_bundle_modes_default_and_option(tmp_path):
    old = os.umask(0o022)
    try:
        evidence = tmp_path / "evidence"
        run_play(evidence, {"good-node": host_results(RUN)}, run_id=RUN)
        folder = evidence / RUN
        assert stat.S_IMODE(folder.stat().st_mode) == 0o750
        assert {stat.S_IMODE((folder / name).stat().st_mode) for name in BUNDLE} == {0o640}
        run_play(evidence, {"good-node": host_results("run-2")}, run_id="run-2", dir_mode="0700", file_mode="0600")
        assert stat.S_IMODE((evidence / "run-2").stat().st_mode) == 0o700
        assert {stat.S_IMODE((evidence / "run-2" / name).stat().st_mode) for name in BUNDLE} == {0o600}
        _callback, display = run_play(evidence, {"good-node": host_results("run-3")}, run_id="run-3", file_mode="rw-r")
        assert any("file_mode must be an octal mode such as 0750" in warning for warning in display.warnings)
    finally:
        os.umask(old)


# ---------------------------------------------------------------- what a host's text can do


def test_csv_formulas_are_neutralised(tmp_path):
    def mutate(results):
        _runc(results)["kernel_release"] = "=HYPERLINK(\"http://evil.invalid\",\"click\")"
        _runc(results)["cpu_model"] = "+cmd|' /C calc'!A0"
        results["host_facts"]["ansible_facts"]["kata_fleet_host"]["cpu_model"] = "@SUM(1+1)"
        results["host_facts"]["ansible_facts"]["kata_fleet_host"]["kernel_release"] = "-2+3"
    folder, _report, _display = _play(tmp_path, mutate)
    rows = list(csv.reader(io.StringIO((folder / "report.csv").read_text())))
    for row in rows[1:]:
        for cell in row[:11]:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")) or cell == "-", row
    cells = [cell for row in rows for cell in row]
    assert "'=HYPERLINK(\"http://evil.invalid\",\"click\")" in cells and "'@SUM(1+1)" in cells


def test_terminal_control_sequences_never_reach_the_console(tmp_path):
    def mutate(results):
        _runc(results)["kernel_release"] = "6.1\x1b]0;owned\x07\x1b[2J\x1b[31m"
        _runc(results)["verdict_reason"] = "look \u202eelif\u202c here\r\x08\x9b"
    _folder, _report, display = _play(tmp_path, mutate)
    for line in display.lines:
        assert not any(ch in line for ch in "\x1b\x07\x08\r\x9b\u202e"), repr(line)
    assert "6.1\ufffd]0;owned" in display.text


def test_markup_from_a_host_is_text_in_html_and_markdown(tmp_path):
    def mutate(results):
        _runc(results)["verdict_reason"] = "<script>alert(1)</script>"
        _runc(results)["verdict"] = "\"><img src=x onerror=alert(2)>"
    folder, report, _display = _play(tmp_path, mutate)
    html = (folder / "report.html").read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert" not in (folder / "report.md").read_text()
    assert report["hosts"]["bad-node"]["runtimes"]["runc"]["isolation"]["verdict_reason"] == "<script>alert(1)</script>"


def test_a_megabyte_error_is_kept_in_json_and_bounded_on_screen(tmp_path):
    message = "E" * (1 << 20)

    def mutate(results):
        _runc(results, "startup_bench", "startup").update(status="failed", error=message)
    _folder, report, display = _play(tmp_path, mutate)
    assert report["hosts"]["bad-node"]["runtimes"]["runc"]["startup"]["error"] == message
    assert len(display.text) < 40000


def test_malformed_policy_results_cost_the_policies_not_the_bundle(tmp_path):
    evidence = tmp_path / "evidence"
    hosts = {"good-node": host_results(RUN)}
    callback, display = run_play(evidence, hosts, run_id=RUN)
    callback.hosts["good-node"]["policies"] = [{"name": None, "status": "pass"}, "garbage"]
    callback.v2_playbook_on_stats(type("S", (), {"processed": {"good-node": {}}, "custom": {}})())
    _folder, report = _bundle(evidence, RUN + "-2")
    assert report["policies"] == [] and "policy results could not be merged" in _errors(report)


def test_one_host_that_breaks_the_model_costs_that_host_only(tmp_path):
    evidence = tmp_path / "evidence"
    callback, _display = run_play(evidence, {"good-node": host_results(RUN)}, run_id=RUN)
    callback.hosts["poison"] = ["not", "a", "record"]
    callback.v2_playbook_on_stats(type("S", (), {"processed": {"good-node": {}}, "custom": {}})())
    _folder, report = _bundle(evidence, RUN + "-2")
    _good_host_intact(report)
    assert report["hosts"]["poison"]["status"] == "failed"
    assert report["hosts"]["poison"]["error"].startswith("the controller could not read this host's results: AttributeError")
