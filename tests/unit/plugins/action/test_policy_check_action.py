# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/action/policy_check.py: the record it builds, and real ansible-playbook runs on localhost.

The playbook runs get this machine's recorded verify results (runc only) as
canned registered results, so no containerd is needed.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.action import policy_check
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import contract, model

from conftest import REPO_ROOT  # noqa: E402  pylint: disable=wrong-import-position
RECORDED = REPO_ROOT / "tests" / "fixtures" / "recorded" / "this_machine_verify.json"
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def registered(result):
    """A module result as `register` keeps it: without the internal keys."""
    return dict((key, value) for key, value in result.items() if not key.startswith("_ansible") and key != "invocation")


@pytest.fixture(scope="module")
def canned():
    recorded = json.loads(RECORDED.read_text())
    return {"host_facts": registered(recorded["host_facts"]), "isolation": registered(recorded["isolation_probe"]),
            "startup": registered(recorded["startup_bench"]), "http": registered(recorded["http_latency"])}


# ---------------------------------------------------------------- the record


def test_record_from_registered_results(canned):
    record = contract.record_from_results(canned)
    assert record["status"] == "ok" and record["error"] is None
    assert record["host_facts"]["kvm"]["usable"] is True
    assert list(record["isolation"]["runtimes"]) == ["runc"]
    assert record["startup"]["runtimes"]["runc"]["total"]["n"] == 10
    assert record["http"]["runtimes"]["runc"]["latency"]["n"] == 50
    entry = model.host_entry(record)
    assert entry["status"] == "ok"
    assert entry["runtimes"]["runc"]["isolation"]["verdict"] == "shared-kernel"


def test_skipped_results_are_missing_evidence(canned):
    skipped = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False", "false_condition": "x"}
    record = contract.record_from_results(dict(canned, startup=skipped, http=skipped))
    assert (record["startup"], record["http"], record["status"]) == (None, None, "ok")
    entry = model.host_entry(record)
    assert entry["runtimes"]["runc"]["startup"] is None


def test_a_result_that_failed_without_data_is_missing_and_fails_the_record(canned):
    failed = {"failed": True, "changed": False, "msg": "ctr is not on the PATH"}
    record = contract.record_from_results(dict(canned, isolation=failed, startup=None, http={}))
    assert record["isolation"] is None and record["startup"] is None and record["http"] is None
    assert (record["status"], record["error"]) == ("failed", "ctr is not on the PATH")


def test_a_probe_that_failed_after_probing_keeps_its_data(canned):
    isolation = dict(canned["isolation"], failed=True, msg="kata: the probe container did not finish within 60s")
    record = contract.record_from_results(dict(canned, isolation=isolation))
    assert record["isolation"]["runtimes"]["runc"]["verdict"] == "shared-kernel"
    assert record["error"] == "kata: the probe container did not finish within 60s"


def test_no_results_at_all():
    record = contract.record_from_results(None)
    assert model.host_entry(record)["status"] == "skipped"


def test_summary():
    results = [{"status": "pass"}, {"status": "skip"}, {"status": "skip"}, {"status": "error"}]
    assert policy_check.summary(results) == "1 pass, 1 error, 2 skip"
    assert policy_check.summary([]) == ""


# ---------------------------------------------------------------- ansible-playbook


class Play:
    """One ansible-playbook run of a generated playbook on localhost."""

    def __init__(self, tmp_path, canned, tasks):
        self.tmp_path = tmp_path
        self.out_file = tmp_path / "results.json"
        (tmp_path / "vars.json").write_text(json.dumps({"canned": canned, "out_file": str(self.out_file)}))
        (tmp_path / "inventory.ini").write_text(
            "localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
        (tmp_path / "play.yml").write_text(json.dumps([{
            "name": "Policy check", "hosts": "localhost", "gather_facts": False, "tasks": tasks,
        }], indent=1))

    def run(self, *extra):
        env = dict(os.environ)
        env.update({
            "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_LOCAL_TEMP": str(self.tmp_path / "ansible-tmp"),
            # The comparison callback is enabled by ansible.cfg; keep its evidence out of the checkout.
            "KATA_FLEET_WRITE_EVIDENCE": "false",
            "KATA_FLEET_EVIDENCE_DIR": str(self.tmp_path / "evidence"),
        })
        argv = [ANSIBLE_PLAYBOOK, "-i", str(self.tmp_path / "inventory.ini"), "-e", "@%s" % (self.tmp_path / "vars.json")]
        argv += list(extra) + [str(self.tmp_path / "play.yml")]
        completed = subprocess.run(argv, cwd=str(self.tmp_path), env=env, capture_output=True, text=True,
                                   timeout=300, check=False)
        return completed.returncode, completed.stdout + completed.stderr

    def results(self):
        return json.loads(self.out_file.read_text())


def check_task(register="checked", ignore_errors=False, check_mode=None, **args):
    task_args = {"results": "{{ canned }}"}
    task_args.update(args)
    task = {"name": "Check %s" % register, "kata_fleet.runtimes.policy_check": task_args, "register": register}
    if ignore_errors:
        task["ignore_errors"] = True
    if check_mode is not None:
        task["check_mode"] = check_mode
    return task


def save_task(*names):
    content = "{{ {%s} | to_json }}" % ", ".join("'%s': %s" % (name, name) for name in names)
    return {"name": "Keep the results", "ansible.builtin.copy": {"content": content, "dest": "{{ out_file }}", "mode": "0600"}}


FAILING_ERROR_POLICY = {"name": "needs-kata", "description": "Every node offers Kata.",
                        "expect": "runtimes.kata != `null`", "detail": "keys(runtimes)"}
FAILING_WARNING_POLICY = {"name": "cgroup-v2", "severity": "warning", "description": "Hosts use cgroup v2.",
                          "expect": "host.cgroup_version == 'v2'", "detail": "host.cgroup_version"}


def test_default_policies_pass_or_skip_on_this_runc_machine(tmp_path, canned):
    play = Play(tmp_path, canned, [check_task(), save_task("checked")])
    rc, output = play.run()
    assert rc == 0, output
    checked = play.results()["checked"]
    assert checked["failed"] is False and checked["changed"] is False
    assert [(item["name"], item["status"]) for item in checked["policies"]] == [
        ("kata-vm-isolated", "skip"), ("gvisor-user-space-kernel", "skip"), ("runc-shared-kernel", "pass"),
        ("kata-preflight", "skip")]
    assert checked["msg"] == "4 policies: 1 pass, 3 skip"
    assert "warnings" not in checked
    assert "[WARNING]: policy" not in output


def test_failing_error_policy_fails_the_play_and_names_it(tmp_path, canned):
    play = Play(tmp_path, canned, [check_task(policies=[FAILING_ERROR_POLICY])])
    rc, output = play.run()
    assert rc == 2, output
    assert '1 error-severity policy did not pass: needs-kata (error) failed: ["runc"]' in output
    assert "failed=1" in output


def test_failing_warning_policy_only_warns(tmp_path, canned):
    play = Play(tmp_path, canned, [check_task(policies=[FAILING_WARNING_POLICY]), save_task("checked")])
    rc, output = play.run()
    assert rc == 0, output
    assert '[WARNING]: policy cgroup-v2 (warning) failed: "hybrid"' in output
    checked = play.results()["checked"]
    assert checked["failed"] is False
    assert checked["policies"][-1]["status"] == "fail"
    assert checked["msg"] == "5 policies: 1 pass, 1 fail, 3 skip"


def test_bad_jmespath_is_a_clear_failure_without_traceback(tmp_path, canned):
    bad = {"name": "kata-everywhere", "expect": "values(runtimes)[?isolation.verdict == 'vm-isolated'"}
    play = Play(tmp_path, canned, [check_task(policies=[bad])])
    rc, output = play.run()
    assert rc == 2, output
    assert "policy 'kata-everywhere': expect is not valid JMESPath: the expression is incomplete" in output
    assert "Traceback" not in output


def test_options_check_mode_and_argument_errors(tmp_path, canned):
    """Several cases in one play (each task ignores its failure), to keep the number of ansible runs down."""
    tasks = [
        check_task("only_given", use_default_policies=False, policies=[FAILING_WARNING_POLICY]),
        check_task("thresholds", startup_p95_seconds=0.1, http_p99_seconds="0.01", threshold_severity="error",
                   ignore_errors=True),
        check_task("replaced", policies=[{"name": "runc-shared-kernel", "severity": "error",
                                          "expect": "runtimes.runc.isolation.verdict == 'shared-kernel'"}]),
        check_task("checking", check_mode=True),
        check_task("misspelt", polices=[], ignore_errors=True),
        check_task("bad_severity", policies=[dict(FAILING_WARNING_POLICY, severity="fatal")], ignore_errors=True),
        check_task("bad_results", results={"isolaton": {}}, ignore_errors=True),
        {"name": "No results at all", "kata_fleet.runtimes.policy_check": {}, "register": "empty"},
        save_task("only_given", "thresholds", "replaced", "checking", "misspelt", "bad_severity", "bad_results", "empty"),
    ]
    play = Play(tmp_path, canned, tasks)
    rc, output = play.run()
    assert rc == 0, output
    assert "Traceback" not in output
    got = play.results()

    assert [item["name"] for item in got["only_given"]["policies"]] == ["cgroup-v2"]

    thresholds = dict((item["name"], item) for item in got["thresholds"]["policies"])
    assert got["thresholds"]["failed"] is True
    assert (thresholds["startup-p95"]["status"], thresholds["startup-p95"]["severity"]) == ("fail", "error")
    assert json.loads(thresholds["startup-p95"]["detail"]) == [{"handler": "runc", "p95": 0.176794}]
    assert thresholds["http-p99"]["status"] == "pass"
    assert "startup-p95 (error) failed" in got["thresholds"]["msg"]

    replaced = got["replaced"]["policies"]
    assert [item["name"] for item in replaced] == [
        "kata-vm-isolated", "gvisor-user-space-kernel", "runc-shared-kernel", "kata-preflight"]
    assert (replaced[2]["severity"], replaced[2]["status"]) == ("error", "pass")

    assert got["checking"]["skipped"] is True
    assert got["checking"]["msg"].startswith("check mode: the probes did not run")

    assert got["misspelt"]["failed"] is True
    assert "polices" in got["misspelt"]["msg"]
    assert got["bad_severity"]["msg"] == "policy 'cgroup-v2': severity must be error or warning, not \"fatal\""
    assert got["bad_results"]["failed"] is True and "isolaton" in got["bad_results"]["msg"]

    # Nothing registered: the host entry is "skipped", every default policy has nothing to apply to.
    assert set(item["status"] for item in got["empty"]["policies"]) == {"skip"}
