# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's witness of one probe container: what runs for it on the host, seen from the host.

What a probe container prints is its own word (an image's /bin/sh sees the
script and can rewrite every value).  The host sees what the container cannot
write: the task's PID as containerd reports it, the containerd shim above it,
and the processes below that shim.  A process is trusted only for what a local
user cannot choose (helper module ``_owner``): its owner, the binary it really
runs (/proc/<pid>/exe, a root-owned file, the very inode at that path), its
parent and its namespaces.  Its argv and comm are never trusted, and no path
read from it is ever executed.

What the runtimes' shims report as the task PID (docs/verdicts.md cites the code):
- runc (and crun, youki): the container's init, an ordinary process on the
  host's kernel in the container's own pid and mount namespaces;
- Kata's Go shim: the hypervisor's PID (qemu-system-*, cloud-hypervisor,
  firecracker) for State and Pids: it cannot see the container's processes in the VM;
- Kata's runtime-rs: the VMM's PID, or with the built-in Dragonball VMM a
  ``vmm_master`` thread of the shim process itself;
- gVisor (runsc under the runc shim, or its own shim): the sandbox, the trusted
  runsc binary re-executed as ``runsc-sandbox``, its ``runsc-gofer`` beside it.

``witness(...)`` classifies that as ``host-process``, ``vmm``,
``user-space-kernel`` or ``unknown`` (with the reason).  Reading /proc goes
through a reader object, so recorded trees replay in the unit tests.
"""

import os
import re

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _owner
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import ContainerdError

HOST_PROCESS, VMM, USER_SPACE_KERNEL, UNKNOWN = "host-process", "vmm", "user-space-kernel", "unknown"
NAMESPACES = ("pid", "mnt", "net", "user")
# The hypervisors Kata runs, by the basename of their real binary (a root-owned host file).
VMM_BINARIES = (
    (re.compile(r"\Aqemu-system-[a-z0-9_]{1,16}\Z"), "qemu"),
    (re.compile(r"\Aqemu-kvm\Z"), "qemu"),
    (re.compile(r"\Acloud-hypervisor\Z"), "cloud-hypervisor"),
    (re.compile(r"\Afirecracker\Z"), "firecracker"),
)
# runtime-rs with the built-in Dragonball VMM: the task PID is this thread of the shim itself.
DRAGONBALL_THREAD = "vmm_master"
RUNSC_BINARY = "runsc"
# What gVisor's sandbox runs: runsc itself, or from release-20260810.0 the sentry binary installed beside it
# (<runsc's folder>/gvisor-bin/gvisor_sentry, runsc/sandbox/sandbox.go: bootBinPath). The gofer stays runsc.
SANDBOX_BINARIES = (RUNSC_BINARY, "gvisor_sentry")
# The OCI runtimes a container's init is started by: never the workload itself.
RUNTIME_BINARIES = ("runc", "crun", "youki", "sysbox-runc", "sysbox")
MAX_ANCESTORS = 16
MAX_TREE = 64
MAX_EVIDENCE = 12
PID_PATTERN = re.compile(r"\A[0-9]{1,10}\Z")
MAX_PID = 2 ** 22


class WitnessError(Exception):
    """containerd's answer about the task could not be read."""


# -- readers -------------------------------------------------------------------

class ProcReader:
    """The live host: /proc through _owner, the host's namespaces those of this module process."""

    def __init__(self, proc="/proc"):
        self.proc = proc

    def process(self, pid):
        info = _owner.process_info(pid, self.proc)
        if info is None:
            return None
        info = dict(info)
        info["tgid"] = self._tgid(pid)
        return info

    def _tgid(self, pid):
        try:
            with open(os.path.join(self.proc, str(int(pid)), "status"), "rb") as handle:
                for line in handle.read(65536).decode("utf-8", "replace").splitlines():
                    key, sep, value = line.partition(":")
                    if sep and key == "Tgid" and PID_PATTERN.match(value.strip()):
                        return int(value.strip())
        except (IOError, OSError, ValueError):
            return None
        return None

    def pids(self):
        try:
            names = os.listdir(self.proc)
        except OSError:
            return []
        return sorted(int(name) for name in names if PID_PATTERN.match(name))

    def host_ns(self):
        info = _owner.process_info(os.getpid(), self.proc)
        return dict((info or {}).get("ns") or {})

    def runs_trusted_binary(self, info):
        return _owner.runs_trusted_binary(info)

    def is_trusted_shim(self, info):
        return _owner.is_trusted_shim(info)


class RecordedReader:
    """A recorded tree (tests/unit/fixtures/witness/*.json) replayed: the same questions, the recorded answers.

    ``processes`` list pid, ppid, tgid, uids, name, exe, ns, root and
    ``trusted`` (whether the real binary is a root-owned host file at that very
    inode, as _owner.runs_trusted_binary would have said).
    """

    def __init__(self, recording):
        self.recording = recording
        self.table = dict((int(p["pid"]), p) for p in recording.get("processes", []))

    def process(self, pid):
        entry = self.table.get(pid)
        if entry is None:
            return None
        info = dict(entry)
        info["uids"] = tuple(entry["uids"])
        info.setdefault("tgid", pid)
        return info

    def pids(self):
        # Threads are not listed in /proc (only reachable by their tid), as on a live host.
        return sorted(pid for pid, p in self.table.items() if p.get("tgid", pid) == pid)

    def host_ns(self):
        return dict(self.recording.get("host_ns") or {})

    def runs_trusted_binary(self, info):
        return bool(info and info.get("trusted") and info.get("exe"))

    def is_trusted_shim(self, info):
        return bool(info) and tuple(info.get("uids") or ()) == (0, 0, 0) and self.runs_trusted_binary(info) \
            and os.path.basename(info["exe"]).startswith("containerd-shim")


# -- containerd's answer -----------------------------------------------------------

def task_pid_from_list(output, name):
    """The PID ``ctr tasks ls`` shows for task ``name``, or None; bounded and checked."""
    if not isinstance(output, str):
        return None
    for line in output[:1024 * 1024].splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and fields[0] == name and PID_PATTERN.match(fields[1]):
            pid = int(fields[1])
            return pid if 0 < pid < MAX_PID else None
    return None


def pids_from_ps(output):
    """The PIDs ``ctr tasks ps`` lists (its first column), bounded and checked."""
    pids = []
    for line in (output if isinstance(output, str) else "")[:1024 * 1024].splitlines()[1:]:
        fields = line.split()
        if fields and PID_PATTERN.match(fields[0]) and 0 < int(fields[0]) < MAX_PID:
            pids.append(int(fields[0]))
        if len(pids) >= MAX_TREE:
            break
    return pids


def task_pid(client, name, timeout=10):
    """containerd's own answer: the PID of task ``name`` (``ctr tasks ls``), checked by ``ctr tasks ps``.

    Returns (pid, ps pids); ``WitnessError`` when containerd gives none.
    """
    done = client._bounded(client.ctr_argv("tasks", "ls"), timeout, 1024 * 1024)
    pid = task_pid_from_list(done.stdout, name) if done.rc == 0 else None
    if pid is None:
        raise WitnessError("containerd lists no task %s with a pid (ctr tasks ls rc=%s)" % (name, done.rc))
    done = client._bounded(client.ctr_argv("tasks", "ps", name), timeout, 1024 * 1024)
    return pid, (pids_from_ps(done.stdout) if done.rc == 0 else [])


# -- classification ------------------------------------------------------------------

def _base(path):
    return os.path.basename(path or "")[:64] or "?"


def _vmm_kind(binary):
    base = os.path.basename(binary or "")
    for pattern, kind in VMM_BINARIES:
        if pattern.match(base):
            return kind
    return None


def _same_ns(info, host_ns, kinds):
    ns = info.get("ns") or {}
    return all(ns.get(kind) and host_ns.get(kind) and ns.get(kind) == host_ns.get(kind) for kind in kinds)


def _own_ns(info, host_ns, kinds):
    ns = info.get("ns") or {}
    return all(ns.get(kind) and host_ns.get(kind) and ns.get(kind) != host_ns.get(kind) for kind in kinds)


def _ns_words(info, host_ns):
    ns = info.get("ns") or {}
    words = []
    for kind in NAMESPACES:
        if not ns.get(kind) or not host_ns.get(kind):
            words.append("%s ?" % kind)
        else:
            words.append("%s %s" % (kind, "host" if ns[kind] == host_ns[kind] else "own"))
    return ", ".join(words)


def _describe(info, reader):
    """``name (binary /x, root|uid N, trusted|untrusted binary), pid N``: comm shown, trust from the binary."""
    owner = "root" if tuple(info.get("uids") or ()) == (0, 0, 0) else "uid %s" % (info.get("uids") or ("?",))[0]
    return "%s (binary %s, %s, %s), pid %d" % (
        _printable(info.get("name")), _printable(info.get("exe")) if info.get("exe") else "unreadable", owner,
        "trusted host binary" if reader.runs_trusted_binary(info) else "not a trusted host binary", info["pid"])


def _printable(text, limit=200):
    text = text if isinstance(text, str) else ""
    return "".join(ch if 0x20 <= ord(ch) < 0x7f else "?" for ch in text[:limit]) or "?"


def _shim_above(reader, info):
    """The nearest ancestor of ``info`` that is a trusted containerd shim, or None; the chain walked."""
    seen, current = [], info
    for _step in range(MAX_ANCESTORS):
        ppid = current.get("ppid")
        if not isinstance(ppid, int) or ppid <= 1 or ppid in seen:
            return None, seen
        seen.append(ppid)
        parent = reader.process(ppid)
        if parent is None:
            return None, seen
        if reader.is_trusted_shim(parent):
            return parent, seen
        current = parent
    return None, seen


def _tree(reader, root_pid):
    """The processes below ``root_pid`` (bounded), parents before children."""
    table = {}
    for pid in reader.pids():
        info = reader.process(pid)
        if info is not None:
            table[pid] = info
    found, queue = [], [root_pid]
    while queue and len(found) < MAX_TREE:
        parent = queue.pop(0)
        for pid in sorted(table):
            if table[pid].get("ppid") == parent and pid not in (i["pid"] for i in found) and pid != root_pid:
                found.append(table[pid])
                queue.append(pid)
    return found[:MAX_TREE]


def _result(cls, reason=None, task=None, vmm=None, binary=None, shim=None, evidence=()):
    return {
        "class": cls,
        "reason": reason,
        "task_pid": task,
        "vmm": vmm,
        "binary": _printable(binary, 512) if binary else None,
        "shim": {"pid": shim["pid"], "binary": _printable(shim.get("exe"), 512)} if shim else None,
        "evidence": [_printable(line, 512) for line in list(evidence)[:MAX_EVIDENCE]],
    }


def classify(reader, pid):
    """The host's witness for task ``pid`` (containerd's answer), read through ``reader``."""
    if not isinstance(pid, int) or pid <= 1:
        return _result(UNKNOWN, "containerd gave no usable task pid")
    host_ns = reader.host_ns()
    if not all(host_ns.get(kind) for kind in ("pid", "mnt")):
        return _result(UNKNOWN, "the host's own pid and mount namespaces cannot be read", pid)
    info = reader.process(pid)
    if info is None:
        return _result(UNKNOWN, "task pid %d is gone or unreadable on the host" % pid, pid)
    tgid = info.get("tgid")
    if isinstance(tgid, int) and tgid != pid:
        return _thread(reader, info, tgid, host_ns)
    shim, chain = _shim_above(reader, info)
    if shim is None:
        return _result(UNKNOWN, "no containerd shim owned by root and running a root-owned shim binary is above "
                       "task pid %d (walked %s)" % (pid, ", ".join(str(p) for p in chain) or "nothing"),
                       pid, binary=info.get("exe"))
    below = "below %s pid %d" % (_base(shim.get("exe")), shim["pid"])
    tree = _tree(reader, shim["pid"])
    evidence = []
    trusted = reader.runs_trusted_binary(info)
    base = os.path.basename(info.get("exe") or "")
    kind = _vmm_kind(info.get("exe")) if trusted else None
    # Kata's shims unshare a mount namespace of their own before they start (Go shim from 3.3.0: StartShim's
    # setupMntNs; runtime-rs: setup_mnt) and the hypervisor, their child, inherits it: a VMM is in the host's
    # pid namespace and in the host's or its trusted shim's mount namespace. A container's init is in neither.
    mount = "the host's" if _same_ns(info, host_ns, ("mnt",)) else (
        "its shim's" if _same_ns(info, shim.get("ns") or {}, ("mnt",)) else None)
    if kind and _same_ns(info, host_ns, ("pid",)) and mount:
        evidence.append("seen from the host: %s (binary %s), pid %d, %s, in the host's pid namespace and %s mount "
                        "namespace" % (_base(info.get("exe")), _printable(info.get("exe")), pid, below, mount))
        return _result(VMM, None, pid, kind, info.get("exe"), shim, evidence + _tree_evidence(reader, tree, host_ns))
    if trusted and base in SANDBOX_BINARIES:
        gofers = [p for p in tree if p["pid"] != pid and p.get("ppid") == info.get("ppid")
                  and reader.runs_trusted_binary(p) and os.path.basename(p.get("exe") or "") == RUNSC_BINARY]
        evidence.append("seen from the host: %s (binary %s), pid %d, %s, root %s" % (
            _printable(info.get("name")), _printable(info.get("exe")), pid, below, _printable(info.get("root"))))
        if gofers:
            evidence.append("seen from the host: %s (binary %s), pid %d beside it: the sandbox's gofer" % (
                _printable(gofers[0].get("name")), _printable(gofers[0].get("exe")), gofers[0]["pid"]))
        return _result(USER_SPACE_KERNEL, None, pid, None, info.get("exe"), shim,
                       evidence + _tree_evidence(reader, tree, host_ns))
    if trusted and base in RUNTIME_BINARIES:
        return _result(UNKNOWN, "task pid %d still runs the OCI runtime %s: the container's own process has not "
                       "started" % (pid, base), pid, None, info.get("exe"), shim,
                       ["seen from the host: %s, %s" % (_describe(info, reader), below)])
    if _own_ns(info, host_ns, ("pid", "mnt")):
        evidence.append("seen from the host: %s, %s, an ordinary process on the host's kernel in the container's "
                        "own namespaces (%s)" % (_describe(info, reader), below, _ns_words(info, host_ns)))
        return _result(HOST_PROCESS, None, pid, None, info.get("exe"), shim,
                       evidence + _tree_evidence(reader, tree, host_ns))
    return _result(UNKNOWN, "task pid %d is neither a trusted hypervisor or runsc binary nor a process in namespaces "
                   "of its own (%s)" % (pid, _ns_words(info, host_ns)), pid, None, info.get("exe"), shim,
                   ["seen from the host: %s, %s" % (_describe(info, reader), below)])


def _thread(reader, info, tgid, host_ns):
    """The task pid is a thread: only Dragonball's vmm_master thread in a trusted shim is a witness."""
    pid = info["pid"]
    owner = reader.process(tgid)
    if owner is None:
        return _result(UNKNOWN, "task pid %d is a thread of process %d, which cannot be read" % (pid, tgid), pid)
    # The shim runs in a mount namespace of its own (runtime-rs main.rs setup_mnt): only its pid namespace is
    # the host's; being the trusted shim's own thread is what makes it the witness.
    if reader.is_trusted_shim(owner) and info.get("name") == DRAGONBALL_THREAD \
            and _same_ns(owner, host_ns, ("pid",)):
        evidence = ["seen from the host: thread %s, pid %d, of %s pid %d: runtime-rs's built-in Dragonball VMM "
                    "runs the guest inside the shim" % (DRAGONBALL_THREAD, pid, _base(owner.get("exe")), tgid)]
        return _result(VMM, None, pid, "dragonball", owner.get("exe"), owner, evidence)
    return _result(UNKNOWN, "task pid %d is a thread (%s) of %s, not Dragonball's vmm_master thread in a trusted "
                   "shim" % (pid, _printable(info.get("name")), _describe(owner, reader)), pid,
                   binary=owner.get("exe"))


def _tree_evidence(reader, tree, host_ns):
    lines = []
    for info in tree[:6]:
        lines.append("below the shim: %s, parent %s, %s" % (
            _describe(info, reader), info.get("ppid"), _ns_words(info, host_ns)))
    if len(tree) > 6:
        lines.append("below the shim: %d more process(es)" % (len(tree) - 6))
    return lines


def witness(client, name, reader=None, timeout=10):
    """The host's witness of the live container ``name``; ``unknown`` with the reason when it cannot be taken."""
    try:
        pid, listed = task_pid(client, name, timeout)
    except (WitnessError, ContainerdError) as error:
        return _result(UNKNOWN, "containerd's task pid could not be read: %s" % _printable(str(error), 300))
    result = classify(reader or ProcReader(), pid)
    if listed and pid not in listed:
        # The runtime's own view: runsc ps lists pids inside the sandbox, so for gVisor this is the rule.
        result["evidence"].append("ctr tasks ps lists %s, not the task pid %d (pids as the runtime sees them; "
                                  "a sandbox's own pids for gVisor)" % (", ".join(str(p) for p in listed[:8]), pid))
    return result
