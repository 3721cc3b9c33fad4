# -*- coding: utf-8 -*-
"""plugins/module_utils/_witness.py: the host's witness, replayed from process trees (fixtures/witness/*.json).

The Kata trees are shaped as each runtime's code produces them (their comment
field says which code), not recorded from a real Kata host; runc and runsc are
shaped as seen on the development machine.
"""

import json
import os

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _verdict, _witness
from conftest import FIXTURES  # noqa: E402  pylint: disable=wrong-import-position

FIXTURES = str(FIXTURES / "witness")
NAMES = sorted(name for name in os.listdir(FIXTURES) if name.endswith(".json"))


def _load(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return json.load(handle)


@pytest.mark.parametrize("name", NAMES)
def test_recorded_trees(name):
    recording = _load(name)
    if name.startswith("kata_"):
        assert "not recorded from a real Kata host" in recording["comment"]
    result = _witness.classify(_witness.RecordedReader(recording), recording["task_pid"])
    assert (result["class"], result["vmm"]) == (recording["expect"]["class"], recording["expect"]["vmm"]), result
    if result["class"] == "unknown":
        assert result["reason"]
    else:
        assert result["reason"] is None and result["shim"]["binary"].split("/")[-1].startswith("containerd-shim")
        assert result["evidence"][0].startswith("seen from the host: ")


def test_fake_shim_of_an_unprivileged_user_is_ignored():
    result = _witness.classify(_witness.RecordedReader(_load("fake_shim.json")), 950)
    assert result["class"] == "unknown" and "no containerd shim owned by root" in result["reason"]


def test_runc_workload_named_qemu_is_a_host_process():
    result = _witness.classify(_witness.RecordedReader(_load("runc_named_qemu.json")), 4242)
    assert result["class"] == "host-process" and result["binary"] == "/usr/bin/qemu-system-x86_64"


def test_trusted_qemu_in_the_containers_namespaces_is_not_a_vmm():
    recording = _load("runc_named_qemu.json")
    recording["processes"][1]["trusted"] = True  # even were it the host's very file
    result = _witness.classify(_witness.RecordedReader(recording), 4242)
    assert result["class"] == "host-process"


def test_vmm_in_a_mount_namespace_neither_the_hosts_nor_its_shims_is_unknown():
    # Kata's hypervisor inherits the shim's own mount namespace (from 3.3.0); one in a third namespace
    # (a jailer's, or a process set up to look like one) is not taken for a VMM.
    recording = _load("kata_qemu.json")
    recording["processes"][1]["ns"]["mnt"] = "4026539999"
    result = _witness.classify(_witness.RecordedReader(recording), recording["task_pid"])
    assert result["class"] == "unknown" and result["vmm"] is None


def test_vmm_in_the_hosts_mount_namespace_is_a_vmm():
    # Kata before 3.3.0 ran shim and hypervisor in the host's mount namespace.
    recording = _load("kata_qemu.json")
    for process in recording["processes"]:
        process["ns"]["mnt"] = recording["host_ns"]["mnt"]
    result = _witness.classify(_witness.RecordedReader(recording), recording["task_pid"])
    assert (result["class"], result["vmm"]) == ("vmm", "qemu")
    assert "the host's mount namespace" in result["evidence"][0]


def test_gvisor_sentry_binary_is_the_sandbox():
    # From release-20260810.0 the sandbox may run <runsc's folder>/gvisor-bin/gvisor_sentry instead of runsc.
    recording = _load("runsc.json")
    sandbox = [p for p in recording["processes"] if p["pid"] == recording["task_pid"]][0]
    sandbox["exe"] = "/usr/bin/gvisor-bin/gvisor_sentry"
    result = _witness.classify(_witness.RecordedReader(recording), recording["task_pid"])
    assert result["class"] == "user-space-kernel" and result["binary"] == "/usr/bin/gvisor-bin/gvisor_sentry"
    sandbox["trusted"] = False  # a file a local user could have written is no witness
    assert _witness.classify(_witness.RecordedReader(recording), recording["task_pid"])["class"] != "user-space-kernel"


def test_a_thread_that_is_not_dragonballs_is_unknown():
    recording = _load("kata_dragonball.json")
    recording["processes"][1]["name"] = "tokio-runtime-w"
    assert _witness.classify(_witness.RecordedReader(recording), 905)["class"] == "unknown"


@pytest.mark.parametrize("output, pid", [
    ("TASK PID STATUS\nkf-a 4242 RUNNING\n", 4242),
    ("TASK PID STATUS\nkf-b 4242 RUNNING\n", None),
    ("TASK PID STATUS\nkf-a 4x42 RUNNING\n", None),
    ("TASK PID STATUS\nkf-a 99999999999 RUNNING\n", None),
    (None, None),
])
def test_task_pid_from_list(output, pid):
    assert _witness.task_pid_from_list(output, "kf-a") == pid


def test_live_reader_sees_this_process_in_the_hosts_namespaces():
    reader = _witness.ProcReader()
    assert reader.host_ns()["pid"] == reader.process(os.getpid())["ns"]["pid"]
    assert reader.process(os.getpid())["tgid"] == os.getpid()


# -- the two witnesses together ------------------------------------------------------

def _witness_of(name):
    recording = _load(name)
    return _witness.classify(_witness.RecordedReader(recording), recording["task_pid"])


@pytest.mark.parametrize("verdict, sandbox, name", [
    ("shared-kernel", None, "runc.json"), ("vm-isolated", "kata/qemu", "kata_qemu.json"),
    ("user-space-kernel", "gvisor", "runsc.json")])
def test_agreeing_witnesses_keep_the_verdict(verdict, sandbox, name):
    result = _verdict.combine({"verdict": verdict, "sandbox": sandbox, "evidence": ["x"], "signals": []},
                              _witness_of(name))
    assert result["verdict"] == verdict and result["witness"] == "agrees"
    assert any(line.startswith("seen from the host: ") for line in result["evidence"])


@pytest.mark.parametrize("verdict, sandbox, name, host", [
    ("vm-isolated", "kata/qemu", "runc.json", "host-process"),
    ("user-space-kernel", "gvisor", "runc.json", "host-process"),
    ("shared-kernel", None, "kata_qemu.json", "vmm"),
    ("vm-isolated", "kata/qemu", "runsc.json", "user-space-kernel")])
def test_disagreeing_witnesses_fail_the_probe(verdict, sandbox, name, host):
    result = _verdict.combine({"verdict": verdict, "sandbox": sandbox, "evidence": [], "signals": []},
                              _witness_of(name))
    assert result["status"] == "failed" and result["verdict"] is None and result["witness"] == "contradicted"
    assert result["error"].startswith("contradicted by the host: ")
    assert result["contradiction"] == {"container": "%s (%s)" % (verdict, sandbox or "none"), "host": host}


def test_unknown_claiming_its_own_kernel_is_contradicted_by_a_host_process():
    result = _verdict.combine({"verdict": "unknown", "sandbox": None, "evidence": [],
                               "signals": ["release-differs"]}, _witness_of("runc.json"))
    assert result["witness"] == "contradicted"


def test_unknown_host_witness_leaves_the_container_view_standing():
    result = _verdict.combine({"verdict": "vm-isolated", "sandbox": "kata", "evidence": [], "signals": []},
                              _witness_of("fake_shim.json"))
    assert result["verdict"] == "vm-isolated" and result["witness"] == "host-unknown"
    assert "container's word alone" in result["evidence"][-1]
