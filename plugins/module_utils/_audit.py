# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Audit what is already running: every task of every containerd namespace, witnessed from the host.

For each running container of the instance the audit asks containerd (read-only
``ctr`` calls only: ``namespaces ls``, ``tasks ls``, ``containers ls`` and one
``containers info`` per running container, since ctr prints no labels in a list)
what it was configured with (its runtime, the runtime's options, the CRI labels
that name its pod), and asks the host what runs for it: ``_witness.classify`` on
the task's PID, through a reader over one snapshot of the process table.  It
never starts, stops, signals or enters a container.

Every value read from a container's metadata (labels, names, runtime, options)
is hostile: bounded and checked against ``\\A...\\Z`` patterns; a bad value
becomes that container's error and is never echoed.

The classes are the witness's: ``host-process`` (an ordinary process on the
host's kernel; the verdicts' shared-kernel), ``vmm`` (a hypervisor runs it; the
verdicts' vm-isolated), ``user-space-kernel`` (gVisor's sandbox) and ``unknown``.
"""

import base64
import copy
import fnmatch
import json
import os
import re
import threading
import time

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _containerd, _linux, _owner, _witness
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import ContainerdError

HOST_PROCESS, VMM, USER_SPACE_KERNEL, UNKNOWN = (_witness.HOST_PROCESS, _witness.VMM, _witness.USER_SPACE_KERNEL,
                                                 _witness.UNKNOWN)
CLASSES = (HOST_PROCESS, VMM, USER_SPACE_KERNEL, UNKNOWN)
SANDBOXED = (VMM, USER_SPACE_KERNEL)
# The verdicts' words for the same classes, accepted where a person writes a policy.
VERDICT_WORDS = {"shared-kernel": HOST_PROCESS, "vm-isolated": VMM, "user-space-kernel": USER_SPACE_KERNEL}

ERROR, WARNING, INFO = "error", "warning", "info"
NAMES_FULL, NAMES_COUNTS = "full", "counts"

# The CRI's labels (set by containerd's CRI plugin and the kubelet) and its spec annotations.
LABEL_POD_NAME = "io.kubernetes.pod.name"
LABEL_POD_NAMESPACE = "io.kubernetes.pod.namespace"
LABEL_CONTAINER_NAME = "io.kubernetes.container.name"
LABEL_KIND = "io.cri-containerd.kind"
LABEL_SANDBOX_ID = "io.kubernetes.cri.sandbox-id"
ANNOTATION_SANDBOX_ID = "io.kubernetes.cri.sandbox-id"
ANNOTATION_KIND = "io.kubernetes.cri.container-type"
KINDS = ("sandbox", "container")

# Bounds: what one node may show before the audit stops reading (and says so).
MAX_NAMESPACES = 256
DEFAULT_MAX_CONTAINERS = 2000
MAX_LIST_BYTES = 8 * 1024 * 1024
MAX_INFO_BYTES = 1024 * 1024
MAX_LABELS = 512
MAX_LABEL_BYTES = 4096
CALL_TIMEOUT = 15
MAX_FINDINGS = 500
MAX_PATTERNS = 64

ID_PATTERN = _containerd.ID_PATTERN
ID_MAX = _containerd.ID_MAX_LENGTH
# Kubernetes: a pod name is a DNS subdomain (253), a namespace and a container name DNS labels (63).
POD_NAME_PATTERN = re.compile(r"\A[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?\Z")
DNS_LABEL_PATTERN = re.compile(r"\A[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
# The kubelet names a pod's sandbox container "POD".
CONTAINER_NAME_PATTERN = re.compile(r"\A(?:POD|[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)\Z")
RUNTIME_PATTERN = re.compile(r"\A[A-Za-z0-9/][A-Za-z0-9._/+-]{0,254}\Z")
IMAGE_PATTERN = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,510}\Z")
PATH_PATTERN = re.compile(r"\A/[A-Za-z0-9._/+-]{0,1023}\Z")
TYPE_URL_PATTERN = re.compile(r"\A[A-Za-z0-9._/-]{1,200}\Z")
STATUSES = ("RUNNING", "CREATED", "STOPPED", "PAUSED", "PAUSING", "UNKNOWN")
GLOB_PATTERN = re.compile(r"\A[a-z0-9*?\[\]!-]{1,63}\Z")
RUNC_OPTIONS_TYPES = ("containerd.runc.v1.Options", "io.containerd.runc.v1.Options",
                      "io.containerd.runc.v2.Options")
CRI_OPTIONS_TYPES = ("runtimeoptions.v1.Options", "io.containerd.runtimeoptions.v1.Options")
RUNC_RUNTIMES = ("io.containerd.runc.v2", "io.containerd.runc.v1", "io.containerd.runtime.v1.linux")
HOST_RUNTIME_BINARIES = ("runc", "crun", "youki")


class AuditError(Exception):
    """The audit cannot start (containerd does not answer): the message says what to do."""


# -- the process table, read once --------------------------------------------------

class _Scoped:
    """Keeps _witness's tree walk to the task's own shim: pids() lists only the processes below it.

    _witness._tree scans every pid the reader lists for each task; on a node of
    1,000 tasks and thousands of processes that is millions of look-ups.  Before
    each task ``scope_to`` finds, in the one snapshot of parent pids, the task's
    top-most ancestor below pid 1 (its shim: shims are re-parented to init) and
    lists only that ancestor's descendants.  The scope only narrows where the
    tree evidence is looked for; trust is still decided by _witness from the
    process itself (owner, real binary), never from this index.
    """

    MAX_SCOPE = 4096

    def _index(self, parents):
        self._parents = parents
        self._children = {}
        for pid, ppid in parents.items():
            self._children.setdefault(ppid, []).append(pid)
        self._scope = None

    def scope_to(self, pid):
        top, seen = pid, 0
        while seen < _witness.MAX_ANCESTORS and self._parents.get(top, 0) > 1:
            top, seen = self._parents[top], seen + 1
        if pid not in self._parents or top == pid:
            self._scope = []
            return
        found, stack = [], [top]
        while stack and len(found) < self.MAX_SCOPE:
            current = stack.pop()
            found.append(current)
            stack.extend(self._children.get(current, ()))
        self._scope = sorted(found)

    def scoped_pids(self, everything):
        return list(self._scope) if self._scope is not None else everything()


class SnapshotReader(_Scoped, _witness.ProcReader):
    """_witness's live reader over ONE snapshot of the process table.

    ``table`` is ``_linux.process_table()`` ({pid: (ppid, argv)}), read once for
    the whole audit: it names the pids and their parents (argv is never used).
    What _owner says of a process (uids, real binary, namespaces) is read once
    per pid and kept, and whether a binary is trusted once per (path, inode):
    1,000 tasks cost one pass over /proc, not one per task.
    """

    def __init__(self, table=None, proc="/proc"):
        _witness.ProcReader.__init__(self, proc)
        self.table = _linux.process_table() if table is None else table
        self._index(dict((pid, entry[0]) for pid, entry in self.table.items()))
        self._infos = {}
        self._trust = {}
        self._host_ns = None

    def process(self, pid):
        if pid not in self._infos:
            self._infos[pid] = _witness.ProcReader.process(self, pid)
        info = self._infos[pid]
        return dict(info) if info is not None else None

    def pids(self):
        return self.scoped_pids(lambda: sorted(self.table))

    def host_ns(self):
        if self._host_ns is None:
            self._host_ns = dict((self.process(os.getpid()) or {}).get("ns") or {})
        return dict(self._host_ns)

    def runs_trusted_binary(self, info):
        if not info or not info.get("exe") or not info.get("exe_stat"):
            return False
        key = (info["exe"], tuple(info["exe_stat"]))
        if key not in self._trust:
            self._trust[key] = _owner.runs_trusted_binary(info)
        return self._trust[key]

    def is_trusted_shim(self, info):
        return _owner.is_root(info) and self.runs_trusted_binary(info) \
            and os.path.basename(info["exe"]).startswith("containerd-shim")

    def processes_read(self):
        return len(self._infos)


class RecordedSnapshotReader(_Scoped, _witness.RecordedReader):
    """_witness.RecordedReader (a recorded tree) with the same scoping: what the tests and bench/ replay."""

    def __init__(self, recording):
        _witness.RecordedReader.__init__(self, recording)
        self._index(dict((pid, p.get("ppid", 0)) for pid, p in self.table.items() if p.get("tgid", pid) == pid))

    def pids(self):
        return self.scoped_pids(lambda: _witness.RecordedReader.pids(self))


def classify(reader, pid):
    """The one adapter to _witness's classification (WIT's API): the host's witness of task ``pid``."""
    if hasattr(reader, "scope_to"):
        reader.scope_to(pid)
    return _witness.classify(reader, pid)


# -- containerd's answers, parsed and checked ------------------------------------------

def _printable(text, limit=120):
    text = text if isinstance(text, str) else ""
    return "".join(ch if 0x20 <= ord(ch) < 0x7f else "?" for ch in text[:limit])


def parse_namespaces(output):
    """``ctr namespaces ls -q``: the namespace names, checked; (names, number refused)."""
    names, bad = [], 0
    for line in (output or "")[:MAX_LIST_BYTES].splitlines():
        name = line.strip()
        if not name:
            continue
        if len(name) <= ID_MAX and ID_PATTERN.match(name):
            names.append(name)
        else:
            bad += 1
    return sorted(set(names))[:MAX_NAMESPACES], bad + max(0, len(set(names)) - MAX_NAMESPACES)


def parse_tasks(output):
    """``ctr tasks ls`` (TASK PID STATUS): {id: (pid, status)}; a malformed line is skipped and counted."""
    tasks, bad = {}, 0
    for line in (output or "")[:MAX_LIST_BYTES].splitlines()[1:]:
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or len(fields[0]) > ID_MAX or not ID_PATTERN.match(fields[0]) \
                or not _witness.PID_PATTERN.match(fields[1]) or fields[2] not in STATUSES:
            bad += 1
            continue
        pid = int(fields[1])
        tasks[fields[0]] = (pid if 0 < pid < _witness.MAX_PID else None, fields[2])
    return tasks, bad


def parse_containers(output):
    """``ctr containers ls`` (CONTAINER IMAGE RUNTIME): {id: runtime}; a malformed line is skipped and counted."""
    containers, bad = {}, 0
    for line in (output or "")[:MAX_LIST_BYTES].splitlines()[1:]:
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or len(fields[0]) > ID_MAX or not ID_PATTERN.match(fields[0]):
            bad += 1
            continue
        containers[fields[0]] = fields[2] if RUNTIME_PATTERN.match(fields[2]) else None
    return containers, bad


def _varint(data, index):
    value, shift = 0, 0
    while index < len(data) and shift < 64:
        byte = data[index]
        index += 1
        value |= (byte & 0x7f) << shift
        if not byte & 0x80:
            return value, index
        shift += 7
    raise ValueError("truncated varint")


def protobuf_strings(data, limit=64):
    """{field number: bytes} of the length-delimited fields of one protobuf message (first of each wins)."""
    fields, index = {}, 0
    while index < len(data) and len(fields) < limit:
        key, index = _varint(data, index)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _value, index = _varint(data, index)
        elif wire == 2:
            size, index = _varint(data, index)
            if index + size > len(data):
                raise ValueError("truncated field")
            fields.setdefault(number, data[index:index + size])
            index += size
        elif wire == 1:
            index += 8
        elif wire == 5:
            index += 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
    return fields


def runtime_options(options):
    """(BinaryName, ConfigPath, Root) of a container's runtime options as ``ctr containers info`` shows them.

    ctr prints the options as a protobuf Any: runc's Options (binary_name is field 6,
    root field 7) or the CRI's runtimeoptions (config_path is field 2).  Anything
    else, or a value that does not decode to a clean absolute path, is None.
    """
    if not isinstance(options, dict):
        return None, None, None
    if any(key in options for key in ("BinaryName", "binary_name", "ConfigPath", "config_path")):
        picked = [options.get(a, options.get(b)) for a, b in (("BinaryName", "binary_name"),
                                                              ("ConfigPath", "config_path"), ("Root", "root"))]
        return tuple(p if isinstance(p, str) and PATH_PATTERN.match(p) else None for p in picked)
    type_url, value = options.get("type_url"), options.get("value")
    if not isinstance(type_url, str) or not TYPE_URL_PATTERN.match(type_url) or not isinstance(value, str) \
            or len(value) > 65536:
        return None, None, None
    try:
        fields = protobuf_strings(base64.b64decode(value.encode("ascii"), validate=True))
    except (ValueError, TypeError, UnicodeEncodeError):
        return None, None, None

    def path(number):
        raw = fields.get(number)
        try:
            text = raw.decode("ascii") if raw is not None else None
        except UnicodeDecodeError:
            return None
        return text if text and PATH_PATTERN.match(text) else None

    if type_url in RUNC_OPTIONS_TYPES:
        return path(6), None, path(7)
    if type_url in CRI_OPTIONS_TYPES:
        return None, path(2), None
    return None, None, None


def container_metadata(info):
    """What one ``ctr containers info`` says, checked: a dict, with ``error`` naming the first bad value."""
    meta = {"labels": {}, "runtime": None, "binary_name": None, "config_path": None, "image": None,
            "pod_name": None, "pod_namespace": None, "container_name": None, "kind": None, "sandbox_id": None,
            "error": None}
    if not isinstance(info, dict):
        meta["error"] = "ctr containers info did not answer with a JSON object"
        return meta
    labels = info.get("Labels") or {}
    if not isinstance(labels, dict) or len(labels) > MAX_LABELS:
        meta["error"] = "its labels are not a map of at most %d entries" % MAX_LABELS
        return meta
    for key, value in labels.items():
        if not isinstance(key, str) or not isinstance(value, str) or len(key) + len(value) > MAX_LABEL_BYTES:
            meta["error"] = "a label is not a string pair of at most %d bytes" % MAX_LABEL_BYTES
            return meta
    meta["labels"] = labels
    runtime = info.get("Runtime") if isinstance(info.get("Runtime"), dict) else {}
    name = runtime.get("Name")
    if not isinstance(name, str) or not RUNTIME_PATTERN.match(name):
        meta["error"] = "its runtime name (Runtime.Name) is missing or malformed"
        return meta
    meta["runtime"] = name
    meta["binary_name"], meta["config_path"], _root = runtime_options(runtime.get("Options"))
    image = info.get("Image")
    if isinstance(image, str) and IMAGE_PATTERN.match(image):
        meta["image"] = image
    elif image not in (None, ""):
        meta["error"] = "its image reference is malformed"
        return meta
    spec = info.get("Spec") if isinstance(info.get("Spec"), dict) else {}
    annotations = spec.get("annotations") if isinstance(spec.get("annotations"), dict) else {}
    checks = (
        ("pod_name", labels.get(LABEL_POD_NAME), POD_NAME_PATTERN, "label " + LABEL_POD_NAME),
        ("pod_namespace", labels.get(LABEL_POD_NAMESPACE), DNS_LABEL_PATTERN, "label " + LABEL_POD_NAMESPACE),
        ("container_name", labels.get(LABEL_CONTAINER_NAME), CONTAINER_NAME_PATTERN, "label " + LABEL_CONTAINER_NAME),
        ("sandbox_id", labels.get(LABEL_SANDBOX_ID, annotations.get(ANNOTATION_SANDBOX_ID)), ID_PATTERN,
         "the sandbox id (label or annotation %s)" % LABEL_SANDBOX_ID),
    )
    for field, value, pattern, what in checks:
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > 253 or not pattern.match(value):
            meta["error"] = "%s is not a valid name (refused, not shown)" % what
            return meta
        meta[field] = value
    kind = labels.get(LABEL_KIND, annotations.get(ANNOTATION_KIND))
    if kind is not None:
        if kind not in KINDS:
            meta["error"] = "label %s is neither sandbox nor container (refused, not shown)" % LABEL_KIND
            return meta
        meta["kind"] = kind
    return meta


# -- what the configuration says a container should be ------------------------------------

def match_handler(handlers, runtime, binary_name, config_path):
    """The configured handler(s) whose runtime and options are the container's: (name or None, candidates)."""
    candidates = []
    for name in sorted(handlers or {}):
        handler = handlers[name] or {}
        if runtime not in (handler.get("runtime_type"), handler.get("runtime_path")):
            continue
        options = handler.get("options") or {}
        if (options.get("BinaryName") or None) != binary_name and runtime in RUNC_RUNTIMES:
            continue
        if (options.get("ConfigPath") or None) != config_path:
            continue
        candidates.append(name)
    return (candidates[0] if len(candidates) == 1 else None), candidates[:16]


def expected_class(runtime, binary_name, handler):
    """(class, why) the container's configuration promises, or (None, None) when it promises nothing known.

    Kata's shims (io.containerd.kata*.v2) promise a VM; gVisor's shim
    (io.containerd.runsc.v1), or the runc shim running a runsc binary, a
    user-space kernel; the runc shim with runc (or crun, youki) the host's kernel.
    """
    base = os.path.basename(runtime or "").lower()
    binary = os.path.basename(binary_name or "").lower()
    name = (handler or "").lower()
    if "kata" in base:
        return VMM, "runtime %s" % runtime
    if "runsc" in base or "gvisor" in base:
        return USER_SPACE_KERNEL, "runtime %s" % runtime
    if binary.startswith("runsc") or "gvisor" in binary:
        return USER_SPACE_KERNEL, "runtime %s with binary %s" % (runtime, binary_name)
    if "kata" in binary:
        return VMM, "runtime %s with binary %s" % (runtime, binary_name)
    if name and ("kata" in name):
        return VMM, "handler %s" % handler
    if name and ("runsc" in name or "gvisor" in name):
        return USER_SPACE_KERNEL, "handler %s" % handler
    if runtime in RUNC_RUNTIMES and (not binary or binary in HOST_RUNTIME_BINARIES):
        return HOST_PROCESS, "runtime %s%s" % (runtime, " with binary %s" % binary_name if binary_name else "")
    return None, None


# -- the audit ------------------------------------------------------------------------------

class _Calls:
    """Read-only ctr calls through the client (its ctr_argv and bounded runner), counted, per namespace."""

    def __init__(self, client):
        self.client = client
        self.count = 0
        self.lock = threading.Lock()
        self.views = {}

    def view(self, namespace):
        if namespace not in self.views:
            view = copy.copy(self.client)
            view.namespace = namespace
            self.views[namespace] = view
        return self.views[namespace]

    def ctr(self, namespace, args, max_bytes=MAX_LIST_BYTES):
        """(rc, stdout, stderr) of one read-only ctr call in ``namespace``."""
        view = self.view(namespace)
        with self.lock:
            self.count += 1
        done = view._bounded(view.ctr_argv(*args), CALL_TIMEOUT, max_bytes)
        return done.rc, done.stdout or "", done.stderr or ""


def _infos(calls, wanted, parallel, deadline):
    """``ctr containers info`` of every (namespace, id) in ``wanted``, ``parallel`` at a time: {key: dict or str}."""
    results, lock, queue = {}, threading.Lock(), list(wanted)

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                key = queue.pop(0)
            if time.monotonic() > deadline:
                answer = "the audit's time ran out before this container was read"
            else:
                try:
                    rc, out, err = calls.ctr(key[0], ("containers", "info", key[1]), MAX_INFO_BYTES)
                    if rc != 0:
                        answer = "ctr containers info failed (rc=%s): %s" % (rc, _printable(err.strip(), 200))
                    else:
                        answer = json.loads(out)
                        answer = answer if isinstance(answer, dict) else "ctr containers info: not a JSON object"
                except ContainerdError as error:
                    answer = "ctr containers info: %s" % _printable(str(error), 200)
                except ValueError:
                    answer = "ctr containers info did not print JSON"
                if isinstance(answer, dict):
                    # Only what the audit reads is kept (a spec can be tens of KiB): bounded memory at 1,000 containers.
                    spec = answer.get("Spec") if isinstance(answer.get("Spec"), dict) else {}
                    answer = {"Labels": answer.get("Labels"), "Runtime": answer.get("Runtime"),
                              "Image": answer.get("Image"), "Spec": {"annotations": spec.get("annotations")}}
            with lock:
                results[key] = answer

    threads = [threading.Thread(target=worker) for dummy in range(max(1, min(parallel, len(queue))))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _finding(severity, code, message, container=None):
    finding = {"severity": severity, "code": code, "message": message}
    if container is not None:
        finding["container"] = container
    return finding


def _where(entry):
    pod = "pod %s/%s, " % (entry["pod_namespace"], entry["pod_name"]) if entry.get("pod_name") else ""
    return "%scontainer %s in containerd namespace %s" % (pod, entry["id"], entry["namespace"])


# workload_audit's own options (besides containerd's); verify_host takes them prefixed (``audit_names``, ...).
ARGUMENT_SPEC = dict(
    names=dict(type="str", default=NAMES_FULL, choices=[NAMES_FULL, NAMES_COUNTS]),
    audit_sandboxed_namespaces=dict(type="list", elements="str", default=[]),
    max_containers=dict(type="int", default=DEFAULT_MAX_CONTAINERS),
    parallel=dict(type="int", default=4),
    timeout=dict(type="int", default=60),
)
LIMITS = (("max_containers", 1, 100000), ("parallel", 1, 32), ("timeout", 1, 3600))


def problem(params, prefix=""):
    """Why the audit options are unusable (a sentence naming the option as ``prefix`` + its name), or None."""
    message = check_patterns(params["audit_sandboxed_namespaces"])
    if message:
        return message
    for name, low, high in LIMITS:
        if not low <= params[prefix + name] <= high:
            return "%s must be between %d and %d, got %d" % (prefix + name, low, high, params[prefix + name])
    return None


def check_patterns(patterns):
    """None, or the sentence saying which glob of audit_sandboxed_namespaces is refused."""
    if not isinstance(patterns, list) or len(patterns) > MAX_PATTERNS:
        return "audit_sandboxed_namespaces must be a list of at most %d glob patterns" % MAX_PATTERNS
    for pattern in patterns:
        if not isinstance(pattern, str) or not GLOB_PATTERN.match(pattern):
            return ("audit_sandboxed_namespaces: %r is not a glob over Kubernetes namespace names (lower-case "
                    "letters, digits, '-', and * ? [ ] !, at most 63)" % _printable(str(pattern), 80))
    return None


def audit(client, names=NAMES_FULL, sandboxed_namespaces=(), max_containers=DEFAULT_MAX_CONTAINERS, parallel=4,
          timeout=60, reader=None, now=None):
    """Audit every running container of the instance ``client`` talks to; the ``audit`` result dict.

    ``reader`` replays a recorded process table in tests; by default one
    ``SnapshotReader`` over one ``_linux.process_table()`` serves every task.
    """
    started = time.monotonic()
    deadline = started + timeout
    now = time.time() if now is None else now
    calls = _Calls(client)
    findings = []
    try:
        handlers = client.runtime_handlers()
    except ContainerdError as error:
        handlers = {}
        findings.append(_finding(WARNING, "handlers-unreadable", "containerd's runtime handlers could not be read, "
                                 "so no container is mapped to one: %s" % _printable(str(error), 300)))
    rc, out, err = calls.ctr(client.namespace, ("namespaces", "ls", "--quiet"))
    if rc != 0:
        raise AuditError("ctr namespaces ls failed (rc=%s): %s" % (rc, _printable(err.strip(), 300)))
    namespaces, refused = parse_namespaces(out)
    if refused:
        findings.append(_finding(WARNING, "namespaces-refused", "%d containerd namespace name(s) were malformed "
                                 "or over the limit of %d and were not audited" % (refused, MAX_NAMESPACES)))

    listed, wanted, not_running = [], [], 0
    for namespace in namespaces:
        rc_t, out_t, err_t = calls.ctr(namespace, ("tasks", "ls"))
        rc_c, out_c, err_c = calls.ctr(namespace, ("containers", "ls"))
        if rc_t != 0 or rc_c != 0:
            findings.append(_finding(WARNING, "namespace-unreadable", "containerd namespace %s could not be listed "
                                     "(ctr tasks ls rc=%s, ctr containers ls rc=%s)" % (namespace, rc_t, rc_c)))
            continue
        tasks, bad_tasks = parse_tasks(out_t)
        containers, bad_containers = parse_containers(out_c)
        if bad_tasks or bad_containers:
            findings.append(_finding(WARNING, "lines-refused", "containerd namespace %s: %d task and %d container "
                                     "line(s) were malformed and skipped" % (namespace, bad_tasks, bad_containers)))
        for cid in sorted(tasks):
            listed.append((namespace, cid, tasks[cid], containers.get(cid)))
        not_running += len(set(containers) - set(tasks))
    truncated = max(0, len(listed) - max_containers)
    if truncated:
        findings.append(_finding(ERROR, "audit-truncated", "%d running container(s) are over the limit of %d "
                                 "(max_containers) and were not audited" % (truncated, max_containers)))
        listed = listed[:max_containers]
    infos = _infos(calls, [(ns, cid) for ns, cid, _task, _rt in listed], parallel, deadline)

    reader = reader or SnapshotReader()
    entries, excluded = [], []
    for namespace, cid, (pid, status), listed_runtime in listed:
        info = infos.get((namespace, cid))
        meta = container_metadata(info) if isinstance(info, dict) else dict(
            container_metadata({}), error=info or "not read")
        if isinstance(info, dict) and not meta["error"] and cid.startswith(_containerd.NAME_PREFIX) \
                and _containerd.ownership(meta["labels"], now) == _owner.LIVE:
            excluded.append({"namespace": namespace, "id": cid})
            continue
        entry = {"namespace": namespace, "id": cid, "status": status, "task_pid": pid,
                 "pod_namespace": meta["pod_namespace"], "pod_name": meta["pod_name"],
                 "container_name": meta["container_name"], "kind": meta["kind"], "sandbox_id": meta["sandbox_id"],
                 "image": meta["image"], "runtime": meta["runtime"] or listed_runtime,
                 "binary_name": meta["binary_name"], "config_path": meta["config_path"],
                 "handler": None, "handler_candidates": [], "expected": None, "expected_from": None,
                 "class": UNKNOWN, "vmm": None, "reason": None, "binary": None, "error": meta["error"]}
        if not meta["error"]:
            entry["handler"], entry["handler_candidates"] = match_handler(
                handlers, entry["runtime"], entry["binary_name"], entry["config_path"])
            entry["expected"], entry["expected_from"] = expected_class(
                entry["runtime"], entry["binary_name"], entry["handler"])
        if status not in ("RUNNING", "PAUSED"):
            entry["reason"] = "task is %s: nothing to witness" % status
        elif time.monotonic() > deadline:
            entry["reason"] = "the audit's time ran out before this task was witnessed"
        else:
            witnessed = classify(reader, pid)
            entry["class"], entry["vmm"] = witnessed["class"], witnessed["vmm"]
            entry["reason"], entry["binary"] = witnessed["reason"], witnessed["binary"]
        entries.append(entry)
        findings.extend(_container_findings(entry))

    pods = _pods(entries)
    findings.extend(_policy_findings(pods, entries, sandboxed_namespaces))
    return _result(entries, pods, findings, excluded, namespaces, not_running, truncated, names, handlers, calls,
                   reader, time.monotonic() - started, sandboxed_namespaces)


def _container_findings(entry):
    where = _where(entry)
    if entry["error"]:
        return [_finding(ERROR, "container-invalid", "%s: %s" % (where, entry["error"]), entry)]
    expected, seen = entry["expected"], entry["class"]
    if expected is None or entry["status"] not in ("RUNNING", "PAUSED"):
        return []
    said = "configured with %s%s" % (entry["expected_from"], " (handler %s)" % entry["handler"]
                                     if entry["handler"] else "")
    if expected in SANDBOXED and seen == HOST_PROCESS:
        return [_finding(ERROR, "sandbox-not-isolated", "%s is %s, which promises %s, but the host sees an ordinary "
                         "process on its own kernel (%s)" % (where, said, expected, entry["binary"] or "?"), entry)]
    if expected in SANDBOXED and seen in SANDBOXED and seen != expected:
        return [_finding(WARNING, "isolation-differs", "%s is %s, which promises %s, but the host sees %s" % (
            where, said, expected, seen), entry)]
    if expected in SANDBOXED and seen == UNKNOWN:
        return [_finding(WARNING, "isolation-unwitnessed", "%s is %s, which promises %s, but the host cannot tell "
                         "what runs it: %s" % (where, said, expected, entry["reason"]), entry)]
    if expected == HOST_PROCESS and seen in SANDBOXED:
        return [_finding(INFO, "runc-sandboxed", "%s is %s, but the host sees %s%s" % (
            where, said, seen, " (%s)" % entry["vmm"] if entry["vmm"] else ""), entry)]
    return []


def _pods(entries):
    """Containers grouped into their sandboxes: by sandbox id, else by pod namespace and name."""
    pods = {}
    for entry in entries:
        if entry["error"]:
            continue
        if entry["sandbox_id"] or entry["kind"] == "sandbox":
            key = (entry["namespace"], "id", entry["sandbox_id"] or entry["id"])
        elif entry["pod_name"] and entry["pod_namespace"]:
            key = (entry["namespace"], "name", entry["pod_namespace"], entry["pod_name"])
        else:
            continue
        pod = pods.setdefault(key, {"namespace": entry["namespace"], "sandbox_id": key[2] if key[1] == "id" else None,
                                    "pod_namespace": None, "pod_name": None, "containers": [], "classes": []})
        pod["pod_namespace"] = pod["pod_namespace"] or entry["pod_namespace"]
        pod["pod_name"] = pod["pod_name"] or entry["pod_name"]
        pod["containers"].append(entry["id"])
        if entry["class"] not in pod["classes"]:
            pod["classes"].append(entry["class"])
    return [pods[key] for key in sorted(pods, key=lambda k: tuple(str(part) for part in k))]


def _policy_findings(pods, entries, patterns):
    """audit_sandboxed_namespaces: every running container of a pod in a matching namespace is vmm or gVisor."""
    findings = []
    if not patterns:
        return findings
    by_id = dict(((e["namespace"], e["id"]), e) for e in entries)
    for pod in pods:
        namespace = pod["pod_namespace"]
        if not namespace or not any(fnmatch.fnmatchcase(namespace, pattern) for pattern in patterns):
            continue
        for cid in pod["containers"]:
            entry = by_id[(pod["namespace"], cid)]
            if entry["status"] not in ("RUNNING", "PAUSED") or entry["class"] in SANDBOXED:
                continue
            findings.append(_finding(ERROR, "policy-sandboxed-namespaces", "%s must run vm-isolated or in a "
                                     "user-space kernel (audit_sandboxed_namespaces %s), but the host sees %s%s" % (
                                         _where(entry), ", ".join(patterns), entry["class"],
                                         ": %s" % entry["reason"] if entry["reason"] else ""), entry))
    return findings


def _counts(entries, key):
    counts = {}
    for entry in entries:
        counts[key(entry)] = counts.get(key(entry), 0) + 1
    return dict(sorted(counts.items()))


CONTAINER_FIELDS = ("namespace", "id", "pod_namespace", "pod_name", "container_name", "kind", "sandbox_id", "image",
                    "status", "task_pid", "runtime", "binary_name", "handler", "handler_candidates", "expected",
                    "class", "vmm", "reason", "binary", "error")


def _result(entries, pods, findings, excluded, namespaces, not_running, truncated, names, handlers, calls, reader,
            seconds, patterns):
    classes = dict((cls, 0) for cls in CLASSES)
    classes.update(_counts(entries, lambda e: e["class"]))
    per_handler = {}
    for entry in entries:
        key = entry["handler"] or "(no configured handler)"
        per_handler.setdefault(key, dict((cls, 0) for cls in CLASSES))[entry["class"]] += 1
    errors = sum(1 for f in findings if f["severity"] == ERROR)
    result = {
        "names": names,
        "status": "failed" if errors else "ok",
        "namespaces": len(namespaces),
        "containers": len(entries),
        "not_running": not_running,
        "excluded_probes": len(excluded),
        "truncated": truncated,
        "pods": len(pods),
        "classes": classes,
        "vmms": _counts([e for e in entries if e["vmm"]], lambda e: e["vmm"]),
        "handlers": dict(sorted(per_handler.items())),
        "configured_handlers": sorted(handlers or {}),
        "policy": {"sandboxed_namespaces": list(patterns)},
        "findings_by_severity": dict((s, sum(1 for f in findings if f["severity"] == s)) for s in (ERROR, WARNING, INFO)),
        "ctr_calls": calls.count,
        "processes_read": reader.processes_read() if hasattr(reader, "processes_read") else None,
        "seconds": round(seconds, 3),
    }
    if names == NAMES_COUNTS:
        # Counts only: no container id, pod or container name, image or namespace of a pod in any sentence.
        by_code = {}
        for finding in findings:
            key = (finding["severity"], finding["code"])
            by_code[key] = by_code.get(key, 0) + 1
        result["findings"] = [{"severity": s, "code": c, "count": n} for (s, c), n in sorted(by_code.items())]
        result["namespace_names"] = None
        return result
    result["namespace_names"] = list(namespaces)
    result["excluded"] = excluded[:MAX_FINDINGS]
    result["pods_list"] = pods
    result["containers_list"] = [dict((k, e[k]) for k in CONTAINER_FIELDS) for e in entries]
    result["findings"] = [dict((k, v) for k, v in f.items() if k != "container")
                          for f in findings[:MAX_FINDINGS]]
    for finding, source in zip(result["findings"], findings):
        if source.get("container"):
            finding["container"] = {"namespace": source["container"]["namespace"], "id": source["container"]["id"]}
    return result
