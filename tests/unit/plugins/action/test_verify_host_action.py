"""plugins/action/verify_host.py: verify's one task per host, on the controller around one module run.

The action runs with a canned module result (this machine's recorded runc
results) in place of ``_execute_module``, so no containerd and no host are
needed; one real ansible-playbook run covers the settings stage and an
unreachable host through Ansible itself.
"""

import copy
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from ansible.errors import AnsibleConnectionFailure

from callback_harness import make_callback, recorded, result as make_result, task as make_task

from ansible_collections.kata_fleet.runtimes.plugins.action import policy_check
from ansible_collections.kata_fleet.runtimes.plugins.action import verify_host as action
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _settings
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import contract, junit

from conftest import REPO_ROOT  # noqa: E402  pylint: disable=wrong-import-position
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
HOST = "node-1"
NEEDS_KATA = {"name": "needs-kata", "description": "Every node offers Kata.", "expect": "runtimes.kata != `null`",
              "detail": "keys(runtimes)"}


def module_result(run_id="run-1", failed=None):
    """What the verify_host module returns on this machine (runc), optionally with a failed isolation probe."""
    carried = {}
    for name, data in recorded().items():
        data = dict((key, value) for key, value in data.items() if not key.startswith("_ansible") and key != "invocation")
        key = contract.PROBE_RESULTS.get(name)
        if key:
            data[key] = dict(data[key], run_id=run_id)
        carried[name] = data
    outcome = {"changed": False, "module_results": carried, "ansible_facts": carried["host_facts"]["ansible_facts"],
               "module_seconds": 3.2}
    if failed:
        carried["isolation_probe"].update(failed=True, msg=failed)
        outcome.update(failed=True, msg="isolation_probe: %s" % failed)
    return outcome


class Fake:
    """The action with a fake task, connection and templar; ``module`` is what _execute_module gives (or raises)."""

    def __init__(self, args=None, check_mode=False, module=None):
        self.task = SimpleNamespace(args=dict(args or {}), check_mode=check_mode, async_val=0, environment=None,
                                    action="kata_fleet.runtimes.verify_host")
        connection = SimpleNamespace(_shell=SimpleNamespace(tmpdir="/nonexistent"))
        templar = SimpleNamespace(template=lambda value: value)
        self.plugin = action.ActionModule(self.task, connection, None, None, templar, None)
        self.calls = []
        self.module = module_result() if module is None else module

        def execute(module_name=None, module_args=None, task_vars=None, **kwargs):
            self.calls.append({"module": module_name, "args": copy.deepcopy(module_args),
                               "environment": copy.deepcopy(self.task.environment)})
            if isinstance(self.module, Exception):
                raise self.module
            return copy.deepcopy(self.module)

        self.plugin._execute_module = execute  # pylint: disable=protected-access

    def run(self, **variables):
        task_vars = {"inventory_hostname": HOST, "ansible_run_tags": ["all"], "ansible_skip_tags": []}
        task_vars.update(variables)
        return self.plugin.run(task_vars=task_vars)


@pytest.fixture(autouse=True)
def callback_enabled(monkeypatch):
    monkeypatch.setattr(_settings, "callback_enabled", lambda: True)
    monkeypatch.setenv("KATA_FLEET_RUN_ID", "run-1")


# ---------------------------------------------------------------- settings


def test_a_wrongly_typed_setting_stops_before_the_host_naming_it():
    fake = Fake()
    result = fake.run(kata_fleet_startup_runs="ten")
    assert fake.calls == []
    assert result["failed"] is True and result[contract.STAGE_KEY] == "settings"
    assert "argument 'kata_fleet_startup_runs' is of type" in result["msg"] and "unable to convert to int" in result["msg"]
    assert contract.CARRIED_KEY not in result


def test_every_problem_is_named_at_once():
    fake = Fake()
    result = fake.run(kata_fleet_runtimes="runc,kata", kata_fleet_expected_runtimes=["kata'] || `true"],
                      kata_fleet_http_concurrency=0, kata_fleet_bin_dir="/opt/bin:/usr/bin")
    assert fake.calls == [] and result[contract.STAGE_KEY] == "settings"
    lines = result["msg"].splitlines()[1:]
    assert len(lines) == 4, result["msg"]
    assert lines[0].startswith("kata_fleet_runtimes must be a list of handler names") and '"runc,kata"' in lines[0]
    assert lines[1].startswith("kata_fleet_expected_runtimes must be a list of handler names")
    assert "kata_fleet_http_concurrency (0) must be more than 0" in lines[2]
    assert lines[3].startswith("kata_fleet_bin_dir must be one absolute directory")


def test_choices_name_the_allowed_values():
    result = Fake().run(kata_fleet_client="docker")
    assert "kata_fleet_client must be one of: auto, ctr, nerdctl, got: docker" in result["msg"]


def test_without_the_comparison_callback_it_stops_unless_told_not_to(monkeypatch):
    monkeypatch.setattr(_settings, "callback_enabled", lambda: False)
    fake = Fake()
    result = fake.run()
    assert fake.calls == [] and result[contract.STAGE_KEY] == "settings"
    assert "callbacks_enabled = kata_fleet.runtimes.comparison" in result["msg"]
    assert "export ANSIBLE_CALLBACKS_ENABLED=kata_fleet.runtimes.comparison" in result["msg"]
    result = fake.run(kata_fleet_require_comparison=False)
    assert len(fake.calls) == 1 and result["failed"] is False


def test_a_policy_that_does_not_compile_stops_before_the_host():
    fake = Fake()
    result = fake.run(kata_fleet_policies=[{"name": "broken", "expect": "runtimes.["}])
    assert fake.calls == [] and result[contract.STAGE_KEY] == "settings"
    assert "policy 'broken': expect is not valid JMESPath" in result["msg"]


def test_the_spec_is_the_roles_argument_spec_read_once():
    first = _settings.spec()
    assert _settings.spec() is first
    assert first["kata_fleet_client"]["choices"] == ["auto", "ctr", "nerdctl"]
    assert Path(_settings.SPEC_PATH).resolve() == REPO_ROOT / "roles" / "kata_fleet" / "meta" / "argument_specs.yml"


def test_workload_and_audit_settings_become_the_modules_options():
    fake = Fake()
    fake.run(kata_fleet_workload_repeats=3, kata_fleet_workload_budget=5, kata_fleet_audit_names="counts",
             kata_fleet_audit_sandboxed_namespaces=["untrusted-*", "tenant-?"])
    args = fake.calls[0]["args"]
    assert (args["workload_repeats"], args["workload_budget"]) == (3, 5.0)
    assert isinstance(args["workload_budget"], float)
    assert (args["audit_names"], args["audit_sandboxed_namespaces"]) == ("counts", ["untrusted-*", "tenant-?"])
    # The off switches: the capability is not asked for and its options are left out.
    fake.run(kata_fleet_workload=False)
    assert fake.calls[1]["args"]["capabilities"] == ["isolation", "startup", "http", "audit"]
    assert not [name for name in fake.calls[1]["args"] if name.startswith("workload")]
    fake.run(kata_fleet_audit=False, kata_fleet_workload="no")
    assert fake.calls[2]["args"]["capabilities"] == ["isolation", "startup", "http"]
    assert not [name for name in fake.calls[2]["args"] if name.startswith("audit")]


def test_bad_workload_and_audit_settings_stop_before_the_host_naming_them():
    fake = Fake()
    result = fake.run(kata_fleet_workload_repeats=0, kata_fleet_audit_sandboxed_namespaces=["Bad Name", "ok-*"])
    assert fake.calls == [] and result[contract.STAGE_KEY] == "settings"
    lines = result["msg"].splitlines()[1:]
    assert len(lines) == 2, result["msg"]
    assert lines[0].startswith("kata_fleet_workload_repeats (0) must be between 1 and 50")
    assert lines[1].startswith("kata_fleet_audit_sandboxed_namespaces must be globs") and '["Bad Name"]' in lines[1]
    result = fake.run(kata_fleet_workload_budget=601)
    assert "kata_fleet_workload_budget (601.0) between 0.1 and 600.0 seconds" in result["msg"]
    result = fake.run(kata_fleet_audit_names="names")
    assert "kata_fleet_audit_names must be one of: full, counts, got: names" in result["msg"]
    assert fake.calls == []


def test_workload_and_audit_settings_mirror_the_modules():
    from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _audit, _workload
    spec = _settings.spec()
    assert spec["kata_fleet_workload_repeats"]["default"] == _workload.ARGUMENT_SPEC["workload_repeats"]["default"]
    assert spec["kata_fleet_workload_budget"]["default"] == _workload.ARGUMENT_SPEC["workload_budget"]["default"]
    assert spec["kata_fleet_audit_names"]["default"] == _audit.ARGUMENT_SPEC["names"]["default"]
    assert spec["kata_fleet_audit_names"]["choices"] == _audit.ARGUMENT_SPEC["names"]["choices"]
    assert spec["kata_fleet_audit_sandboxed_namespaces"]["default"] == []
    assert (spec["kata_fleet_workload"]["default"], spec["kata_fleet_audit"]["default"]) == (True, True)
    assert _settings.WORKLOAD_REPEATS == (1, _workload.MAX_REPEATS)
    assert _settings.WORKLOAD_BUDGET == (_workload.MIN_BUDGET, _workload.MAX_BUDGET)
    assert _settings.AUDIT_GLOB.pattern == _audit.GLOB_PATTERN.pattern


# ---------------------------------------------------------------- check mode


def test_check_mode_says_what_it_would_run_and_runs_nothing():
    fake = Fake(check_mode=True)
    result = fake.run(kata_fleet_runtimes=["runc"], kata_fleet_expected_runtimes=["runc"], kata_fleet_http_requests=0)
    assert fake.calls == []
    assert not result.get("failed")
    assert result[contract.STAGE_KEY] == "check" and result["_ansible_verbose_always"] is True
    text = "\n".join(result["msg"])
    assert text.startswith("check mode: nothing runs and no evidence bundle is written.")
    assert "probe runc (isolation_probe, timeout 60s)" in text
    assert "time 10 startups (+2 warm-ups) per handler" in text
    assert "skip the HTTP latency probe" in text
    assert "measure what each handler costs a workload against the host (workload_bench, 7 repeats, budget 3.0s" in text
    assert "audit every running container's isolation, read-only (workload_audit, names full)" in text
    skipped = "\n".join(fake.run(kata_fleet_workload=False, ansible_skip_tags=["audit"])["msg"])
    assert "skip the workload benchmark" in skipped and "skip the workload audit" in skipped
    assert "check the policies, expecting handlers runc (5, all valid)" in text
    # A broken policy is found in check mode too.
    result = fake.run(kata_fleet_policies=[{"name": "broken", "expect": "runtimes.["}])
    assert result["failed"] is True and result[contract.STAGE_KEY] == "settings"


# ---------------------------------------------------------------- one module run


def test_a_good_run_is_one_module_run_with_the_settings_and_its_policies():
    fake = Fake()
    result = fake.run(kata_fleet_containerd_address="/run/k3s/containerd/containerd.sock", kata_fleet_runtimes=["runc"],
                      kata_fleet_http_requests=0, kata_fleet_bin_dir="/var/lib/rancher/rke2/bin",
                      kata_fleet_evidence_dir="/srv/evidence")
    (call,) = fake.calls
    assert call["module"] == "kata_fleet.runtimes.verify_host"
    assert call["args"] == {
        "address": "/run/k3s/containerd/containerd.sock", "namespace": "kata-fleet",
        "config_path": "/etc/containerd/config.toml", "client": "auto", "runtimes": ["runc"], "timeout": 60,
        "run_id": "run-1", "warmup": 2, "runs": 10, "capabilities": ["isolation", "startup", "workload", "audit"],
        "workload_repeats": 7, "workload_budget": 3.0, "audit_names": "full", "audit_sandboxed_namespaces": []}
    assert call["environment"] == [{"PATH": "/var/lib/rancher/rke2/bin:" + _settings.STANDARD_PATH}]
    assert result["failed"] is False and "msg" not in result and result[contract.STAGE_KEY] == "host"
    assert result[contract.EVIDENCE_KEY] == "/srv/evidence"
    checked = result[contract.CARRIED_KEY]["policy_check"]
    assert [(item["name"], item["status"]) for item in checked["policies"]] == [
        ("kata-vm-isolated", "skip"), ("gvisor-user-space-kernel", "skip"), ("runc-shared-kernel", "pass"),
        ("kata-preflight", "skip")]
    assert checked["msg"] == "4 policies: 1 pass, 3 skip" and checked["failed"] is False
    assert result["ansible_facts"]["kata_fleet_host"] == module_result()["ansible_facts"]["kata_fleet_host"]


def test_task_options_win_and_tags_pick_the_phases():
    fake = Fake(args={"runtimes": ["kata"], "timeout": 5})
    result = fake.run(kata_fleet_runtimes=["runc"], ansible_run_tags=["isolation"])
    assert fake.calls[0]["args"]["runtimes"] == ["kata"] and fake.calls[0]["args"]["timeout"] == 5
    assert fake.calls[0]["args"]["capabilities"] == ["isolation"]
    # The policy phase was not selected.
    assert "policy_check" not in result[contract.CARRIED_KEY]
    fake.run(ansible_skip_tags=["startup", "policy"])
    assert fake.calls[1]["args"]["capabilities"] == ["isolation", "http", "workload", "audit"]
    fake.run(ansible_run_tags=["audit"])
    assert fake.calls[2]["args"]["capabilities"] == ["audit"] and "workload_repeats" not in fake.calls[2]["args"]
    fake.run(ansible_run_tags=["workload", "policy"], ansible_skip_tags=["audit"])
    assert fake.calls[3]["args"]["capabilities"] == ["workload"] and "audit_names" not in fake.calls[3]["args"]
    assert _settings.phases(["facts"], []) == ["facts"] and _settings.phases(["always"], []) == list(_settings.PHASES)


def test_a_failed_probe_fails_the_host_and_keeps_the_policies():
    fake = Fake(module=module_result(failed="runc: the probe container did not finish within 60s"))
    result = fake.run()
    assert result["failed"] is True and result[contract.STAGE_KEY] == "host"
    assert result["msg"] == "isolation_probe: runc: the probe container did not finish within 60s"
    assert result[contract.CARRIED_KEY]["policy_check"]["policies"]


def test_an_audit_error_finding_fails_the_host_as_an_error_policy_does():
    module = module_result()
    module[contract.CARRIED_KEY]["workload_audit"] = {"changed": False, "audit": {
        "status": "failed", "findings_by_severity": {"error": 2, "warning": 0, "info": 0}}}
    result = Fake(module=module).run()
    assert result["failed"] is True
    assert result["msg"] == "workload_audit: 2 error finding(s) among the running containers (see the audit)"
    module[contract.CARRIED_KEY]["workload_audit"]["audit"]["status"] = "ok"
    assert not Fake(module=module).run()["failed"]


def test_a_failed_error_policy_fails_the_host_a_warning_only_warns():
    warning = dict(NEEDS_KATA, name="kata-wish", severity="warning")
    result = Fake().run(kata_fleet_policies=[NEEDS_KATA, warning])
    assert result["failed"] is True
    assert result["msg"] == '1 error-severity policy did not pass: needs-kata (error) failed: ["runc"]'
    assert result["warnings"] == ['policy kata-wish (warning) failed: ["runc"]']
    # Both a probe and a policy: both messages, the probe's first (as the play's last task said them).
    result = Fake(module=module_result(failed="runc: broken")).run(kata_fleet_expected_runtimes=["runc", "kata"])
    assert result["msg"].startswith("isolation_probe: runc: broken; 1 error-severity policy did not pass: "
                                    "expected-runtimes (error) failed: ")


def test_a_module_that_did_not_run_fails_the_host_with_its_message():
    broken = {"failed": True, "msg": "MODULE FAILURE: See stdout/stderr for the exact error", "rc": 127}
    result = Fake(module=broken).run()
    assert result["failed"] is True and result["msg"].startswith("MODULE FAILURE")
    # The policies still see the host as it is: failed, nothing probed.
    statuses = dict((item["name"], item["status"]) for item in result[contract.CARRIED_KEY]["policy_check"]["policies"])
    assert statuses["runc-shared-kernel"] == "skip"


def test_what_the_module_says_about_the_controllers_keys_is_not_taken():
    hostile = module_result()
    hostile[contract.CARRIED_KEY]["policy_check"] = {"policies": [{"name": "fake", "status": "pass"}]}
    hostile.update({contract.STAGE_KEY: "settings", contract.EVIDENCE_KEY: "/etc"})
    result = Fake(module=hostile).run(ansible_run_tags=["isolation"])
    assert "policy_check" not in result[contract.CARRIED_KEY]
    assert result[contract.STAGE_KEY] == "host" and contract.EVIDENCE_KEY not in result


def test_an_unreachable_host_is_left_to_ansible():
    """The connection's failure passes through: Ansible marks the host unreachable (the playbook test below)."""
    fake = Fake(module=AnsibleConnectionFailure("ssh: connect to host node-1 port 22: Connection refused"))
    with pytest.raises(AnsibleConnectionFailure):
        fake.run()


# ---------------------------------------------------------------- the same report and JUnit as before


def _report(events):
    callback, display = make_callback(evidence_dir="/nonexistent")
    callback.v2_playbook_on_start(SimpleNamespace(_file_name="playbooks/verify.yml"))
    callback.v2_playbook_on_play_start(SimpleNamespace(vars={}, get_variable_manager=lambda: None))
    for kind, action_name, task_name, data, ignore in events:
        callback.v2_playbook_on_task_start(make_task(action_name, task_name), False)
        found = SimpleNamespace(_task=make_task(action_name, task_name),
                                _host=SimpleNamespace(get_name=lambda host=data.pop("_host"): host), _result=data)
        if kind == "ok":
            callback.v2_runner_on_ok(found)
        elif kind == "failed":
            callback.v2_runner_on_failed(found, ignore_errors=ignore)
        else:
            callback.v2_runner_on_unreachable(found)
    report = callback.build()
    report["started"] = report["finished"] = "2026-12-06T00:00:00Z"
    return callback, report, junit.render(report)


def _old_policy_check(results, **args):
    """The policy_check task of the former verify.yml, run by its action on the registered verify_host result."""
    task = SimpleNamespace(args=dict(args, results={"verify_host": results}), check_mode=False, async_val=0,
                           action="kata_fleet.runtimes.policy_check")
    plugin = policy_check.ActionModule(task, SimpleNamespace(_shell=SimpleNamespace(tmpdir="/x")), None, None,
                                       SimpleNamespace(template=lambda value: value), None)
    return plugin.run(task_vars={"inventory_hostname": HOST})


@pytest.mark.parametrize("case", ["pass", "failed probe", "failed policy", "both"])
def test_the_report_and_junit_are_those_of_the_former_seven_tasks(case):
    probe = "runc: broken" if case in ("failed probe", "both") else None
    variables = {"kata_fleet_policies": [NEEDS_KATA]} if case in ("failed policy", "both") else {}
    module = module_result(failed=probe)
    new = Fake(module=module).run(**variables)

    # The former play: verify_host (ignore_errors), policy_check (ignore_errors), the final fail task.
    old_policy = _old_policy_check(module, policies=variables.get("kata_fleet_policies", []))
    old_events = [("failed" if module.get("failed") else "ok", "verify_host", "Verify the host", dict(module, _host=HOST), True),
                  ("failed" if old_policy["failed"] else "ok", "policy_check", "Check the runtime policies",
                   dict(old_policy, _host=HOST), True)]
    messages = [item["msg"] for item in (module, old_policy) if item.get("failed")]
    if messages:
        old_events.append(("failed", "fail", contract.HOST_FAILED, {"_host": HOST, "msg": "; ".join(messages)}, False))
    new_events = [("failed" if new["failed"] else "ok", "verify_host", "Verify the host, then its policies",
                   dict(new, _host=HOST), False)]

    dummy, old_report, old_junit = _report(old_events)
    callback, new_report, new_junit = _report(new_events)
    assert new_report == old_report
    assert new_junit == old_junit
    assert callback.reporting
    host = new_report["hosts"][HOST]
    assert host["status"] == ("ok" if case == "pass" else "failed")
    failures = [item.get("name") for item in ET.fromstring(new_junit).iter("testcase")
                if item.find("failure") is not None or item.find("error") is not None]
    # (junit.xml has a testcase per policy and host; a probe's failure shows in report.json's host status.)
    assert bool(failures) == (case in ("failed policy", "both"))
    if case != "pass":
        assert host["error"].startswith(contract.HOST_FAILED + ": ")


def test_a_run_where_no_host_got_past_its_settings_reports_nothing(tmp_path):
    stopped = {"failed": True, "msg": "verify's settings are not valid", contract.STAGE_KEY: "settings"}
    callback, display = make_callback(evidence_dir=str(tmp_path))
    callback.v2_playbook_on_play_start(SimpleNamespace(vars={}))
    callback.v2_playbook_on_task_start(make_task("verify_host"), False)
    callback.v2_runner_on_failed(make_result(HOST, "verify_host", stopped))
    callback.v2_playbook_on_stats(SimpleNamespace(processed={HOST: {}}, custom={}))
    assert not callback.reporting and display.lines == [] and os.listdir(str(tmp_path)) == []


def test_the_evidence_dir_comes_with_the_result(tmp_path):
    done = dict(module_result(), **{contract.STAGE_KEY: "host", contract.EVIDENCE_KEY: str(tmp_path / "moved")})
    callback, display = make_callback(evidence_dir=str(tmp_path / "option"))
    callback.v2_playbook_on_start(SimpleNamespace(_file_name="playbooks/verify.yml"))
    callback.v2_playbook_on_play_start(SimpleNamespace(vars={}))
    callback.v2_playbook_on_task_start(make_task("verify_host"), False)
    callback.v2_runner_on_ok(make_result(HOST, "verify_host", done))
    callback.v2_playbook_on_stats(SimpleNamespace(processed={HOST: {}}, custom={}))
    assert (tmp_path / "moved" / "latest" / "report.json").is_file()
    assert not (tmp_path / "option").exists()


# ---------------------------------------------------------------- through ansible-playbook


def _playbook(tmp_path, inventory, *extra):
    (tmp_path / "hosts.json").write_text(json.dumps(inventory))
    env = dict((key, value) for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "KATA_FLEET_")))
    env.update({"ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"), "KATA_FLEET_EVIDENCE_DIR": str(tmp_path / "evidence")})
    done = subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(tmp_path / "hosts.json"), str(REPO_ROOT / "playbooks" / "verify.yml")]
                          + list(extra), cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    return done.returncode, done.stdout + done.stderr


def test_verify_yml_with_an_unreachable_host_and_a_wrong_setting(tmp_path):
    """One task per host: the unreachable host is in the report, the wrongly set one failed before its host."""
    inventory = {"all": {"hosts": {
        "gone": {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 9,
                 "ansible_ssh_common_args": "-o ConnectTimeout=5 -o StrictHostKeyChecking=no"},
        "wrong": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                  "kata_fleet_probe_timeout": "soon"},
    }}}
    rc, output = _playbook(tmp_path, inventory)
    assert rc != 0, output
    tasks = [line for line in output.splitlines() if line.startswith("TASK [")]
    assert len(tasks) == 1 and tasks[0].startswith("TASK [Verify the host (view"), output
    report = json.loads((tmp_path / "evidence" / "latest" / "report.json").read_text())
    assert report["result"] == "fail"
    assert report["hosts"]["gone"]["status"] == "unreachable"
    assert report["hosts"]["wrong"]["status"] == "failed"
    assert "kata_fleet_probe_timeout" in report["hosts"]["wrong"]["error"]
    cases = list(ET.parse(str(tmp_path / "evidence" / "latest" / "junit.xml")).getroot().iter("testcase"))
    assert any(case.get("name") == "gone" for case in cases)


def test_importing_the_action_reads_the_spec_before_the_workers_fork():
    # ansible-playbook's main process imports the action (the strategy loads its class) and then forks a worker
    # per host: the spec read and the default policies compiled at import are inherited, not redone per host.
    import subprocess
    import sys
    code = ("from ansible_collections.kata_fleet.runtimes.plugins.action import verify_host\n"
            "from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _settings\n"
            "print(len(_settings._SPEC) > 10 and 'kata_fleet_runtimes' in _settings._SPEC)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          env=dict(os.environ, PYTHONPATH=str(REPO_ROOT / "collections")))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
