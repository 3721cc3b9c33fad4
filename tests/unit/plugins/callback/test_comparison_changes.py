"""What changed since the last run, wired into every run: the comparison callback's ``changes`` (issue 22).

Each run here is a whole play through the callback harness, into one evidence folder, so the second run finds
the first through <evidence dir>/latest before its own bundle is written.
"""

import copy
import json
import os
from types import SimpleNamespace

import jsonschema

from callback_harness import host_results, make_callback, result, run_play

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import changes
from conftest import REPO_ROOT  # noqa: E402  pylint: disable=wrong-import-position

SCHEMA = json.loads((REPO_ROOT / "docs" / "report.schema.json").read_text())


def with_runsc(verdict):
    """The recorded results plus a runsc handler judged ``verdict`` (a copy of runc's probe)."""
    def mutate(results):
        runtimes = results["isolation_probe"]["isolation"]["runtimes"]
        runsc = copy.deepcopy(runtimes["runc"])
        runsc.update(handler="runsc", verdict=verdict, runtime_type="io.containerd.runsc.v1")
        runtimes["runsc"] = runsc
    return mutate


def play(evidence, run_id, verdict="user-space-kernel", **options):
    callback, display = run_play(evidence, {"node": host_results(run_id, with_runsc(verdict))}, run_id=run_id, **options)
    return callback, display, read(evidence / run_id)


def read(folder):
    report = json.loads((folder / "report.json").read_text())
    jsonschema.validate(report, SCHEMA)
    return report


def weakening(report, host="node"):
    policy = [item for item in report["policies"] if item["name"] == changes.WEAKENING_POLICY]
    assert len(policy) == 1, report["policies"]
    found = [item for item in policy[0]["results"] if item["host"] == host]
    assert len(found) == 1
    return policy[0]["severity"], found[0]


def test_the_first_run_has_nothing_to_compare_with(tmp_path):
    _callback, display, report = play(tmp_path, "run-1")
    assert report["changes"]["status"] == "none" and report["changes"]["previous"] is None
    assert report["changes"]["current"]["run_id"] == "run-1"
    assert weakening(report) == ("error", {"host": "node", "status": "skip",
                                           "detail": "does not apply: no previous run to compare with"})
    assert report["result"] == "pass"
    assert "CHANGES: no previous run to compare with" in display.text
    assert "No previous run to compare with" in (tmp_path / "run-1" / "report.md").read_text()
    assert display.warnings == []


def test_a_weakened_verdict_fails_the_host_on_no_weakening_and_every_output_says_so(tmp_path):
    play(tmp_path, "run-1")
    _callback, display, report = play(tmp_path, "run-2", verdict="shared-kernel")
    section = report["changes"]
    assert section["status"] == "compared" and section["previous"]["run_id"] == "run-1"
    assert section["previous"]["path"] == str(tmp_path / "latest")
    assert section["weakened"] == {"node": ["runsc: user-space-kernel -> shared-kernel"]}
    severity, outcome = weakening(report)
    assert (severity, outcome["status"]) == ("error", "fail")
    assert report["result"] == "fail"
    # The console: the section after the summary, heading first.
    text = display.text
    assert "CHANGES SINCE run-1 (" in text
    assert text.index("Result: FAIL.") < text.index("CHANGES SINCE run-1") < text.index("Evidence: ")
    assert "WEAKENED node / runsc: user-space-kernel -> shared-kernel" in text
    markdown = (tmp_path / "run-2" / "report.md").read_text()
    assert "## Changes since run-1" in markdown and "**Weakened:**" in markdown
    assert markdown.index("**Weakened:**") < markdown.index("**Runtime handlers**")
    page = (tmp_path / "run-2" / "report.html").read_text()
    assert '<h2 id="changes">Changes since run-1</h2>' in page and 'id="changes-weakened"' in page
    junit = (tmp_path / "run-2" / "junit.xml").read_text()
    assert '<testsuite name="no-weakening"' in junit and "user-space-kernel -&gt; shared-kernel" in junit
    # The bundle was written after the comparison: latest now names this run.
    assert os.readlink(str(tmp_path / "latest")).rstrip("/").endswith("run-2")


def test_an_unchanged_run_passes_no_weakening(tmp_path):
    play(tmp_path, "run-1")
    _callback, display, report = play(tmp_path, "run-2")
    assert report["changes"]["status"] == "compared" and report["changes"]["weakened"] == {}
    assert weakening(report)[1]["status"] == "pass" and report["result"] == "pass"
    assert "CHANGES SINCE run-1 (" in display.text


def test_a_tampered_previous_bundle_is_refused_named_and_fails_by_default(tmp_path):
    play(tmp_path, "run-1")
    with open(str(tmp_path / "run-1" / "report.md"), "a") as handle:
        handle.write("\nall hosts passed\n")
    _callback, display, report = play(tmp_path, "run-2", verdict="shared-kernel")
    section = report["changes"]
    assert section["status"] == "refused" and section["weakened"] == {} and section["runtimes"] == []
    assert any("report.md" in problem for problem in section["problems"]), section["problems"]
    severity, outcome = weakening(report)
    assert (severity, outcome["status"]) == ("error", "error") and "was refused, not compared" in outcome["detail"]
    assert report["result"] == "fail"
    assert "CHANGES: NOT COMPARED, the previous bundle %s was refused" % (tmp_path / "latest") in display.text
    assert "**NOT COMPARED: the previous bundle" in (tmp_path / "run-2" / "report.md").read_text()
    assert 'id="changes-refused"' in (tmp_path / "run-2" / "report.html").read_text()


def test_fail_on_weakening_false_makes_it_a_warning(tmp_path):
    play(tmp_path, "run-1")
    _callback, display, report = play(tmp_path, "run-2", verdict="shared-kernel", fail_on_weakening=False)
    severity, outcome = weakening(report)
    assert (severity, outcome["status"]) == ("warning", "fail")
    assert report["result"] == "pass" and report["changes"]["weakened"]
    assert "CHANGES SINCE run-1" in display.text


def test_compare_with_names_another_bundle(tmp_path):
    play(tmp_path, "run-1", verdict="shared-kernel")
    play(tmp_path, "run-2")
    _callback, _display, report = play(tmp_path, "run-3", compare_with=str(tmp_path / "run-1"))
    assert report["changes"]["previous"]["run_id"] == "run-1"
    assert report["changes"]["summary"]["strengthenings"] == 1 and report["result"] == "pass"


def test_the_same_controllers_signed_bundle_verifies_with_its_own_key(tmp_path, keys):
    play(tmp_path, "run-1", signing_key=keys["signer"])
    _callback, _display, report = play(tmp_path, "run-2", verdict="shared-kernel", signing_key=keys["signer"])
    assert report["changes"]["status"] == "compared" and report["changes"]["previous"]["signed"] is True
    assert report["changes"]["previous"]["signed_by"].startswith("SHA256:")
    assert weakening(report)[1]["status"] == "fail"


def test_a_signed_previous_bundle_nothing_can_verify_is_refused(tmp_path, keys):
    play(tmp_path, "run-1", signing_key=keys["signer"])
    # No key at all: a signature nobody checks is not trusted.
    _callback, _display, report = play(tmp_path, "run-2")
    assert report["changes"]["status"] == "refused" and report["result"] == "fail"
    assert "no public key" in " ".join(report["changes"]["problems"])
    # Another controller's key.
    _callback, _display, report = play(tmp_path, "run-3", compare_with=str(tmp_path / "run-1"),
                                       compare_public_keys=[keys["stranger"] + ".pub"])
    assert report["changes"]["status"] == "refused"
    assert "does not verify" in " ".join(report["changes"]["problems"])


def test_a_signing_key_without_a_public_key_is_named(tmp_path, keys):
    play(tmp_path, "run-1", signing_key=keys["signer"])
    broken = tmp_path / "broken-key"
    broken.write_text("not a key\n")
    _callback, display, report = play(tmp_path, "run-2", signing_key=str(broken))
    assert report["changes"]["status"] == "refused"
    assert any("cannot be derived" in problem for problem in report["changes"]["problems"])
    # Its own bundle could not be signed either: that is a warning of its own.
    assert any("not signed" in warning for warning in display.warnings)


def test_unusable_public_keys_refuse_and_never_compare(tmp_path):
    play(tmp_path, "run-1")
    _callback, _display, report = play(tmp_path, "run-2", compare_public_keys=[str(tmp_path / "no-such-key")])
    assert report["changes"]["status"] == "refused"
    assert report["changes"]["problems"][0].startswith("the public keys cannot be used: ")


def test_the_verify_host_result_hands_the_settings_over(tmp_path):
    callback, _display = make_callback(evidence_dir=str(tmp_path))
    callback.v2_playbook_on_task_start(SimpleNamespace(resolved_action="kata_fleet.runtimes.verify_host",
                                                       action="verify_host", get_name=lambda: "verify"), False)
    data = {"module_results": host_results("run-1"), "changed": False, "kata_fleet_fail_on_weakening": False,
            "kata_fleet_compare_with": "/srv/evidence/golden", "kata_fleet_compare_public_keys": None}
    callback.v2_runner_on_ok(result("node", "verify_host", data))
    assert callback._compare_setting("fail_on_weakening", {}) is False
    assert callback._compare_setting("compare_with", {"kata_fleet_compare_with": "/elsewhere"}) == "/srv/evidence/golden"
    # Not handed over: set_stats, else the callback's option.
    assert callback._compare_setting("compare_public_keys", {"kata_fleet_compare_public_keys": ["/k.pub"]}) == ["/k.pub"]
    assert callback._compare_setting("compare_public_keys", {}) is None


def test_judge_replaces_an_earlier_no_weakening_entry(tmp_path):
    _callback, _display, report = play(tmp_path, "run-1")
    section = changes.empty("refused", None, ["broken"], None)
    changes.judge(report, section)
    changes.judge(report, section)
    assert [item["name"] for item in report["policies"]].count(changes.WEAKENING_POLICY) == 1
    assert report["result"] == "fail" and report["changes"] is section
    assert changes.page_view(None) is None


def test_the_verify_host_action_hands_the_comparison_settings_over_checked(monkeypatch):
    """The three settings go through the role's argument spec, then ride in the action's result (changes.SETTINGS)."""
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _settings
    # The action's tests live next to the action's other tests (run alone, this file's folder is not that one).
    monkeypatch.syspath_prepend(str(REPO_ROOT / "tests" / "unit" / "plugins" / "action"))
    from test_verify_host_action import Fake, module_result  # pylint: disable=import-error

    monkeypatch.setattr(_settings, "callback_enabled", lambda: True)
    monkeypatch.setenv("KATA_FLEET_RUN_ID", "run-1")
    result = Fake().run(kata_fleet_runtimes=["runc"], kata_fleet_fail_on_weakening="no",
                        kata_fleet_compare_with="/srv/evidence/golden", kata_fleet_compare_public_keys=["/keys/ci.pub"])
    assert result["kata_fleet_fail_on_weakening"] is False
    assert result["kata_fleet_compare_with"] == "/srv/evidence/golden"
    assert result["kata_fleet_compare_public_keys"] == ["/keys/ci.pub"]
    # Unset: nothing handed over (the callback's options count), and a module cannot hand its own over.
    hostile = module_result()
    hostile["kata_fleet_compare_with"] = "/tmp/forged"
    result = Fake(module=hostile).run(kata_fleet_runtimes=["runc"])
    assert not any(name in result for name in changes.SETTINGS)
    result = Fake().run(kata_fleet_runtimes=["runc"], kata_fleet_fail_on_weakening="sometimes")
    assert result["failed"] and "kata_fleet_fail_on_weakening" in result["msg"]


def test_a_previous_report_with_workload_or_audit_entries_is_a_report_the_model_writes(tmp_path):
    """Host entries carry workload/audit only when the host ran them: the bundle check takes both forms."""
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import verify
    _callback, _display, report = play(tmp_path, "run-1")
    assert verify.report_problems(report) == []
    report["hosts"]["node"]["audit"] = None
    report["hosts"]["node"]["workload"] = None
    assert verify.report_problems(report) == []
    report["hosts"]["node"]["forged"] = True
    assert any("is not a host entry" in problem for problem in verify.report_problems(report))
    del report["hosts"]["node"]["forged"], report["hosts"]["node"]["runtimes"]
    assert any("is not a host entry" in problem for problem in verify.report_problems(report))
