"""What changed since the last run, live: three verify runs into one evidence folder (issue 22).

The tests' own containerd (a separate instance, so the session's one keeps its handlers) is configured with runc
and gVisor's runsc; verify probes every handler it is configured with. Between the first and the second run runsc
is removed from its config: the second run reports the handler gone, fails on no-weakening and exits non-zero (the
verify_host action fails the host against the previous bundle the callback preloaded); a third run, with nothing
changed, reports no change and exits 0.
"""

import os
import re
import shutil
import signal
import tempfile

import pytest

from harness import NOTHING_LEFT, Containerd, local_inventory

pytestmark = pytest.mark.skipif(shutil.which("runsc") is None, reason="runsc is not installed (.ci/run installs it)")


class RuncAndRunsc(Containerd):
    """The harness's containerd with only runc and (while ``runsc`` is true) the runsc handler in its config."""

    runsc = True

    def write_config(self):
        super().write_config()
        with open(self.config) as handle:
            text = handle.read()
        # Every handler section but runc's and runsc's goes ('hang' never returns, runsc-netstack cannot serve HTTP).
        sections = re.split(r"(?m)^(?=\[plugins\.)", text)
        keep = ["runtimes.runc]", "runtimes.runsc]", "runtimes.runsc.options]"] if self.runsc else ["runtimes.runc]"]
        text = "".join(part for part in sections
                       if not part.startswith("[plugins.") or any(part.split("\n", 1)[0].endswith(name) for name in keep))
        with open(self.config, "w") as handle:
            handle.write(text)


@pytest.fixture
def own_containerd():
    if os.geteuid() != 0:
        pytest.skip("the integration tests run real containers and need root")
    instance = RuncAndRunsc(tempfile.mkdtemp(prefix="kf-it-", dir="/tmp"))
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


def _restart(instance, runsc):
    """containerd again with the other config (it reads its config at start); its images and state stay."""
    os.killpg(instance.process.pid, signal.SIGTERM)
    instance.process.wait(timeout=30)
    instance.runsc = runsc
    instance.start()


def _changes_text(stdout):
    """The console's summary (from "Hosts:") and CHANGES section, up to the next section (an upper-case title)."""
    start = stdout.index("CHANGES")
    end = re.compile(r"\n\n(?=[A-Z][A-Z ]+\n)").search(stdout, start)
    return stdout[stdout.rindex("Hosts: ", 0, start):end.start() if end else stdout.index("Evidence: ", start)]


def test_a_handler_removed_between_runs_is_reported_and_fails_the_next_run(own_containerd, run_playbook):
    inventory = local_inventory(own_containerd, kata_fleet_startup_runs=0, kata_fleet_http_requests=0)

    first = run_playbook("verify.yml", inventory)
    assert first.status == "successful", first.stdout
    report = first.report()
    assert sorted(report["hosts"]["localhost"]["runtimes"]) == ["runc", "runsc"]
    assert report["changes"]["status"] == "none" and report["result"] == "pass"
    assert "CHANGES: no previous run to compare with" in first.stdout
    first_id = report["run_id"]

    _restart(own_containerd, runsc=False)
    second = run_playbook("verify.yml", inventory)
    # The weakening fails the host in the verify_host action (the previous bundle preloaded at the play's start),
    # so ansible-playbook's exit status says it; the report is what it always was (the host ok, no-weakening fails).
    assert second.status == "failed" and second.rc not in (0, None), (second.status, second.rc, second.stdout)
    assert "weakened since run %s (" % first_id in second.stdout, second.stdout
    assert "runsc on this host was user-space-kernel" in second.stdout
    assert "kata_fleet_fail_on_weakening: false accepts it" in second.stdout
    failure = re.search(r'"msg": "(weakened since run [^"]*)"', second.stdout)
    assert failure, second.stdout
    print("\n--- second run: %s, rc %s; the verify_host task's message ---\n%s" % (
        second.status, second.rc, failure.group(1)))
    report = second.report()
    assert report["hosts"]["localhost"]["status"] == "ok", report["hosts"]["localhost"]["error"]
    assert sorted(report["hosts"]["localhost"]["runtimes"]) == ["runc"]
    section = report["changes"]
    assert section["status"] == "compared" and section["previous"]["run_id"] == first_id, section["problems"]
    [removed] = [item for item in section["runtimes"] if item["handler"] == "runsc"]
    assert (removed["change"], removed["direction"]) == ("removed", "weakening")
    assert removed["old"]["verdict"] == "user-space-kernel" and removed["new"] is None
    [reason] = section["weakened"]["localhost"]
    assert reason.startswith("runsc: handler removed (was user-space-kernel"), reason
    [policy] = [item for item in report["policies"] if item["name"] == "no-weakening"]
    assert policy["severity"] == "error" and policy["results"][0]["status"] == "fail"
    assert report["result"] == "fail"
    text = _changes_text(second.stdout)
    assert "\n\nCHANGES SINCE %s (" % first_id in text, text
    assert "Result: FAIL." in text and "no-weakening" in text
    assert "WEAKENED localhost / runsc: handler removed" in text
    print("\n--- second run's console section ---\n" + text)
    with open(os.path.join(second.evidence_dir, "latest", "junit.xml")) as handle:
        assert 'classname="no-weakening"' in handle.read()

    second_id = report["run_id"]
    third = run_playbook("verify.yml", inventory)
    assert third.status == "successful" and third.rc == 0, (third.status, third.rc, third.stdout)
    report = third.report()
    section = report["changes"]
    assert section["status"] == "compared" and section["previous"]["run_id"] == second_id != first_id
    assert section["weakened"] == {} and section["runtimes"] == [] and section["hosts"] == []
    assert section["summary"]["hosts_unchanged"] == 1
    [policy] = [item for item in report["policies"] if item["name"] == "no-weakening"]
    assert policy["results"][0]["status"] == "pass" and report["result"] == "pass"
    print("\n--- third run's console section ---\n" + _changes_text(third.stdout))
    assert own_containerd.leftovers() == NOTHING_LEFT


def test_fail_on_weakening_false_reports_the_weakening_and_exits_zero(own_containerd, run_playbook):
    inventory = local_inventory(own_containerd, kata_fleet_startup_runs=0, kata_fleet_http_requests=0,
                                kata_fleet_fail_on_weakening=False)
    first = run_playbook("verify.yml", inventory)
    assert first.status == "successful", first.stdout
    _restart(own_containerd, runsc=False)
    second = run_playbook("verify.yml", inventory)
    assert second.status == "successful" and second.rc == 0, (second.status, second.rc, second.stdout)
    report = second.report()
    assert list(report["changes"]["weakened"]) == ["localhost"]
    [policy] = [item for item in report["policies"] if item["name"] == "no-weakening"]
    assert policy["severity"] == "warning" and policy["results"][0]["status"] == "fail"
    assert report["result"] == "pass"
    assert own_containerd.leftovers() == NOTHING_LEFT
