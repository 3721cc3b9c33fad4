# -*- coding: utf-8 -*-
"""Hostile values inside correctly framed probe output: each becomes that fact's error, never an exception.

The framing (nonce, order, sizes) is tested in test_probe.py; here the frame
is right and the values are not.  Each case feeds one section through the
live path (render -> parse_output -> verdict) and checks that the parse does
not raise, the fact is refused (None) with an entry in ``fact_errors``, no
control character survives into any string, and the verdict still runs.
"""

import json

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _probe, _verdict
from probe_output import NONCE

HOST = {"boot_id": "7c1e2d9a-3b4f-4e8a-8f60-2a9d5e1c7b44", "kernel_release": "6.1.0-18-amd64",
        "boot_time": 1763290000, "hypervisor_flag": False, "cpu_model": "Host CPU"}
GOOD = {"uname_r": "6.1.0-18-amd64", "boot_id": "0b6a3c55-1f0e-4c7e-9a51-6f2d86a4e3c1", "btime": "btime 1763300000",
        "uptime": "12.50 10.00", "nproc": "1", "proc_entries": "53", "modules": "72", "meminfo": "MemTotal: 2030000 kB"}

ESC = "\x1b"
# (section, text, fact that must be refused (None), error prefix expected in fact_errors)
HOSTILE = [
    ("proc_entries", "9" * 400, "proc_entries", "proc_entries: not a plain number"),
    ("proc_entries", "\u00b2\u00b3", "proc_entries", "proc_entries: not a plain number"),          # superscripts
    ("proc_entries", "\u0665\u0663", "proc_entries", "proc_entries: not a plain number"),          # Arabic-Indic digits
    ("proc_entries", "-5", "proc_entries", "proc_entries: not a plain number"),
    ("modules", "1e9", "modules", "modules: not a plain number"),
    ("modules", "\uff17\uff12", "modules", "modules: not a plain number"),                         # full-width digits
    ("nproc", "0x10", "cpus", "cpus: not a plain number"),
    ("btime", "btime 99999999999999999999", "boot_time", "boot_time: not a plain number"),
    ("btime", "btime NaN", "boot_time", "boot_time: not a plain number"),
    ("btime", "garbage line", "boot_time", "boot_time: not a btime line"),
    ("uptime", "nan 1.0", "uptime_seconds", "uptime: not a number of seconds"),
    ("uptime", "inf inf", "uptime_seconds", "uptime: not a number of seconds"),
    ("uptime", "1e308 0", "uptime_seconds", "uptime: not a number of seconds"),
    ("uptime", "9999999999.0 0", "uptime_seconds", "uptime: out of range"),
    ("uptime", "12.5", "uptime_seconds", "uptime: expected two numbers"),
    ("meminfo", "MemTotal: \u0661\u0662 kB", "mem_total_kib", "mem_total_kib: not a plain number"),
    ("boot_id", "0b6a3c55-1f0e-4c7e-9a51-6f2d86a4e3c1" + ESC + "[2J", "boot_id", "boot_id: not a boot id"),
    ("boot_id", "ZZZZZZZZ-1f0e-4c7e-9a51-6f2d86a4e3c1", "boot_id", "boot_id: not a boot id"),
    ("uname_r", "6.1.0" + ESC + "]0;pwned\x07", "kernel_release", "kernel_release: "),
    ("uname_r", "6.1 0 with spaces", "kernel_release", "kernel_release: not a kernel release"),
]


def _facts(section, text):
    sections = dict(GOOD)
    sections[section] = text
    return _probe.parse_output(_probe.render(sections, NONCE), NONCE)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, (dict, list)):
        for item in (value.values() if isinstance(value, dict) else value):
            yield from _strings(item)


def _no_controls(facts):
    for text in _strings(facts):
        assert not any(ord(ch) < 32 and ch != "\t" for ch in text), repr(text)
        assert "\x7f" not in text and "\u202e" not in text, repr(text)


def test_at_least_fifteen_hostile_cases():
    assert len(HOSTILE) >= 15


@pytest.mark.parametrize("section, text, fact, error", HOSTILE)
def test_hostile_value_is_that_facts_error(section, text, fact, error):
    facts = _facts(section, text)
    assert facts[fact] is None
    assert any(entry.startswith(error) for entry in facts["fact_errors"]), facts["fact_errors"]
    _no_controls(facts)
    result = _verdict.verdict(HOST, facts)
    assert result["verdict"] in ("shared-kernel", "vm-isolated", "user-space-kernel", "unknown")
    json.dumps(dict(facts, **result))  # everything stays serialisable for the report and the bundle
    _no_controls(result)


@pytest.mark.parametrize("section, text", [
    ("uname_a", "Linux host 6.1.0 " + ESC + "[31mred" + ESC + "[0m #1 SMP x86_64"),
    ("cmdline", "quiet \u202egvisor-fake\u202c console=hvc0"),          # a bidi override
    ("dmi", "sys_vendor=QEMU" + ESC + "[2J\nproduct_name=Standard PC\x00"),
    ("net_names", "lo\neth0" + ESC + "[1m\n" + "x" * 500),
    ("ip_addr", "1: lo    inet 127.0.0.1/8" + ESC + "[0m scope host lo"),
    ("dmesg", "rc=0\n[    0.000000] Linux version" + ESC + "[2K\n[    0.1] Hypervisor detected: KVM\x08\x08"),
    ("dmesg_signals", "[    0.0] DMI: QEMU" + ESC + "]8;;http://x" + ESC + "\\"),
    ("cpuinfo", "model name\t: Evil" + ESC + "[5m CPU\nflags\t\t: fpu hypervisor"),
])
def test_control_sequences_are_removed(section, text):
    facts = _facts(section, text)
    _no_controls(facts)
    _no_controls(_verdict.verdict(HOST, facts))


def test_uname_with_escape_keeps_its_text_and_says_so():
    facts = _facts("uname_a", "Linux host 6.1.0 " + ESC + "[31mred #1 SMP x86_64")
    assert facts["uname"] == "Linux host 6.1.0 [31mred #1 SMP x86_64"
    assert "uname: control characters or excess length removed" in facts["fact_errors"]


def test_multi_line_value_keeps_its_first_line():
    facts = _facts("uname_a", "Linux h 6.1.0 #1 SMP\n@not-a-marker second line")
    assert facts["uname"] == "Linux h 6.1.0 #1 SMP"
    assert facts["fact_errors"] == ["uname: expected one line, got 2"]


def test_multi_line_release_is_refused():
    facts = _facts("uname_r", "6.1.0\n4.4.0")
    assert facts["kernel_release"] is None
    assert facts["fact_errors"] == ["kernel_release: expected one line, got 2"]


def test_dmi_value_is_bounded_and_unknown_keys_are_errors():
    facts = _facts("dmi", "sys_vendor=" + "Q" * 5000 + "\nbogus=1\nproduct_name=KVM")
    assert len(facts["dmi"]["sys_vendor"]) == 256
    assert facts["dmi"]["product_name"] == "KVM"
    assert any(entry.startswith("dmi: unexpected line") for entry in facts["fact_errors"])


def test_many_interfaces_are_capped():
    names = "\n".join("veth%d" % i for i in range(_probe.MAX_INTERFACES * 2))
    facts = _facts("net_names", names)
    assert len(facts["interfaces"]) == _probe.MAX_INTERFACES


def test_signal_lines_are_capped():
    lines = "\n".join("[    0.%06d] Hypervisor detected: KVM %d" % (i, i) for i in range(500))
    facts = _facts("dmesg_signals", lines)
    assert len(facts["dmesg_signals"]) == _probe.DMESG_SIGNAL_LINES


def test_facts_from_sections_survives_non_text_values():
    facts = _probe.facts_from_sections({"uname_r": 5, "boot_id": ["x"], "dmesg": None, "uptime": {"a": 1}})
    assert facts["kernel_release"] is None and facts["boot_id"] is None
    assert _probe.facts_from_sections("not a dict")["kernel_release"] is None


@pytest.mark.parametrize("output", [
    "%s\n[   nan] Freeing unused kernel memory: 1200K\n",
    "%s\n[   inf] Freeing unused kernel memory: 1200K\n",
    "%s\n[1e308] Freeing unused kernel memory: 1200K\n",
    "%s\n[99999.000000] Freeing unused kernel memory: 1200K\n",           # absurd: more than ten minutes
    "%s\n[   -1.000000] Freeing unused kernel memory: 1200K\n",
    "%s\n[   \u0661.000000] Freeing unused kernel memory: 1200K\n",       # Arabic-Indic digit
    "%s\n" + "x" * 100000,
])
def test_guest_kernel_boot_seconds_refuses_bad_stamps(output):
    text = output % "0b6a3c55-1f0e-4c7e-9a51-6f2d86a4e3c1" if "%s" in output else output
    assert _probe.guest_kernel_boot_seconds(text, HOST["boot_id"]) is None
    assert _probe.guest_kernel_boot_seconds(None, HOST["boot_id"]) is None
