"""plugins/action/verify_host.py: a run id the hosts would refuse fails every host before anything runs on it.

The rule is module_utils/_runid.py's (tests/unit/plugins/module_utils/test__runid.py); the callback and
kata_fleet_runner refuse the same ids with the same reason.
"""

import pytest

from test_verify_host_action import Fake

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _runid
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _settings
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import contract

# Ids the old controller rule (64 characters, any separators) let through and every host then refused.
BAD_RUN_IDS = ["job-12--x", "run-", "x" * 50, "ünïcode", "run-1\n", "../x"]


@pytest.fixture(autouse=True)
def callback_enabled(monkeypatch):
    monkeypatch.setattr(_settings, "callback_enabled", lambda: True)
    monkeypatch.setenv(_runid.VARIABLE, "run-1")


def _refused(result, fake, named, run_id):
    assert fake.calls == []
    assert result["failed"] is True and result[contract.STAGE_KEY] == "settings"
    assert result["msg"] == "%s: %s" % (named, _runid.problem(run_id))


@pytest.mark.parametrize("run_id", BAD_RUN_IDS)
def test_a_bad_kata_fleet_run_id_stops_before_the_host(run_id):
    fake = Fake()
    _refused(fake.run(kata_fleet_run_id=run_id), fake, "kata_fleet_run_id", run_id)


@pytest.mark.parametrize("run_id", BAD_RUN_IDS)
def test_a_bad_run_id_in_the_environment_stops_before_the_host(monkeypatch, run_id):
    """Without the callback (which replaces a bad one) the action reads KATA_FLEET_RUN_ID itself."""
    monkeypatch.setenv(_runid.VARIABLE, run_id)
    fake = Fake()
    _refused(fake.run(), fake, _runid.VARIABLE, run_id)


@pytest.mark.parametrize("run_id", BAD_RUN_IDS)
def test_a_bad_run_id_on_the_task_stops_before_the_host(run_id):
    fake = Fake(args={"run_id": run_id})
    _refused(fake.run(), fake, "run_id", run_id)


def test_check_mode_refuses_it_too():
    fake = Fake(check_mode=True)
    _refused(fake.run(kata_fleet_run_id="run-"), fake, "kata_fleet_run_id", "run-")


@pytest.mark.parametrize("variables, expected", [({"kata_fleet_run_id": "x" * 40}, "x" * 40), ({}, "run-1"),
                                                 ({"kata_fleet_run_id": ""}, "run-1")])
def test_a_good_run_id_reaches_the_module(monkeypatch, variables, expected):
    # The comparison callback exports the run's name (the extra variable, rendered) before the workers fork.
    monkeypatch.setenv(_runid.VARIABLE, variables.get("kata_fleet_run_id") or "run-1")
    fake = Fake()
    result = fake.run(**variables)
    assert result[contract.STAGE_KEY] == "host" and [call["args"]["run_id"] for call in fake.calls] == [expected]


def test_a_host_whose_run_id_renders_otherwise_than_the_callbacks_stops_before_it_runs(monkeypatch):
    # -e 'kata_fleet_run_id=fleet-{{ site }}' with a per-host site: the callback named the run fleet-a, this host
    # renders fleet-b. Before, it ran every probe and was failed at the end as another run's evidence.
    monkeypatch.setenv(_runid.VARIABLE, "fleet-a")
    fake = Fake()
    result = fake.run(kata_fleet_run_id="fleet-b")
    assert result["failed"] is True and fake.calls == []
    assert "fleet-b on this host" in result["msg"] and "named this run fleet-a" in result["msg"]


def test_without_any_run_id_the_action_makes_one_by_the_rule(monkeypatch):
    monkeypatch.delenv(_runid.VARIABLE)
    fake = Fake()
    fake.run()
    assert _runid.valid(fake.calls[0]["args"]["run_id"])
