"""_report/bundle.py: every file it can write is written, checksummed and linked; nothing old is overwritten."""

import hashlib
import os
import stat
import subprocess
import threading

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import bundle

RUN_ID = "20261201T000000-abcd"


def _ok(name, run_id=RUN_ID):
    return name, lambda: "%s of %s\n" % (name, run_id)


def _broken():
    raise KeyError("hosts")


def test_writes_files_sums_and_latest(tmp_path):
    folder, written, warnings = bundle.write_bundle(RUN_ID, str(tmp_path), [_ok("a.txt"), _ok("b.txt")])
    assert warnings == [] and written == ["a.txt", "b.txt", "SHA256SUMS"]
    assert folder == str(tmp_path / RUN_ID)
    assert os.readlink(str(tmp_path / "latest")) == RUN_ID
    sums = (tmp_path / RUN_ID / "SHA256SUMS").read_text()
    expected = ["%s  %s\n" % (hashlib.sha256(("%s of %s\n" % (name, RUN_ID)).encode()).hexdigest(), name)
                for name in ("a.txt", "b.txt")]
    assert sums == "".join(expected)
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, check=False)
    assert checked.returncode == 0
    assert sorted(os.listdir(folder)) == ["SHA256SUMS", "a.txt", "b.txt"]  # no temporary file left
    assert sorted(os.listdir(str(tmp_path))) == [RUN_ID, "latest"]


def test_modes_default_to_0750_and_0640_and_can_be_chosen(tmp_path):
    old = os.umask(0)
    try:
        folder, _written, _warnings = bundle.write_bundle(RUN_ID, str(tmp_path / "ev"), [_ok("a.txt")])
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o750
        assert {stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode) for name in os.listdir(folder)} == {0o640}
        folder, _written, _warnings = bundle.write_bundle("run-2", str(tmp_path / "ev"), [_ok("a.txt")],
                                                          dir_mode=0o700, file_mode=0o600)
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(os.path.join(folder, "a.txt")).st_mode) == 0o600
    finally:
        os.umask(old)


def test_a_file_is_written_while_the_next_one_renders(tmp_path, monkeypatch):
    rendering = threading.Event()
    real = bundle.write_file

    def write_file(folder, name, text, mode):
        if name == "a.txt":  # written one after the other, this would wait for a render that never starts
            assert rendering.wait(10), "a.txt was written before b.txt began to render"
        return real(folder, name, text, mode)

    def render_b():
        rendering.set()
        return "b"
    monkeypatch.setattr(bundle, "write_file", write_file)
    folder, written, warnings = bundle.write_bundle(RUN_ID, str(tmp_path), [_ok("a.txt"), ("b.txt", render_b)])
    assert warnings == [] and written == ["a.txt", "b.txt", "SHA256SUMS"]
    sums = (tmp_path / RUN_ID / "SHA256SUMS").read_text()
    assert sums == "".join("%s  %s\n" % (hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest(), name)
                           for name in ("a.txt", "b.txt"))


def test_a_failed_write_costs_its_file_only(tmp_path):
    # A renderer's text that cannot be written (not text at all) fails in the writer, named like a failed render.
    folder, written, warnings = bundle.write_bundle(RUN_ID, str(tmp_path), [_ok("a.txt"), ("b.txt", lambda: 42),
                                                                            _ok("c.txt")])
    assert written == ["a.txt", "c.txt", "SHA256SUMS"]
    assert len(warnings) == 1 and warnings[0].startswith("kata-fleet evidence: could not write b.txt: TypeError: ")
    assert sorted(os.listdir(folder)) == ["SHA256SUMS", "a.txt", "c.txt"]  # no temporary file left either


def test_a_broken_renderer_costs_its_file_only(tmp_path):
    folder, written, warnings = bundle.write_bundle(RUN_ID, str(tmp_path), [_ok("a.txt"), ("b.txt", _broken),
                                                                            _ok("c.txt")])
    assert written == ["a.txt", "c.txt", "SHA256SUMS"]
    assert warnings == ["kata-fleet evidence: could not write b.txt: KeyError: 'hosts'"]
    assert "b.txt" not in (tmp_path / RUN_ID / "SHA256SUMS").read_text()
    assert not os.path.exists(os.path.join(folder, "b.txt"))


def test_latest_moves_to_the_newest_run(tmp_path):
    bundle.write_bundle("run-1", str(tmp_path), [_ok("a.txt")])
    bundle.write_bundle("run-2", str(tmp_path), [_ok("a.txt")])
    assert os.readlink(str(tmp_path / "latest")) == "run-2"
    assert sorted(os.listdir(str(tmp_path))) == ["latest", "run-1", "run-2"]


def test_an_existing_run_is_never_overwritten(tmp_path):
    bundle.write_bundle("run-1", str(tmp_path), [_ok("a.txt", "first")])
    folder, _written, warnings = bundle.write_bundle("run-1", str(tmp_path), [_ok("a.txt", "second")])
    assert folder == str(tmp_path / "run-1-2")
    assert (tmp_path / "run-1" / "a.txt").read_text() == "a.txt of first\n"
    assert (tmp_path / "run-1-2" / "a.txt").read_text() == "a.txt of second\n"
    assert os.readlink(str(tmp_path / "latest")) == "run-1-2"
    assert warnings and "already exists and is kept" in warnings[0]


def test_signature_verifies_and_a_bad_key_is_a_warning(tmp_path):
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    folder, written, warnings = bundle.write_bundle(RUN_ID, str(tmp_path / "ev"), [_ok("a.txt")], str(key))
    assert warnings == [] and written[-1] == "SHA256SUMS.sig"
    signers = tmp_path / "allowed_signers"
    signers.write_text("kata-fleet " + (tmp_path / "key.pub").read_text())
    with open(os.path.join(folder, "SHA256SUMS"), "rb") as sums:
        assert subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", "kata-fleet", "-n",
                               bundle.SIGNATURE_NAMESPACE, "-s", os.path.join(folder, "SHA256SUMS.sig")],
                              stdin=sums, capture_output=True, check=False).returncode == 0

    folder, written, warnings = bundle.write_bundle("run-x", str(tmp_path / "ev"), [_ok("a.txt")],
                                                    str(tmp_path / "no-such-key"))
    assert written == ["a.txt", "SHA256SUMS"]
    assert len(warnings) == 1 and warnings[0].startswith("kata-fleet evidence: the bundle is not signed: ssh-keygen")


def test_an_unwritable_root_raises_for_the_callback_to_report(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError):
        bundle.write_bundle(RUN_ID, str(blocker / "evidence"), [_ok("a.txt")])


def test_parts_are_written_as_their_joined_text(tmp_path, monkeypatch):
    monkeypatch.setattr(bundle, "_CHUNK", 7)  # blocks end inside parts and between them
    parts = ["{", '"a":1', ',"b\u00e9":"' + "x" * 20 + '"', "}\n"]
    digest = bundle.write_file(str(tmp_path), "parts.json", parts)
    expected = "".join(parts).encode("utf-8")
    assert (tmp_path / "parts.json").read_bytes() == expected
    assert digest == hashlib.sha256(expected).hexdigest() == bundle.write_file(str(tmp_path), "text.json", "".join(parts))
    with pytest.raises(TypeError, match="a str or a list of str"):
        bundle.write_file(str(tmp_path), "bad.json", ["{", 1])
    assert sorted(os.listdir(tmp_path)) == ["parts.json", "text.json"]
