"""The comparison callback: thin (collect, hand over, print, write), the controller names the run."""

import os
from types import SimpleNamespace

import pytest

from callback_harness import host_results, make_callback, run_play, task

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _runid
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import contract


def _failed_probe():
    return SimpleNamespace(_task=task("isolation_probe", "Run a container under each runtime (uname -r)"),
                           _host=SimpleNamespace(get_name=lambda: "node-1"),
                           _result={"msg": "runtime kata: shim not found"})


def _run(play_vars, tmp_path):
    callback, display = make_callback(evidence_dir=str(tmp_path))
    callback.v2_playbook_on_play_start(SimpleNamespace(vars=play_vars))
    callback.v2_playbook_on_task_start(task("isolation_probe"), False)
    callback.v2_runner_on_failed(_failed_probe())
    callback.v2_playbook_on_stats(SimpleNamespace(processed={"node-1": {}}, custom={}))
    return callback, display


def test_a_play_with_kata_fleet_report_false_is_left_out(tmp_path):
    callback, display = _run({"kata_fleet_report": False}, tmp_path)
    assert not callback.reporting and callback.hosts == {} and display.lines == [] and os.listdir(str(tmp_path)) == []


def test_a_play_without_the_variable_is_reported(tmp_path):
    callback, display = _run({}, tmp_path)
    assert callback.reporting
    assert callback.hosts["node-1"]["status"] == "failed"
    assert "shim not found" in callback.hosts["node-1"]["error"]
    assert "KATA-FLEET RUNTIME COMPARISON" in display.lines and display.lines[-1].startswith("Evidence: ")


def test_the_playbook_start_names_the_run_for_every_fork(monkeypatch):
    monkeypatch.delenv("KATA_FLEET_RUN_ID", raising=False)
    callback, _display = make_callback()
    callback.v2_playbook_on_start(SimpleNamespace(_file_name="verify.yml"))
    first = os.environ["KATA_FLEET_RUN_ID"]
    assert first == callback.run_id and _runid.problem(first) is None
    # A run id given from outside (an AWX job id, say) wins.
    monkeypatch.setenv("KATA_FLEET_RUN_ID", "awx-job-4711")
    callback, _display = make_callback()
    callback.v2_playbook_on_start(SimpleNamespace(_file_name="verify.yml"))
    assert os.environ["KATA_FLEET_RUN_ID"] == callback.run_id == "awx-job-4711"


def test_an_extra_variable_names_the_run(tmp_path):
    manager = SimpleNamespace(extra_vars={"kata_fleet_run_id": "nightly-42"})
    callback, _display = make_callback(evidence_dir=str(tmp_path))
    callback.v2_playbook_on_start(SimpleNamespace(_file_name="verify.yml"))
    callback.v2_playbook_on_play_start(SimpleNamespace(vars={}, get_variable_manager=lambda: manager))
    assert callback.run_id == "nightly-42"


# Ids the old controller rule (64 characters, any separators) let through and every host then refused.
BAD_RUN_IDS = ["job-12--x", "run-", "x" * 50, "ünïcode", "run-1\n", "../../etc"]


@pytest.mark.parametrize("run_id", BAD_RUN_IDS)
def test_a_bad_run_id_in_the_environment_is_not_used_with_the_rule(monkeypatch, run_id):
    monkeypatch.setenv(_runid.VARIABLE, run_id)
    callback, display = make_callback()
    callback.v2_playbook_on_start(SimpleNamespace(_file_name="verify.yml"))
    assert display.warnings == ["kata-fleet: KATA_FLEET_RUN_ID is not used: %s" % _runid.problem(run_id)]
    # the forks get a run id every host takes
    assert callback.run_id != run_id and os.environ[_runid.VARIABLE] == callback.run_id
    assert _runid.valid(callback.run_id)


@pytest.mark.parametrize("run_id", BAD_RUN_IDS)
def test_a_bad_run_id_as_extra_variable_is_not_used_with_the_rule(monkeypatch, run_id):
    monkeypatch.setenv(_runid.VARIABLE, "run-1")
    callback, display = make_callback()
    callback.v2_playbook_on_start(SimpleNamespace(_file_name="verify.yml"))
    manager = SimpleNamespace(extra_vars={"kata_fleet_run_id": run_id},
                              _inventory=SimpleNamespace(get_hosts=lambda pattern: []))
    callback.v2_playbook_on_play_start(SimpleNamespace(vars={"kata_fleet_report": False}, hosts="all",
                                                       get_variable_manager=lambda: manager))
    assert display.warnings == ["kata-fleet: kata_fleet_run_id is not used: %s"
                                % _runid.problem(run_id)]
    assert callback.run_id == "run-1"


def test_a_good_extra_variable_names_the_run(monkeypatch):
    monkeypatch.setenv(_runid.VARIABLE, "run-1")
    callback, display = make_callback()
    callback.v2_playbook_on_start(SimpleNamespace(_file_name="verify.yml"))
    manager = SimpleNamespace(extra_vars={"kata_fleet_run_id": "x" * 40},
                              _inventory=SimpleNamespace(get_hosts=lambda pattern: []))
    callback.v2_playbook_on_play_start(SimpleNamespace(vars={"kata_fleet_report": False}, hosts="all",
                                                       get_variable_manager=lambda: manager))
    assert display.warnings == [] and callback.run_id == "x" * 40


class _Vars:
    """What the callback asks of ansible-core's VariableManager for a templated run id."""

    def __init__(self, extra):
        self.extra_vars = extra
        self._loader = None
        self._inventory = SimpleNamespace(get_hosts=lambda pattern: [])

    def get_vars(self, play=None, host=None):
        return dict(self.extra_vars)


def test_a_templated_extra_variable_is_rendered_as_the_hosts_render_it(monkeypatch):
    # AWX: kata_fleet_run_id: "awx-{{ awx_job_id }}". The verify_host action renders it for every host; the
    # callback read it raw and named the run itself, so every host was failed as another run's evidence.
    monkeypatch.setenv(_runid.VARIABLE, "run-1")
    callback, display = make_callback()
    callback.v2_playbook_on_start(SimpleNamespace(_file_name="verify.yml"))
    manager = _Vars({"kata_fleet_run_id": "awx-{{ awx_job_id }}", "awx_job_id": 4711})
    callback.v2_playbook_on_play_start(SimpleNamespace(vars={"kata_fleet_report": False}, hosts="all",
                                                       get_variable_manager=lambda: manager))
    assert display.warnings == [] and callback.run_id == "awx-4711"
    assert os.environ[_runid.VARIABLE] == "awx-4711"  # what the forked verify_host actions compare with


class _GroupVars(_Vars):
    """kata_fleet_run_id in group_vars/all or the inventory's all:vars: no extra variable at all."""

    def __init__(self, group):
        super().__init__({})
        self.group = group

    def get_vars(self, play=None, host=None):
        return dict(self.group)


def test_a_group_variable_names_the_run_as_an_extra_variable_does(monkeypatch):
    # The fleet's inventory said kata_fleet_run_id once for all hosts; the callback read only -e, named the run
    # itself, and the verify_host action stopped every host as naming another run.
    monkeypatch.setenv(_runid.VARIABLE, "run-1")
    callback, display = make_callback()
    callback.v2_playbook_on_start(SimpleNamespace(_file_name="verify.yml"))
    manager = _GroupVars({"kata_fleet_run_id": "fleet-{{ quarter }}", "quarter": "q4"})
    callback.v2_playbook_on_play_start(SimpleNamespace(vars={"kata_fleet_report": False}, hosts="all",
                                                       get_variable_manager=lambda: manager))
    assert display.warnings == [] and callback.run_id == "fleet-q4" == os.environ[_runid.VARIABLE]


def test_unreadable_play_variables_are_named_and_extra_variables_still_name_the_run(monkeypatch):
    monkeypatch.setenv(_runid.VARIABLE, "run-1")
    callback, display = make_callback()
    callback.v2_playbook_on_start(SimpleNamespace(_file_name="verify.yml"))
    manager = _Vars({"kata_fleet_run_id": "nightly-7"})
    manager._inventory = SimpleNamespace(get_hosts=lambda pattern: 1 / 0)
    callback.v2_playbook_on_play_start(SimpleNamespace(vars={"kata_fleet_report": False}, hosts="all",
                                                       get_variable_manager=lambda: manager))
    assert callback.run_id == "nightly-7"
    assert len(display.warnings) == 1 and "could not be read at its start" in display.warnings[0]
    assert "ZeroDivisionError" in display.warnings[0] or "division" in display.warnings[0]


def test_a_whole_number_run_id_is_the_text_the_hosts_take(monkeypatch):
    monkeypatch.setenv(_runid.VARIABLE, "run-1")
    callback, display = make_callback()
    callback.v2_playbook_on_start(SimpleNamespace(_file_name="verify.yml"))
    manager = _Vars({"kata_fleet_run_id": 4711})
    callback.v2_playbook_on_play_start(SimpleNamespace(vars={"kata_fleet_report": False}, hosts="all",
                                                       get_variable_manager=lambda: manager))
    assert display.warnings == [] and callback.run_id == "4711"


def test_a_template_that_renders_to_a_bad_id_or_not_at_all_is_not_used(monkeypatch):
    monkeypatch.setenv(_runid.VARIABLE, "run-1")
    for extra, words in (({"kata_fleet_run_id": "job-{{ job }}", "job": "12--x"}, "not used: "),
                         ({"kata_fleet_run_id": "job-{{ undefined_here }}"}, "could not be rendered")):
        callback, display = make_callback()
        callback.v2_playbook_on_start(SimpleNamespace(_file_name="verify.yml"))
        manager = _Vars(extra)
        callback.v2_playbook_on_play_start(SimpleNamespace(vars={"kata_fleet_report": False}, hosts="all",
                                                           get_variable_manager=lambda manager=manager: manager))
        assert callback.run_id == "run-1" and len(display.warnings) == 1 and words in display.warnings[0]


def test_one_record_for_the_callback_and_the_policy_action(tmp_path):
    """The callback's record of a host equals the one policy_check builds from the registered results."""
    results = host_results("run-1")
    callback, _display = run_play(tmp_path, {"node": results}, run_id="run-1")
    registered = {"host_facts": results["host_facts"], "isolation": results["isolation_probe"],
                  "startup": results["startup_bench"], "http": results["http_latency"]}
    assert contract.record_from_results(registered) == dict(callback.hosts["node"], policies=None)


def _verify_host_play(tmp_path, hosts, failed=()):
    """A play whose hosts each return one verify_host result carrying the separate modules' results."""
    from callback_harness import result as make_result
    callback, display = make_callback(evidence_dir=str(tmp_path))
    os.environ[_runid.VARIABLE] = "run-1"
    try:
        callback.v2_playbook_on_start(SimpleNamespace(_file_name="playbooks/verify.yml"))
        manager = SimpleNamespace(_inventory=SimpleNamespace(get_hosts=lambda pattern: list(hosts) + ["later"]))
        callback.v2_playbook_on_play_start(SimpleNamespace(vars={}, hosts="all", get_variable_manager=lambda: manager))
        callback.v2_playbook_on_task_start(task("verify_host"), False)
        for name, results in hosts.items():
            callback.v2_runner_on_start(SimpleNamespace(get_name=lambda name=name: name), task("verify_host"))
            data = {"module_results": results, "changed": False}
            if name in failed:
                data.update(failed=True, msg="isolation_probe: runc: broken")
                callback.v2_runner_on_failed(make_result(name, "verify_host", data), ignore_errors=True)
            else:
                callback.v2_runner_on_ok(make_result(name, "verify_host", data))
        callback.v2_playbook_on_stats(SimpleNamespace(processed=dict((name, {}) for name in hosts), custom={}))
    finally:
        os.environ.pop(_runid.VARIABLE, None)
    return callback, display


def test_verify_host_results_make_the_same_report_and_a_progress_line_per_host(tmp_path):
    hosts = {"node-a": host_results("run-1"), "node-b": host_results("run-1")}
    callback, display = _verify_host_play(tmp_path / "one", hosts, failed=["node-b"])
    separate, dummy = run_play(tmp_path / "five", hosts)
    one, five = callback.build(), separate.build()
    for report in (one, five):
        report.pop("started"), report.pop("finished")
    assert one["hosts"]["node-a"] == five["hosts"]["node-a"]
    # Failed with ignore_errors (as verify.yml runs it): the data is kept, the play's last task fails the host.
    assert one["hosts"]["node-b"] == five["hosts"]["node-b"]
    progress = [line for line in display.lines if line.startswith("kata-fleet: [")]
    assert len(progress) == 2
    assert progress[0].startswith("kata-fleet: [done 1/3, failed 0, left 2] node-a: runc shared-kernel (")
    assert progress[1].startswith("kata-fleet: [done 1/3, failed 1, left 1] node-b: runc shared-kernel (")
    assert progress[1].endswith(" s)")
