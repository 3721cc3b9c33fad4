# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The isolation probe in a real QEMU guest, against this host's own facts.

``probe_guest()`` boots the probe script (``_probe.script(nonce)``, a fresh
nonce each run) as the init of a TCG guest (qemu_guest.run_script) and returns
the guest's run with its nonce; the host's
view is what host_facts computes here (``_hostinfo.host_sections`` through a
LocalModule that really runs ip and dmesg).  ``record()`` stores both as a
unit fixture (tests/unit/fixtures/sandboxes/README.md) so that the unit suite
checks the verdict of a real guest even where QEMU is missing:

    flock /tmp/kf-heavy.lock python3 tests/integration/qemu_probe.py \\
        tests/unit/fixtures/sandboxes/qemu-tcg-debian-6.1-initramfs.json
"""

import json
import os
import shutil
import subprocess
import sys
import time

import qemu_guest  # noqa: E402  (puts the collection on sys.path)
from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _hostinfo, _probe  # noqa: E402  pylint: disable=wrong-import-position


class LocalModule:
    """What _hostinfo.host_sections needs of an AnsibleModule, doing it for real on this machine."""

    def get_bin_path(self, arg, required=False, opt_dirs=None):
        path = os.pathsep.join(list(opt_dirs or []) + [os.environ.get("PATH", os.defpath), "/usr/sbin", "/sbin"])
        return shutil.which(arg, path=path)

    def run_command(self, args, **kwargs):
        done = subprocess.run(list(args), stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False)
        return done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")


def host_sections():
    """This host's probe sections, exactly as host_facts and isolation_probe read them."""
    return _hostinfo.host_sections(LocalModule())


def probe_guest(timeout=qemu_guest.DEFAULT_TIMEOUT):
    """(GuestRun of the probe script as a guest's init, the nonce its markers carry)."""
    nonce = _probe.new_nonce()
    return qemu_guest.run_script(_probe.script(nonce), timeout=timeout), nonce


def qemu_version():
    done = subprocess.run([qemu_guest.QEMU, "--version"], capture_output=True, check=False)
    return done.stdout.decode("utf-8", "replace").splitlines()[0].strip()


def record(path):
    """Boot the guest, then write its sections and this host's as a sandbox fixture."""
    run, nonce = probe_guest()
    if run.status != 0:
        raise qemu_guest.GuestError("the probe script exited %s in the guest" % run.status, run)
    guest = _probe.sections_from_output(run.output, nonce)
    kernel_release = guest.get("uname_r", "").strip()
    fixture = {
        "source": "this machine, %s: %s TCG (-accel tcg), Debian kernel %s (%s), static busybox initramfs"
                  % (time.strftime("%Y-%m-%d", time.gmtime()), qemu_version(), kernel_release,
                     os.path.basename(run.kernel)),
        "description": "The probe script run as /init of a real QEMU guest by tests/integration/qemu_guest.py "
                       "(no network, 256 MiB, 1 vCPU); the host is this build machine, itself a VM.",
        "expected": {"verdict": "vm-isolated", "sandbox": "qemu"},
        "host": host_sections(),
        "guest": guest,
        "notes": "Recorded by tests/integration/qemu_probe.py; the guest booted in %.1f s wall clock "
                 "(its kernel reached /init at %s s)." % (run.seconds, run.kernel_boot_seconds()),
    }
    with open(path, "w") as handle:
        json.dump(fixture, handle, indent=2, sort_keys=True)
        handle.write("\n")
    return fixture


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write("usage: %s FIXTURE.json\n" % sys.argv[0])
        sys.exit(2)
    written = record(sys.argv[1])
    sys.stderr.write("%s\n" % written["notes"])
