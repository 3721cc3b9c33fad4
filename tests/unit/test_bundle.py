"""_bundle: every file it can write is written, checksummed and linked; failures become warnings."""

import hashlib
import os
import subprocess

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _bundle

REPORT = {"run_id": "20261201T000000-abcd"}


def _ok(name):
    return name, lambda report: "%s of %s\n" % (name, report["run_id"])


def _broken(report):
    raise KeyError("hosts")


def test_writes_files_sums_and_latest(tmp_path):
    folder, written, warnings = _bundle.write_bundle(REPORT, str(tmp_path), [_ok("a.txt"), _ok("b.txt")])
    assert warnings == [] and written == ["a.txt", "b.txt", "SHA256SUMS"]
    assert folder == str(tmp_path / REPORT["run_id"])
    assert os.readlink(str(tmp_path / "latest")) == REPORT["run_id"]
    sums = (tmp_path / REPORT["run_id"] / "SHA256SUMS").read_text()
    expected = ["%s  %s\n" % (hashlib.sha256(("%s of %s\n" % (name, REPORT["run_id"])).encode()).hexdigest(), name)
                for name in ("a.txt", "b.txt")]
    assert sums == "".join(expected)
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, check=False)
    assert checked.returncode == 0
    assert not [name for name in os.listdir(folder) if name.endswith(".tmp")]


def test_a_broken_renderer_costs_its_file_only(tmp_path):
    folder, written, warnings = _bundle.write_bundle(REPORT, str(tmp_path), [_ok("a.txt"), ("b.txt", _broken),
                                                                             _ok("c.txt")])
    assert written == ["a.txt", "c.txt", "SHA256SUMS"]
    assert warnings == ["kata-fleet evidence: could not write b.txt: KeyError: 'hosts'"]
    assert "b.txt" not in (tmp_path / REPORT["run_id"] / "SHA256SUMS").read_text()
    assert not os.path.exists(os.path.join(folder, "b.txt"))


def test_latest_moves_to_the_newest_run(tmp_path):
    _bundle.write_bundle({"run_id": "run-1"}, str(tmp_path), [_ok("a.txt")])
    _bundle.write_bundle({"run_id": "run-2"}, str(tmp_path), [_ok("a.txt")])
    assert os.readlink(str(tmp_path / "latest")) == "run-2"
    assert sorted(os.listdir(str(tmp_path))) == ["latest", "run-1", "run-2"]


def test_signature_verifies_and_a_bad_key_is_a_warning(tmp_path):
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    folder, written, warnings = _bundle.write_bundle(REPORT, str(tmp_path / "ev"), [_ok("a.txt")], str(key))
    assert warnings == [] and written[-1] == "SHA256SUMS.sig"
    signers = tmp_path / "allowed_signers"
    signers.write_text("kata-fleet " + (tmp_path / "key.pub").read_text())
    with open(os.path.join(folder, "SHA256SUMS"), "rb") as sums:
        assert subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", "kata-fleet", "-n",
                               _bundle.SIGNATURE_NAMESPACE, "-s", os.path.join(folder, "SHA256SUMS.sig")],
                              stdin=sums, capture_output=True, check=False).returncode == 0

    folder, written, warnings = _bundle.write_bundle({"run_id": "run-x"}, str(tmp_path / "ev"), [_ok("a.txt")],
                                                     str(tmp_path / "no-such-key"))
    assert written == ["a.txt", "SHA256SUMS"]
    assert len(warnings) == 1 and warnings[0].startswith("kata-fleet evidence: the bundle is not signed: ssh-keygen")


def test_an_unwritable_root_raises_for_the_callback_to_report(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError):
        _bundle.write_bundle(REPORT, str(blocker / "evidence"), [_ok("a.txt")])
