# -*- coding: utf-8 -*-
"""plugins/module_utils/_verdict.py: the verdict from the container's view, and against the host's witness.

Fixtures: runc_probe_output.txt is the real output of the probe script in a
runc container on the development machine, runc_host_facts.json that
machine's host_facts; lab_kata_probe_output.txt / lab_host_facts.json are the
lab report's Kata guest and host (see the headers of those files).
"""

import copy

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _probe, _verdict
from probe_output import facts as recorded_facts

RUNC_BOOT_ID = "dee579d3-d37d-4053-9fd6-3b6066b8b5df"


# -- verdict ---------------------------------------------------------------------------

KEYS = {"verdict", "verdict_reason", "evidence", "sandbox", "signals"}


def test_verdict_runc_is_shared_kernel(fixture_text, fixture_json):
    host = fixture_json("runc_host_facts.json")
    result = _verdict.verdict(host, recorded_facts(fixture_text("runc_probe_output.txt")))
    assert set(result) == KEYS
    assert (result["verdict"], result["verdict_reason"], result["sandbox"]) == ("shared-kernel", None, None)
    assert result["signals"] == ["boot-id-equal"]
    assert RUNC_BOOT_ID in result["evidence"][0]
    assert any("6.18.44-fc-v1045" in line for line in result["evidence"])


def test_verdict_lab_kata_is_vm_isolated(fixture_text, fixture_json):
    host = fixture_json("lab_host_facts.json")
    result = _verdict.verdict(host, recorded_facts(fixture_text("lab_kata_probe_output.txt")))
    assert (result["verdict"], result["verdict_reason"]) == ("vm-isolated", None)
    # The lab recorded no DMI, no hypervisor log line and a cut command line: Kata, hypervisor not named.
    assert result["sandbox"] == "kata"
    assert "kata-agent-cmdline" in result["signals"] and "boot-id-differs" in result["signals"]
    joined = "\n".join(result["evidence"])
    assert "guest kernel 6.12.47, host 6.15.4" in joined
    assert "Intel(R) Xeon(R) Processor" in joined and "12th Gen Intel(R) Core(TM) i5-12450H" in joined


def test_verdict_shared_kernel_even_when_versions_differ(fixture_json):
    # the boot id decides, not the version string
    host = fixture_json("runc_host_facts.json")
    guest = dict(host, kernel_release="9.9.9")
    result = _verdict.verdict(host, guest)
    assert result["verdict"] == "shared-kernel"
    assert len(result["evidence"]) == 1


def test_verdict_never_shared_kernel_from_versions_alone(fixture_json):
    host = fixture_json("runc_host_facts.json")
    guest = dict(host, boot_id=None, boot_id_status="unreadable")
    result = _verdict.verdict(host, guest)
    assert result["verdict"] == "unknown" and "boot id" in result["verdict_reason"]


def _gvisor_view(host, **extra):
    guest = copy.deepcopy(host)
    guest.update({"boot_id": "4f1c2a0e-0000-4000-8000-000000000001", "kernel_release": "4.4.0",
                  "hypervisor_flag": False, "boot_time": host["boot_time"] + 50})
    guest.update(extra)
    return guest


def test_verdict_4_4_0_without_gvisor_marks_is_unknown(fixture_json):
    host = fixture_json("lab_host_facts.json")
    result = _verdict.verdict(host, _gvisor_view(host, modules_available=False))
    assert result["verdict"] == "unknown"
    assert "user-space" in result["verdict_reason"] and "release-4.4.0" in result["signals"]
    assert any("4.4.0" in line for line in result["evidence"])


def test_verdict_gvisor_build_string_is_user_space_kernel(fixture_json):
    host = fixture_json("lab_host_facts.json")
    guest = _gvisor_view(host, uname="Linux abc 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016 x86_64 Linux",
                         modules_available=False)
    result = _verdict.verdict(host, guest)
    assert (result["verdict"], result["sandbox"]) == ("user-space-kernel", "gvisor")
    assert result["signals"][0] == "gvisor-build-string" and "no-proc-modules" in result["signals"]


def test_verdict_gvisor_with_the_host_boot_id_is_still_shared(fixture_json):
    # The boot id decides: a view that shares the host's boot id runs on the host kernel.
    host = fixture_json("lab_host_facts.json")
    guest = _gvisor_view(host, boot_id=host["boot_id"], uname="x #1 SMP Sun Jan 10 15:06:54 PST 2016")
    assert _verdict.verdict(host, guest)["verdict"] == "shared-kernel"


def test_verdict_different_boot_id_but_nothing_else(fixture_json):
    host = fixture_json("lab_host_facts.json")
    guest = dict(host, boot_id="00000000-0000-4000-8000-000000000000")
    result = _verdict.verdict(host, guest)
    assert result["verdict"] == "unknown"
    assert "no sign of a hypervisor" in result["verdict_reason"]


def test_verdict_never_vm_without_a_hypervisor_sign(fixture_json):
    host = fixture_json("lab_host_facts.json")
    guest = dict(host, boot_id="00000000-0000-4000-8000-000000000000", kernel_release="6.1.0",
                 boot_time=host["boot_time"] + 1000, kernel_cmdline="quiet")
    result = _verdict.verdict(host, guest)
    assert result["verdict"] == "unknown" and result["sandbox"] is None


def test_verdict_host_hypervisor_flag_does_not_count(fixture_json):
    # On a cloud host both sides show the flag: it is no sign of the guest's own hypervisor.
    host = dict(fixture_json("lab_host_facts.json"), hypervisor_flag=True)
    guest = dict(host, boot_id="00000000-0000-4000-8000-000000000000", kernel_release="6.1.0")
    result = _verdict.verdict(host, guest)
    assert result["verdict"] == "unknown" and "hypervisor-flag" not in result["signals"]


@pytest.mark.parametrize("missing", ["host", "guest"])
def test_verdict_missing_boot_id_is_unknown(fixture_text, fixture_json, missing):
    host = fixture_json("runc_host_facts.json")
    guest = recorded_facts(fixture_text("runc_probe_output.txt"))
    (host if missing == "host" else guest)["boot_id"] = None
    result = _verdict.verdict(host, guest)
    assert result["verdict"] == "unknown"
    assert "boot id" in result["verdict_reason"]
    assert "None" not in result["verdict_reason"] and "None" not in " ".join(result["evidence"])


def test_verdict_missing_boot_id_key_entirely(fixture_json):
    host = fixture_json("lab_host_facts.json")
    assert _verdict.verdict(host, {})["verdict"] == "unknown"
    assert _verdict.verdict({}, host)["verdict"] == "unknown"
    assert _verdict.verdict(None, "garbage")["verdict"] == "unknown"


def test_evidence_never_prints_none(fixture_json):
    host = dict(fixture_json("runc_host_facts.json"), kernel_release=None)
    result = _verdict.verdict(host, dict(host))
    assert result["verdict"] == "shared-kernel"
    assert "kernel release not recorded equals the host's" in result["evidence"]
    assert all("None" not in line for line in result["evidence"])


def test_verdict_of_kata_guest_without_host_boot_id_uses_the_agent_cmdline():
    guest = _probe.facts_from_sections({"cmdline": "console=hvc0 agent.log=debug systemd.unit=kata-containers.target",
                                        "dmesg_signals": "[    0.0] DMI: QEMU Standard PC (Q35 + ICH9, 2009)"})
    result = _verdict.verdict({}, guest)
    assert (result["verdict"], result["sandbox"]) == ("vm-isolated", "kata/qemu")


def test_firecracker_vm_host_signals_without_host_view_are_unknown():
    # A container on a Firecracker VM's own kernel shows the VM's signs: they say nothing without the host.
    guest = _probe.facts_from_sections({"cmdline": "console=ttyS0 reboot=k panic=1 pci=off "
                                                   "virtio_mmio.device=4K@0xd0000000:5",
                                        "boot_id": "dee579d3-d37d-4053-9fd6-3b6066b8b5df"})
    result = _verdict.verdict({}, guest)
    assert result["verdict"] == "unknown"


# Synthetic views (NOT recorded output): one per naming rule, so each rule is exercised even where no
# public recording shows the signal.  The recorded outputs are in fixtures/sandboxes/.
HOST_VIEW = {"boot_id": "7c1e2d9a-3b4f-4e8a-8f60-2a9d5e1c7b44", "kernel_release": "6.1.0-18-amd64",
             "hypervisor_flag": False, "kernel_cmdline": "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet"}
GUEST_BOOT_ID = "0b6a3c55-1f0e-4c7e-9a51-6f2d86a4e3c1"
KATA_CMDLINE = "console=hvc0 pci=lastbus=0 nr_cpus=4 agent.log=debug systemd.unit=kata-containers.target"
FC_CMDLINE = "console=ttyS0 reboot=k panic=1 pci=off virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6"


@pytest.mark.parametrize("sections, sandbox", [
    ({"cmdline": KATA_CMDLINE, "dmi": "sys_vendor=QEMU\nproduct_name=Standard PC (Q35 + ICH9, 2009)"}, "kata/qemu"),
    ({"cmdline": KATA_CMDLINE, "dmesg_signals": "[    0.0] DMI: Cloud Hypervisor cloud-hypervisor, BIOS 0"}, "kata/clh"),
    ({"cmdline": "agent.log=debug " + FC_CMDLINE, "dmi": "absent"}, "kata/firecracker"),
    ({"cmdline": "agent.log=debug console=ttyS0 pci=off virtio_mmio.device=4K@0xc0000000:5", "dmi": "absent"}, "kata"),
    ({"cmdline": FC_CMDLINE, "dmi": "absent"}, "firecracker"),
    ({"cmdline": "root=/dev/vda ro", "dmesg_signals": "[    0.0] ACPI: RSDP 0x00000000000E0000 000024 (v02 FIRECK)"},
     "firecracker"),
    ({"cmdline": "root=/dev/vda ro", "dmi": "sys_vendor=QEMU"}, "qemu"),
    ({"cmdline": "root=/dev/vda ro", "dmesg_signals": "[    0.0] Hypervisor detected: KVM"}, None),
])
def test_sandbox_names(sections, sandbox):
    guest = _probe.facts_from_sections(dict(sections, boot_id=GUEST_BOOT_ID, uname_r="6.12.47"))
    result = _verdict.verdict(HOST_VIEW, guest)
    assert (result["verdict"], result["sandbox"]) == ("vm-isolated", sandbox), result
    assert "boot-id-differs" in result["signals"]
    if sandbox:
        assert any(line.startswith("named %s from: " % sandbox) for line in result["evidence"])


def test_sign_the_host_shows_too_does_not_count():
    # A cloud host logs "Hypervisor detected: KVM" itself: the same line in the guest is no sign of its own.
    host = dict(HOST_VIEW, dmesg_signals=["[    0.000000] Hypervisor detected: KVM"])
    guest = _probe.facts_from_sections({"boot_id": GUEST_BOOT_ID, "uname_r": "6.12.47",
                                        "dmesg_signals": "[    0.000000] Hypervisor detected: KVM"})
    result = _verdict.verdict(host, guest)
    assert result["verdict"] == "unknown" and "hypervisor-detected" not in result["signals"]


def test_emulated_boot_id_on_the_host_kernel_is_unknown():
    # LXCFS/Sysbox-style /proc emulation can change the boot id and uptime; uname and /proc/cmdline it cannot.
    host = dict(HOST_VIEW, uptime_seconds=5000.0, hypervisor_flag=False)
    guest = dict(HOST_VIEW, boot_id=GUEST_BOOT_ID, uptime_seconds=30.0, hypervisor_flag=True,
                 dmesg_signals=["[    0.0] Hypervisor detected: KVM"])
    result = _verdict.verdict(host, guest)
    assert result["verdict"] == "unknown" and "emulation" in result["verdict_reason"]


def test_idle_column_is_evidence():
    guest = _probe.facts_from_sections({"boot_id": GUEST_BOOT_ID, "uname_r": "6.12.47", "uptime": "100.00 790.00",
                                        "nproc": "1", "cmdline": KATA_CMDLINE})
    result = _verdict.verdict(HOST_VIEW, guest)
    assert any("more than 1 CPU(s) can" in line for line in result["evidence"])
