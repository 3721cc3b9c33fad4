# -*- coding: utf-8 -*-
"""plugins/module_utils/_hostinfo.py: what was checked about KVM, cgroup version, tool versions, the host's sections."""

import os

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _hostinfo, _probe


# -- kvm_status ----------------------------------------------------------------

def test_kvm_status_missing_device(tmp_path):
    device = str(tmp_path / "kvm")
    status = _hostinfo.kvm_status(device)
    assert status["device"] == device
    assert status["present"] is False and status["usable"] is False
    assert status["api_version"] is None
    assert device in status["error"] and "does not exist" in status["error"]


def test_kvm_status_device_that_is_not_kvm():
    # /dev/null opens read-write but answers no KVM ioctl
    status = _hostinfo.kvm_status("/dev/null")
    assert status["present"] is True
    assert status["usable"] is False
    assert status["api_version"] is None
    assert status["error"].startswith("KVM_GET_API_VERSION failed")


def test_kvm_status_directory_cannot_be_opened_rw(tmp_path):
    # EISDIR: the open() failure path, reachable as root too
    status = _hostinfo.kvm_status(str(tmp_path))
    assert status["present"] is True and status["usable"] is False
    assert status["error"].startswith("cannot open %s" % tmp_path)


def test_kvm_status_real_device():
    if not os.path.exists("/dev/kvm"):
        pytest.skip("no /dev/kvm on this machine")
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError as error:
        pytest.skip("/dev/kvm cannot be opened here: %s" % error)
    status = _hostinfo.kvm_status()
    assert (status["present"], status["answers"], status["usable"], status["api_version"], status["error"]) == (
        True, True, True, 12, None)
    assert status["guest_started"] is False
    assert status["summary"].startswith("the KVM device answers, API 12; ")
    with open("/proc/cpuinfo") as handle:
        nested = not ({"vmx", "svm"} & set(_probe._linux.parse_cpuinfo(handle.read())["flags"]))
    # This machine is such a nested host: the device answers and KVM guests hang at boot.
    assert (status["warning"] is not None) is nested


CPU_NESTED = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae hypervisor lahf_lm\n"
CPU_VMX = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae vmx lahf_lm\n"


@pytest.fixture
def kvm_device():
    if not os.path.exists("/dev/kvm"):
        pytest.skip("no /dev/kvm on this machine")
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError as error:
        pytest.skip("/dev/kvm cannot be opened here: %s" % error)
    return "/dev/kvm"


def test_kvm_status_nested_says_what_was_checked(kvm_device):
    status = _hostinfo.kvm_status(kvm_device, cpuinfo_text=CPU_NESTED)
    assert status["answers"] is True and status["usable"] is True
    assert status["cpu_virtualization_flags"] == []
    assert status["summary"] == ("the KVM device answers, API 12; no vmx/svm flag in /proc/cpuinfo (the CPU shows "
                                 "the hypervisor flag: this host is itself a VM): nested, guests may not run")
    assert "guests may not run" in status["warning"] and "no guest was started" in status["warning"]
    assert "usable" not in status["summary"]


def test_kvm_status_with_vmx_has_no_warning(kvm_device):
    status = _hostinfo.kvm_status(kvm_device, cpuinfo_text=CPU_VMX)
    assert status["cpu_virtualization_flags"] == ["vmx"]
    assert status["warning"] is None
    assert status["summary"] == "the KVM device answers, API 12; /proc/cpuinfo shows vmx"


def test_kvm_status_missing_device_summary(tmp_path):
    status = _hostinfo.kvm_status(str(tmp_path / "kvm"), cpuinfo_text=CPU_NESTED)
    assert status["answers"] is False and status["warning"] is None
    assert status["summary"] == "%s does not exist" % (tmp_path / "kvm")


# -- cgroup_version ------------------------------------------------------------------

def test_cgroup_version_v2(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    assert _hostinfo.cgroup_version(str(tmp_path)) == "v2"


def test_cgroup_version_hybrid(tmp_path):
    for name in ("cpu", "memory", "pids"):
        (tmp_path / name).mkdir()
    (tmp_path / "unified").mkdir()
    (tmp_path / "unified" / "cgroup.controllers").write_text("")
    assert _hostinfo.cgroup_version(str(tmp_path)) == "hybrid"


def test_cgroup_version_v1(tmp_path):
    for name in ("cpu", "memory", "pids", "systemd"):
        (tmp_path / name).mkdir()
    assert _hostinfo.cgroup_version(str(tmp_path)) == "v1"


def test_cgroup_version_none(tmp_path):
    assert _hostinfo.cgroup_version(str(tmp_path / "absent")) is None


def test_cgroup_version_this_machine():
    assert _hostinfo.cgroup_version() in ("v1", "v2", "hybrid")


# -- tool_versions ------------------------------------------------------------------

KATA_SHIM_OUTPUT = ("Kata Containers containerd shim (Rust): id: io.containerd.kata.v2, version: 3.23.0, "
                    "commit: 8534afb9e8de3a529a537185f0fd55b66d9bc5d5")


def test_tool_versions(fake_module):
    module = fake_module(bins={
        "containerd": "/usr/bin/containerd",
        "ctr": "/usr/bin/ctr",
        "runc": "/usr/sbin/runc",
        "nerdctl": "/usr/local/bin/nerdctl",
        "containerd-shim-kata-v2": "/opt/kata/runtime-rs/bin/containerd-shim-kata-v2",
    })
    module.on("/usr/bin/containerd", "--version",
              out="containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3\n")
    module.on("/usr/bin/ctr", "--version", out="ctr github.com/containerd/containerd 1.6.20~ds1\n")
    module.on("/usr/sbin/runc", "--version",
              out="runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\ngo: go1.19.8\nlibseccomp: 2.5.4\n")
    module.on("/usr/local/bin/nerdctl", "--version", out="nerdctl version 1.7.6\n")
    module.on("/opt/kata/runtime-rs/bin/containerd-shim-kata-v2", "--version", out=KATA_SHIM_OUTPUT + "\n")

    versions = _hostinfo.tool_versions(module)

    assert dict((tool, info["version"]) for tool, info in versions.items()) == {
        "containerd": "1.6.20~ds1",
        "ctr": "1.6.20~ds1",
        "runc": "1.1.5+ds1",
        "nerdctl": "1.7.6",
        "containerd-shim-kata-v2": "3.23.0",
    }
    assert versions["runc"]["output"] == "runc version 1.1.5+ds1"
    assert versions["containerd-shim-kata-v2"]["output"] == KATA_SHIM_OUTPUT
    assert versions["nerdctl"]["path"] == "/usr/local/bin/nerdctl"
    assert sorted(module.calls) == sorted([[path, "--version"] for path in module.bins.values()])


def test_tool_versions_missing_tool_and_stderr_output(fake_module):
    module = fake_module(bins={"runc": "/usr/sbin/runc"})
    # a tool that prints its version on stderr
    module.on("/usr/sbin/runc", "--version", out="", err="runc version 1.1.12\n")
    versions = _hostinfo.tool_versions(module)
    assert versions["runc"]["version"] == "1.1.12"
    for tool in ("containerd", "ctr", "nerdctl", "containerd-shim-kata-v2"):
        assert versions[tool] == {"path": None, "version": None, "output": None}
    assert module.calls == [["/usr/sbin/runc", "--version"]]


def test_tool_versions_unparsable_and_silent(fake_module):
    module = fake_module(bins={"runc": "/usr/sbin/runc", "nerdctl": "/usr/local/bin/nerdctl"})
    module.on("/usr/sbin/runc", "--version", out="runc: unknown flag\n")
    module.on("/usr/local/bin/nerdctl", "--version", rc=1, out="", err="")
    versions = _hostinfo.tool_versions(module)
    assert versions["runc"] == {"path": "/usr/sbin/runc", "version": None, "output": "runc: unknown flag"}
    assert versions["nerdctl"]["version"] is None and versions["nerdctl"]["output"] == ""


# -- host_sections / host_facts on this machine -----------------------------------------

def test_host_sections_parse_like_a_probe(fake_module):
    module = fake_module(bins={"ip": "/usr/sbin/ip", "dmesg": "/usr/bin/dmesg"})
    module.on("ip", "-o", "addr", out="1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n")
    module.on("/usr/bin/dmesg", out="".join("[    0.%06d] line %d\n" % (i, i) for i in range(40)))
    sections = _hostinfo.host_sections(module)
    assert set(sections) == set(name for name, _command in _probe.SECTIONS)
    facts = _probe.facts_from_sections(sections)
    with open("/proc/sys/kernel/random/boot_id") as handle:
        assert facts["boot_id"] == handle.read().strip()
    assert facts["kernel_release"] == os.uname().release
    assert facts["dmesg"]["readable"] is True
    assert len(facts["dmesg"]["head"]) == _probe.DMESG_HEAD_LINES
    assert {"name": "lo", "addresses": ["127.0.0.1/8"]} in facts["interfaces"]
    assert facts["modules_available"] is os.path.exists("/proc/modules")


def test_host_sections_find_signals_in_the_whole_log(fake_module):
    module = fake_module(bins={"dmesg": "/usr/bin/dmesg"})
    log = ["[    0.%06d] line %d" % (i, i) for i in range(500)]
    log[300] = "[    0.300000] Hypervisor detected: KVM"
    module.on("/usr/bin/dmesg", out="\n".join(log) + "\n")
    facts = _probe.facts_from_sections(_hostinfo.host_sections(module))
    assert facts["dmesg_signals"] == ["[    0.300000] Hypervisor detected: KVM"]
    assert facts["hypervisor_log"] == ["[    0.300000] Hypervisor detected: KVM"]
    assert len(facts["dmesg"]["head"]) == _probe.DMESG_HEAD_LINES


def test_host_sections_hold_only_the_cpuinfo_lines_the_probe_prints(fake_module):
    sections = _hostinfo.host_sections(fake_module(bins={}))
    keys = [line.partition(":")[0].strip() for line in sections["cpuinfo"].splitlines()]
    assert len(keys) == len(set(keys)) and set(keys) <= {"model name", "flags", "Features", "CPU implementer", "CPU part"}
    assert sections["dmi"] == _hostinfo.dmi_section()


def test_dmi_section(tmp_path):
    assert _hostinfo.dmi_section(str(tmp_path / "absent")) == "absent"
    (tmp_path / "sys_vendor").write_text("QEMU\n")
    (tmp_path / "product_name").write_text("Standard PC (Q35 + ICH9, 2009)\n")
    assert _hostinfo.dmi_section(str(tmp_path)) == "sys_vendor=QEMU\nproduct_name=Standard PC (Q35 + ICH9, 2009)"
    facts = _probe.facts_from_sections({"dmi": _hostinfo.dmi_section(str(tmp_path))})
    assert facts["dmi"] == {"sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)"}


def test_host_sections_without_ip_and_dmesg(fake_module):
    module = fake_module(bins={})
    sections = _hostinfo.host_sections(module)
    assert module.calls == []
    dmesg = _probe.parse_dmesg(sections["dmesg"])
    assert dmesg == {"readable": False, "head": [], "error": "dmesg is not installed"}


def test_host_sections_dmesg_refused(fake_module):
    module = fake_module(bins={"dmesg": "/usr/bin/dmesg"})
    module.on("/usr/bin/dmesg", rc=1, err="dmesg: read kernel buffer failed: Operation not permitted\n")
    dmesg = _probe.parse_dmesg(_hostinfo.host_sections(module)["dmesg"])
    assert dmesg["readable"] is False and "Operation not permitted" in dmesg["error"]


def test_host_facts_keys(fake_module):
    facts = _hostinfo.host_facts(fake_module(bins={}))
    for key in ("kernel_release", "boot_id", "cpu_model", "proc_entries", "modules", "modules_available",
                "interfaces", "kernel_cmdline", "dmesg", "architecture", "virtualization_flags", "kvm",
                "vhost", "cgroup_version", "tools", "uptime_seconds", "dmi_present", "dmesg_signals", "fact_errors"):
        assert key in facts, key
    assert set(facts["vhost"]) == {"vhost", "vhost_net", "vhost_vsock"}
    assert facts["architecture"] == os.uname().machine
