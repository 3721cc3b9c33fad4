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

import jsonschema
import pytest

from callback_harness import host_results, run_play
from conftest import REPO_ROOT  # noqa: E402  pylint: disable=wrong-import-position

SCHEMA = json.loads((REPO_ROOT / "docs" / "report.schema.json").read_text())
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
    assert "first\\_timestamp" in (folder / "report.md").read_text()  # Markdown shows the _ as it is


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
        for cell in row:
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
    # Only the controller's own no-weakening policy (changes.judge, against the first run's bundle) is left.
    assert [policy["name"] for policy in report["policies"]] == ["no-weakening"]
    assert "policy results could not be merged" in _errors(report)


def test_one_host_that_breaks_the_model_costs_that_host_only(tmp_path):
    evidence = tmp_path / "evidence"
    callback, _display = run_play(evidence, {"good-node": host_results(RUN)}, run_id=RUN)
    callback.hosts["poison"] = ["not", "a", "record"]
    callback.v2_playbook_on_stats(type("S", (), {"processed": {"good-node": {}}, "custom": {}})())
    _folder, report = _bundle(evidence, RUN + "-2")
    _good_host_intact(report)
    assert report["hosts"]["poison"]["status"] == "failed"
    assert report["hosts"]["poison"]["error"].startswith("the controller could not read this host's results: AttributeError")


# ---------------------------------------------------------------- issue 19 part 4: Markdown from a host


MD_ATTACKS = [
    "![x](https://evil.example/t.png)",
    "[click](javascript:alert(1))",
    "<img src=https://evil.example/t.png>",
    "**loud** _quiet_ `code` ~~gone~~",
    "[ref]: https://evil.example/ref",
    "https://evil.example/bare and www.evil.example and a@evil.example",
]


def _markdown_html(text):
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(text)


@pytest.mark.parametrize("attack", MD_ATTACKS)
def test_md_filter_leaves_no_markdown_syntax(attack):
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import jinja
    html = _markdown_html("| a |\n|---|\n| %s |\n\n- %s\n" % (jinja.md(attack), jinja.md(attack)))
    for tag in ("<img", "<a ", "<em>", "<strong>", "<code>", "<s>", "<del>"):
        assert tag not in html, (attack, html)
    assert html.count("<td>") == 1 and html.count("<li>") == 1


@pytest.mark.parametrize("value, shown", [("# heading", "\\# heading"), ("- item", "\\- item"), ("1. one", "1\\. one"),
                                          ("---", "\\---"), ("-- -", "\\-- -"), ("    indented", "indented"), ("a|b", "a\\|b"),
                                          ("6.1.0-13-amd64", "6.1.0-13-amd64")])
def test_md_filter_escapes_what_would_start_a_block(value, shown):
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import jinja
    assert jinja.md(value) == shown
    assert jinja.md(jinja.md(value)) == shown  # escaped once, never twice


def test_report_md_escapes_even_a_value_the_template_forgets():
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import jinja
    env = jinja.environment(False)
    assert env.from_string("{{ value }}").render(value="![x](https://evil.example/t.png)") == \
        "\\!\\[x\\](https\\://evil.example/t.png)"


def test_kernel_release_with_an_image_never_fetches_from_report_md(tmp_path):
    def mutate(results):
        _runc(results)["kernel_release"] = "![x](https://evil.example/t.png)"
        _runc(results)["verdict_reason"] = "[click](javascript:alert(1))"
        _runc(results)["cpu_model"] = "**bold** <b>tag</b>"
    folder, report, _display = _play(tmp_path, mutate)
    text = (folder / "report.md").read_text()
    assert "![x](" not in text and "[click](" not in text and "**bold**" not in text and "<b>" not in text
    html = _markdown_html(text)
    assert "<img" not in html and "<a " not in html and "<strong>bold" not in html and "<b>" not in html
    assert "evil.example" in html  # shown as text, not dropped
    assert report["hosts"]["bad-node"]["runtimes"]["runc"]["isolation"]["kernel_release"] == "![x](https://evil.example/t.png)"


# ---------------------------------------------------------------- issue 19 part 5: hidden characters, depth, surrogates


def _nested(depth, leaf):
    value = leaf
    for _level in range(depth):
        value = {"a": [value]} if _level % 2 else {"a": value}
    return value


def test_clean_survives_any_depth_without_recursion():
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import model
    notes = []
    cleaned = model.clean({"deep": _nested(50000, 1), "ok": [1, 2.5, "x", None, True]}, ["runtimes"], notes)
    assert cleaned["ok"] == [1, 2.5, "x", None, True]
    assert len(notes) == 1 and "nested deeper than %d levels: left out" % model.MAX_DEPTH in notes[0]
    assert notes[0].startswith("runtimes/deep/a/")
    json.dumps(cleaned)  # and JSON can write it


def test_clean_replaces_and_names_every_value_json_or_utf8_cannot_hold():
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import model
    notes = []
    cleaned = model.clean({"s": "a\ud800b", "k\udc00": 1, "n": float("nan"), "i": 10 ** 2000, "b": b"\xff",
                           "t": ("x",), 7: "seven"}, [], notes)
    assert cleaned == {"s": "a\ufffdb", "k\ufffd": 1, "n": None, "i": None, "b": "\ufffd", "t": ["x"], "7": "seven"}
    text = " ".join(notes)
    for where in ("s:", "k\ufffd", "n: nan", "i: an integer of about", "b: bytes"):
        assert where in text, (where, text)
    json.dumps(cleaned).encode("utf-8")
    json.dumps(cleaned, ensure_ascii=False).encode("utf-8")


def test_to_json_of_a_deep_result_with_a_nan_keeps_the_report():
    """The RecursionError in model._finite: 600 levels and one NaN lost the whole bundle."""
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import model
    report = {"schema": model.SCHEMA, "hosts": {"h": {"status": "ok", "error": None, "host": None, "runtimes": {
        "runc": {"isolation": {"status": "ok", "x": _nested(600, float("nan"))}, "startup": None, "http": None}}}},
        "errors": []}
    text = model.to_json(report)
    _strict_json(text)
    assert [item["host"] for item in report["errors"]] == ["h"]
    assert "nested deeper than" in report["errors"][0]["error"]


def test_to_json_names_a_lone_surrogate_and_writes_utf8():
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import model
    report = {"hosts": {"h\ud800": {"status": "ok", "error": "bad \udfff", "host": None, "runtimes": {}}},
              "policies": [{"detail": "x\ud834"}], "errors": []}
    text = model.to_json(report)
    json.dumps(json.loads(text), ensure_ascii=False).encode("utf-8")  # no lone surrogate left
    assert "'h\\\\ud800' holds a lone surrogate" in text  # named in errors, as an escape
    assert report["hosts"]["h\ufffd"]["error"] == "bad \ufffd"
    assert sorted(item["host"] or "-" for item in report["errors"]) == ["-", "h\ufffd", "h\ufffd"]
    text.encode("utf-8")


def test_to_json_keeps_an_emoji_pair():
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import model
    report = {"hosts": {"h": {"status": "ok", "error": "\U0001f600", "host": None, "runtimes": {}}}, "errors": []}
    assert json.loads(model.to_json(report))["hosts"]["h"]["error"] == "\U0001f600" and report["errors"] == []


def test_a_hostile_record_still_writes_every_file_of_the_bundle(tmp_path):
    """One record with everything at once: Markdown, bidi and separators, a lone surrogate, a NaN
    600 levels down, a 5,000-digit integer, and witness values the contract does not allow."""
    def mutate(results):
        runc = _runc(results)
        runc["kernel_release"] = "![x](https://evil.example/t.png)\u061c\u2028"
        runc["cpu_model"] = "lone \ud800 surrogate"
        runc["verdict_reason"] = "look \u202eelif\u202c \u2029here"
        runc["uname"] = _nested(600, float("nan"))
        runc["boot_id"] = 10 ** 5000
        runc["image_source"] = "built\nforged"
        runc["image_digest"] = "sha256:" + "A" * 64
        runc["host_witness"] = {"class": "vm", "evidence": ["x"]}
        runc["witness"] = "sure"
        _runc(results, "http_latency", "http")["error"] = "\udfff"
    folder, report, display = _play(tmp_path, mutate)
    for name in ("report.md", "report.csv", "report.html", "junit.xml"):
        text = (folder / name).read_text(encoding="utf-8")
        assert "\ud800" not in text and "\u2028" not in text and "\u061c" not in text, name
    assert "![x](" not in (folder / "report.md").read_text()
    errors = _errors(report)
    for expected in ("lone surrogate", "nested deeper than", "an integer of about", "image_source", "image_digest",
                     "host_witness", "witness: 'sure'"):
        assert expected in errors, expected
    bad = report["hosts"]["bad-node"]["runtimes"]["runc"]["isolation"]
    assert bad["image_source"] is bad["image_digest"] is bad["host_witness"] is bad["witness"] is None
    assert bad["cpu_model"] == "lone \ufffd surrogate"
    rows = [row for row in csv.DictReader(io.StringIO((folder / "report.csv").read_text()))
            if row["Host"] == "bad-node" and row["Runtime"] == "runc"]
    assert [rows[0][key] for key in ("image_source", "image_digest", "host_witness", "witness")] == ["invalid"] * 4
    assert "bad-node" in display.text and "\u2028" not in display.text


def test_a_result_too_deep_for_ansible_names_what_happened(tmp_path):
    """ansible-core 2.19 cannot pickle a result nested ~600 levels deep: the worker sends, instead of it,
    a failed result holding only msg and exception (seen with a real ansible-playbook run).  The host
    must say so, not "ran none of the probe tasks"."""
    from types import SimpleNamespace
    from callback_harness import make_callback, result, task
    evidence = tmp_path / "evidence"
    callback, _display = make_callback(evidence_dir=str(evidence))
    os.environ["KATA_FLEET_RUN_ID"] = RUN
    try:
        callback.v2_playbook_on_start(SimpleNamespace(_file_name="playbooks/verify.yml"))
        callback.v2_playbook_on_play_start(SimpleNamespace(vars={}, get_variable_manager=lambda: None))
        callback.v2_playbook_on_task_start(task("verify_host"), False)
        omitted = {"msg": "Task result omitted due to queue send failure: maximum recursion depth exceeded while "
                          "pickling an object", "exception": "Traceback ..."}
        callback.v2_runner_on_failed(result("deep-node", "verify_host", omitted))
        callback.v2_playbook_on_stats(SimpleNamespace(processed={"deep-node": {}}, custom={}))
    finally:
        os.environ.pop("KATA_FLEET_RUN_ID", None)
    _folder, report = _bundle(evidence)
    entry = report["hosts"]["deep-node"]
    assert entry["status"] == "failed"
    assert "Task result omitted due to queue send failure: maximum recursion depth exceeded" in entry["error"]
    assert "ran none of the probe tasks" not in entry["error"]
