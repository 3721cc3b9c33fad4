# -*- coding: utf-8 -*-
"""plugins/module_utils/_owner.py: owner tokens and states, and which processes and binaries are trusted."""

import os
import shutil
import subprocess
import time

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _containerd, _owner
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import ContainerdClient

from shim_standin import NOBODY, StandIns


def test_owner_token_is_this_process_and_this_module_run():
    pid = os.getpid()
    token = _owner.owner_token()
    assert token == "%d:%s:%s" % (pid, _owner.start_ticks(pid), _owner.run_part())
    assert _owner.OWNER_PATTERN.match(token) and _owner.is_mine(token)
    # drawn once per module process
    assert _owner.run_part() == _owner.run_part() and len(_owner.run_part()) == 6


def test_another_run_of_the_same_process_is_not_mine(monkeypatch):
    mine = _owner.owner_token()
    monkeypatch.setattr(_owner, "_RUN_PART", ["abcdef" if _owner.run_part() != "abcdef" else "fedcba"])
    assert _owner.owner_token() != mine and not _owner.is_mine(mine)
    # but while that run lives its objects are LIVE for everyone's sweep
    assert _owner.state(mine, _owner.expires_at(60), time.time()) == _owner.LIVE


def test_states():
    now = time.time()
    me = _owner.owner_token()
    assert _owner.state(me, int(now) + 60, now) == _owner.LIVE
    assert _owner.state(me, str(int(now) + 60), now) == _owner.LIVE
    assert _owner.state(me, int(now) - 1, now) == _owner.STALE
    # an older kata-fleet's token (no run part) is still ours, so still swept when stale
    assert _owner.state("%d:1" % os.getpid(), int(now) + 60, now) == _owner.STALE
    for owner, expires in (("garbage", 1), (me + "\n", 1), (me, "soon"), (me, True), (None, 1), (me, "1\n")):
        assert _owner.state(owner, expires, now) == _owner.FOREIGN
    assert _owner.expires_at(30, now=1000) == 1000 + 30 + _owner.EXPIRY_GRACE_SECONDS


def test_names_differ_per_module_run_for_the_same_run_id(fake_module, monkeypatch):
    """Issue 19 part 3: two runs with the same run id on one containerd never share a container or netns name."""
    module = fake_module(bins={"ctr": "/usr/bin/ctr"})
    one = ContainerdClient(module, "/run/containerd/containerd.sock", "kata-fleet", "/etc/c.toml")
    monkeypatch.setattr(_owner, "_RUN_PART", ["000000" if _owner.run_part() != "000000" else "111111"])
    two = ContainerdClient(module, "/run/containerd/containerd.sock", "kata-fleet", "/etc/c.toml")
    assert one.container_name("same-run", "runc", "http") != two.container_name("same-run", "runc", "http")
    assert len(two.container_name("r" * 40, "k" * 60, "http") + "w12") <= _containerd.ID_MAX_LENGTH


@pytest.fixture
def tree(tmp_path):
    """A root-owned 0755 directory under /run with files in it, and the same under /tmp (world-writable)."""
    trusted = os.path.join("/run", "kf-unit-owner-%d" % os.getpid())
    os.makedirs(trusted, 0o755, exist_ok=True)
    os.chmod(trusted, 0o755)
    yield trusted
    shutil.rmtree(trusted, ignore_errors=True)


def _file(directory, name, mode=0o755, uid=0):
    path = os.path.join(directory, name)
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\n")
    os.chmod(path, mode)
    os.chown(path, uid, 0)
    return path


def test_trusted_binary(tree, tmp_path):
    assert _owner.trusted_binary("/usr/bin/runsc" if os.path.exists("/usr/bin/runsc") else "/bin/sh")
    assert _owner.trusted_binary(_file(tree, "ok"))
    assert not _owner.trusted_binary(_file(tree, "group-writable", 0o775))
    assert not _owner.trusted_binary(_file(tree, "world-writable", 0o757))
    assert not _owner.trusted_binary(_file(tree, "nobodys", 0o755, NOBODY))
    assert not _owner.trusted_binary(tree)  # not a regular file
    assert not _owner.trusted_binary(_file(str(tmp_path), "in-tmp"))  # /tmp is world-writable
    assert not _owner.trusted_binary("relative/runsc")
    assert not _owner.trusted_binary(os.path.join(tree, "absent"))
    assert not _owner.trusted_binary(_file(tree, "gone") + " (deleted)")
    # a directory on the way that someone else owns
    theirs = os.path.join(tree, "theirs")
    os.mkdir(theirs, 0o755)
    os.chown(theirs, NOBODY, NOBODY)
    assert not _owner.trusted_binary(_file(theirs, "x"))
    # a symlink in a trusted directory to an untrusted file, and one from an untrusted directory
    os.symlink(_file(str(tmp_path), "target"), os.path.join(tree, "link"))
    assert not _owner.trusted_binary(os.path.join(tree, "link"))
    os.symlink(_file(tree, "real"), str(tmp_path / "link2"))
    assert not _owner.trusted_binary(str(tmp_path / "link2"))


def test_process_info_and_runs_trusted_binary(tree):
    info = _owner.process_info(os.getpid())
    assert info["pid"] == os.getpid() and info["ppid"] == os.getppid()
    assert info["uids"] == (os.getuid(), os.geteuid(), os.getuid())
    assert info["exe"] == os.path.realpath("/proc/self/exe") and info["exe_stat"]
    assert set(info["ns"]) == {"pid", "mnt", "net", "user"} and info["root"] == "/"
    assert _owner.process_info(2 ** 22 + 1) is None
    standins = StandIns()
    try:
        root = standins.start("sleep 60; exit 0", "ns", "c", "/run/a.sock")
        nobody = standins.start("sleep 60; exit 0", "ns", "c", "/run/a.sock", user=NOBODY)
        copy = standins.start("sleep 60; exit 0", "ns", "c", "/run/a.sock", binary=standins.untrusted)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (_owner.process_info(nobody.pid) or {}).get("uids") != (NOBODY,) * 3:
            time.sleep(0.02)
        assert _owner.is_trusted_shim(_owner.process_info(root.pid))
        assert not _owner.is_trusted_shim(_owner.process_info(nobody.pid))
        assert _owner.runs_trusted_binary(_owner.process_info(nobody.pid))  # the binary is fine, the owner is not
        assert not _owner.is_trusted_shim(_owner.process_info(copy.pid))
        # the binary replaced at its path after the process started: the inode it runs is not that path's
        info = _owner.process_info(root.pid)
        os.rename(standins.trusted, standins.trusted + ".old")
        shutil.copy("/bin/bash", standins.trusted)
        assert not _owner.runs_trusted_binary(info)
    finally:
        standins.close()


def test_no_argv_is_trusted():
    """A process whose argv claims a shim but whose real binary is sleep is no shim."""
    process = subprocess.Popen(["/usr/bin/containerd-shim-runc-v2", "60"], executable="/bin/sleep")
    try:
        time.sleep(0.1)
        assert not _owner.is_trusted_shim(_owner.process_info(process.pid))
    finally:
        process.kill()
        process.wait()
