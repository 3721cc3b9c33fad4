# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that builds containerd command lines (ctr or nerdctl).

Every command is an argv list run through ``module.run_command``; nothing here
goes through a shell.  Containers created here carry a ``kf-`` name with the
run id and labels naming their owner process and expiry, so a later run can
tell an orphan (its owner is gone or it expired) from a neighbour's live probe.
"""

import calendar
import json
import math
import os
import re
import time

from ansible_collections.kata_fleet.runtimes.plugins.module_utils._linux import (
    descendants, find_processes, kill_tree, process_start_ticks, process_table)

NAME_PREFIX = "kf-"
LABEL_RUN_ID = "io.kata-fleet.run-id"
LABEL_OWNER = "io.kata-fleet.owner"
LABEL_EXPIRES = "io.kata-fleet.expires"
# coreutils timeout(1) exits 124 when the limit ran out (137 after --kill-after).
TIMEOUT_EXIT_CODES = (124, 137)
KILL_GRACE_SECONDS = 5
CRI_PLUGIN_IDS = ("io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime")
ORPHAN_SNAPSHOT_AGE = 120


class ContainerdError(Exception):
    """A failure whose message already tells the user what is wrong and what to do."""


class ProbeRun(object):
    """What one container run returned."""

    def __init__(self, rc, stdout, stderr, timed_out, seconds):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.timed_out = timed_out
        self.seconds = seconds


def _split_dotted_key(key):
    """Split a TOML dotted key, honouring "double" and 'single' quoted parts."""
    parts, current, quote = [], "", None
    for char in key:
        if quote:
            if char == quote:
                quote = None
            else:
                current += char
        elif char in "\"'":
            quote = char
        elif char == ".":
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return parts


def _toml_scalar(text):
    """A quoted string or a boolean; numbers and arrays are not needed here (None)."""
    text = text.strip()
    if text[:1] in "\"'" and text[-1:] == text[:1]:
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    return None


def parse_runtime_handlers(config_dump):
    """Return {handler: {runtime_type, runtime_path?, options}} from ``containerd config dump``.

    Only the CRI runtimes tables are read, which is all that is needed, so no
    TOML library is required on targets older than Python 3.11.  Both the
    version 2 (containerd 1.x) and version 3 (2.x) plugin ids are understood.
    """
    handlers = {}
    handler = kind = None
    for raw in config_dump.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            path = _split_dotted_key(line.strip("[]"))
            handler = kind = None
            if (len(path) in (5, 6) and path[0] == "plugins" and path[1] in CRI_PLUGIN_IDS
                    and path[2:4] == ["containerd", "runtimes"]):
                handler = handlers.setdefault(path[4], {"options": {}})
                kind = "handler" if len(path) == 5 else path[5]
            continue
        key, sep, value = line.partition("=")
        if handler is None or not sep or line.startswith("#"):
            continue
        key, value = key.strip().strip("\"'"), _toml_scalar(value)
        if value in ("", None):
            continue
        if kind == "handler" and key in ("runtime_type", "runtime_path"):
            handler[key] = value
        elif kind == "options":
            handler["options"][key] = value
    return dict((name, h) for name, h in handlers.items() if h.get("runtime_type"))


def safe_name_part(text):
    """containerd ids are alphanumeric runs joined by single '.', '_' or '-': map anything else to one '-'."""
    name = re.sub(r"[._-]{2,}", "-", re.sub(r"[^A-Za-z0-9._-]+", "-", text)).strip("._-")
    return name[:40].rstrip("._-") or "x"


class ContainerdClient(object):
    """ctr or nerdctl against one containerd instance and namespace."""

    def __init__(self, module, address, namespace, config_path, client="auto"):
        self.module = module
        self.address = address
        self.namespace = namespace
        self.config_path = config_path
        self.ctr = module.get_bin_path("ctr")
        nerdctl = module.get_bin_path("nerdctl") if client in ("auto", "nerdctl") else None
        if client == "nerdctl" and not nerdctl:
            raise ContainerdError("client=nerdctl was asked for but nerdctl is not on the PATH: "
                                  "install it (role kata_fleet.runtimes.nerdctl) or use client=auto")
        if not self.ctr:
            raise ContainerdError("ctr is not on the PATH: containerd is not installed on this host; "
                                  "run playbooks/bootstrap.yml (role kata_fleet.runtimes.containerd) first")
        self.nerdctl = nerdctl

    # -- argv builders -------------------------------------------------
    def ctr_argv(self, *args):
        return [self.ctr, "--address", self.address, "--namespace", self.namespace] + list(args)

    def nerdctl_argv(self, *args):
        return [self.nerdctl, "--address", self.address, "--namespace", self.namespace] + list(args)

    def uses_nerdctl(self, handler):
        """nerdctl takes a runtime type only; a handler that names a config file or binary needs ctr."""
        options = handler.get("options", {})
        return (bool(self.nerdctl) and not handler.get("runtime_path")
                and not options.get("ConfigPath") and not options.get("BinaryName"))

    @staticmethod
    def label_args(labels):
        args = []
        for key in sorted(labels):
            args += ["--label", "%s=%s" % (key, labels[key])]
        return args

    @staticmethod
    def ctr_runtime_args(handler):
        """ctr's flags for a CRI handler: its shim, and the options ctr can pass on."""
        options = handler.get("options", {})
        # As CRI does: a runtime_path names the shim binary itself, overriding the type's lookup.
        args = ["--runtime", handler.get("runtime_path") or handler["runtime_type"]]
        if options.get("ConfigPath"):
            args += ["--runtime-config-path", options["ConfigPath"]]
        if options.get("BinaryName"):
            args += ["--runc-binary", options["BinaryName"]]
        return args

    def run_argv(self, name, image, handler, command, labels):
        """The argv that runs ``command`` once in a new container and removes it."""
        if self.uses_nerdctl(handler):
            return self.nerdctl_argv("run", "--rm", "--name", name, "--network", "none",
                                     "--runtime", handler["runtime_type"], *self.label_args(labels)) \
                + [image] + list(command)
        return self.ctr_argv("run", "--rm", *(self.ctr_runtime_args(handler) + self.label_args(labels))) \
            + [image, name] + list(command)

    @staticmethod
    def phases_unsupported(handler):
        """Why ctr cannot split ``handler``'s startup into phases, or None when it can."""
        if handler.get("options", {}).get("BinaryName"):
            # `ctr run --runc-binary` has no counterpart in `ctr containers create`: a BinaryName
            # handler (gVisor's runsc under the runc shim) can be run, not created step by step.
            return ("ctr containers create cannot pass the handler's BinaryName (only ctr run has "
                    "--runc-binary), so its startup is not split into phases")
        return None

    def create_argv(self, name, image, handler, command, labels):
        """``ctr containers create``: container record and snapshot, no task yet."""
        return self.ctr_argv("containers", "create", *(self.ctr_runtime_args(handler) + self.label_args(labels))) \
            + [image, name] + list(command)

    # -- plain commands --------------------------------------------------
    def _run(self, argv, check=True, what=None):
        rc, out, err = self.module.run_command(argv)
        if check and rc != 0:
            raise ContainerdError("%s failed (rc=%d): %s" % (what or " ".join(argv[:4]), rc, (err or out).strip()))
        return rc, out, err

    def ping(self):
        """The server version; fails with the address and the fix when containerd does not answer."""
        fix = ("Start containerd (make verify, or role kata_fleet.runtimes.containerd) or set "
               "kata_fleet_containerd_address to the socket of a running instance.")
        if not os.path.exists(self.address):
            raise ContainerdError("containerd does not answer at %s: there is no socket there. %s" % (self.address, fix))
        rc, out, err = self.module.run_command(self.ctr_argv("version"))
        if rc != 0:
            last = ((err or out).strip().splitlines() or ["no output"])[-1]
            raise ContainerdError("containerd does not answer at %s: %s. %s" % (self.address, last, fix))
        match = re.search(r"Server:\s*\n\s*Version:\s*(\S+)", out)
        return match.group(1) if match else None

    def runtime_handlers(self):
        """The CRI runtime handlers this instance's configuration declares."""
        containerd = self.module.get_bin_path("containerd")
        if not containerd:
            raise ContainerdError("the containerd binary is not on the PATH, so its runtime handlers cannot be read")
        argv = [containerd]
        if self.config_path and os.path.exists(self.config_path):
            argv += ["--config", self.config_path]
        rc, out, err = self._run(argv + ["config", "dump"], what="containerd config dump")
        return parse_runtime_handlers(out)

    def image_digest(self, ref):
        """The digest of ``ref`` in this namespace, or None when it is not there."""
        rc, out, err = self.module.run_command(self.ctr_argv("images", "ls", "name==%s" % ref))
        for line in out.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == ref:
                return fields[2]
        return None

    def import_image(self, archive):
        self._run(self.ctr_argv("images", "import", archive), what="ctr images import")

    def pull(self, ref, timeout):
        rc, out, err = self.module.run_command(
            ["timeout", "%ds" % timeout] + self.ctr_argv("images", "pull", ref))
        if rc != 0:
            raise ContainerdError(
                "could not pull %s (rc=%d): %s. On hosts without registry access leave image unset so "
                "the probe image is built locally from busybox" % (ref, rc, (err or out).strip()))

    # -- probe containers --------------------------------------------------
    def owner_labels(self, run_id, timeout):
        pid = os.getpid()
        return {
            LABEL_RUN_ID: run_id,
            LABEL_OWNER: "%d:%s" % (pid, process_start_ticks(pid)),
            LABEL_EXPIRES: str(int(time.time() + timeout + 60)),
        }

    def run_once(self, name, image, handler, command, run_id, timeout):
        """Run ``command`` in a new container; remove it whatever happens."""
        labels = self.owner_labels(run_id, timeout)
        argv = ["timeout", "--kill-after=%d" % KILL_GRACE_SECONDS, "%ds" % timeout] + \
            self.run_argv(name, image, handler, command, labels)
        started = time.monotonic()
        try:
            rc, out, err = self.module.run_command(argv)
        finally:
            seconds = time.monotonic() - started
        result = ProbeRun(rc, out, err, rc in TIMEOUT_EXIT_CODES, seconds)
        if rc != 0:
            self.remove(name)
        return result

    def start_detached(self, name, image, handler, command, run_id, timeout, netns_path, log_path):
        """Start a long-running container in the network namespace at ``netns_path``.

        Always through ctr: it joins an existing namespace with ``--with-ns``
        and writes the container's output to ``log_path`` for the report.
        """
        argv = ["timeout", "%ds" % timeout] + self.ctr_argv(
            "run", "--detach", "--with-ns", "network:%s" % netns_path, "--log-uri", "file://%s" % log_path,
            *(self.ctr_runtime_args(handler) + self.label_args(self.owner_labels(run_id, timeout)))) \
            + [image, name] + list(command)
        rc, out, err = self.module.run_command(argv)
        if rc != 0:
            self.remove(name)
            raise ContainerdError("the server container did not start (rc=%d): %s" % (rc, (err or out).strip()))

    def task_status(self, name):
        """The task's status as ``ctr tasks list`` shows it (RUNNING, STOPPED, ...), or None."""
        rc, out, err = self.module.run_command(self.ctr_argv("tasks", "list"))
        for line in out.splitlines()[1:] if rc == 0 else []:
            fields = line.split()
            if len(fields) >= 3 and fields[0] == name:
                return fields[2]
        return None

    def shim_pids(self, name):
        """The shim process(es) serving container ``name`` in this namespace."""
        return find_processes("-namespace", self.namespace, "-id", name)

    def run_phases(self, name, image, handler, command, run_id, timeout):
        """One container through ctr's separate steps, timing each.

        Returns {create, start, task_delete, remove} in seconds, or raises
        ContainerdError after removing whatever was made.  ``start`` is the shim
        starting and the runtime creating and starting the task; ``task_delete``
        waits for the exit and tears the task down.
        """
        labels = self.owner_labels(run_id, timeout)
        deadline = time.monotonic() + timeout
        steps = (
            ("create", self.create_argv(name, image, handler, command, labels)),
            ("start", self.ctr_argv("tasks", "start", "--detach", "--null-io", name)),
            ("task_delete", self.ctr_argv("tasks", "delete", name)),
            ("remove", self.ctr_argv("containers", "delete", name)),
        )
        phases = {}
        try:
            for phase, argv in steps:
                started = time.monotonic()
                while True:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise ContainerdError("phase %s did not finish within %ds" % (phase, timeout))
                    rc, out, err = self.module.run_command(["timeout", "%ds" % math.ceil(remaining)] + argv)
                    # A task that has not exited yet cannot be deleted: wait for it.
                    if rc != 0 and phase == "task_delete" and "running" in (err + out):
                        time.sleep(0.01)
                        continue
                    break
                if rc in TIMEOUT_EXIT_CODES:
                    raise ContainerdError("phase %s did not finish within %ds" % (phase, timeout))
                if rc != 0:
                    raise ContainerdError("phase %s failed (rc=%d): %s" % (phase, rc, (err or out).strip()))
                phases[phase] = time.monotonic() - started
        except ContainerdError:
            self.remove(name)
            raise
        return phases

    def remove(self, name):
        """Kill and delete the task, then the container and its snapshot; absent parts are fine."""
        if self.nerdctl:
            self.module.run_command(self.nerdctl_argv("rm", "--force", name))
        self.module.run_command(self.ctr_argv("tasks", "kill", "--signal", "SIGKILL", name))
        self.module.run_command(self.ctr_argv("tasks", "delete", "--force", name))
        self.module.run_command(self.ctr_argv("containers", "delete", name))
        self.module.run_command(self.ctr_argv("snapshots", "delete", name))
        # A shim stuck in a hung runtime (or a Kata VMM) outlives the task: end its whole tree.
        shims = self.shim_pids(name)
        sandboxes = runsc_sandboxes(shims) if shims else []
        for shim in shims:
            kill_tree(shim)
        if not shims:
            return
        # gVisor: a task whose start failed stays CREATED and `tasks delete --force` cannot
        # remove it while its runsc-sandbox/runsc-gofer live; with the shim tree gone it can,
        # and runsc's own state of that container is deleted by runsc itself.
        self.module.run_command(self.ctr_argv("tasks", "delete", "--force", name))
        self.module.run_command(self.ctr_argv("containers", "delete", name))
        self.module.run_command(self.ctr_argv("snapshots", "delete", name))
        for runsc, root in sandboxes:
            self.module.run_command([runsc, "--root", root, "delete", "--force", name])

    def _info(self, kind, name):
        """``ctr <kind> info`` as a dict, or None when it cannot be read (then nothing is removed)."""
        rc, out, err = self.module.run_command(self.ctr_argv(kind, "info", name))
        if rc != 0:
            return None
        try:
            return json.loads(out)
        except ValueError:
            return None

    def sweep(self, now=None):
        """Remove kata-fleet containers and snapshots whose owner is gone or whose time is up.

        Returns the names removed, so the module can report what an earlier,
        interrupted run left behind.
        """
        now = time.time() if now is None else now
        removed = []
        rc, out, err = self.module.run_command(self.ctr_argv("containers", "list", "--quiet"))
        containers = [c for c in out.split() if c.startswith(NAME_PREFIX)] if rc == 0 else []
        for name in containers:
            info = self._info("containers", name)
            if info is not None and is_orphan(info.get("Labels") or {}, now):
                self.remove(name)
                removed.append(name)
        rc, out, err = self.module.run_command(self.ctr_argv("snapshots", "list"))
        for line in out.splitlines()[1:] if rc == 0 else []:
            key = line.split()[0] if line.split() else ""
            if not key.startswith(NAME_PREFIX) or key in containers:
                continue
            # A snapshot is made just before its container: only an old one without a container is an orphan.
            info = self._info("snapshots", key)
            if info is not None and snapshot_age(info, now) > ORPHAN_SNAPSHOT_AGE \
                    and self._info("containers", key) is None:
                self.module.run_command(self.ctr_argv("snapshots", "delete", key))
                removed.append(key)
        return removed


RUNSC_ROOT = re.compile(r"\A--root=(/[^\0]{1,4095})\Z")


def runsc_sandboxes(shims, table=None, exe=None):
    """(runsc binary, --root) of each gVisor sandbox or gofer below ``shims``, without repeats.

    runsc re-executes itself as ``runsc-sandbox``/``runsc-gofer`` with the
    --root its shim gave it; its binary is the process's /proc/<pid>/exe.
    """
    table = process_table() if table is None else table
    exe = exe or (lambda pid: os.readlink("/proc/%d/exe" % pid))
    found = []
    for shim in shims:
        for pid in descendants(shim, table)[1:]:
            argv = table.get(pid, (None, []))[1]
            if not argv or argv[0] not in ("runsc-sandbox", "runsc-gofer"):
                continue
            roots = [m.group(1) for m in (RUNSC_ROOT.match(arg) for arg in argv[1:]) if m]
            try:
                binary = exe(pid)
            except OSError:
                continue
            if roots and os.path.isabs(binary) and not binary.endswith(" (deleted)") \
                    and (binary, roots[0]) not in found:
                found.append((binary, roots[0]))
    return found


def is_orphan(labels, now):
    """True when the owning process is gone (or was replaced) or the expiry passed."""
    expires = labels.get(LABEL_EXPIRES, "")
    if not expires.isdigit() or int(expires) < now:
        return True
    pid, _sep, ticks = labels.get(LABEL_OWNER, "").partition(":")
    if not pid.isdigit():
        return True
    return process_start_ticks(int(pid)) != ticks


def snapshot_age(info, now):
    """Seconds since ``ctr snapshots info`` says the snapshot was created (0 when unknown)."""
    created = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)", info.get("Created") or "")
    if not created:
        return 0
    return now - calendar.timegm(tuple(int(part) for part in created.groups()) + (0, 0, 0))
