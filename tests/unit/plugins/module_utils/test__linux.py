# -*- coding: utf-8 -*-
"""plugins/module_utils/_linux.py: /proc parsers and the process-tree helpers."""

import os
import subprocess
import time
import uuid

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _linux

X86_CPUINFO = """\
processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 154
model name\t: 12th Gen Intel(R) Core(TM) i5-12450H
flags\t\t: fpu vme de pse tsc msr vmx smx est hypervisor sse4_2
bugs\t\t: spectre_v1

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: 12th Gen Intel(R) Core(TM) i5-12450H
flags\t\t: fpu vme de pse tsc msr vmx smx est hypervisor sse4_2 avx512

processor\t: 2
model name\t: 12th Gen Intel(R) Core(TM) i5-12450H
flags\t\t: fpu
"""

# arm64 (Neoverse N1 on a Graviton2 shape): no "model name" line at all.
ARM64_CPUINFO = """\
processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x3
CPU part\t: 0xd0c
CPU revision\t: 1

processor\t: 1
BogoMIPS\t: 243.75
Features\t: fp asimd
CPU implementer\t: 0x42
CPU architecture: 8
CPU part\t: 0xd0d
"""


# -- parse_cpuinfo -------------------------------------------------------

def test_parse_cpuinfo_x86_model_flags_and_count():
    cpu = _linux.parse_cpuinfo(X86_CPUINFO)
    assert cpu["model"] == "12th Gen Intel(R) Core(TM) i5-12450H"
    assert cpu["processors"] == 3
    # the flags of CPU 0, not a later CPU's
    assert cpu["flags"] == ["fpu", "vme", "de", "pse", "tsc", "msr", "vmx", "smx", "est", "hypervisor", "sse4_2"]
    assert cpu["hypervisor_flag"] is True
    assert cpu["virtualization_flags"] == ["vmx"]


def test_parse_cpuinfo_x86_without_virtualization_flags():
    text = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu svm_lock sse\n"
    cpu = _linux.parse_cpuinfo(text)
    assert cpu["hypervisor_flag"] is False
    # svm_lock is not svm: flags are whole words
    assert cpu["virtualization_flags"] == []


def test_parse_cpuinfo_amd_svm_and_vmx_sorted():
    cpu = _linux.parse_cpuinfo("processor : 0\nflags : svm vmx\n")
    assert cpu["virtualization_flags"] == ["svm", "vmx"]


def test_parse_cpuinfo_arm64_keeps_implementer_and_part():
    cpu = _linux.parse_cpuinfo(ARM64_CPUINFO)
    assert cpu["model"] == "implementer 0x41 part 0xd0c"
    assert cpu["processors"] == 2
    assert cpu["flags"][:3] == ["fp", "asimd", "evtstrm"]
    assert cpu["hypervisor_flag"] is False
    assert cpu["virtualization_flags"] == []


def test_parse_cpuinfo_empty():
    cpu = _linux.parse_cpuinfo("")
    assert cpu == {"model": None, "processors": 0, "flags": [], "hypervisor_flag": False,
                   "virtualization_flags": []}


def test_parse_cpuinfo_real_host():
    with open("/proc/cpuinfo") as handle:
        cpu = _linux.parse_cpuinfo(handle.read())
    assert cpu["processors"] >= 1
    assert cpu["model"]


# -- parse_meminfo_total_kib / count_lines -------------------------------

def test_parse_meminfo_total_kib():
    text = "MemTotal:       24683584 kB\nMemFree:        20000000 kB\n"
    assert _linux.parse_meminfo_total_kib(text) == 24683584
    # the grep'd single line the probe prints
    assert _linux.parse_meminfo_total_kib("MemTotal:        2030000 kB") == 2030000


@pytest.mark.parametrize("text", ["", "MemFree: 1 kB\n", "MemTotal:\n", "MemTotal: lots kB\n"])
def test_parse_meminfo_total_kib_missing_or_garbled(text):
    assert _linux.parse_meminfo_total_kib(text) is None


def test_count_lines_ignores_blank_lines():
    modules = "vhost_net 32768 0 - Live 0x0\n\nvhost 57344 1 vhost_net, Live 0x0\n   \ntap 28672 1 vhost_net, Live 0x0\n"
    assert _linux.count_lines(modules) == 3
    assert _linux.count_lines("") == 0


# -- parse_ip_addr_oneline / interfaces_from ---------------------------------

IPROUTE2_OUTPUT = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever
4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever
4: eth0    inet6 fd00::2/64 scope global nodad \\       valid_lft forever preferred_lft forever
4: eth0    inet6 fe80::fc:ff:fe00:1/64 scope link \\       valid_lft forever preferred_lft forever
"""

# busybox ip -o addr prints the link line too, and veth peers as name@ifN
BUSYBOX_OUTPUT = """\
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
5: eth0@if6: <BROADCAST,MULTICAST,UP,LOWER_UP,M-DOWN> mtu 1500 qdisc noqueue \\    link/ether 2a:11:3c:00:00:02 brd ff:ff:ff:ff:ff:ff
5: eth0@if5    inet 10.4.0.5/24 brd 10.4.0.255 scope global eth0\\       valid_lft forever preferred_lft forever
5: eth0@if5    inet6 fe80::2811:3cff:fe00:2/64 scope link \\       valid_lft forever preferred_lft forever
"""


def test_parse_ip_addr_oneline_iproute2():
    assert _linux.parse_ip_addr_oneline(IPROUTE2_OUTPUT) == {
        "lo": ["127.0.0.1/8", "::1/128"],
        "eth0": ["192.0.2.2/24", "fd00::2/64", "fe80::fc:ff:fe00:1/64"],
    }


def test_parse_ip_addr_oneline_busybox_strips_peer_suffix_and_skips_link_lines():
    assert _linux.parse_ip_addr_oneline(BUSYBOX_OUTPUT) == {
        "lo": ["127.0.0.1/8"],
        "eth0": ["10.4.0.5/24", "fe80::2811:3cff:fe00:2/64"],
    }


def test_parse_ip_addr_oneline_noise():
    assert _linux.parse_ip_addr_oneline("") == {}
    assert _linux.parse_ip_addr_oneline("ip: can't find device\nsh: ip: not found\n") == {}


def test_interfaces_from_union_sorted():
    addresses = {"eth0": ["10.0.0.2/24"], "lo": ["127.0.0.1/8"]}
    assert _linux.interfaces_from(["lo", "ifb0", "eth0"], addresses) == [
        {"name": "eth0", "addresses": ["10.0.0.2/24"]},
        {"name": "ifb0", "addresses": []},
        {"name": "lo", "addresses": ["127.0.0.1/8"]},
    ]
    # an address whose interface was not listed still shows up
    assert _linux.interfaces_from([], {"tap0": ["fe80::1/64"]}) == [{"name": "tap0", "addresses": ["fe80::1/64"]}]
    assert _linux.interfaces_from([], {}) == []


# -- process_start_ticks -----------------------------------------------------

def test_process_start_ticks_own_pid():
    ticks = _linux.process_start_ticks(os.getpid())
    assert ticks is not None and ticks.isdigit()
    # stable: same process, same start time
    assert _linux.process_start_ticks(os.getpid()) == ticks
    # field 22 of /proc/self/stat, counted the way stat(5) does
    with open("/proc/self/stat") as handle:
        assert handle.read().rpartition(")")[2].split()[19] == ticks


def test_process_start_ticks_dead_pid():
    child = subprocess.Popen(["true"])
    child.wait()  # reaped: the pid names nothing now
    assert _linux.process_start_ticks(child.pid) is None


def test_process_start_ticks_comm_with_spaces_and_parens(tmp_path):
    # the command name may contain ") (": the parser splits after the LAST ')'
    script = tmp_path / "a) (b"
    script.write_text("#!/bin/sh\nread line\n")  # blocks in a builtin: no child process to leak
    script.chmod(0o755)
    child = subprocess.Popen([str(script)], stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with open("/proc/%d/stat" % child.pid) as handle:
                if "(a) (b)" in handle.read():
                    break
            time.sleep(0.01)
        ticks = _linux.process_start_ticks(child.pid)
        assert ticks is not None and ticks.isdigit()
    finally:
        child.kill()
        child.wait()
        child.stdin.close()


# -- find_processes / kill_tree ----------------------------------------------

def _running(pid):
    """Alive and not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            state = handle.read().rpartition(")")[2].split()[0]
    except (IOError, OSError):
        return False
    return state not in ("Z", "X")


def _wait_until(predicate, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _children(pid):
    return [child for child, (ppid, _argv) in _linux.process_table().items() if ppid == pid]


def _sleeping_children(pid):
    """Children of ``pid`` that run sleep: a child forked but not yet exec'd still carries the shell's argv."""
    return [child for child, (ppid, argv) in _linux.process_table().items() if ppid == pid and argv[:1] == ["sleep"]]


def test_find_processes_and_kill_tree_on_a_real_tree():
    marker = "kf-unit-%s" % uuid.uuid4().hex
    # "$0" is the marker: it shows in the shell's argv, so find_processes can see it.
    root = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60", marker])
    try:
        # Both children have exec'd sleep: until then a fork still shows the marker (CI once saw two pids).
        assert _wait_until(lambda: len(_sleeping_children(root.pid)) == 2), "the shell did not start its two sleeps"
        children = _children(root.pid)
        assert sorted(children) == sorted(_sleeping_children(root.pid))
        assert _linux.find_processes(marker) == [root.pid]
        assert _linux.find_processes("-c", marker) == [root.pid]
        # every word must be present
        assert _linux.find_processes(marker, "no-such-arg-%s" % marker) == []

        killed = _linux.kill_tree(root.pid)
        assert sorted(killed) == sorted([root.pid] + children)
        # children are signalled before their parent
        assert killed[-1] == root.pid
    finally:
        if root.poll() is None:
            root.kill()
        root.wait(timeout=5)  # reap our own child: no zombie left to confuse the check
    # -9: SIGKILL reached the shell; 137: the children died first and the shell exited on its own
    assert root.returncode in (-9, 137)
    # the sleeps were reparented when the shell died; whoever reaps them, they must not run
    for pid in children:
        assert _wait_until(lambda: not _running(pid)), "pid %d survived kill_tree" % pid
    assert _linux.find_processes(marker) == []


def test_kill_tree_of_a_gone_pid_signals_nothing():
    child = subprocess.Popen(["true"])
    child.wait()
    assert _linux.kill_tree(child.pid) == []
