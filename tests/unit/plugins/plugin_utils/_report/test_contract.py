"""_report/contract.py: what makes a host record (the run id rule: module_utils/test__runid.py)."""

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _capabilities, _runid
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import contract


def test_the_result_keys_come_from_the_one_capability_map():
    assert contract.PROBE_RESULTS == {"isolation_probe": "isolation", "startup_bench": "startup",
                                      "http_latency": "http"}
    assert contract.CAPABILITY_RESULTS == {"workload_bench": "workload", "workload_audit": "audit"}
    assert contract.CARRIED_RESULTS == ("host_facts", "probe_image", "isolation_probe", "startup_bench",
                                        "http_latency", "workload_bench", "workload_audit", "policy_check")
    # every capability is kept, each under its own key of the host's record
    kept = dict(contract.PROBE_RESULTS, **contract.CAPABILITY_RESULTS)
    assert sorted(kept.values()) == sorted(_capabilities.CAPABILITIES)
    assert set(kept.values()) <= set(contract.new_record())


def test_keep_takes_only_the_contracts_parts():
    record = contract.new_record()
    contract.keep(record, "host_facts", {"ansible_facts": {"kata_fleet_host": {"kernel_release": "6.1"}}, "changed": False})
    contract.keep(record, "isolation_probe", {"isolation": {"run_id": "r", "runtimes": {}}, "invocation": {"x": 1}})
    contract.keep(record, "startup_bench", {"skipped": True, "startup": {"run_id": "old"}})
    contract.keep(record, "policy_check", {"policies": [{"name": "p"}]})
    contract.keep(record, "debug", {"msg": "ignored"})
    assert record == {"status": "ok", "error": None, "host_facts": {"kernel_release": "6.1"},
                      "isolation": {"run_id": "r", "runtimes": {}}, "startup": None, "http": None,
                      "workload": None, "audit": None, "policies": [{"name": "p"}], "run_ids": ["r"]}


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
    assert "(%s)" % _runid.problem("../../OUTSIDE") in contract.check_run_id(record, "run-1")


VERIFY_RESULT = {
    "changed": False, "failed": True, "msg": "startup_bench: runc: counted run 1 failed",
    "ansible_facts": {"kata_fleet_host": {"kernel_release": "6.1"}},
    "module_results": {
        "host_facts": {"changed": False, "ansible_facts": {"kata_fleet_host": {"kernel_release": "6.1"}}},
        "probe_image": {"changed": False, "image": "localhost/kata-fleet/probe:1"},
        "isolation_probe": {"changed": False, "isolation": {"run_id": "r", "runtimes": {"runc": {"status": "ok"}}}},
        "startup_bench": {"failed": True, "msg": "runc: counted run 1 failed",
                          "startup": {"run_id": "r", "runtimes": {"runc": {"status": "failed"}}}},
    },
}


def test_a_verify_host_result_gives_the_record_its_five_results():
    record = contract.new_record()
    contract.keep(record, "verify_host", VERIFY_RESULT, failed=True)
    assert record["host_facts"] == {"kernel_release": "6.1"}
    assert record["isolation"]["runtimes"] == {"runc": {"status": "ok"}}
    assert record["startup"]["runtimes"] == {"runc": {"status": "failed"}} and record["http"] is None
    assert record["run_ids"] == ["r", "r"]
    # verify_host's own message lists every failed capability once; the carried ones add nothing.
    assert (record["status"], record["error"]) == ("failed", VERIFY_RESULT["msg"])


def test_the_policy_action_and_the_callback_build_the_same_record_from_verify_host():
    from_results = contract.record_from_results({"verify_host": VERIFY_RESULT})
    kept = contract.new_record()
    contract.keep(kept, "verify_host", VERIFY_RESULT, failed=True)
    assert from_results == kept
    # ... and the same as from the five separate results.
    separate = contract.record_from_results({
        "host_facts": VERIFY_RESULT["module_results"]["host_facts"], "isolation": VERIFY_RESULT["module_results"]["isolation_probe"],
        "startup": dict(VERIFY_RESULT["module_results"]["startup_bench"], msg=VERIFY_RESULT["msg"])})
    assert from_results == separate


@pytest.mark.parametrize("hostile", [None, "text", {"module_results": "text"}, {"module_results": {"isolation_probe": ["x"]}},
                                     {"module_results": {"debug": {"isolation": {"run_id": "x"}}}}])
def test_hostile_verify_host_results_add_nothing(hostile):
    record = contract.new_record()
    contract.keep(record, "verify_host", hostile)
    assert record == contract.new_record()
    assert contract.unpack("verify_host", hostile) == []


def test_unpack_passes_other_results_through():
    assert contract.unpack("isolation_probe", {"x": 1}) == [("isolation_probe", {"x": 1})]
    assert [name for name, dummy in contract.unpack("verify_host", VERIFY_RESULT)] == [
        "host_facts", "probe_image", "isolation_probe", "startup_bench"]
    assert "verify_host" in contract.REPORTED_ACTIONS and "verify_host" in contract.RESULT_KEYS


def test_the_policies_the_verify_host_action_carries_are_the_records():
    policies = [{"name": "runc-shared-kernel", "severity": "warning", "status": "pass", "detail": "[]"}]
    carried = dict(VERIFY_RESULT["module_results"], policy_check={"changed": False, "failed": False, "policies": policies})
    record = contract.new_record()
    contract.keep(record, "verify_host", dict(VERIFY_RESULT, module_results=carried))
    assert record["policies"] == policies
    assert [name for name, dummy in contract.unpack("verify_host", {"module_results": carried})][-1] == "policy_check"


WORKLOAD = {"run_id": "r", "workloads": ["cpu"], "host": {"cpu": {"status": "ok"}},
            "runtimes": {"runc": {"status": "ok", "workloads": {"cpu": {"status": "ok", "ratio": 1.01}}}}}
AUDIT = {"status": "ok", "names": "counts", "containers": 3, "findings": []}


def test_workload_and_audit_are_carried_into_the_record():
    carried = dict(VERIFY_RESULT["module_results"],
                   workload_bench={"changed": False, "workload": WORKLOAD, "swept": [],
                                   "ansible_facts": {"kata_fleet_workload": WORKLOAD}},
                   workload_audit={"changed": False, "audit": AUDIT},
                   policy_check={"changed": False, "failed": False, "policies": []})
    assert [name for name, dummy in contract.unpack("verify_host", {"module_results": carried})] == [
        "host_facts", "probe_image", "isolation_probe", "startup_bench", "workload_bench", "workload_audit",
        "policy_check"]
    record = contract.new_record()
    assert (record["workload"], record["audit"]) == (None, None)
    contract.keep(record, "verify_host", dict(VERIFY_RESULT, module_results=carried), failed=True)
    assert record["workload"] == WORKLOAD and record["audit"] == AUDIT
    assert "error" not in record["workload"] and "error" not in record["audit"]
    # The workload's run id counts like a probe's.
    assert record["run_ids"] == ["r", "r", "r"]
    assert contract.record_from_results({"verify_host": dict(VERIFY_RESULT, module_results=carried)}) == record


def test_a_failed_workload_or_audit_keeps_its_dict_and_its_error():
    failed_workload = dict(WORKLOAD, runtimes={"runc": {"status": "failed", "error": "cpu: exit status 1"}})
    carried = dict(VERIFY_RESULT["module_results"],
                   workload_bench={"changed": False, "failed": True, "msg": "runc: cpu: exit status 1",
                                   "workload": failed_workload},
                   workload_audit={"changed": False, "failed": True, "msg": "ctr namespaces ls failed (rc=1): x" * 500})
    record = contract.new_record()
    contract.keep(record, "verify_host", dict(VERIFY_RESULT, module_results=carried))
    assert record["workload"] == dict(failed_workload, error="runc: cpu: exit status 1")
    assert "error" not in failed_workload  # the result's own dict is not changed
    # Failed before it measured anything: a dict with its (bounded) message only.
    assert list(record["audit"]) == ["error"] and record["audit"]["error"].startswith("ctr namespaces ls failed")
    assert len(record["audit"]["error"]) == contract.MAX_CAPABILITY_ERROR
    # The host's status comes from verify_host's own failure, as for the probes.
    assert record["status"] == "ok"


@pytest.mark.parametrize("data", [{"skipped": True, "workload": WORKLOAD}, {"workload": "text"}, {"workload": None},
                                  {"changed": False}, "text", None])
def test_a_skipped_or_malformed_capability_result_adds_nothing(data):
    record = contract.new_record()
    contract.keep(record, "workload_bench", data)
    contract.keep(record, "workload_audit", data if not isinstance(data, dict) else dict(
        (("audit" if key == "workload" else key), value) for key, value in data.items()))
    assert record == contract.new_record()


def test_only_a_verify_host_result_that_reached_the_host_makes_a_report():
    assert contract.reached_host("verify_host", {contract.STAGE_KEY: "host"})
    assert not contract.reached_host("verify_host", {contract.STAGE_KEY: "settings"})
    assert not contract.reached_host("verify_host", {contract.STAGE_KEY: "check"})
    # An action that failed unexpectedly (no stage) or another module's result counts.
    assert contract.reached_host("verify_host", {"failed": True, "msg": "boom"})
    assert contract.reached_host("isolation_probe", {contract.STAGE_KEY: "settings"})


def test_a_failed_host_is_named_as_the_former_last_task_named_it():
    record = contract.new_record()
    contract.fail(record, "Verify the host", "verify_host", {contract.STAGE_KEY: "host", "msg": "isolation_probe: x"})
    assert (record["status"], record["error"]) == ("failed", contract.HOST_FAILED + ": isolation_probe: x")
    # Stopped at the settings, or any other task: the task's own name.
    contract.fail(record, "Verify the host", "verify_host", {contract.STAGE_KEY: "settings", "msg": "bad"})
    assert record["error"] == "Verify the host: bad"
    contract.fail(record, "Copy", "copy", "not a dict")
    assert record["error"] == "Copy: failed"
