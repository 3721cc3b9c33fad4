"""verify.yml's settings, tags, check mode and expected runtimes, through ansible-playbook itself.

ansible-playbook is run directly (not through kata_fleet_runner) because these
are its command-line switches: --check, --tags, -e. The repository's ansible.cfg
enables the comparison callback, as a checkout's `make verify` does.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

from harness import REPO, local_inventory

BIN = os.path.dirname(sys.executable)
QUICK = {"kata_fleet_runtimes": ["runc"], "kata_fleet_startup_runs": 0, "kata_fleet_http_requests": 0}


def _verify(tmp_path, inventory, *args):
    (tmp_path / "hosts.json").write_text(json.dumps(inventory))
    env = dict((key, value) for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "KATA_FLEET_")))
    env.update({"ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                "KATA_FLEET_EVIDENCE_DIR": str(tmp_path / "evidence"),
                "PATH": BIN + os.pathsep + env.get("PATH", os.defpath)})
    done = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", str(tmp_path / "hosts.json"),
                           os.path.join(REPO, "playbooks", "verify.yml")] + list(args),
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600, check=False)
    return done.returncode, done.stdout + done.stderr


def _offline_inventory(tmp_path, **hostvars):
    """localhost pointed at a socket nothing listens on: anything that reached containerd would fail."""
    variables = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "kata_fleet_containerd_address": str(tmp_path / "nobody.sock")}
    variables.update(hostvars)
    return {"all": {"hosts": {"localhost": variables}}}


def _report(tmp_path):
    with open(str(tmp_path / "evidence" / "latest" / "report.json")) as handle:
        return json.load(handle)


def test_a_wrongly_typed_setting_stops_the_run_naming_it(tmp_path):
    rc, output = _verify(tmp_path, _offline_inventory(tmp_path, kata_fleet_startup_runs="ten"))
    assert rc != 0
    # ansible-core 2.17/2.18 say "of type <class 'str'>", 2.19 "of type str".
    assert re.search(r"argument 'kata_fleet_startup_runs' is of type (str|<class 'str'>) and we were unable to convert to int",
                     output), output
    # Stopped on the controller before anything ran on the host (the action's stage says so): no host facts,
    # no table, no bundle.
    assert '"kata_fleet_stage": "settings"' in output and "module_results" not in output
    assert "KATA-FLEET RUNTIME COMPARISON" not in output
    assert not (tmp_path / "evidence").exists()


def test_choices_and_handler_names_are_checked(tmp_path):
    rc, output = _verify(tmp_path, _offline_inventory(tmp_path, kata_fleet_client="docker"))
    assert rc != 0 and "kata_fleet_client" in output and "auto, ctr, nerdctl" in output
    rc, output = _verify(tmp_path, _offline_inventory(tmp_path, kata_fleet_expected_runtimes=["kata'] || `true"]))
    assert rc != 0 and "kata_fleet_expected_runtimes must be a list of handler names" in output
    rc, output = _verify(tmp_path, _offline_inventory(tmp_path, kata_fleet_runtimes="runc,kata"))
    assert rc != 0 and 'kata_fleet_runtimes must be a list of handler names' in output and 'runc,kata' in output
    rc, output = _verify(tmp_path, _offline_inventory(tmp_path, kata_fleet_http_concurrency=0))
    assert rc != 0 and "kata_fleet_http_concurrency (0) must be more than 0" in output


def test_check_mode_says_what_it_would_run_and_runs_nothing(containerd, tmp_path):
    namespace = "kf-checkmode"
    rc, output = _verify(tmp_path, local_inventory(containerd, kata_fleet_containerd_namespace=namespace,
                                                   kata_fleet_runtimes=["runc"], kata_fleet_expected_runtimes=["runc"]),
                         "--check")
    assert rc == 0, output
    assert "check mode: nothing runs and no evidence bundle is written" in output
    assert "probe runc (isolation_probe, timeout 60s)" in output
    assert "time 10 startups (+2 warm-ups) per handler" in output
    assert "check the policies, expecting handlers runc" in output
    # The one task said it, and ran nothing on the host.
    assert '"kata_fleet_stage": "check"' in output and "module_results" not in output
    assert "KATA-FLEET RUNTIME COMPARISON" not in output
    assert not (tmp_path / "evidence").exists()
    # Nothing reached containerd: the namespace has no image and no container.
    for kind in ("images", "containers"):
        listed = subprocess.run(["ctr", "--address", containerd.address, "-n", namespace, kind, "ls", "-q"],
                                capture_output=True, text=True, check=False)
        assert listed.returncode == 0 and listed.stdout.strip() == "", listed.stdout + listed.stderr


def test_tags_select_the_phases(containerd, tmp_path):
    rc, output = _verify(tmp_path, local_inventory(containerd, **QUICK), "--tags", "isolation")
    assert rc == 0, output
    # One verify_host task; the tag switched startup and HTTP off (the progress line names the verdict).
    assert "Verify the host (view, probe image, isolation, startup, HTTP) in one module run" in output
    assert "kata-fleet: [done 1/1, failed 0, left 0] localhost: runc shared-kernel" in output
    report = _report(tmp_path)
    # The policy phase was not selected: no policy of the host's was checked. The comparison with the last run
    # is the callback's (no-weakening), and this folder's first run has nothing to compare with.
    assert [(policy["name"], [r["status"] for r in policy["results"]]) for policy in report["policies"]] == [
        ("no-weakening", ["skip"])]
    runc = report["hosts"]["localhost"]["runtimes"]["runc"]
    assert runc["isolation"]["verdict"] == "shared-kernel"
    assert runc.get("startup") is None and runc.get("http") is None

    # --skip-tags drops a phase and keeps the others (the task itself is tagged always).
    rc, output = _verify(tmp_path, local_inventory(containerd, **QUICK), "--skip-tags", "policy")
    assert rc == 0, output
    report = _report(tmp_path)
    # Only the callback's comparison with the previous run (the one above, in the same folder) is left.
    assert [policy["name"] for policy in report["policies"]] == ["no-weakening"]
    assert report["hosts"]["localhost"]["runtimes"]["runc"]["isolation"]["verdict"] == "shared-kernel"

    rc, output = _verify(tmp_path, local_inventory(containerd, **QUICK), "--tags", "facts")
    assert rc == 0, output
    assert "Verify the host (view, probe image, isolation, startup, HTTP)" in output
    assert "kata-fleet: [done 1/1, failed 0, left 0] localhost: no isolation result" in output


def test_a_missing_expected_runtime_fails_the_host_report_and_junit(containerd, tmp_path):
    rc, output = _verify(tmp_path, local_inventory(containerd, kata_fleet_expected_runtimes=["runc", "kata"], **QUICK))
    assert rc != 0
    assert "expected-runtimes (error) failed" in output
    report = _report(tmp_path)
    assert report["result"] == "fail" and report["hosts"]["localhost"]["status"] == "failed"
    (policy,) = [policy for policy in report["policies"] if policy["name"] == "expected-runtimes"]
    assert policy["severity"] == "error"
    (result,) = policy["results"]
    assert result["status"] == "fail"
    detail = json.loads(result["detail"])
    assert detail["missing"] == ["kata"] and "runc" in detail["configured"] and detail["probed"] == ["runc"]
    junit = ET.parse(str(tmp_path / "evidence" / "latest" / "junit.xml")).getroot()
    cases = [case for case in junit.iter("testcase") if case.get("classname") == "expected-runtimes"]
    assert len(cases) == 1 and cases[0].get("name") == "localhost" and cases[0].find("failure") is not None


def test_expected_runtimes_that_are_there_pass(containerd, tmp_path):
    # "hang" (the tests' stand-in) is configured but not probed: configured counts as present.
    rc, output = _verify(tmp_path, local_inventory(containerd, kata_fleet_expected_runtimes=["runc", "hang"], **QUICK))
    assert rc == 0, output
    report = _report(tmp_path)
    (policy,) = [policy for policy in report["policies"] if policy["name"] == "expected-runtimes"]
    assert [result["status"] for result in policy["results"]] == ["pass"]
    assert report["result"] == "pass"


def test_bin_dir_is_searched_first_for_ctr(containerd, tmp_path):
    # A ctr that notes each call and hands it to the real one, as RKE2's /var/lib/rancher/rke2/bin/ctr would serve.
    bin_dir = tmp_path / "rke2-bin"
    bin_dir.mkdir()
    calls = tmp_path / "ctr-calls"
    wrapper = bin_dir / "ctr"
    wrapper.write_text("#!/bin/sh\necho \"$*\" >> %s\nexec %s \"$@\"\n" % (calls, shutil.which("ctr")))
    wrapper.chmod(0o755)
    rc, output = _verify(tmp_path, local_inventory(containerd, kata_fleet_bin_dir=str(bin_dir), kata_fleet_client="ctr",
                                                   **QUICK))
    assert rc == 0, output
    assert calls.exists() and "run" in calls.read_text()
