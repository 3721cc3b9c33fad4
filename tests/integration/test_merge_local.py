"""Many controllers, one answer: three real verify runs (the hosts split in three, as AWX slices or --limit per
controller would), their signed bundles merged: one tampered part refused and named, one host in two parts shown
twice and flagged, the merged bundle checked with the auditor's own commands."""

import json
import os
import subprocess
import sys

from harness import NOTHING_LEFT, REPO, local_inventory

if REPO not in sys.path:
    sys.path.insert(0, REPO)

from kata_fleet_runner import merge_bundles, run_playbook  # noqa: E402  pylint: disable=wrong-import-position

QUICK = {"kata_fleet_runtimes": ["runc"], "kata_fleet_startup_runs": 0, "kata_fleet_http_requests": 0}
# Slice 2 holds node-b again (an inventory split wrongly); slice 3's report.json is changed after it was signed.
SLICES = (("node-a", "node-b"), ("node-b", "node-c"), ("node-d",))
RUN_ID = "merge-it-0001"


def _inventory(containerd, names):
    variables = local_inventory(containerd, **QUICK)["all"]["hosts"]["localhost"]
    return {"all": {"hosts": dict((name, dict(variables)) for name in names)}}


def test_three_slices_merge_into_one_signed_bundle(containerd, tmp_path):
    key = tmp_path / "signing_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kata-fleet-test", "-f", str(key)], check=True)
    parts = []
    for number, names in enumerate(SLICES, 1):
        result = run_playbook("verify", _inventory(containerd, names), private_data_dir=tmp_path / ("runner%d" % number),
                              evidence_dir=tmp_path / ("slice%d" % number), extravars={"kata_fleet_run_id": RUN_ID},
                              envvars={"KATA_FLEET_SIGNING_KEY": str(key)}, forks=1, timeout=600)
        assert (result.status, result.rc) == ("successful", 0), result.stdout
        assert sorted(result.report["hosts"]) == sorted(names) and result.report["run_id"] == RUN_ID
        assert (result.evidence_dir / "SHA256SUMS.sig").is_file()
        parts.append(str(result.evidence_dir))
    assert containerd.leftovers() == NOTHING_LEFT

    tampered = os.path.join(parts[2], "report.json")
    with open(tampered) as handle:
        report = json.load(handle)
    report["hosts"]["node-d"]["runtimes"]["runc"]["isolation"]["verdict"] = "vm-isolated"
    with open(tampered, "w") as handle:
        json.dump(report, handle)

    merged = merge_bundles(parts, tmp_path / "merged", public_keys=[str(key) + ".pub"], signing_key=str(key))
    assert merged.used == [1, 2]
    [refused] = merged.refused
    assert refused["part"] == 3 and refused["path"] == parts[2]
    assert "report.json does not match its checksum" in refused["reason"]
    report = merged.report
    assert report["run_id"] == RUN_ID and merged.evidence_dir == tmp_path / "merged" / RUN_ID
    assert sorted(report["hosts"]) == ["node-a", "node-b (part 1)", "node-b (part 2)", "node-c"]
    for entry in report["hosts"].values():
        assert entry["status"] == "ok" and entry["runtimes"]["runc"]["isolation"]["verdict"] == "shared-kernel"
    assert report["merge"]["duplicate_hosts"] == [{"host": "node-b", "parts": [1, 2],
                                                   "shown_as": ["node-b (part 1)", "node-b (part 2)"]}]
    assert [part["run_id"] for part in report["merge"]["parts"]] == [RUN_ID, RUN_ID]
    assert all(part["signed_by"].startswith("SHA256:") for part in report["merge"]["parts"])
    assert report["result"] == "fail"  # node-d's slice is not in the answer
    errors = [item["error"] for item in report["errors"]]
    assert any("part 3 (%s) refused" % parts[2] in error for error in errors)
    assert any("host node-b is in parts 1, 2" in error for error in errors)

    # The auditor's commands (docs/evidence.md) on the merged bundle.
    folder = str(merged.evidence_dir)
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and checked.stdout.count(": OK") == len(merged.written) - 2, checked.stdout
    signers = tmp_path / "allowed_signers"
    signers.write_text("kata-fleet %s" % (tmp_path / "signing_key.pub").read_text())
    with open(os.path.join(folder, "SHA256SUMS"), "rb") as sums:
        verified = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", "kata-fleet",
                                   "-n", "kata-fleet-evidence", "-s", os.path.join(folder, "SHA256SUMS.sig")],
                                  stdin=sums, capture_output=True, check=False)
    assert verified.returncode == 0, verified.stderr
    with open(os.path.join(folder, "junit.xml")) as handle:
        junit = handle.read()
    assert "node-b (part 2)" in junit and "node-d" not in junit

    # The same from a shell: exit 1 (a part refused), the refusal on stderr, no traceback.
    shell = subprocess.run([sys.executable, "-m", "kata_fleet_runner", "merge"] + parts
                           + ["-o", str(tmp_path / "merged-cli"), "-k", str(key) + ".pub"],
                           cwd=REPO, capture_output=True, text=True, check=False)
    assert shell.returncode == 1, shell.stderr
    assert "part 3 (%s) refused: report.json does not match its checksum" % parts[2] in shell.stderr
    assert "Traceback" not in shell.stderr
