"""_report/changes.py: what changed since the last run, its checks, its policy, its text and the diff entry point.

The reports are the sample's (tools/sample_bundle.py: a Kata laptop, this machine, an unreachable node), changed
one thing at a time and re-judged by the default policies as the callback would; the bundles are real ones
written by bundle.write_bundle and checked by verify.inspect_bundle.
"""

import copy
import json
import os
import sys

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _policy
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import bundle, changes, model, verify, view as report_view

from conftest import REPO_ROOT

ROOT = str(REPO_ROOT)
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, ROOT)

import sample_bundle  # noqa: E402  pylint: disable=wrong-import-position
import kata_fleet_runner  # noqa: E402  pylint: disable=wrong-import-position
import kata_fleet_runner.__main__ as cli  # noqa: E402  pylint: disable=wrong-import-position

OLD_ID = sample_bundle.RUN_ID
NEW_ID = "20261202T040000-beef"


@pytest.fixture(scope="module")
def base():
    return sample_bundle.sample_report()


def rejudge(report, run_id=NEW_ID, extra=None):
    """The report as the callback would build it after its hosts changed: policies, summary, result again."""
    report = copy.deepcopy(report)
    report["run_id"] = run_id
    if run_id != OLD_ID:
        report["started"], report["finished"] = "2026-12-02T04:00:00Z", "2026-12-02T04:00:12Z"
    policies = _policy.policy_set()
    per_host = dict((name, _policy.evaluate(policies, name, entry))
                    for name, entry in report["hosts"].items() if entry["status"] == "ok")
    for name, results in (extra or {}).items():
        per_host.setdefault(name, []).extend(results)
    report["policies"] = _policy.merge_results(per_host, report["hosts"])
    report["summary"] = model.summary(report["hosts"])
    report["result"] = model.overall_result(report["hosts"], report["policies"])
    return report


def changed(base, mutate):
    new = copy.deepcopy(base)
    mutate(new["hosts"])
    return rejudge(new)


def only(items, **match):
    found = [item for item in items if all(item.get(key) == value for key, value in match.items())]
    assert len(found) == 1, (match, items)
    return found[0]


def kata(hosts):
    return hosts["lab-laptop"]["runtimes"]["kata"]["isolation"]


# ------------------------------------------------------------------ each category


def test_the_same_run_twice_changes_nothing(base):
    section = changes.compare(base, rejudge(base))
    summary = section["summary"]
    assert section["status"] == "compared"
    assert summary["hosts_compared"] == 3 and summary["hosts_unchanged"] == 3 and summary["hosts_changed"] == 0
    assert all(section[key] == [] for key in changes.LISTS)
    assert section["weakened"] == {}
    assert section["previous"]["run_id"] == OLD_ID and section["current"]["run_id"] == NEW_ID


def test_kata_falling_back_to_a_shared_kernel_is_a_weakening_and_fails_the_policy(base):
    def fall_back(hosts):
        kata(hosts).update(verdict="shared-kernel", sandbox=None)
    new = changed(base, fall_back)
    section = changes.compare(base, new)
    item = only(section["runtimes"], host="lab-laptop", handler="kata")
    assert item["change"] == "changed" and item["direction"] == "weakening"
    assert item["old"]["verdict"] == "vm-isolated" and item["new"]["verdict"] == "shared-kernel"
    assert section["weakened"] == {"lab-laptop": ["kata: vm-isolated -> shared-kernel"]}
    assert section["summary"]["weakenings"] == 1 and section["summary"]["hosts_weakened"] == 1
    assert section["summary"]["hosts_unchanged"] == 2
    # The default kata policy fails now: newly failing.
    policy = only(section["policies"], host="lab-laptop", policy="kata-vm-isolated")
    assert (policy["old"], policy["new"], policy["change"], policy["severity"]) == ("pass", "fail", "newly-failing", "error")

    results = changes.weakening_results(section, new["hosts"])
    assert results["lab-laptop"][0]["status"] == "fail" and results["lab-laptop"][0]["severity"] == "error"
    assert "vm-isolated -> shared-kernel" in results["lab-laptop"][0]["detail"]
    assert results["dev-vm"][0]["status"] == "pass"
    assert results["node-unreachable"][0]["status"] == "skip"
    assert _policy.blocking(results["lab-laptop"]) and not _policy.blocking(results["dev-vm"])
    warned = changes.weakening_results(section, new["hosts"], fail_on_weakening=False)
    assert warned["lab-laptop"][0]["severity"] == "warning" and not _policy.blocking(warned["lab-laptop"])
    assert _policy.warned(warned["lab-laptop"])


def test_a_failed_probe_of_a_strong_handler_is_a_weakening(base):
    def fail(hosts):
        kata(hosts).update(status="failed", verdict=None, error="ctr run: timed out")
    section = changes.compare(base, changed(base, fail))
    item = only(section["runtimes"], handler="kata")
    assert item["direction"] == "weakening" and item["new"] == {"status": "failed", "verdict": None, "sandbox": None}
    assert section["weakened"]["lab-laptop"] == ["kata: vm-isolated -> probe failed"]


def test_strengthening_and_a_sandbox_change_are_information(base):
    def strengthen(hosts):
        runc = hosts["dev-vm"]["runtimes"]["runc"]["isolation"]
        runc.update(verdict="vm-isolated", sandbox="kata-qemu")
        kata(hosts)["sandbox"] = "kata-clh"
    old = changed(base, lambda hosts: kata(hosts).update(sandbox="kata-qemu"))
    section = changes.compare(old, changed(base, strengthen))
    up = only(section["runtimes"], host="dev-vm")
    assert up["direction"] == "strengthening"
    sandbox = only(section["runtimes"], host="lab-laptop")
    assert sandbox["direction"] == "information" and (sandbox["old"]["sandbox"], sandbox["new"]["sandbox"]) == (
        "kata-qemu", "kata-clh")
    assert section["weakened"] == {} and section["summary"]["strengthenings"] == 1
    assert section["summary"]["verdicts_changed"] == 2
    # runc-shared-kernel fails on dev-vm now (runc is vm-isolated): newly failing, even though it is stronger.
    assert only(section["policies"], host="dev-vm", policy="runc-shared-kernel")["change"] == "newly-failing"
    text = changes.render_text(section)
    assert "stronger dev-vm / runc: shared-kernel -> vm-isolated (kata-qemu)" in text
    assert "lab-laptop / kata: vm-isolated (kata-qemu) -> vm-isolated (kata-clh)" in text


def test_a_probed_handler_removed_is_a_weakening_an_added_one_information(base):
    def swap(hosts):
        runtimes = hosts["lab-laptop"]["runtimes"]
        runtimes["gvisor"] = copy.deepcopy(runtimes.pop("kata"))
        runtimes["gvisor"]["isolation"].update(verdict="user-space-kernel", handler="gvisor", sandbox="gvisor")
    section = changes.compare(base, changed(base, swap))
    removed = only(section["runtimes"], handler="kata")
    added = only(section["runtimes"], handler="gvisor")
    assert (removed["change"], removed["direction"], removed["new"]) == ("removed", "weakening", None)
    assert (added["change"], added["direction"], added["old"]) == ("added", "strengthening", None)
    assert section["summary"]["handlers_removed"] == 1 and section["summary"]["handlers_added"] == 1
    assert section["weakened"]["lab-laptop"] == ["kata: handler removed (was vm-isolated)"]
    # A weakening is listed first, whatever the host names.
    assert section["runtimes"][0]["handler"] == "kata"


def test_a_run_that_probed_no_isolation_on_a_host_does_not_judge_its_boundaries(base):
    # verify.yml --tags startup (or --skip-tags isolation): no handler has an isolation result on the host. That
    # is no evidence of a weaker boundary; it failed every host as "not probed now" (and so the exit status).
    def startup_only(hosts):
        for probes in hosts["lab-laptop"]["runtimes"].values():
            probes["isolation"] = None
    section = changes.compare(base, changed(base, startup_only))
    assert section["weakened"] == {} and [item for item in section["runtimes"] if item["host"] == "lab-laptop"] == []
    reasons, _one = changes.host_weakening({"report": base}, "lab-laptop",
                                           changed(base, startup_only)["hosts"]["lab-laptop"])
    assert reasons == []


def test_a_handler_still_configured_but_no_longer_probed_is_a_weakening(base):
    def unprobed(hosts):
        hosts["lab-laptop"]["runtimes"]["kata"]["isolation"] = None
    section = changes.compare(base, changed(base, unprobed))
    item = only(section["runtimes"], handler="kata")
    assert item["direction"] == "weakening" and item["new"] is None
    assert section["weakened"]["lab-laptop"] == ["kata: vm-isolated -> not probed"]


def test_versions_changed(base):
    def upgrade(hosts):
        tools = hosts["dev-vm"]["host"]["tools"]
        tools["containerd"]["version"] = "2.0.1"
        tools["runc"]["version"] = "1.2.3"
        tools["runsc"] = {"output": None, "path": None, "version": "release-20250101.0"}
        hosts["dev-vm"]["host"]["kernel_release"] = "6.19.1"
        hosts["lab-laptop"]["host"]["tools"]["containerd-shim-kata-v2"]["version"] = "3.24.0"
        kata(hosts)["kernel_release"] = "6.12.40"
    old = changed(base, lambda hosts: hosts["dev-vm"]["host"]["tools"].update(
        runsc={"output": None, "path": None, "version": "release-20240101.0"}))
    section = changes.compare(old, changed(base, upgrade))
    seen = dict(((item["host"], item["component"]), (item["old"], item["new"])) for item in section["versions"])
    assert seen == {
        ("dev-vm", "containerd"): ("1.6.20~ds1", "2.0.1"),
        ("dev-vm", "runc"): ("1.1.5+ds1", "1.2.3"),
        ("dev-vm", "runsc"): ("release-20240101.0", "release-20250101.0"),
        ("dev-vm", "host-kernel"): ("6.18.44-fc-v1045", "6.19.1"),
        ("lab-laptop", "kata-shim"): ("3.23.0", "3.24.0"),
        ("lab-laptop", "guest-kernel"): (base["hosts"]["lab-laptop"]["runtimes"]["kata"]["isolation"]["kernel_release"],
                                         "6.12.40"),
    }
    assert only(section["versions"], component="guest-kernel")["handler"] == "kata"
    assert section["summary"]["versions_changed"] == 6 and section["weakened"] == {}


def test_a_version_an_older_report_never_recorded_is_not_a_change(base):
    old = changed(base, lambda hosts: hosts["dev-vm"]["host"]["tools"].pop("runc"))
    section = changes.compare(old, rejudge(base))
    assert section["versions"] == []


def test_policies_newly_passing(base):
    def fix_preflight(hosts):
        hosts["lab-laptop"]["host"]["kvm"] = copy.deepcopy(base["hosts"]["dev-vm"]["host"]["kvm"])
    old_detail = only(only(base["policies"], name="kata-preflight")["results"], host="lab-laptop")
    assert old_detail["status"] == "fail"
    extra_old = {"lab-laptop": [dict(_policy.evaluate(_policy.policy_set(), "x", {})[0], name="own", status="fail",
                                     detail="x")]}
    extra_new = {"lab-laptop": [dict(extra_old["lab-laptop"][0], status="pass")]}
    old = rejudge(base, OLD_ID, extra_old)
    new = changed(base, fix_preflight)
    new = rejudge(new, NEW_ID, extra_new)
    section = changes.compare(old, new)
    own = only(section["policies"], policy="own")
    assert (own["old"], own["new"], own["change"]) == ("fail", "pass", "newly-passing")
    assert section["summary"]["policies_newly_passing"] >= 1


def test_hosts_new_gone_unreachable_now_and_reachable_again(base):
    def shuffle(hosts):
        hosts["new-node"] = copy.deepcopy(hosts["dev-vm"])
        hosts["dev-vm"] = {"status": "unreachable", "error": "ssh: timed out", "host": None, "runtimes": {}}
        hosts["node-unreachable"] = copy.deepcopy(hosts["lab-laptop"])
        del hosts["lab-laptop"]
    new = changed(base, shuffle)
    section = changes.compare(base, new)
    by_host = dict((item["host"], item) for item in section["hosts"])
    assert by_host["new-node"]["change"] == "new" and not by_host["new-node"]["weakening"]
    assert by_host["lab-laptop"]["change"] == "gone"
    assert by_host["dev-vm"]["change"] == "unreachable-now" and by_host["dev-vm"]["weakening"]
    assert by_host["node-unreachable"]["change"] == "reachable-again"
    summary = section["summary"]
    assert (summary["hosts_new"], summary["hosts_gone"], summary["hosts_unreachable_now"]) == (1, 1, 1)
    assert section["weakened"] == {"dev-vm": ["answered in the previous run (ok), unreachable now"]}
    # An unreachable host has no runtime or policy rows of its own: its host row says it.
    assert not [item for item in section["runtimes"] + section["policies"] if item["host"] == "dev-vm"]
    results = changes.weakening_results(section, new["hosts"])
    assert results["dev-vm"][0]["status"] == "fail"
    assert results["new-node"][0]["status"] == "skip" and "new host" in results["new-node"][0]["detail"]
    assert "lab-laptop" not in results  # gone: not in the report the results belong to


def _startup(entry, handler="runc"):
    return entry["runtimes"][handler]["startup"]["total"]


def test_performance_moved_beyond_both_runs_noise(base):
    before = _startup(base["hosts"]["dev-vm"])
    assert before["n"] == 10 and before["stdev"] > 0

    def slower(hosts):
        total = _startup(hosts["dev-vm"])
        total["median"] = before["median"] * 1.6
        latency = hosts["dev-vm"]["runtimes"]["runc"]["http"]["latency"]
        latency["p99"] = latency["p99"] / 2.0
    section = changes.compare(base, changed(base, slower))
    startup = only(section["performance"], measure="startup_median")
    assert (startup["change"], startup["unit"], startup["host"], startup["handler"]) == ("worse", "s", "dev-vm", "runc")
    assert startup["old"] == before["median"] and startup["noise"] < startup["new"] - startup["old"]
    assert only(section["performance"], measure="http_p99")["change"] == "better"
    assert section["weakened"] == {}  # performance is information, never a weakening


def test_performance_within_the_noise_does_not_move(base):
    before = _startup(base["hosts"]["dev-vm"])

    def jitter(hosts):
        _startup(hosts["dev-vm"])["median"] = before["median"] + before["stdev"] / 2.0
    section = changes.compare(base, changed(base, jitter))
    assert section["performance"] == []


def test_the_noise_is_each_runs_own_spread_not_a_percentage(base):
    # The same 20% slowdown: beyond the noise of a steady host, within the noise of a jittery one.
    def slower(stdev):
        def mutate(hosts):
            total = _startup(hosts["dev-vm"])
            total["median"], total["stdev"] = total["median"] * 1.2, stdev
        return mutate
    steady = changed(base, lambda hosts: _startup(hosts["dev-vm"]).update(stdev=0.002))
    jittery = changed(base, lambda hosts: _startup(hosts["dev-vm"]).update(stdev=0.08))
    assert only(changes.compare(steady, changed(base, slower(0.002)))["performance"], measure="startup_median")
    assert changes.compare(jittery, changed(base, slower(0.08)))["performance"] == []


def test_a_measurement_without_a_spread_is_not_judged(base):
    def one_sample(hosts):
        _startup(hosts["dev-vm"]).update(n=1, stdev=None, median=9.0)
    section = changes.compare(base, changed(base, one_sample))
    assert not [item for item in section["performance"] if item["measure"] == "startup_median"]
    assert section["summary"]["performance_not_judged"] >= 1


def _memory(entry):
    return entry["runtimes"]["runc"]["http"]["memory"]


def test_memory_per_idle_container_is_one_reading_judged_by_the_stated_rule(base):
    """No spread is recorded for memory: it moved beyond MEMORY_SHARE of the previous reading and MEMORY_FLOOR_KIB."""
    before = _memory(base["hosts"]["dev-vm"])["total_pss_kib"]
    assert before == 13618 and "n" not in _memory(base["hosts"]["dev-vm"])

    def grown(kib):
        return changed(base, lambda hosts: _memory(hosts["dev-vm"]).update(total_pss_kib=kib))
    # 13618 KiB: the threshold is 10% of it, 1361.8 KiB (more than the 1 MiB floor).
    item = only(changes.compare(base, grown(before + 1400))["performance"], measure="memory_pss")
    assert (item["change"], item["unit"], item["old"], item["new"]) == ("worse", "KiB", before, before + 1400)
    assert item["noise"] == pytest.approx(1361.8)
    assert changes.compare(base, grown(before + 1300))["performance"] == []
    assert only(changes.compare(base, grown(before - 1400))["performance"], measure="memory_pss")["change"] == "better"
    # A small container: the 1 MiB floor holds (a few shared pages are not a change).
    small = changed(base, lambda hosts: _memory(hosts["dev-vm"]).update(total_pss_kib=2000))
    assert changes.compare(small, changed(base, lambda hosts: _memory(hosts["dev-vm"]).update(total_pss_kib=2900))
                           )["performance"] == []
    moved = changes.compare(small, changed(base, lambda hosts: _memory(hosts["dev-vm"]).update(total_pss_kib=3100)))
    assert only(moved["performance"], measure="memory_pss")["noise"] == 1024.0
    # Judged, so not counted among the measurements without a spread; never a weakening.
    assert changes.compare(base, grown(before + 1400))["summary"]["performance_not_judged"] == \
        changes.compare(base, rejudge(base))["summary"]["performance_not_judged"]
    assert changes.compare(base, grown(before * 3))["weakened"] == {}


def test_one_host_is_judged_by_the_same_rules_as_the_report(base):
    """host_weakening (the verify_host action's) is compare on one-host reports: the same reasons as the report's."""
    new = changed(base, lambda hosts: kata(hosts).update(verdict="shared-kernel", sandbox=None))
    previous = {"path": "/evidence/latest", "report": base, "facts": {}, "problems": [], "refused": None, "derived": []}
    reasons, section = changes.host_weakening(previous, "lab-laptop", new["hosts"]["lab-laptop"])
    assert reasons == changes.compare(base, new)["weakened"]["lab-laptop"] == ["kata: vm-isolated -> shared-kernel"]
    message = changes.weakening_message(section, "lab-laptop")
    assert message == ("weakened since run %s (2026-12-01): kata on this host was vm-isolated, now "
                       "shared-kernel; kata_fleet_fail_on_weakening: false accepts it" % OLD_ID), message
    assert changes.host_weakening(previous, "dev-vm", new["hosts"]["dev-vm"])[0] == []
    # Nothing to judge: a host not in the previous run, a refused or missing previous bundle.
    assert changes.host_weakening(previous, "node-new", new["hosts"]["dev-vm"]) == (None, None)
    refused = dict(previous, report=None, problems=["report.json does not match its checksum"])
    assert changes.host_weakening(refused, "lab-laptop", new["hosts"]["lab-laptop"]) == (None, None)
    assert changes.host_weakening({"path": None, "report": None}, "lab-laptop", {}) == (None, None)


def test_a_removed_handler_is_named_in_the_message(base):
    previous = {"path": "/evidence/latest", "report": base, "facts": {}, "problems": [], "refused": None, "derived": []}
    entry = copy.deepcopy(base["hosts"]["lab-laptop"])
    del entry["runtimes"]["kata"]
    reasons, section = changes.host_weakening(previous, "lab-laptop", entry)
    assert reasons == ["kata: handler removed (was vm-isolated)"]
    assert "kata on this host was vm-isolated, now it is not probed" in \
        changes.weakening_message(section, "lab-laptop")


# ------------------------------------------------------------------ old and hostile reports


def test_an_older_report_without_todays_fields_is_compared_on_what_both_hold(base):
    # The sample bundle in docs/ was written before sandbox, host_witness and image_source existed.
    path = os.path.join(ROOT, "docs", "sample-bundle", OLD_ID, "report.json")
    with open(path) as handle:
        old = json.load(handle)
    new = changed(base, lambda hosts: kata(hosts).update(sandbox="kata-qemu", host_witness=None, witness="agrees",
                                                         image_source="built"))
    section = changes.compare(old, new)
    item = only(section["runtimes"], handler="kata")
    assert item["direction"] == "information" and item["old"]["sandbox"] is None and item["new"]["sandbox"] == "kata-qemu"
    assert section["weakened"] == {}


@pytest.mark.parametrize("old", [
    {},
    {"schema": "kata_fleet.report/v0", "hosts": {"lab-laptop": {"status": "ok"}}},
    {"hosts": {"lab-laptop": {"status": "ok", "runtimes": []}}, "policies": "none"},
    {"hosts": {"lab-laptop": {"status": "sideways", "runtimes": {"kata": "vm"}, "host": ["x"]}}},
    {"hosts": {"lab-laptop": {"runtimes": {"kata": {"isolation": {"status": 7, "verdict": {"a": 1}, "sandbox": 3}}}}},
     "policies": [{"name": None}, 5, {"name": "p", "results": [None, {"host": 1, "status": "pass"}]}]},
    {"hosts": [], "run_id": {"x": 1}, "started": 12},
    {"hosts": {"lab-laptop": {"status": "ok", "runtimes": {"kata": {"startup": {
        "status": "ok", "total": {"median": float("nan"), "n": True, "stdev": "1"}}}}}}},
])
def test_an_old_report_of_any_shape_is_compared_without_a_crash(base, old):
    section = changes.compare(old, rejudge(base))
    json.dumps(section, allow_nan=False)
    assert section["status"] == "compared" and section["summary"]["hosts_now"] == 3
    text = changes.render_text(section)
    assert text.startswith("CHANGES SINCE")


def test_hostile_text_from_the_old_report_is_one_bounded_line(base):
    old = copy.deepcopy(base)
    evil = "\x1b]0;owned\x07\u202e" + "v" * 5000
    old["hosts"]["dev-vm"]["host"]["tools"]["runc"]["version"] = evil
    old["hosts"]["dev-vm"]["runtimes"]["runc\x1b[2J"] = copy.deepcopy(old["hosts"]["dev-vm"]["runtimes"]["runc"])
    old["run_id"] = "\x1b[31mred"
    section = changes.compare(old, rejudge(base))
    version = only(section["versions"], component="runc")["old"]
    assert len(version) <= changes.VALUE_LIMIT and "\x1b" not in version and "\u202e" not in version
    removed = [item for item in section["runtimes"] if item["change"] == "removed"][0]
    assert "\x1b" not in removed["handler"]
    text = changes.render_text(section)
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text


# ------------------------------------------------------------------ a fleet


def fleet(size, changed_every=2):
    template = sample_bundle.sample_report()
    old = {"hosts": {}, "run_id": OLD_ID, "finished": "2026-12-01T04:00:12Z", "policies": []}
    for number in range(size):
        old["hosts"]["node-%04d" % number] = copy.deepcopy(template["hosts"]["lab-laptop"])
    new = copy.deepcopy(old)
    new["run_id"] = NEW_ID
    for number in range(0, size, changed_every):
        new["hosts"]["node-%04d" % number]["runtimes"]["kata"]["isolation"]["verdict"] = "shared-kernel"
    return old, new


def test_a_thousand_hosts_half_changed_summarise_then_list():
    old, new = fleet(1000)
    section = changes.compare(old, new, max_items=300)
    summary = section["summary"]
    assert (summary["hosts_compared"], summary["hosts_changed"], summary["hosts_unchanged"]) == (1000, 500, 500)
    assert summary["weakenings"] == 500 and len(section["weakened"]) == 500
    assert len(section["runtimes"]) == 300 and section["left_out"]["runtimes"] == 200
    text = changes.render_text(section, listed=20)
    lines = text.splitlines()
    assert lines[0] == "CHANGES SINCE %s (2026-12-01)" % OLD_ID
    assert "1000 hosts compared: 500 unchanged, 500 changed (500 weakened)" in text
    assert "500 weakenings" in text
    assert len(lines) < 40 and "... and 480 more" in text
    # Every weakened host has its policy result, listed or not.
    results = changes.weakening_results(section, new["hosts"])
    assert sum(1 for items in results.values() if items[0]["status"] == "fail") == 500


# ------------------------------------------------------------------ bundles on disk


def write(root, report, signing_key=None):
    """A bundle as the callback writes it; returns its folder."""
    json_text = model.to_json(report)
    folder, _written, _warnings = bundle.write_bundle(report["run_id"], str(root), bundle.outputs(
        report, json_text, report_view.build_view(report), None, None), signing_key)
    return folder


def fallen_back(base):
    return changed(base, lambda hosts: kata(hosts).update(verdict="shared-kernel"))


def test_the_previous_bundle_is_latest_unless_named(tmp_path, base):
    assert changes.previous_bundle(str(tmp_path)) is None
    assert changes.previous_bundle(None) is None
    folder = write(tmp_path, base)
    assert changes.previous_bundle(str(tmp_path)) == os.path.join(str(tmp_path), "latest")
    assert os.path.realpath(changes.previous_bundle(str(tmp_path))) == os.path.realpath(folder)
    assert changes.previous_bundle(str(tmp_path), "/elsewhere/run-1") == "/elsewhere/run-1"
    section = changes.against_bundle(None, base)
    assert section["status"] == "none"
    assert changes.weakening_results(section, base["hosts"])["dev-vm"][0]["status"] == "skip"
    assert changes.render_text(section).startswith("CHANGES: no previous run")


def test_against_a_verified_previous_bundle(tmp_path, base):
    write(tmp_path, base)
    section = changes.against_bundle(changes.previous_bundle(str(tmp_path)), fallen_back(base))
    assert section["status"] == "compared" and section["previous"]["signed"] is False
    assert len(section["previous"]["report_sha256"]) == 64
    assert section["weakened"] == {"lab-laptop": ["kata: vm-isolated -> shared-kernel"]}


def test_a_tampered_previous_bundle_is_named_and_not_compared(tmp_path, base):
    folder = write(tmp_path, base)
    path = os.path.join(folder, "report.json")
    with open(path) as handle:
        text = handle.read()
    # Hide the fallback: the previous run "already" said shared-kernel.
    os.chmod(path, 0o640)
    with open(path, "w") as handle:
        handle.write(text.replace('"vm-isolated"', '"shared-kernel"'))
    new = fallen_back(base)
    section = changes.against_bundle(folder, new)
    assert section["status"] == "refused"
    assert "does not match its checksum" in section["problems"][0]
    assert all(section[key] == [] for key in changes.LISTS) and section["weakened"] == {}
    results = changes.weakening_results(section, new["hosts"])
    assert all(items[0]["status"] == "error" for items in results.values())
    assert "refused, not compared" in results["dev-vm"][0]["detail"] and _policy.blocking(results["dev-vm"])
    rendered = changes.render_text(section)
    assert "NOT COMPARED" in rendered and "does not match its checksum" in rendered


def test_signatures_are_checked_when_a_key_is_given(tmp_path, base, keys):
    signed = write(tmp_path / "signed", base, signing_key=keys["signer"])
    new = fallen_back(base)
    section = changes.against_bundle(signed, new, public_keys=[keys["signer"] + ".pub"])
    assert section["status"] == "compared" and section["previous"]["signed_by"].startswith("SHA256:")
    stranger = changes.against_bundle(signed, new, public_keys=[keys["stranger"] + ".pub"])
    assert stranger["status"] == "refused" and "signature" in stranger["problems"][0]
    unsigned = write(tmp_path / "unsigned", base)
    refused = changes.against_bundle(unsigned, new, public_keys=[keys["signer"] + ".pub"])
    assert refused["status"] == "refused" and "not signed" in refused["problems"][0]
    with pytest.raises(changes.DiffError):
        changes.against_bundle(signed, new, public_keys=[str(tmp_path / "no-such-key")])


def test_the_weakening_policy_goes_into_a_report_the_verifier_accepts(tmp_path, base):
    """weakening_results merge like any policy: the callback's report.json with them is one verify reads back."""
    write(tmp_path / "old", base)
    new = fallen_back(base)
    section = changes.against_bundle(os.path.join(str(tmp_path / "old"), "latest"), new)
    new = rejudge(new, NEW_ID, changes.weakening_results(section, new["hosts"]))
    policy = only(new["policies"], name=changes.WEAKENING_POLICY)
    assert [result["status"] for result in policy["results"]] == ["pass", "fail", "skip"]
    assert new["result"] == "fail" and changes.WEAKENING_POLICY in model.error_policies(new["policies"])
    folder = write(tmp_path / "new", new)
    report, problems = verify.verify_bundle(folder)
    assert problems == [] and report["run_id"] == NEW_ID


def test_diff_entry_point_python_and_command_line(tmp_path, base, capsys):
    old = write(tmp_path, base)
    new = write(tmp_path, fallen_back(base))
    section = kata_fleet_runner.diff_bundles(old, new)
    assert section["status"] == "compared" and section["summary"]["weakenings"] == 1
    assert section["previous"]["path"] == old and section["current"]["path"] == new

    assert cli.main(["diff", old, new]) == 1
    out = capsys.readouterr().out
    assert out.startswith("CHANGES SINCE %s (2026-12-01)" % OLD_ID)
    assert "WEAKENED lab-laptop / kata: vm-isolated -> shared-kernel" in out
    assert "lab-laptop: kata-vm-isolated (error) newly-failing (pass -> fail)" in out

    assert cli.main(["diff", old, old]) == 0
    assert "3 unchanged" in capsys.readouterr().out
    assert cli.main(["diff", "--json", old, new]) == 1
    assert json.loads(capsys.readouterr().out)["weakened"] == section["weakened"]

    os.chmod(os.path.join(new, "report.md"), 0o640)
    with open(os.path.join(new, "report.md"), "a") as handle:
        handle.write("tampered\n")
    assert cli.main(["diff", old, new]) == 2
    captured = capsys.readouterr()
    assert "NOT COMPARED" in captured.out
    assert "not compared: new bundle %s: report.md does not match its checksum" % new in captured.err
    assert kata_fleet_runner.diff_bundles(old, new)["status"] == "refused"

    assert cli.main(["diff", old, new, "-k", str(tmp_path / "no-such-key")]) == 2
    assert "kata_fleet_runner diff: error: public key" in capsys.readouterr().err
    with pytest.raises(kata_fleet_runner.KataFleetRunError):
        kata_fleet_runner.diff_bundles(None, new)


def test_a_host_that_failed_loses_its_handlers_as_a_weakening_that_says_so(base):
    def broken(hosts):
        hosts["lab-laptop"].update(status="failed", error="containerd does not answer", runtimes={})
    section = changes.compare(base, changed(base, broken))
    assert only(section["hosts"], host="lab-laptop")["change"] == "status"
    assert section["weakened"]["lab-laptop"] == ["kata: no result now, the host failed (was vm-isolated)",
                                                 "runc: no result now, the host failed (was shared-kernel)"]


# What report.json's ``changes`` holds, for docs/report.schema.json: every section compare, against_bundle and
# diff_bundles make in these tests is checked against it.
ITEM_ISOLATION = {"type": ["object", "null"], "required": ["status", "verdict", "sandbox"], "additionalProperties": False,
                  "properties": {"status": {"enum": ["ok", "failed"]},
                                 "verdict": {"enum": ["vm-isolated", "user-space-kernel", "shared-kernel", "unknown", None]},
                                 "sandbox": {"type": ["string", "null"]}}}
TEXT = {"type": "string"}
MAYBE_TEXT = {"type": ["string", "null"]}
RUN = {"type": ["object", "null"], "required": ["run_id", "started", "finished", "schema"],
       "properties": {"run_id": MAYBE_TEXT, "started": MAYBE_TEXT, "finished": MAYBE_TEXT, "schema": MAYBE_TEXT,
                      "path": MAYBE_TEXT, "signed": {"type": "boolean"}, "signed_by": MAYBE_TEXT,
                      "report_sha256": MAYBE_TEXT}}
HOST_STATUS = {"enum": ["ok", "failed", "unreachable", "skipped", None]}
CHANGES_SCHEMA = {
    "type": "object",
    "required": ["version", "status", "previous", "current", "problems", "summary", "weakened", "hosts", "runtimes",
                 "versions", "policies", "performance", "left_out"],
    "additionalProperties": False,
    "properties": {
        "version": {"const": 1},
        "status": {"enum": ["compared", "refused", "none"]},
        "previous": RUN, "current": RUN,
        "problems": {"type": "array", "items": TEXT, "maxItems": changes.MAX_PROBLEMS},
        "summary": {"type": "object", "required": list(changes.SUMMARY_KEYS), "additionalProperties": False,
                    "properties": dict((key, {"type": "integer", "minimum": 0}) for key in changes.SUMMARY_KEYS)},
        "weakened": {"type": "object", "additionalProperties": {"type": "array", "items": TEXT, "maxItems": 6}},
        "hosts": {"type": "array", "items": {
            "type": "object", "required": ["host", "change", "old", "new", "weakening"], "additionalProperties": False,
            "properties": {"host": TEXT, "old": HOST_STATUS, "new": HOST_STATUS, "weakening": {"type": "boolean"},
                           "change": {"enum": ["new", "gone", "unreachable-now", "reachable-again", "status"]}}}},
        "runtimes": {"type": "array", "items": {
            "type": "object", "required": ["host", "handler", "change", "direction", "old", "new"],
            "additionalProperties": False,
            "properties": {"host": TEXT, "handler": TEXT, "change": {"enum": ["changed", "added", "removed"]},
                           "direction": {"enum": ["weakening", "strengthening", "information"]},
                           "old": ITEM_ISOLATION, "new": ITEM_ISOLATION}}},
        "versions": {"type": "array", "items": {
            "type": "object", "required": ["host", "component", "handler", "old", "new"], "additionalProperties": False,
            "properties": {"host": TEXT, "handler": MAYBE_TEXT, "old": MAYBE_TEXT, "new": MAYBE_TEXT,
                           "component": {"enum": ["containerd", "runc", "kata-shim", "runsc", "host-kernel",
                                                  "guest-kernel"]}}}},
        "policies": {"type": "array", "items": {
            "type": "object", "required": ["host", "policy", "severity", "old", "new", "change"],
            "additionalProperties": False,
            "properties": {"host": TEXT, "policy": TEXT, "severity": {"enum": ["error", "warning", None]},
                           "old": {"enum": ["pass", "fail", "error", "skip", None]},
                           "new": {"enum": ["pass", "fail", "error", "skip"]},
                           "change": {"enum": ["newly-failing", "newly-passing"]}}}},
        "performance": {"type": "array", "items": {
            "type": "object", "required": ["host", "handler", "measure", "unit", "old", "new", "noise", "change"],
            "additionalProperties": False,
            "properties": {"host": TEXT, "handler": TEXT, "unit": {"enum": ["s", "KiB"]},
                           "measure": {"enum": ["startup_median", "http_p50", "http_p99", "memory_pss"]},
                           "old": {"type": "number"}, "new": {"type": "number"}, "noise": {"type": "number"},
                           "change": {"enum": ["worse", "better"]}}}},
        "left_out": {"type": "object", "required": list(changes.LISTS), "additionalProperties": False,
                     "properties": dict((key, {"type": "integer", "minimum": 0}) for key in changes.LISTS)},
    },
}


@pytest.fixture(autouse=True)
def _every_section_fits_the_schema(monkeypatch):
    """Wraps compare and empty: each section a test makes is validated (and JSON without NaN) on its way out."""
    import jsonschema

    made = []
    for name in ("compare", "empty"):
        original = getattr(changes, name)

        def wrapped(*args, _original=original, **kwargs):
            section = _original(*args, **kwargs)
            made.append(section)
            return section
        monkeypatch.setattr(changes, name, wrapped)
    yield
    for section in made:
        jsonschema.validate(section, CHANGES_SCHEMA)
        json.dumps(section, allow_nan=False)
