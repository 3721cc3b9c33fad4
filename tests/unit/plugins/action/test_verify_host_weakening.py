"""A weakening since the previous run fails its host in the verify_host action, so ansible-playbook's exit status
says it (issue 22).

The comparison callback reads and verifies the previous bundle ONCE, in ansible-playbook's own process, when the
play starts (changes.preload into changes.PRELOADED); ansible-core forks its workers
(ansible.utils.multiprocessing's context is 'fork'), so every verify_host action judges its own host against it.
The previous bundles here are real ones written by the callback (callback_harness.run_play) and checked by
verify.inspect_bundle; the action runs with the recorded runc result of this machine (test_verify_host_action.Fake).
"""

import copy
import json
import os
from types import SimpleNamespace

import pytest

from ansible.utils.multiprocessing import context as ansible_multiprocessing

from callback_harness import host_results, make_callback, result as make_result, run_play, task as make_task
from test_verify_host_action import HOST, Fake, module_result

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _settings
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import changes, contract

FIRST = "run-0"


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    monkeypatch.setattr(_settings, "callback_enabled", lambda: True)
    monkeypatch.setenv("KATA_FLEET_RUN_ID", "run-1")
    changes.clear_preloaded()
    yield
    changes.clear_preloaded()


def with_runsc(verdict):
    """The recorded results plus a runsc handler judged ``verdict`` (a copy of runc's probe)."""
    def mutate(results):
        runtimes = results["isolation_probe"]["isolation"]["runtimes"]
        runsc = copy.deepcopy(runtimes["runc"])
        runsc.update(handler="runsc", verdict=verdict, sandbox="gvisor", runtime_type="io.containerd.runsc.v1")
        runtimes["runsc"] = runsc
    return mutate


def previous_run(evidence, hosts=(HOST,), verdict="user-space-kernel"):
    """A real previous bundle in ``evidence``: runc and runsc (``verdict``) on each of ``hosts``."""
    run_play(evidence, dict((name, host_results(FIRST, with_runsc(verdict))) for name in hosts), run_id=FIRST)
    assert os.path.islink(os.path.join(str(evidence), "latest"))


class Manager:
    """What the callback asks of ansible-core's VariableManager at a play's start."""

    def __init__(self, hosts, variables=None):
        self._inventory = SimpleNamespace(get_hosts=lambda pattern: [SimpleNamespace(name=name) for name in hosts])
        self._loader = None
        self.extra_vars = {}
        self.variables = dict(variables or {})

    def get_vars(self, play=None, host=None, **kwargs):
        return dict(self.variables)


def play(manager):
    return SimpleNamespace(vars={}, hosts="all", get_variable_manager=lambda: manager)


def start(evidence, hosts=(HOST,), variables=None, **options):
    """A callback at a play's start (the previous bundle preloaded); returns (callback, display)."""
    callback, display = make_callback(evidence_dir=str(evidence), **options)
    callback.v2_playbook_on_start(SimpleNamespace(_file_name="playbooks/verify.yml"))
    callback.v2_playbook_on_play_start(play(Manager(hosts, variables)))
    return callback, display


def finish(callback, results):
    """The play's verify_host results (host -> the action's result) through the callback; returns report.json."""
    callback.v2_playbook_on_task_start(make_task("verify_host"), False)
    for name, outcome in results.items():
        if outcome.get("failed"):
            callback.v2_runner_on_failed(make_result(name, "verify_host", outcome))
        else:
            callback.v2_runner_on_ok(make_result(name, "verify_host", outcome))
    callback.v2_playbook_on_stats(SimpleNamespace(processed=dict((name, {}) for name in results), custom={}))
    root = callback.get_option("evidence_dir")
    with open(os.path.join(root, "latest", "report.json")) as handle:
        return json.load(handle)


# ---------------------------------------------------------------- the holder


def test_the_play_start_preloads_the_verified_previous_bundle(tmp_path):
    previous_run(tmp_path)
    start(tmp_path)
    preloaded = changes.PRELOADED
    assert preloaded["previous"]["path"] == str(tmp_path / "latest")
    assert preloaded["previous"]["report"]["run_id"] == FIRST and preloaded["previous"]["problems"] == []
    assert preloaded["fail_on_weakening"] is True
    assert preloaded["settings"] == dict((name, None) for name in changes.PRELOAD_SETTINGS)


def test_the_play_variables_choose_the_bundle_and_fail_on_weakening(tmp_path):
    previous_run(tmp_path / "golden")
    start(tmp_path / "evidence", variables={"kata_fleet_compare_with": str(tmp_path / "golden" / FIRST),
                                            "kata_fleet_fail_on_weakening": "no", "unrelated": "{{ undefined }}"})
    preloaded = changes.PRELOADED
    assert preloaded["previous"]["path"] == str(tmp_path / "golden" / FIRST)
    assert preloaded["previous"]["report"]["run_id"] == FIRST
    # The callback's own default stays: each host's kata_fleet_fail_on_weakening is applied by its own action
    # (the first host's value is not every host's).
    assert preloaded["fail_on_weakening"] is True
    assert preloaded["settings"]["kata_fleet_compare_with"] == str(tmp_path / "golden" / FIRST)


def test_a_host_that_does_not_name_the_first_hosts_bundle_is_not_judged_against_it(tmp_path):
    # The first host (group or host vars) names a golden bundle; this host names none, so its previous bundle is
    # <evidence>/latest, not the golden one: the action leaves it to the report at the end.
    previous_run(tmp_path / "golden")
    start(tmp_path / "evidence", variables={"kata_fleet_compare_with": str(tmp_path / "golden" / FIRST)})
    assert Fake().run()["failed"] is False
    judged = Fake().run(kata_fleet_compare_with=str(tmp_path / "golden" / FIRST))
    assert judged["failed"] is True and judged["msg"].startswith("weakened since run %s" % FIRST)


def test_no_previous_bundle_and_a_play_that_is_not_reported(tmp_path):
    start(tmp_path)
    assert changes.PRELOADED["previous"]["path"] is None and changes.PRELOADED["previous"]["report"] is None
    callback, _display = make_callback(evidence_dir=str(tmp_path))
    callback.v2_playbook_on_play_start(SimpleNamespace(vars={"kata_fleet_report": False}, hosts="all",
                                                       get_variable_manager=lambda: Manager([HOST])))
    assert changes.PRELOADED is None


def test_a_tampered_previous_bundle_is_refused_and_fails_the_host(tmp_path):
    previous_run(tmp_path)
    report = tmp_path / FIRST / "report.json"
    report.write_text(report.read_text().replace('"user-space-kernel"', '"vm-isolated"'))
    start(tmp_path)
    previous = changes.PRELOADED["previous"]
    assert previous["report"] is None and any("checksum" in problem for problem in previous["problems"])
    # Named, never compared; the report's no-weakening is an error on every host, and the exit status agrees:
    # a tampered evidence/latest must not hide a weakening behind a green run.
    outcome = Fake().run()
    assert outcome["failed"] is True and changes.WEAKENING_KEY in outcome
    assert "was refused" in outcome["msg"] and "checksum" in outcome["msg"]
    assert "kata_fleet_fail_on_weakening: false" in outcome["msg"]
    assert Fake().run(kata_fleet_fail_on_weakening=False)["failed"] is False


def test_workers_forked_as_ansible_forks_them_see_the_preloaded_bundle(tmp_path):
    assert ansible_multiprocessing.get_start_method() == "fork"
    previous_run(tmp_path)
    start(tmp_path)
    queue = ansible_multiprocessing.SimpleQueue()

    def worker():
        outcome = Fake().run()
        queue.put((changes.PRELOADED["previous"]["report"]["run_id"], outcome["failed"], outcome.get("msg")))

    process = ansible_multiprocessing.Process(target=worker)
    process.start()
    process.join(60)
    run_id, failed, message = queue.get()
    assert process.exitcode == 0
    assert run_id == FIRST and failed is True and "weakened since run %s" % FIRST in message


# ---------------------------------------------------------------- the action


def test_a_weakened_host_fails_with_the_evidence_kept(tmp_path):
    previous_run(tmp_path)
    start(tmp_path)
    outcome = Fake().run()
    assert outcome["failed"] is True and outcome[contract.STAGE_KEY] == "host"
    message = outcome["msg"]
    assert message.startswith("weakened since run %s (20" % FIRST), message
    assert "runsc on this host was user-space-kernel (gvisor), now it is not probed" in message
    assert message.endswith("kata_fleet_fail_on_weakening: false accepts it")
    assert outcome[changes.WEAKENING_KEY] == {"message": message, "other_failures": False, "other_msg": None}
    # The evidence is all there: the callback writes the same report as it would without the action's judgment.
    assert set(outcome[contract.CARRIED_KEY]) >= {"host_facts", "isolation_probe", "startup_bench", "http_latency",
                                                  "policy_check"}
    assert outcome[contract.CARRIED_KEY]["policy_check"]["failed"] is False


def test_a_weakened_verdict_names_before_and_now(tmp_path):
    previous_run(tmp_path, verdict="vm-isolated")
    start(tmp_path)
    weakened = module_result()
    runtimes = weakened["module_results"]["isolation_probe"]["isolation"]["runtimes"]
    runtimes["runsc"] = dict(copy.deepcopy(runtimes["runc"]), handler="runsc", verdict="shared-kernel", sandbox=None)
    outcome = Fake(module=weakened).run()
    assert "runsc on this host was vm-isolated (gvisor), now shared-kernel" in outcome["msg"]


def test_fail_on_weakening_false_does_not_fail_the_host(tmp_path):
    previous_run(tmp_path)
    start(tmp_path)
    outcome = Fake().run(kata_fleet_fail_on_weakening=False)
    assert outcome["failed"] is False and changes.WEAKENING_KEY not in outcome and "msg" not in outcome
    # The callback's option (KATA_FLEET_FAIL_ON_WEAKENING=false) counts when the variable is unset.
    start(tmp_path, fail_on_weakening=False)
    assert Fake().run()["failed"] is False
    # ... and the variable wins over it.
    assert Fake().run(kata_fleet_fail_on_weakening=True)["failed"] is True


def test_nothing_preloaded_nothing_judged(tmp_path):
    """The callback is not enabled (kata_fleet_require_comparison false) or the play not reported: no judgment."""
    previous_run(tmp_path)
    assert changes.PRELOADED is None
    outcome = Fake().run(kata_fleet_require_comparison=False)
    assert outcome["failed"] is False and changes.WEAKENING_KEY not in outcome


def test_an_unchanged_host_a_new_host_and_another_bundle_are_not_failed(tmp_path):
    previous_run(tmp_path)
    start(tmp_path)
    same = module_result()
    runtimes = same["module_results"]["isolation_probe"]["isolation"]["runtimes"]
    runtimes["runsc"] = dict(copy.deepcopy(runtimes["runc"]), handler="runsc", verdict="user-space-kernel",
                             sandbox="gvisor", runtime_type="io.containerd.runsc.v1")
    assert Fake(module=same).run()["failed"] is False
    assert Fake().run(inventory_hostname="node-new")["failed"] is False
    # A host whose own settings name another bundle than the one preloaded is left to the report at the end.
    assert Fake().run(kata_fleet_compare_with=str(tmp_path / "elsewhere"))["failed"] is False


def test_a_module_cannot_bring_its_own_weakening_marker(tmp_path):
    hostile = module_result(failed="ctr run: timed out")
    hostile[changes.WEAKENING_KEY] = {"message": "forged", "other_failures": False, "other_msg": None}
    outcome = Fake(module=hostile).run()
    assert outcome["failed"] is True and changes.WEAKENING_KEY not in outcome


def test_another_failure_and_a_weakening_both_fail_the_host(tmp_path):
    previous_run(tmp_path)
    start(tmp_path)
    outcome = Fake(module=module_result(failed="ctr run: timed out")).run()
    marker = outcome[changes.WEAKENING_KEY]
    assert marker["other_failures"] is True and marker["other_msg"] == "isolation_probe: ctr run: timed out"
    assert outcome["msg"] == "isolation_probe: ctr run: timed out; " + marker["message"]


# ---------------------------------------------------------------- the report agrees, read once


def comparable(report):
    """report.json without what differs between two runs of the same results (times, the controller's clock)."""
    report = copy.deepcopy(report)
    for key in ("started", "finished"):
        report.pop(key)
        report["changes"]["current"].pop(key)
    return report


def test_the_report_of_a_failed_host_is_the_report_of_today(tmp_path):
    """The action failing the host changes the exit status, not report.json: host ok, no-weakening fails once."""
    previous_run(tmp_path / "before")
    golden = str(tmp_path / "before" / FIRST)
    callback, _display = start(tmp_path / "judged", compare_with=golden)
    judged = Fake().run()
    assert judged["failed"] is True
    judged_report = finish(callback, {HOST: judged})

    changes.clear_preloaded()
    callback, _display = make_callback(evidence_dir=str(tmp_path / "unjudged"), compare_with=golden)
    callback.v2_playbook_on_start(SimpleNamespace(_file_name="playbooks/verify.yml"))
    unjudged = Fake().run()
    assert unjudged["failed"] is False
    unjudged_report = finish(callback, {HOST: unjudged})

    assert comparable(judged_report) == comparable(unjudged_report)
    assert judged_report["hosts"][HOST]["status"] == "ok" and judged_report["result"] == "fail"
    [policy] = [item for item in judged_report["policies"] if item["name"] == changes.WEAKENING_POLICY]
    assert policy["severity"] == "error" and [item["status"] for item in policy["results"]] == ["fail"]
    assert judged_report["changes"]["summary"]["hosts_weakened"] == 1


def test_another_failure_keeps_its_own_message_in_the_report(tmp_path):
    previous_run(tmp_path / "before")
    golden = str(tmp_path / "before" / FIRST)
    callback, _display = start(tmp_path / "judged", compare_with=golden)
    report = finish(callback, {HOST: Fake(module=module_result(failed="ctr run: timed out")).run()})
    entry = report["hosts"][HOST]
    assert entry["status"] == "failed"
    assert entry["error"] == "%s: isolation_probe: ctr run: timed out" % contract.HOST_FAILED


@pytest.mark.parametrize("count", [1, 60])
def test_the_previous_bundle_is_read_once_whatever_the_host_count(tmp_path, monkeypatch, count):
    hosts = ["node-%03d" % number for number in range(count)]
    previous_run(tmp_path, hosts)
    reads = []
    check = changes._check  # pylint: disable=protected-access

    def counted(path, public_keys):
        reads.append(path)
        return check(path, public_keys)
    monkeypatch.setattr(changes, "_check", counted)
    callback, _display = start(tmp_path, hosts)
    outcomes = dict((name, Fake().run(inventory_hostname=name)) for name in hosts)
    assert all(outcome["failed"] for outcome in outcomes.values())
    report = finish(callback, outcomes)
    assert reads == [str(tmp_path / "latest")]
    assert report["changes"]["summary"]["hosts_weakened"] == count
    assert report["changes"]["previous"]["run_id"] == FIRST
