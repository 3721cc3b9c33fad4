# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that builds containerd command lines (ctr or nerdctl).

Every command is an argv list run through ``module.run_command`` (or, where the
output may be hostile or the duration is the measurement, ``_exec.run``); nothing
here goes through a shell.  Containers and snapshots created here carry a ``kf-``
name with a tag of the containerd instance and of this module run (so two runs
that share a run id never share a name), and labels naming their owner (this
module run's token, _owner.owner_token()) and expiry.  The name only avoids
collisions; ownership is the labels: a run removes only what carries its own
token, and a later run what carries a token and is provably stale (its owner is
gone or it expired); anything else under the prefix is only reported.

Processes are trusted only through _owner: a shim is one only root can have
started from a root-owned shim binary; nothing read from a process (argv, its
binary's path) is ever executed.
"""

import hashlib
import json
import math
import os
import re
import time

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _exec, _owner, _runid
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._linux import kill_tree, process_table
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._owner import FOREIGN, STALE

NAME_PREFIX = "kf-"
LABEL_RUN_ID = "io.kata-fleet.run-id"
LABEL_OWNER = "io.kata-fleet.owner"
LABEL_EXPIRES = "io.kata-fleet.expires"
# nerdctl keeps a container's name in this label; its id is 64 hex digits.
NERDCTL_NAME_LABEL = "nerdctl/name"
# containerd ids: alphanumeric runs joined by single '.', '_' or '-' (identifiers.Validate), at most 76 long.
# A run id is part of every name, so it follows the same grammar: one pattern, kept with the run id's rule.
ID_PATTERN = _runid.PATTERN
ID_MAX_LENGTH = 76
OWNER_PATTERN = _owner.OWNER_PATTERN
EXPIRES_PATTERN = _owner.EXPIRES_PATTERN
INSTANCE_TAG_LENGTH = 8
# Where the runc shim keeps its runtime's state when the handler sets no Root (containerd's process.RuncRoot);
# the runtime gets <root>/<namespace> as its --root.
RUNC_SHIM_TYPE = "io.containerd.runc.v2"
RUNC_ROOT = "/run/containerd/runc"
# What a probe container may print that is kept (its report needs far less); the rest is discarded and counted.
MAX_OUTPUT_BYTES = 4 * 1024 * 1024
# coreutils timeout(1) exits 124 when the limit ran out (137 after --kill-after).
TIMEOUT_EXIT_CODES = (124, 137)
KILL_GRACE_SECONDS = 5
CRI_PLUGIN_IDS = ("io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime")


class ContainerdError(Exception):
    """A failure whose message already tells the user what is wrong and what to do."""


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


def instance_tag(address, namespace):
    """A short hash of the containerd socket address, namespace and this module run, in every name it uses.

    Two inventory entries on one machine (two containerd instances sharing
    /run, the runc state root /run/containerd/runc/<namespace> and /run/netns)
    get different names for the same run id and handler; so do two module runs
    that share a run id on one instance (a re-run job, two controllers): the
    random part drawn once per module process (_owner.run_part) is hashed in.
    """
    text = "%s\0%s\0%s" % (address, namespace, _owner.run_part())
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:INSTANCE_TAG_LENGTH]


def ownership(labels, now):
    """LIVE, STALE or FOREIGN for an object with these labels.

    Only an object with all three kata-fleet labels, well formed, is ours; it is
    STALE when its expiry passed or its owner process is gone (or its pid was
    reused).  Anything else is FOREIGN and is never removed.
    """
    labels = labels if isinstance(labels, dict) else {}
    run_id, owner, expires = (labels.get(LABEL_RUN_ID), labels.get(LABEL_OWNER), labels.get(LABEL_EXPIRES))
    if not all(isinstance(value, str) for value in (run_id, owner, expires)) or not _runid.valid(run_id):
        return FOREIGN
    return _owner.state(owner, expires, now)


def is_mine(labels):
    """True only for an object carrying this module run's own owner token (and well-formed kata-fleet labels)."""
    labels = labels if isinstance(labels, dict) else {}
    return ownership(labels, time.time()) != FOREIGN and _owner.is_mine(labels.get(LABEL_OWNER))


def _flag_values(argv):
    """{flag: value} of Go-style flags in ``argv`` (-f v, --f v, -f=v); the first value of a flag wins."""
    values = {}
    for index, word in enumerate(argv):
        if not word.startswith("-"):
            continue
        flag, sep, value = word.lstrip("-").partition("=")
        if not sep:
            value = argv[index + 1] if index + 1 < len(argv) else None
        values.setdefault(flag, value)
    return values


def _same_path(one, other):
    return one == other or (one is not None and other is not None
                            and os.path.realpath(one) == os.path.realpath(other))


def find_shims(namespace, container_id, address, table=None, info=None):
    """Pids of containerd shims serving ``container_id`` in ``namespace`` of the instance at ``address``.

    A shim's argv names all three (-namespace, -id, -address): matching the
    address too keeps another containerd instance's shim of a same-named
    container out.  But anyone can write such an argv, so a process counts only
    when _owner.is_trusted_shim says only root can have started it: root uids,
    a root-owned containerd-shim binary that is really the one it runs.
    ``info`` (pid -> ProcessInfo or None) is _owner.process_info unless a test gives one.
    """
    info = info or _owner.process_info
    found = []
    for pid, (_ppid, argv) in (process_table() if table is None else table).items():
        if not argv or not os.path.basename(argv[0]).startswith("containerd-shim"):
            continue
        flags = _flag_values(argv[1:])
        if flags.get("namespace") == namespace and flags.get("id") == container_id \
                and _same_path(flags.get("address"), address) and _owner.is_trusted_shim(info(pid)):
            found.append(pid)
    return sorted(found)


def runsc_cleanup_argv(handler, namespace, container_id, trusted=None):
    """The argv that deletes the runtime's own state of ``container_id``, or None.

    Built from containerd's configuration only, never from a process: the
    handler's runtime binary (options BinaryName, which ctr passes on as
    --runc-binary) and the root the runc shim gives it (<Root or
    /run/containerd/runc>/<namespace>, as containerd's runc shim builds it).
    Only a runc-shim handler with a BinaryName that passes _owner.trusted_binary
    (root-owned, in root-owned directories) gets one.
    """
    trusted = trusted or _owner.trusted_binary
    options = (handler or {}).get("options") or {}
    binary, root = options.get("BinaryName"), options.get("Root") or RUNC_ROOT
    if (handler or {}).get("runtime_type") != RUNC_SHIM_TYPE or not isinstance(binary, str) \
            or not os.path.isabs(binary) or not isinstance(root, str) or not os.path.isabs(root) or not ID_PATTERN.match(container_id) \
            or not trusted(binary):
        return None
    return [binary, "--root", os.path.join(root, namespace), "delete", "--force", container_id]


class ContainerdClient:
    """ctr or nerdctl against one containerd instance and namespace."""

    def __init__(self, module, address, namespace, config_path, client="auto", runner=None):
        self.module = module
        self.address = address
        self.namespace = namespace
        self.config_path = config_path
        self.tag = instance_tag(address, namespace)
        # Runs commands whose output is bounded and whose time is measured (_exec.run unless a test scripts it).
        self.runner = runner
        self.ctr = module.get_bin_path("ctr")
        nerdctl = module.get_bin_path("nerdctl") if client in ("auto", "nerdctl") else None
        if client == "nerdctl" and not nerdctl:
            raise ContainerdError("client=nerdctl was asked for but nerdctl is not on the PATH: "
                                  "install it (role kata_fleet.runtimes.nerdctl) or use client=auto")
        if not self.ctr:
            raise ContainerdError("ctr is not on the PATH: containerd is not installed on this host; "
                                  "run playbooks/bootstrap.yml (role kata_fleet.runtimes.containerd) first")
        self.nerdctl = nerdctl
        # The handlers of containerd's configuration, once runtime_handlers() read them.
        self.handlers = {}

    # -- argv builders -------------------------------------------------
    def ctr_argv(self, *args):
        return [self.ctr, "--address", self.address, "--namespace", self.namespace] + list(args)

    def nerdctl_argv(self, *args):
        return [self.nerdctl, "--address", self.address, "--namespace", self.namespace] + list(args)

    def uses_nerdctl(self, handler):
        """nerdctl takes a runtime type only; a handler that names a config file or binary needs ctr."""
        options = handler.get("options", {})
        return (bool(self.nerdctl) and not handler.get("runtime_path") and not options.get("ConfigPath")
                and not options.get("BinaryName") and not options.get("Root"))

    def container_name(self, run_id, handler_name, role, reserve=6):
        """``kf-<instance tag>-<run id>-<handler>-<role>``, unique per instance, run, handler and role.

        ``reserve`` characters are left for a suffix the caller adds (an index);
        a handler name too long for containerd's 76-character ids is cut and
        given a short hash of the full name, so two long names stay distinct.
        """
        head = "%s%s-%s-" % (NAME_PREFIX, self.tag, run_id)
        tail = "-%s" % role
        handler = safe_name_part(handler_name)
        room = ID_MAX_LENGTH - reserve - len(head) - len(tail)
        if len(handler) > room:
            digest = hashlib.sha256(handler_name.encode("utf-8", "surrogateescape")).hexdigest()[:4]
            handler = "%s-%s" % (handler[:max(room - 5, 1)].rstrip("._-") or "x", digest)
        return head + handler + tail

    def _bounded(self, argv, timeout, max_bytes=MAX_OUTPUT_BYTES):
        """``argv`` through _exec.run: bounded output, precise time, the whole group killed after ``timeout``."""
        runner = self.runner or _exec.run
        try:
            return runner(argv, timeout=timeout, max_bytes=max_bytes)
        except _exec.ExecError as error:
            raise ContainerdError(str(error))

    @staticmethod
    def label_args(labels, flag="--label"):
        args = []
        for key in sorted(labels):
            args += [flag, "%s=%s" % (key, labels[key])]
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
        if options.get("Root"):
            # So the runtime's state is where the configuration says, and where remove() cleans it up.
            args += ["--runc-root", options["Root"]]
        return args

    def run_argv(self, name, image, handler, command, labels):
        """The argv that runs ``command`` once in a new container and removes it."""
        if self.uses_nerdctl(handler):
            return self.nerdctl_argv("run", "--rm", "--name", name, "--network", "none",
                                     "--runtime", handler["runtime_type"], *self.label_args(labels)) \
                + [image] + list(command)
        return self.ctr_argv("run", "--rm", *(self.ctr_runtime_args(handler) + self.label_args(labels)
                                              + self.label_args(labels, "--snapshotter-label"))) \
            + [image, name] + list(command)

    @staticmethod
    def phases_unsupported(handler):
        """Why ctr cannot split ``handler``'s startup into phases, or None when it can."""
        if handler.get("options", {}).get("BinaryName"):
            # `ctr run --runc-binary` has no counterpart in `ctr containers create`: a BinaryName
            # handler (gVisor's runsc under the runc shim) can be run, not created step by step.
            return ("ctr containers create cannot pass the handler's BinaryName (only ctr run has "
                    "--runc-binary), so its startup is not split into phases")
        if handler.get("options", {}).get("Root"):
            return ("ctr containers create cannot pass the handler's Root (only ctr run has --runc-root), "
                    "so its startup is not split into phases")
        return None

    def create_argv(self, name, image, handler, command, labels):
        """``ctr containers create``: container record and snapshot, no task yet."""
        options = self.ctr_runtime_args(handler) + self.label_args(labels) \
            + self.label_args(labels, "--snapshotter-label")
        return self.ctr_argv("containers", "create", *options) + [image, name] + list(command)

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
        denied = ("cannot use the containerd socket %s as uid %d: permission denied. Run as root or with "
                  "become (ansible-playbook -b, or ansible_become: true in the inventory)." % (self.address, os.geteuid()))
        if not os.access(self.address, os.R_OK | os.W_OK):
            raise ContainerdError(denied)
        rc, out, err = self.module.run_command(self.ctr_argv("version"))
        if rc != 0:
            if "permission denied" in (err or out).lower():
                raise ContainerdError(denied)
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
        self.handlers = parse_runtime_handlers(out)
        return self.handlers

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
        return {
            LABEL_RUN_ID: run_id,
            LABEL_OWNER: _owner.owner_token(),
            LABEL_EXPIRES: str(_owner.expires_at(timeout)),
        }

    def run_once(self, name, image, handler, command, run_id, timeout):
        """Run ``command`` in a new container; remove it whatever happens.

        Returns the _exec.Result of the run, ``timed_out`` also when timeout(1) ended it.
        """
        labels = self.owner_labels(run_id, timeout)
        # timeout(1) still bounds the run should this process die; _exec's own limit is the backstop behind it.
        argv = ["timeout", "--kill-after=%d" % KILL_GRACE_SECONDS, "%ds" % timeout] + \
            self.run_argv(name, image, handler, command, labels)
        try:
            done = self._bounded(argv, timeout + KILL_GRACE_SECONDS + 2)
        except ContainerdError:
            self.remove(name, handler)
            raise
        result = _exec.Result(done.rc, done.stdout, done.stderr, done.seconds,
                              done.timed_out or done.rc in TIMEOUT_EXIT_CODES, done.stdout_dropped, done.stderr_dropped)
        if done.rc != 0:
            # Only what carries this run's token goes: a same-named container of another run ("already exists") stays.
            self.remove(name, handler)
        return result

    def start_detached(self, name, image, handler, command, run_id, timeout, netns_path, log_path):
        """Start a long-running container in the network namespace at ``netns_path``.

        Always through ctr: it joins an existing namespace with ``--with-ns``
        and writes the container's output to ``log_path`` for the report.
        """
        labels = self.owner_labels(run_id, timeout)
        argv = ["timeout", "%ds" % timeout] + self.ctr_argv(
            "run", "--detach", "--with-ns", "network:%s" % netns_path, "--log-uri", "file://%s" % log_path,
            *(self.ctr_runtime_args(handler) + self.label_args(labels)
              + self.label_args(labels, "--snapshotter-label"))) \
            + [image, name] + list(command)
        try:
            done = self._bounded(argv, timeout + 2, max_bytes=64 * 1024)
        except ContainerdError:
            self.remove(name, handler)
            raise
        if done.rc != 0:
            self.remove(name, handler)
            raise ContainerdError("the server container did not start (rc=%d): %s" % (
                done.rc, (done.stderr or done.stdout).strip()))

    def task_status(self, name):
        """The task's status as ``ctr tasks list`` shows it (RUNNING, STOPPED, ...), or None."""
        rc, out, err = self.module.run_command(self.ctr_argv("tasks", "list"))
        for line in out.splitlines()[1:] if rc == 0 else []:
            fields = line.split()
            if len(fields) >= 3 and fields[0] == name:
                return fields[2]
        return None

    def shim_pids(self, container_id):
        """The shim process(es) serving ``container_id`` in this namespace of this instance (not another's)."""
        return find_shims(self.namespace, container_id, self.address)

    def ids_of(self, name):
        """The container ids behind ``name``: itself (ctr), and through nerdctl's name label a 64-hex id."""
        ids = [name]
        if self.nerdctl:
            rc, out, err = self.module.run_command(self.ctr_argv(
                "containers", "list", "--quiet", 'labels."%s"==%s' % (NERDCTL_NAME_LABEL, name)))
            for cid in out.split() if rc == 0 else []:
                # The filter's answer is checked, not trusted: only a container that carries this very name and
                # kata-fleet's labels counts (a ctr that ignored the filter would list every container).
                info = self._info("containers", cid) if cid != name and ID_PATTERN.match(cid) else None
                labels = (info or {}).get("Labels") or {}
                if labels.get(NERDCTL_NAME_LABEL) == name and ownership(labels, time.time()) != FOREIGN:
                    ids.append(cid)
        return ids

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
                    done = self._bounded(["timeout", "%ds" % math.ceil(remaining)] + argv, remaining + 2, 64 * 1024)
                    rc, out, err = done.rc, done.stdout, done.stderr
                    # A task that has not exited yet cannot be deleted: wait for it.
                    if rc != 0 and phase == "task_delete" and "running" in (err + out):
                        time.sleep(0.01)
                        continue
                    break
                if rc in TIMEOUT_EXIT_CODES or done.timed_out:
                    raise ContainerdError("phase %s did not finish within %ds" % (phase, timeout))
                if rc != 0:
                    raise ContainerdError("phase %s failed (rc=%d): %s" % (phase, rc, (err or out).strip()))
                phases[phase] = time.monotonic() - started
        except ContainerdError:
            self.remove(name, handler)
            raise
        return phases

    def remove(self, name, handler=None, allowed=None):
        """Kill and delete the task, then the container and its snapshot, of ``name``: only if they are ours.

        ``allowed(labels)`` says whether an object may go; by default only one
        carrying this module run's own owner token (``is_mine``), so a same-named
        container of another run (``ctr run`` said "already exists", the owner
        record was another run's) is never touched; the sweep passes "provably
        stale".  Through nerdctl the container id is a hex id: it is looked up by
        nerdctl's name label first, so its task, snapshot and shim go too.  A
        shim outliving its task is ended only if it is a trusted shim of a
        container checked here.  Returns the ids removed.
        """
        allowed = allowed or is_mine
        removed = []
        for cid in self.ids_of(name):
            info = self._info("containers", cid)
            if info is None:
                # No container (it never was, or it went): at most a snapshot of ours is left.
                snapshot = self._info("snapshots", cid)
                if snapshot is not None and allowed(snapshot.get("Labels")):
                    self.module.run_command(self.ctr_argv("snapshots", "delete", cid))
                    removed.append(cid)
                continue
            labels = info.get("Labels") if isinstance(info, dict) else None
            if not allowed(labels):
                continue
            removed.append(cid)
            if self.nerdctl and isinstance(labels, dict) and labels.get(NERDCTL_NAME_LABEL):
                self.module.run_command(self.nerdctl_argv("rm", "--force", cid))
            self._delete(cid)
            # A shim stuck in a hung runtime (or a Kata VMM) outlives the task: end its whole tree.
            shims = self.shim_pids(cid)
            for shim in shims:
                kill_tree(shim)
            if not shims:
                continue
            # gVisor: a task whose start failed stays CREATED and `tasks delete --force` cannot
            # remove it while its runsc-sandbox/runsc-gofer live; with the shim tree gone it can, and the
            # runtime's own state is deleted by the runtime binary containerd's configuration names.
            self.module.run_command(self.ctr_argv("tasks", "delete", "--force", cid))
            self.module.run_command(self.ctr_argv("containers", "delete", cid))
            self.module.run_command(self.ctr_argv("snapshots", "delete", cid))
            candidates = [handler] if handler else [self.handlers[key] for key in sorted(self.handlers)]
            done = []
            for candidate in candidates:
                argv = runsc_cleanup_argv(candidate, self.namespace, cid)
                if argv and argv not in done:
                    done.append(argv)
                    self.module.run_command(argv)
        return removed

    def _delete(self, cid):
        self.module.run_command(self.ctr_argv("tasks", "kill", "--signal", "SIGKILL", cid))
        self.module.run_command(self.ctr_argv("tasks", "delete", "--force", cid))
        self.module.run_command(self.ctr_argv("containers", "delete", cid))
        self.module.run_command(self.ctr_argv("snapshots", "delete", cid))

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
        """Remove kata-fleet containers and snapshots that carry our labels and are provably stale.

        Returns (removed, foreign): the ids removed, so the module can report
        what an interrupted earlier run left behind, and the ``kf-`` ids that
        are not provably ours (no or malformed labels), which are left alone.
        Candidates are every ``kf-`` id and every container with our owner
        label (nerdctl gives a hex id).
        """
        now = time.time() if now is None else now
        removed, foreign = [], []
        rc, out, err = self.module.run_command(self.ctr_argv("containers", "list", "--quiet"))
        listed = out.split() if rc == 0 else []
        rc, out, err = self.module.run_command(self.ctr_argv("containers", "list", "--quiet",
                                                             'labels."%s"' % LABEL_OWNER))
        labelled = out.split() if rc == 0 else []
        containers = [c for c in listed if c.startswith(NAME_PREFIX) or c in labelled]
        containers += [c for c in labelled if c not in containers]
        for cid in containers:
            if not ID_PATTERN.match(cid):
                continue
            info = self._info("containers", cid)
            if info is None:
                continue  # unknown is not stale: a passing ctr error must not remove a live probe
            state = ownership(info.get("Labels"), now)
            if state == STALE:
                # remove() reads the labels again and removes only what is still provably stale.
                if self.remove(cid, allowed=lambda labels: ownership(labels, now) == STALE):
                    removed.append(cid)
            elif state == FOREIGN and cid.startswith(NAME_PREFIX):
                foreign.append(cid)
        rc, out, err = self.module.run_command(self.ctr_argv("snapshots", "list"))
        for line in out.splitlines()[1:] if rc == 0 else []:
            key = line.split()[0] if line.split() else ""
            if not key.startswith(NAME_PREFIX) or key in containers or not ID_PATTERN.match(key):
                continue
            info = self._info("snapshots", key)
            if info is None:
                continue
            state = ownership(info.get("Labels"), now)
            # A snapshot of a container (ours or not) is the container's: only a lonely one of ours goes.
            if state == STALE and self._info("containers", key) is None:
                self.module.run_command(self.ctr_argv("snapshots", "delete", key))
                removed.append(key)
            elif state == FOREIGN:
                foreign.append(key)
        return removed, foreign


def is_orphan(labels, now):
    """True only for an object that carries kata-fleet's labels and whose owner is gone or whose expiry passed."""
    return ownership(labels, now) == STALE
