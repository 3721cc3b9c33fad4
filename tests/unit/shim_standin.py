# -*- coding: utf-8 -*-
"""Stand-in containerd shims for the unit tests: processes only root could have started, or look-alikes.

A trusted stand-in is bash copied as ``containerd-shim-runc-v2`` into a fresh
root-owned 0755 directory under /run (whose parents are root's and not
writable by others), so _owner.is_trusted_shim accepts it as the real thing;
the look-alikes differ in exactly one thing a local user controls.
"""

import os
import shutil
import subprocess
import tempfile

SHIM = "containerd-shim-runc-v2"
NOBODY = 65534


class StandIns:
    def __init__(self):
        self.trusted_dir = tempfile.mkdtemp(prefix="kf-unit-shim-", dir="/run")
        os.chmod(self.trusted_dir, 0o755)
        self.trusted = self._copy(self.trusted_dir)
        # The same binary where anyone may write (/tmp is 1777): never a trusted shim.
        self.untrusted_dir = tempfile.mkdtemp(prefix="kf-unit-shim-")
        os.chmod(self.untrusted_dir, 0o755)
        self.untrusted = self._copy(self.untrusted_dir)
        self.processes = []

    @staticmethod
    def _copy(directory):
        path = os.path.join(directory, SHIM)
        shutil.copy("/bin/bash", path)
        os.chmod(path, 0o755)
        return path

    def start(self, script, namespace, container_id, address, binary=None, user=None, argv0=None):
        """A bash running ``script`` with a shim's flags; ``user`` (a uid) runs it through setpriv."""
        binary = binary or self.trusted
        argv = [argv0 or binary, "-c", script, "-namespace", namespace, "-id", container_id, "-address", address]
        prefix = []
        if user is not None:
            prefix = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups", "--"]
            # setpriv execs the binary with the argv it is given: argv[0] becomes the program path.
            argv = [binary] + argv[1:]
        process = subprocess.Popen(prefix + argv, executable=None if prefix else binary)
        self.processes.append(process)
        return process

    def close(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        shutil.rmtree(self.trusted_dir, ignore_errors=True)
        shutil.rmtree(self.untrusted_dir, ignore_errors=True)
