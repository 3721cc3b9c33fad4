# -*- coding: utf-8 -*-
"""_footprint: roles by process name, PSS per role; the _linux readers it stands on, on real processes."""

import os
import subprocess
import sys

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _footprint, _linux, _owner
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._footprint import footprint, role_of

# A Kata tree as /proc shows it: shim -> qemu, shim -> virtiofsd -> virtiofsd (its sandboxed child).
KATA_TREE = {
    100: ("containerd-shim", 20000),
    101: ("qemu-system-x86", 150000),  # comm is cut at 15 characters
    102: ("virtiofsd", 3000),
    103: ("virtiofsd", 1000),
}


@pytest.fixture
def fake_proc(monkeypatch):
    """footprint reads descendants/process_name/pss_kib from ``tree`` (pid -> (name, pss)), children by root."""
    state = {"tree": dict(KATA_TREE), "children": {100: [100, 101, 102, 103]}}

    def descendants(root):
        return list(state["children"].get(root, [root]))

    def process_name(pid):
        entry = state["tree"].get(pid)
        return entry[0] if entry else None

    def pss_kib(pid):
        entry = state["tree"].get(pid)
        return entry[1] if entry else None

    monkeypatch.setattr(_footprint, "descendants", descendants)
    monkeypatch.setattr(_footprint, "process_name", process_name)
    monkeypatch.setattr(_footprint, "pss_kib", pss_kib)
    return state


# -- role_of ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, role", [
    ("containerd-shim-runc-v2", "shim"),
    ("containerd-shim-kata-v2", "shim"),
    ("containerd-shim", "shim"),  # comm of either, cut at 15 characters
    ("qemu-system-x86_64", "vmm"),
    ("qemu-system-x86", "vmm"),
    ("qemu-system-aarch64", "vmm"),
    ("cloud-hyperviso", "vmm"),
    ("cloud-hypervisor", "vmm"),
    ("firecracker", "vmm"),
    ("virtiofsd", "virtiofsd"),
    ("httpd", "workload"),
    ("sh", "workload"),
    ("busybox", "workload"),
    ("", "workload"),
    (None, "workload"),
])
def test_role_of(name, role):
    assert role_of(name) == role


# -- footprint with a fake /proc ------------------------------------------------------------------

def test_footprint_kata_tree(fake_proc):
    result = footprint([100])
    assert result["pss_kib"] == {"shim": 20000, "vmm": 150000, "virtiofsd": 4000, "workload": 0}
    assert result["total_pss_kib"] == 174000
    assert result["processes"] == [
        {"pid": 100, "name": "containerd-shim", "role": "shim", "pss_kib": 20000},
        {"pid": 101, "name": "qemu-system-x86", "role": "vmm", "pss_kib": 150000},
        {"pid": 102, "name": "virtiofsd", "role": "virtiofsd", "pss_kib": 3000},
        {"pid": 103, "name": "virtiofsd", "role": "virtiofsd", "pss_kib": 1000},
    ]


def test_footprint_exact_kata_roles(fake_proc):
    fake_proc["tree"] = {1: ("containerd-shim", 20000), 2: ("qemu-system-x86", 150000), 3: ("virtiofsd", 3000)}
    fake_proc["children"] = {1: [1, 2, 3]}
    result = footprint([1])
    assert result["pss_kib"] == {"shim": 20000, "vmm": 150000, "virtiofsd": 3000, "workload": 0}
    assert result["total_pss_kib"] == 173000


def test_footprint_runc_tree(fake_proc):
    fake_proc["tree"] = {7: ("containerd-shim", 5800), 8: ("httpd", 300), 9: ("sh", 20)}
    fake_proc["children"] = {7: [7, 8, 9]}
    result = footprint([7])
    assert result["pss_kib"] == {"shim": 5800, "vmm": 0, "virtiofsd": 0, "workload": 320}
    assert result["total_pss_kib"] == 6120
    assert [process["role"] for process in result["processes"]] == ["shim", "workload", "workload"]


def test_footprint_skips_vanished_processes(fake_proc):
    # 101 is gone before its name is read, 102 before its PSS is
    fake_proc["tree"][101] = None
    fake_proc["tree"][102] = ("virtiofsd", None)
    result = footprint([100])
    assert result["pss_kib"] == {"shim": 20000, "vmm": 0, "virtiofsd": 1000, "workload": 0}
    assert result["total_pss_kib"] == 21000
    assert [process["pid"] for process in result["processes"]] == [100, 103]


def test_footprint_adds_several_shims(fake_proc):
    fake_proc["tree"].update({200: ("containerd-shim", 500), 201: ("firecracker", 7000)})
    fake_proc["children"][200] = [200, 201]
    result = footprint([100, 200])
    assert result["pss_kib"] == {"shim": 20500, "vmm": 157000, "virtiofsd": 4000, "workload": 0}
    assert result["total_pss_kib"] == 181500
    assert len(result["processes"]) == 6


def test_footprint_counts_a_process_once(fake_proc):
    result = footprint([100, 100])
    assert result["total_pss_kib"] == 174000 and len(result["processes"]) == 4


def test_footprint_counts_only_the_shims_of_this_instance(fake_proc, monkeypatch):
    """Two instances, one namespace, one container name: only the shim whose -address is ours is measured."""
    from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _containerd
    table = {
        100: (1, ["/usr/bin/containerd-shim-kata-v2", "-namespace", "ns", "-id", "kf-x", "-address", "/run/a.sock"]),
        200: (1, ["/usr/bin/containerd-shim-kata-v2", "-namespace", "ns", "-id", "kf-x", "-address", "/run/b.sock"]),
    }
    fake_proc["tree"].update({200: ("containerd-shim", 500), 201: ("qemu-system-x86", 99000)})
    fake_proc["children"][200] = [200, 201]
    root_shim = {"uids": (0, 0, 0), "exe": "/usr/bin/containerd-shim-kata-v2", "exe_stat": (1, 2)}
    monkeypatch.setattr(_owner, "runs_trusted_binary", lambda info: info["exe"] == "/usr/bin/containerd-shim-kata-v2")
    result = footprint(_containerd.find_shims("ns", "kf-x", "/run/a.sock", table, lambda pid: root_shim))
    assert result["total_pss_kib"] == 174000
    assert [process["pid"] for process in result["processes"]] == [100, 101, 102, 103]


@pytest.mark.parametrize("info", [
    # a local user's process with the shim's argv, even running the real shim binary
    {"uids": (65534, 65534, 65534), "exe": "/usr/bin/containerd-shim-kata-v2", "exe_stat": (1, 2)},
    # root's, but a binary that is no trusted shim (a copy anyone could write, or a shell)
    {"uids": (0, 0, 0), "exe": "/tmp/containerd-shim-kata-v2", "exe_stat": (1, 3)},
    {"uids": (0, 0, 0), "exe": "/usr/bin/bash", "exe_stat": (1, 4)},
])
def test_footprint_never_counts_a_look_alike_shim(fake_proc, monkeypatch, info):
    """Issue 19 part 1: a fake shim with this container's argv does not inflate the memory figure."""
    from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _containerd
    table = {100: (1, ["/usr/bin/containerd-shim-kata-v2", "-namespace", "ns", "-id", "kf-x", "-address", "/run/a.sock"])}
    monkeypatch.setattr(_owner, "runs_trusted_binary", lambda info: info["exe"] == "/usr/bin/containerd-shim-kata-v2")
    assert _containerd.find_shims("ns", "kf-x", "/run/a.sock", table, lambda pid: info) == []
    assert footprint(_containerd.find_shims("ns", "kf-x", "/run/a.sock", table, lambda pid: info))["total_pss_kib"] == 0


def test_footprint_of_no_shim_is_zero(fake_proc):
    assert footprint([]) == {"pss_kib": {"shim": 0, "vmm": 0, "virtiofsd": 0, "workload": 0},
                             "total_pss_kib": 0, "processes": []}


def test_footprint_of_a_gone_shim_is_zero(fake_proc):
    result = footprint([999])
    assert result["total_pss_kib"] == 0 and result["processes"] == []


# -- real processes -------------------------------------------------------------------------------

def test_footprint_of_this_process_is_workload():
    result = footprint([os.getpid()])
    mine = [process for process in result["processes"] if process["pid"] == os.getpid()]
    assert len(mine) == 1
    assert mine[0]["role"] == "workload" and mine[0]["pss_kib"] > 0
    assert result["pss_kib"]["workload"] >= mine[0]["pss_kib"] > 0
    assert result["total_pss_kib"] == sum(result["pss_kib"].values())


@pytest.fixture
def child():
    """A sleeping child of this process; killed and reaped afterwards."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


def test_linux_readers_on_a_real_child(child):
    tree = _linux.descendants(os.getpid())
    assert tree[0] == os.getpid() and child.pid in tree
    assert _linux.descendants(child.pid) == [child.pid]
    assert _linux.process_name(child.pid).startswith("python")
    assert _linux.pss_kib(child.pid) > 0
    result = footprint([os.getpid()])
    assert child.pid in [process["pid"] for process in result["processes"]]


def test_linux_readers_on_a_gone_process():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=10)
    assert _linux.process_name(process.pid) is None
    assert _linux.pss_kib(process.pid) is None
    assert _linux.descendants(process.pid) == [process.pid]
    assert footprint([process.pid])["processes"] == []
