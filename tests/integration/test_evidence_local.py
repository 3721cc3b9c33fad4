"""The evidence bundle of a real verify run: schema, checksums, signature, policies."""

import json
import os
import subprocess

import jsonschema

from harness import REPO, local_inventory

BUNDLE = ("report.json", "report.md", "report.csv", "report.html", "junit.xml", "SHA256SUMS")


def _schema():
    with open(os.path.join(REPO, "docs", "report.schema.json")) as handle:
        return json.load(handle)


def test_bundle_validates_checks_and_verifies(containerd, run_playbook, tmp_path):
    key = tmp_path / "signing_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kata-fleet-test", "-f", str(key)], check=True)
    run = run_playbook("verify.yml", local_inventory(containerd, kata_fleet_runtimes=["runc"], kata_fleet_startup_runs=3,
                                                     kata_fleet_http_requests=10),
                       extra_env={"KATA_FLEET_SIGNING_KEY": str(key)})
    assert run.status == "successful", run.stdout
    latest = os.path.join(run.evidence_dir, "latest")
    report = run.report()
    assert os.readlink(latest) == report["run_id"]
    assert sorted(os.listdir(latest)) == sorted(BUNDLE + ("SHA256SUMS.sig",))
    jsonschema.validate(report, _schema())
    assert report["result"] == "pass" and report["summary"]["ok"] == 1
    assert {policy["name"] for policy in report["policies"]} >= {"kata-vm-isolated", "runc-shared-kernel"}

    # The commands docs/evidence.md gives an auditor.
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=latest, capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and checked.stdout.count(": OK") == len(BUNDLE) - 1, checked.stdout
    signers = tmp_path / "allowed_signers"
    signers.write_text("kata-fleet %s" % (tmp_path / "signing_key.pub").read_text())
    with open(os.path.join(latest, "SHA256SUMS"), "rb") as sums:
        verified = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", "kata-fleet",
                                   "-n", "kata-fleet-evidence", "-s", os.path.join(latest, "SHA256SUMS.sig")],
                                  stdin=sums, capture_output=True, check=False)
    assert verified.returncode == 0, verified.stderr
    # A changed file no longer checks.
    with open(os.path.join(latest, "report.csv"), "a") as handle:
        handle.write("tampered\n")
    assert subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=latest, capture_output=True,
                          check=False).returncode != 0


def test_failing_error_policy_fails_the_run(containerd, run_playbook):
    policy = {"name": "runc-must-be-vm", "severity": "error", "description": "a policy this host cannot meet",
              "applies_to": "runtimes.runc", "expect": "runtimes.runc.isolation.verdict == 'vm-isolated'"}
    run = run_playbook("verify.yml", local_inventory(containerd, kata_fleet_runtimes=["runc"], kata_fleet_startup_runs=0,
                                                     kata_fleet_http_requests=0, kata_fleet_policies=[policy]))
    assert run.status == "failed" and run.rc == 2
    report = run.report()
    assert report["result"] == "fail"
    [result] = [p for p in report["policies"] if p["name"] == "runc-must-be-vm"][0]["results"]
    assert result["status"] == "fail" and result["host"] == "localhost"
    assert "runc-must-be-vm" in run.stdout
    with open(os.path.join(run.evidence_dir, "latest", "junit.xml")) as handle:
        assert 'classname="runc-must-be-vm"' in handle.read()


def test_warning_policy_does_not_fail_the_run(containerd, run_playbook):
    policy = {"name": "startup-wish", "severity": "warning", "description": "faster than physics",
              "expect": "`false`"}
    run = run_playbook("verify.yml", local_inventory(containerd, kata_fleet_runtimes=["runc"], kata_fleet_startup_runs=0,
                                                     kata_fleet_http_requests=0, kata_fleet_policies=[policy]))
    assert run.status == "successful", run.stdout
    assert run.report()["result"] == "pass"
    assert "startup-wish" in run.stdout


def test_bad_policy_expression_names_the_rule(containerd, run_playbook):
    policy = {"name": "broken", "expect": "runtimes.[", "description": "not JMESPath"}
    run = run_playbook("verify.yml", local_inventory(containerd, kata_fleet_runtimes=["runc"], kata_fleet_startup_runs=0,
                                                     kata_fleet_http_requests=0, kata_fleet_policies=[policy]))
    assert run.status == "failed"
    # A policy that does not compile is a settings problem: the host stops before anything runs on it.
    msg = run.results("verify_host")["localhost"]["msg"]
    assert "policy 'broken'" in msg and "JMESPath" in msg
    assert "Traceback" not in run.stdout


def test_inventory_variable_moves_the_bundle(containerd, run_playbook, tmp_path):
    """kata_fleet_evidence_dir reaches the callback in the verify_host action's result (every host says the same)."""
    target = tmp_path / "from-the-inventory"
    run = run_playbook("verify.yml", local_inventory(containerd, kata_fleet_runtimes=["runc"], kata_fleet_startup_runs=0,
                                                     kata_fleet_http_requests=0, kata_fleet_evidence_dir=str(target)))
    assert run.status == "successful", run.stdout
    report_path = target / "latest" / "report.json"
    assert report_path.is_file(), run.stdout[-2000:]
    assert "Evidence: %s/" % target in run.stdout
    assert not os.path.exists(os.path.join(run.evidence_dir, "latest"))
