# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real VM guest for the tests: any shell script run as the init of a QEMU guest.

``run_script(script)`` boots a Debian kernel under ``qemu-system-x86_64`` with
an initramfs this module writes itself (newc cpio, no cpio tool needed) that
holds only the static busybox, an ``/init`` and the script.  ``/init`` mounts
proc, sysfs and devtmpfs, runs the script with its stdout and stderr on the
second serial port, reports the exit status on the first and powers off.  It
returns the script's output byte for byte (``GuestRun.output``), the kernel's
console log (``GuestRun.console``), the exit status and the wall-clock time.

Why these choices:

* TCG (``-accel tcg``), never KVM: on this project's nested build machines a
  KVM guest hangs at boot (SeaBIOS runs, the kernel never prints).  TCG is
  slower but boots the Debian kernel in seconds (timings below).
* Two serial ports: the kernel writes its log to ttyS0 (``console=ttyS0``) at
  any moment, so the script gets ttyS1 to itself (in raw mode: no CR added)
  and its output is never interleaved with kernel messages.
* No network (``-nic none``), no disks, no default devices (``-nodefaults``).
* Cleanup on every path: the QEMU process (in its own process group) is killed
  and the temporary directory removed on success, failure, timeout, output
  overflow and KeyboardInterrupt.  QEMU also gets PR_SET_PDEATHSIG, so a
  controller killed with SIGKILL takes QEMU with it; the directory it leaves
  (marked with an owner record naming the controller's pid) is swept by the
  next run once that pid is gone.  Nothing without that record is touched.

The kernel: ``KATA_FLEET_GUEST_KERNEL`` if set, else the newest
``build/guest-kernel/vmlinuz-*`` (what ``--fetch-kernel`` unpacks), else the
newest ``/boot/vmlinuz-*``.  ``--fetch-kernel`` is how CI gets Debian's
``linux-image-amd64`` kernel without installing it (no initramfs hooks, no
bootloader change, nothing under /boot): ``apt-get download`` of the package
the metapackage depends on, and only its ``./boot/vmlinuz-*`` taken out of the
package's data (about 15 s; needs apt and dpkg-deb, no other tool).

In the tests (KATA_FLEET_REQUIRE_VM_GUEST=1 turns their loud skip, where QEMU,
a kernel or the static busybox is missing, into a failure)::

    flock /tmp/kf-heavy.lock python -m pytest tests/integration/test_qemu_guest.py

Command lines::

    python3 tests/integration/qemu_guest.py 'uname -a; cat /proc/cmdline'   # a look by hand
    python3 tests/integration/qemu_guest.py --fetch-kernel                  # CI, once (.ci/run)

Timings on this project's 2-vCPU build machine (itself a Firecracker VM, so
TCG): 7-10 s from QEMU's start to its exit for the probe script when the
machine is otherwise idle (the kernel reaches /init at 2.3-3.1 s of its own
clock), 19-28 s while other work loads both CPUs.  The whole of
tests/integration/test_qemu_guest.py (three boots plus the kill tests) takes
about 25 s idle.
"""

import ctypes
import errno
import glob
import io
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if os.path.join(REPO, "collections") not in sys.path:
    sys.path.insert(0, os.path.join(REPO, "collections"))
from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _oci  # noqa: E402  pylint: disable=wrong-import-position

QEMU = "qemu-system-x86_64"
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
KERNEL_ENV = "KATA_FLEET_GUEST_KERNEL"
KERNEL_GLOB = "/boot/vmlinuz-*"
FETCHED_KERNELS = os.path.join(REPO, "build", "guest-kernel")
KERNEL_METAPACKAGE = "linux-image-amd64"
KERNEL_PACKAGE = re.compile(r"\Alinux-image-[0-9][0-9a-z.+~-]{0,80}-amd64\Z")
KERNEL_MEMBER = re.compile(r"\A(\./)?boot/(vmlinuz-[0-9][0-9A-Za-z.+~_-]{0,80})\Z")
MAX_KERNEL_BYTES = 128 * 1024 * 1024
TMP_PREFIX = "kf-qemu-"
OWNER_RECORD = "kata-fleet-qemu-guest.owner"
DEFAULT_TIMEOUT = 120
DEFAULT_MEMORY_MIB = 256
# A guest that prints more than this is runaway: killed, and the run fails.
MAX_OUTPUT_BYTES = 4 * 1024 * 1024
# /init's last word on the kernel console; the script's own output never goes there.
# (The script could print such a line on ttyS0 too; the last one, /init's, is the one read.)
STATUS_LINE = re.compile(r"\Akata-fleet-guest: script exit status ([0-9]{1,3})\Z")
INIT_STARTED_LINE = re.compile(r"\A\[ *([0-9]{1,6}\.[0-9]{1,9})\] Run /init as init process\Z")

INIT = """#!/bin/busybox sh
# kata-fleet test guest: the only program here is the static busybox.
/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
stty -F /dev/ttyS1 raw -echo
/bin/sh /script.sh </dev/null >/dev/ttyS1 2>&1
echo "kata-fleet-guest: script exit status $?" >/dev/ttyS0
sync
poweroff -f
"""

PR_SET_PDEATHSIG = 1


class GuestError(Exception):
    """The guest did not run the script to its end; ``run`` holds what was captured."""

    def __init__(self, message, run=None):
        Exception.__init__(self, message)
        self.run = run


class GuestTimeout(GuestError):
    pass


class GuestRun:
    """One guest's run: the script's output, the kernel console, exit status, timings."""

    def __init__(self, output, console, status, seconds, argv, kernel):
        self.output = output
        self.console = console
        self.status = status
        self.seconds = seconds
        self.argv = argv
        self.kernel = kernel

    def kernel_boot_seconds(self):
        """The guest kernel's own timestamp of starting /init, from its console, or None."""
        for line in self.console.splitlines():
            match = INIT_STARTED_LINE.match(line.rstrip("\r"))
            if match:
                return float(match.group(1))
        return None


# -- newc cpio, the format the kernel unpacks into its initramfs --------------------

def _cpio_entry(name, mode, data=b"", ino=1, rdev=(0, 0)):
    name_bytes = name.encode("utf-8") + b"\0"
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_bytes), 0)
    header = b"070701" + b"".join(b"%08X" % field for field in fields)
    entry = header + name_bytes
    entry += b"\0" * (-len(entry) % 4)
    entry += data
    entry += b"\0" * (-len(entry) % 4)
    return entry


def newc_archive(entries):
    """A newc ("070701") cpio archive of (name, mode, data, rdev) entries, with its trailer.

    Names are relative ("init", "dev/console"); ``mode`` carries the file type
    bits (stat.S_IFREG | 0o755 ...); ``rdev`` is (major, minor) for device nodes.
    """
    out = io.BytesIO()
    for ino, (name, mode, data, rdev) in enumerate(entries, start=1):
        out.write(_cpio_entry(name, mode, data, ino=ino, rdev=rdev))
    out.write(_cpio_entry("TRAILER!!!", 0, ino=0))
    blob = out.getvalue()
    return blob + b"\0" * (-len(blob) % 512)


def initramfs(script, busybox):
    """The guest's whole root file system: busybox, /init and the script."""
    with open(busybox, "rb") as handle:
        busybox_data = handle.read()
    directory, executable = stat.S_IFDIR | 0o755, stat.S_IFREG | 0o755
    return newc_archive([
        ("bin", directory, b"", (0, 0)),
        ("bin/busybox", executable, busybox_data, (0, 0)),
        # The kernel opens /dev/console for init's stdio before anything is mounted.
        ("dev", directory, b"", (0, 0)),
        ("dev/console", stat.S_IFCHR | 0o600, b"", (5, 1)),
        ("init", executable, INIT.encode("ascii"), (0, 0)),
        ("script.sh", stat.S_IFREG | 0o644, script.encode("utf-8"), (0, 0)),
    ])


# -- where the pieces are -------------------------------------------------------------

def _version_key(path):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", os.path.basename(path))]


def find_kernel():
    """The guest kernel's path, or None: $KATA_FLEET_GUEST_KERNEL, else a fetched one, else /boot's newest."""
    configured = os.environ.get(KERNEL_ENV)
    if configured:
        return configured if os.path.isfile(configured) else None
    for pattern in (os.path.join(FETCHED_KERNELS, "vmlinuz-*"), KERNEL_GLOB):
        kernels = [path for path in glob.glob(pattern) if os.path.isfile(path) and os.access(path, os.R_OK)]
        if kernels:
            return sorted(kernels, key=_version_key)[-1]
    return None


def fetch_kernel(dest=FETCHED_KERNELS):
    """Download Debian's current amd64 kernel package and unpack only its vmlinuz into ``dest``.

    Nothing is installed: ``apt-get download`` (as root without apt's _apt
    sandbox user, which could not write the temporary directory) and
    ``dpkg-deb --fsys-tarfile``, read member by member; only a regular file
    ./boot/vmlinuz-<release> is written.  Returns the path written.
    """
    depends = subprocess.run(["apt-cache", "depends", KERNEL_METAPACKAGE], capture_output=True, text=True,
                             check=True).stdout
    packages = [line.split(":", 1)[1].strip() for line in depends.splitlines()
                if line.strip().startswith("Depends:") and KERNEL_PACKAGE.match(line.split(":", 1)[1].strip())]
    if not packages:
        raise GuestError("apt-cache depends %s names no kernel package: run apt-get update" % KERNEL_METAPACKAGE)
    with tempfile.TemporaryDirectory(prefix="kf-guest-kernel-") as workdir:
        subprocess.run(["apt-get", "download", "-qq", "-o", "APT::Sandbox::User=root", packages[0]],
                       cwd=workdir, check=True)
        debs = glob.glob(os.path.join(workdir, "*.deb"))
        if len(debs) != 1:
            raise GuestError("apt-get download %s gave %d packages" % (packages[0], len(debs)))
        unpack = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", debs[0]], stdout=subprocess.PIPE)
        written = None
        try:
            with tarfile.open(fileobj=unpack.stdout, mode="r|") as archive:
                for member in archive:
                    match = KERNEL_MEMBER.match(member.name)
                    if match and member.isfile() and member.size <= MAX_KERNEL_BYTES:
                        os.makedirs(dest, exist_ok=True)
                        written = os.path.join(dest, match.group(2))
                        with archive.extractfile(member) as source, open(written + ".part", "wb") as target:
                            shutil.copyfileobj(source, target)
                        os.replace(written + ".part", written)
        finally:
            unpack.stdout.close()
            if unpack.wait() != 0 and written is None:
                raise GuestError("dpkg-deb --fsys-tarfile %s failed" % debs[0])
    if written is None:
        raise GuestError("%s holds no ./boot/vmlinuz-*" % packages[0])
    return written


def find_busybox():
    """The static busybox (package busybox-static), or None when only a dynamic one is there."""
    for path in BUSYBOX_CANDIDATES:
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                if _oci.is_static_elf(handle.read()):
                    return path
    return None


def missing():
    """Why a guest cannot boot here, or None: what is absent and which package brings it."""
    reasons = []
    if not shutil.which(QEMU):
        reasons.append("%s is not installed (Debian package qemu-system-x86)" % QEMU)
    if not find_kernel():
        reasons.append("no guest kernel (looked at %s): run `python3 tests/integration/qemu_guest.py --fetch-kernel`, "
                       "install linux-image-amd64 or set %s to a vmlinuz"
                       % (os.environ.get(KERNEL_ENV) or "%s/vmlinuz-*, %s" % (FETCHED_KERNELS, KERNEL_GLOB), KERNEL_ENV))
    if not find_busybox():
        reasons.append("no static busybox at %s (Debian package busybox-static)" % " or ".join(BUSYBOX_CANDIDATES))
    return "; ".join(reasons) or None


# -- leftovers of killed controllers ----------------------------------------------------

def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except OSError as error:
        return error.errno == errno.EPERM
    return True


def sweep_stale(tmp_root=None):
    """Remove the directories of earlier runs whose controller died (SIGKILL): only ours, by owner record."""
    removed = []
    for path in glob.glob(os.path.join(tmp_root or tempfile.gettempdir(), TMP_PREFIX + "*")):
        try:
            with open(os.path.join(path, OWNER_RECORD)) as handle:
                pid = int(handle.read().strip())
        except (IOError, OSError, ValueError):
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _die_with(parent):
    """In the QEMU child, before exec: SIGKILL when the controller dies, whatever kills it."""
    def arm():
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the controller died before the signal was armed
            os._exit(1)
    return arm


def _kill_group(process):
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass
    process.wait()


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read(MAX_OUTPUT_BYTES).decode("utf-8", "replace")
    except (IOError, OSError):
        return ""


def qemu_argv(kernel, initrd, console_log, output_log, memory_mib=DEFAULT_MEMORY_MIB, append=()):
    return [
        QEMU, "-accel", "tcg", "-machine", "pc", "-m", str(memory_mib), "-smp", "1",
        "-nodefaults", "-no-user-config", "-display", "none", "-nic", "none", "-no-reboot",
        "-kernel", kernel, "-initrd", initrd,
        # panic=-1 reboots at once on a panic, and -no-reboot turns that into QEMU's exit.
        "-append", " ".join(["console=ttyS0", "panic=-1"] + list(append)),
        "-serial", "file:" + console_log, "-serial", "file:" + output_log,
    ]


def run_script(script, timeout=DEFAULT_TIMEOUT, kernel=None, busybox=None, memory_mib=DEFAULT_MEMORY_MIB,
               append=(), tmp_root=None):
    """Boot a guest whose init runs ``script`` (busybox sh); return a GuestRun.

    Raises GuestTimeout after ``timeout`` seconds, GuestError when QEMU fails,
    the guest prints more than MAX_OUTPUT_BYTES or powers off without the
    script's exit status (a kernel panic, say).  The QEMU process and the
    temporary directory are gone when this returns or raises, whatever happened.
    """
    kernel = kernel or find_kernel()
    busybox = busybox or find_busybox()
    if not kernel or not busybox or not shutil.which(QEMU):
        raise GuestError("cannot boot a guest here: %s" % (missing() or "kernel or busybox not found"))
    sweep_stale(tmp_root)
    workdir = tempfile.mkdtemp(prefix=TMP_PREFIX, dir=tmp_root)
    process = None
    try:
        with open(os.path.join(workdir, OWNER_RECORD), "w") as handle:
            handle.write("%d\n" % os.getpid())
        initrd = os.path.join(workdir, "initramfs.cpio")
        with open(initrd, "wb") as handle:
            handle.write(initramfs(script, busybox))
        console_log = os.path.join(workdir, "console.log")
        output_log = os.path.join(workdir, "output.log")
        qemu_log = os.path.join(workdir, "qemu.log")
        argv = qemu_argv(kernel, initrd, console_log, output_log, memory_mib, append)
        started = time.monotonic()
        # QEMU's own messages go to a file: a pipe nobody reads could fill and stall it.
        with open(qemu_log, "wb") as log:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True, preexec_fn=_die_with(os.getpid()))
        failure = None
        while True:
            try:
                process.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            seconds = time.monotonic() - started
            if seconds > timeout:
                failure = GuestTimeout
                break
            sizes = [os.path.getsize(path) if os.path.exists(path) else 0
                     for path in (console_log, output_log, qemu_log)]
            if sum(sizes) > MAX_OUTPUT_BYTES:
                failure = GuestError
                break
        _kill_group(process)
        seconds = time.monotonic() - started
        qemu_said = _read(qemu_log).strip()
        console = _read(console_log)
        statuses = [match.group(1) for match in (STATUS_LINE.match(line.rstrip("\r")) for line in console.splitlines())
                    if match]
        run = GuestRun(_read(output_log), console, int(statuses[-1]) if statuses else None,
                       seconds, argv, kernel)
        if failure is GuestTimeout:
            raise GuestTimeout("the guest did not power off within %d s (QEMU killed); console tail:\n%s"
                               % (timeout, _tail(console)), run)
        if failure is GuestError:
            raise GuestError("the guest printed more than %d bytes (QEMU killed)" % MAX_OUTPUT_BYTES, run)
        if process.returncode != 0:
            raise GuestError("QEMU exited %d: %s\nconsole tail:\n%s"
                             % (process.returncode, qemu_said or "(no message)", _tail(console)), run)
        if run.status is None:
            raise GuestError("the guest powered off without the script's exit status "
                             "(panic or init failure); console tail:\n%s" % _tail(console), run)
        return run
    finally:
        if process is not None:
            _kill_group(process)
        shutil.rmtree(workdir, ignore_errors=True)


def _tail(text, lines=15):
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: %s SCRIPT-TEXT | --fetch-kernel\n" % argv[0])
        return 2
    try:
        if argv[1] == "--fetch-kernel":
            sys.stdout.write("%s\n" % fetch_kernel())
            return 0
        run = run_script(argv[1])
    except (GuestError, subprocess.CalledProcessError, OSError) as error:
        sys.stderr.write("%s\n" % error)
        return 1
    sys.stdout.write(run.output)
    sys.stderr.write("exit status %s, %.1f s wall clock, kernel reached /init at %s s\n"
                     % (run.status, run.seconds, run.kernel_boot_seconds()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
