"""The comparison callback leaves out plays that say kata_fleet_report: false (bootstrap.yml's smoke check)."""

import os
from types import SimpleNamespace

from ansible_collections.kata_fleet.runtimes.plugins.callback.comparison import CallbackModule


class FakeDisplay(object):
    verbosity = 0

    def __init__(self):
        self.lines = []

    def banner(self, text):
        self.lines.append(text)

    def display(self, text):
        self.lines.append(text)

    def warning(self, text):
        self.lines.append("WARNING " + text)


def _task(action):
    return SimpleNamespace(resolved_action="kata_fleet.runtimes." + action, action=action,
                           get_name=lambda: "Run a container under each runtime (uname -r)")


def _failed_probe():
    return SimpleNamespace(_task=_task("isolation_probe"), _host=SimpleNamespace(get_name=lambda: "node-1"),
                           _result={"msg": "runtime kata: shim not found"})


def _run(play_vars):
    display = FakeDisplay()
    callback = CallbackModule(display=display)
    callback.v2_playbook_on_play_start(SimpleNamespace(vars=play_vars))
    callback.v2_playbook_on_task_start(_task("isolation_probe"), False)
    callback.v2_runner_on_failed(_failed_probe())
    callback.v2_playbook_on_stats(SimpleNamespace(processed={"node-1": {}}, custom={}))
    return callback, display


def test_a_play_with_kata_fleet_report_false_is_left_out():
    callback, display = _run({"kata_fleet_report": False})
    assert not callback.reporting and callback.hosts == {} and display.lines == []


def test_a_play_without_the_variable_is_reported():
    callback, _display = _run({})
    assert callback.reporting
    assert callback.hosts["node-1"]["status"] == "failed"
    assert "shim not found" in callback.hosts["node-1"]["error"]


def test_the_playbook_start_names_the_run_for_every_fork(monkeypatch):
    monkeypatch.delenv("KATA_FLEET_RUN_ID", raising=False)
    callback = CallbackModule(display=FakeDisplay())
    callback.v2_playbook_on_start(SimpleNamespace(_file_name="verify.yml"))
    first = os.environ["KATA_FLEET_RUN_ID"]
    assert first and len(first) <= 40
    # A run id given from outside (an AWX job id, say) wins.
    monkeypatch.setenv("KATA_FLEET_RUN_ID", "awx-job-4711")
    callback.v2_playbook_on_start(SimpleNamespace(_file_name="verify.yml"))
    assert os.environ["KATA_FLEET_RUN_ID"] == "awx-job-4711"
