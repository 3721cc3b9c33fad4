"""_report/contract.py: what makes a host record, and the run id rule."""

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import contract


@pytest.mark.parametrize("run_id", ["20261201T040000-0a1b", "awx-job-4711", "a", "A.b_c-d", "x" * 64])
def test_good_run_ids(run_id):
    assert contract.run_id_problem(run_id) is None


@pytest.mark.parametrize("run_id", ["", "../x", "a/b", "a..b", ".hidden", "-dash", "x" * 65, "run\n", "run id",
                                    "ünïcode", None, 42])
def test_bad_run_ids(run_id):
    assert contract.run_id_problem(run_id)


def test_new_run_ids_follow_the_rule():
    assert contract.run_id_problem(contract.new_run_id()) is None


def test_keep_takes_only_the_contracts_parts():
    record = contract.new_record()
    contract.keep(record, "host_facts", {"ansible_facts": {"kata_fleet_host": {"kernel_release": "6.1"}}, "changed": False})
    contract.keep(record, "isolation_probe", {"isolation": {"run_id": "r", "runtimes": {}}, "invocation": {"x": 1}})
    contract.keep(record, "startup_bench", {"skipped": True, "startup": {"run_id": "old"}})
    contract.keep(record, "policy_check", {"policies": [{"name": "p"}]})
    contract.keep(record, "debug", {"msg": "ignored"})
    assert record == {"status": "ok", "error": None, "host_facts": {"kernel_release": "6.1"},
                      "isolation": {"run_id": "r", "runtimes": {}}, "startup": None, "http": None,
                      "policies": [{"name": "p"}], "run_ids": ["r"]}


def test_a_failed_result_fails_the_record_and_keeps_its_data():
    record = contract.record_from_results({"isolation": {"failed": True, "msg": "kata timed out",
                                                         "isolation": {"run_id": "r", "runtimes": {"runc": {}}}},
                                           "http": {"failed": True, "msg": "no ctr"},
                                           "startup": "not a result"})
    assert record["status"] == "failed" and record["error"] == "kata timed out; no ctr"
    assert record["isolation"]["runtimes"] == {"runc": {}} and record["startup"] is None


def test_check_run_id():
    record = contract.new_record()
    assert contract.check_run_id(record, "run-1") is None
    record["run_ids"] = ["run-1", "run-0"]
    assert "name run 'run-0', not this run 'run-1'" in contract.check_run_id(record, "run-1")
    record["run_ids"] = ["../../OUTSIDE"]
    assert "is not 1 to 64 letters" in contract.check_run_id(record, "run-1")
