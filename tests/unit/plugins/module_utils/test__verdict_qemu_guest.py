# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real QEMU guest's recorded output (tests/integration/test_qemu_guest.py, live) gives vm-isolated here too.

Recorded on this project's build machine by tests/integration/qemu_probe.py:
the probe script as /init of a QEMU TCG guest running Debian's 6.1 kernel,
against the host's own facts (a Firecracker VM running 6.18).  This keeps the
verdict on a real VM guest checked where QEMU is not installed.
"""

import json

from probe_output import NONCE

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _probe, _verdict

from conftest import FIXTURES

FIXTURE = FIXTURES / "sandboxes" / "qemu-tcg-debian-6.1-initramfs.json"


def _load():
    return json.loads(FIXTURE.read_text())


def test_recorded_qemu_guest_is_vm_isolated_and_named_qemu():
    fixture = _load()
    host = _probe.facts_from_sections(fixture["host"])
    # Through the same framing and parser as the live run.
    guest = _probe.parse_output(_probe.render(fixture["guest"], NONCE), NONCE)
    assert guest["fact_errors"] == [] and host["fact_errors"] == []
    result = _verdict.verdict(host, guest)
    assert (result["verdict"], result["sandbox"]) == (fixture["expected"]["verdict"], fixture["expected"]["sandbox"])
    assert (result["verdict"], result["sandbox"]) == ("vm-isolated", "qemu")
    # A kernel of its own (boot id, release, boot time) and QEMU's own tables, not the shared hypervisor flag.
    for signal in ("boot-id-differs", "release-differs", "boot-time-differs", "dmi:qemu", "acpi-oem:qemu"):
        assert signal in result["signals"], result["signals"]
    assert "hypervisor-flag" not in result["signals"]
    assert guest["kernel_release"] == "6.1.0-57-amd64" and host["kernel_release"] == "6.18.44-fc-v669"
    assert guest["dmi"]["sys_vendor"] == "QEMU"


def test_recorded_qemu_guest_without_its_dmi_still_vm_isolated_by_acpi():
    """Only QEMU's ACPI OEM id left (no DMI section, no DMI log line): still a VM, still QEMU."""
    fixture = _load()
    guest_sections = dict(fixture["guest"])
    guest_sections["dmi"] = "absent"
    for name in ("dmesg", "dmesg_signals"):
        guest_sections[name] = "\n".join(line for line in guest_sections[name].splitlines() if "DMI:" not in line)
    result = _verdict.verdict(_probe.facts_from_sections(fixture["host"]), _probe.facts_from_sections(guest_sections))
    assert result["verdict"] == "vm-isolated" and "acpi-oem:qemu" in result["signals"], result


def test_recorded_qemu_guest_with_the_hosts_boot_id_is_shared():
    """The same output with the host's boot id is the host's own kernel, whatever else it says."""
    fixture = _load()
    guest_sections = dict(fixture["guest"], boot_id=fixture["host"]["boot_id"])
    result = _verdict.verdict(_probe.facts_from_sections(fixture["host"]), _probe.facts_from_sections(guest_sections))
    assert result["verdict"] == "shared-kernel"
