# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real VM guest: the probe script as the init of a QEMU (TCG) guest must give vm-isolated.

Also the harness itself (tests/integration/qemu_guest.py): exact output and
exit status, a panicking guest, and nothing left behind on timeout,
KeyboardInterrupt or a controller killed with SIGKILL.  Needs
qemu-system-x86_64, a kernel and the static busybox; skips loudly without them.
Run under the machine-wide lock: ``flock /tmp/kf-heavy.lock pytest tests/integration/test_qemu_guest.py``.
"""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import qemu_guest
import qemu_probe
from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _linux, _probe, _verdict  # noqa: E402  pylint: disable=wrong-import-position

HERE = os.path.dirname(os.path.abspath(__file__))
CPIO = shutil.which("cpio")


REQUIRE_ENV = "KATA_FLEET_REQUIRE_VM_GUEST"


@pytest.fixture
def guest_tools():
    """Skip loudly where a guest cannot boot; fail instead where $KATA_FLEET_REQUIRE_VM_GUEST=1 (CI)."""
    reason = qemu_guest.missing()
    if reason:
        message = "NO REAL VM GUEST TESTED: %s" % reason
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(message + " (%s=1 requires it)" % REQUIRE_ENV)
        pytest.skip(message)


def _qemu_processes(under):
    """Pids of QEMU processes whose arguments name a path under ``under``: only the ones this test started."""
    return [pid for pid, (_ppid, argv) in _linux.process_table().items()
            if argv and os.path.basename(argv[0]) == qemu_guest.QEMU and any(under in arg for arg in argv)]


def _leftover_dirs(under):
    return sorted(name for name in os.listdir(under) if name.startswith(qemu_guest.TMP_PREFIX))


def _wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


# -- the initramfs, without QEMU ---------------------------------------------------------

@pytest.mark.skipif(CPIO is None, reason="the cpio tool is not installed: cannot cross-check the archive")
def test_initramfs_is_a_newc_archive_cpio_reads(tmp_path):
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF stand-in, 19 bytes")
    archive = tmp_path / "initramfs.cpio"
    archive.write_bytes(qemu_guest.initramfs("echo hi\n", str(busybox)))
    listing = subprocess.run([CPIO, "-itv", "-F", str(archive)], capture_output=True, text=True, check=True)
    lines = listing.stdout.splitlines()
    assert [line.split()[-1] for line in lines] == ["bin", "bin/busybox", "dev", "dev/console", "init", "script.sh"]
    assert lines[3].startswith("crw-------") and "5," in lines[3] and "1 " in lines[3]
    assert lines[4].startswith("-rwxr-xr-x") and lines[1].startswith("-rwxr-xr-x")
    unpacked = tmp_path / "root"
    unpacked.mkdir()
    subprocess.run([CPIO, "-id", "--no-absolute-filenames", "-F", str(archive)], cwd=str(unpacked),
                   capture_output=True, check=True)
    assert (unpacked / "script.sh").read_text() == "echo hi\n"
    assert (unpacked / "bin" / "busybox").read_bytes() == busybox.read_bytes()
    assert (unpacked / "init").read_text() == qemu_guest.INIT


def test_newc_entries_are_aligned():
    blob = qemu_guest.newc_archive([("a", 0o100644, b"xyz", (0, 0))])
    assert blob.startswith(b"070701") and len(blob) % 512 == 0
    # header (110) + "a\0" padded to 112, then 3 data bytes padded to 116, then the trailer header.
    assert blob[110:112] == b"a\0" and blob[112:115] == b"xyz" and blob[116:122] == b"070701"
    assert b"TRAILER!!!\0" in blob


def test_missing_names_what_and_how(monkeypatch, tmp_path):
    monkeypatch.setenv(qemu_guest.KERNEL_ENV, str(tmp_path / "no-such-vmlinuz"))
    monkeypatch.setattr(qemu_guest, "QEMU", "no-such-qemu-system-x86_64")
    reason = qemu_guest.missing()
    assert "no-such-qemu-system-x86_64 is not installed (Debian package qemu-system-x86)" in reason
    assert "no guest kernel (looked at %s)" % (tmp_path / "no-such-vmlinuz") in reason
    assert "--fetch-kernel" in reason
    with pytest.raises(qemu_guest.GuestError) as raised:
        qemu_guest.run_script("true\n", tmp_root=str(tmp_path))
    assert "cannot boot a guest here" in str(raised.value) and os.listdir(str(tmp_path)) == []


# -- the harness, in a real guest -----------------------------------------------------------

def test_script_output_and_exit_status_are_exact(guest_tools, tmp_path):
    script = textwrap.dedent("""\
        printf 'line one\\nno newline at the end'
        echo 'to stderr' >&2
        exit 7
        """)
    run = qemu_guest.run_script(script, timeout=90, tmp_root=str(tmp_path))
    assert run.status == 7
    # Raw ttyS1: no CR added, nothing of the kernel log mixed in, stderr on the same channel.
    assert run.output == "line one\nno newline at the endto stderr\n"
    assert "Linux version" in run.console
    assert _qemu_processes(str(tmp_path)) == [] and _leftover_dirs(str(tmp_path)) == []


def test_a_panicking_guest_fails_with_its_console(guest_tools, tmp_path):
    # No such init: the kernel panics, panic=-1 reboots at once and -no-reboot ends QEMU.
    with pytest.raises(qemu_guest.GuestError) as raised:
        qemu_guest.run_script("exit 0\n", timeout=90, append=["rdinit=/nonexistent"], tmp_root=str(tmp_path))
    assert "without the script's exit status" in str(raised.value)
    assert "Kernel panic" in raised.value.run.console
    assert _qemu_processes(str(tmp_path)) == [] and _leftover_dirs(str(tmp_path)) == []


def test_timeout_kills_qemu_and_removes_everything(guest_tools, tmp_path):
    started = time.monotonic()
    with pytest.raises(qemu_guest.GuestTimeout) as raised:
        qemu_guest.run_script("sleep 600\n", timeout=3, tmp_root=str(tmp_path))
    assert time.monotonic() - started < 15
    assert "did not power off within 3 s" in str(raised.value)
    assert _qemu_processes(str(tmp_path)) == [] and _leftover_dirs(str(tmp_path)) == []


CONTROLLER = textwrap.dedent("""\
    import sys
    sys.path.insert(0, %r)
    import qemu_guest
    qemu_guest.run_script("sleep 600\\n", timeout=300, tmp_root=%r)
    """)


def _controller(tmp_path):
    """A separate Python process running the harness on a guest that never ends; waits for its QEMU."""
    process = subprocess.Popen([sys.executable, "-c", CONTROLLER % (HERE, str(tmp_path))],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if not _wait_for(lambda: _qemu_processes(str(tmp_path)), 30):
        process.kill()
        pytest.fail("the controller started no QEMU: %s" % process.communicate()[1].decode())
    return process


def test_keyboard_interrupt_kills_qemu_and_removes_everything(guest_tools, tmp_path):
    process = _controller(tmp_path)
    try:
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert b"KeyboardInterrupt" in err
    assert _qemu_processes(str(tmp_path)) == [] and _leftover_dirs(str(tmp_path)) == []


def test_controller_killed_takes_qemu_along_and_the_next_run_sweeps(guest_tools, tmp_path):
    process = _controller(tmp_path)
    process.kill()  # SIGKILL: no finally runs in the controller
    process.communicate(timeout=20)
    # PR_SET_PDEATHSIG: the kernel kills QEMU when its parent dies.
    assert _wait_for(lambda: not _qemu_processes(str(tmp_path)), 10), _qemu_processes(str(tmp_path))
    left = _leftover_dirs(str(tmp_path))
    assert len(left) == 1
    # A directory without our owner record is not ours: the sweep leaves it alone.
    foreign = tmp_path / (qemu_guest.TMP_PREFIX + "foreign")
    foreign.mkdir()
    assert qemu_guest.sweep_stale(str(tmp_path)) == [str(tmp_path / left[0])]
    assert _leftover_dirs(str(tmp_path)) == [foreign.name]


# -- the probe in a real guest ---------------------------------------------------------------

def test_probe_in_a_real_qemu_guest_is_vm_isolated(guest_tools, capsys):
    run, nonce = qemu_probe.probe_guest(timeout=180)
    assert run.status == 0, run.output
    guest = _probe.parse_output(run.output, nonce)  # raises unless framed exactly, with this nonce
    host = _probe.facts_from_sections(qemu_probe.host_sections())
    result = _verdict.verdict(host, guest)
    with capsys.disabled():
        sys.stdout.write("\nQEMU TCG guest: %.1f s wall clock, kernel reached /init at %s s; verdict %s, "
                         "sandbox %s, signals %s (%s)\n  %s\n"
                         % (run.seconds, run.kernel_boot_seconds(), result["verdict"], result["sandbox"],
                            result["signals"], result["verdict_reason"], "\n  ".join(result["evidence"])))
    assert result["verdict"] == "vm-isolated", result
    assert result["sandbox"] == "qemu", result
    assert guest["fact_errors"] == [], guest["fact_errors"]
    # The signals that show it: a boot id of its own, the guest kernel's release, QEMU's DMI table.
    assert guest["boot_id"] and guest["boot_id"] != host["boot_id"]
    assert {"boot-id-differs", "dmi:qemu"} <= set(result["signals"]), result["signals"]
    name = os.path.basename(run.kernel)
    if name.startswith("vmlinuz-") and name[len("vmlinuz-"):] != host["kernel_release"]:
        assert guest["kernel_release"] == name[len("vmlinuz-"):]
        assert "release-differs" in result["signals"]
    assert guest["dmi"].get("sys_vendor") == "QEMU", guest["dmi"]
    # -nic none: the guest has a loopback device and nothing else.
    assert [interface["name"] for interface in guest["interfaces"]] == ["lo"]
    # The same real output with a section appended after the end (a forgery) or read with another
    # run's nonce fails the probe instead of giving a verdict.
    lines = run.output.splitlines()
    forged = "\n".join(lines[:-1] + [_probe.marker(nonce, "boot_id"), host["boot_id"], lines[-1]]) + "\n"
    for output, with_nonce in ((forged, nonce), (run.output, _probe.new_nonce())):
        with pytest.raises(_probe.ProbeOutputError):
            _probe.parse_output(output, with_nonce)
