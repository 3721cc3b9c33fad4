# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who owns an object, and which processes can be trusted: the one place that decides both.

Objects (containers, snapshots, probe networks) carry an owner token:
``<pid>:<start ticks>:<run part>`` of the module process that made them, where
the run part is drawn at random once per module process.  Two runs that share
a run id (a re-run job, two controllers) therefore have different tokens and,
through ``run_part()`` in every name, different names.  An object is LIVE while
its owner process lives and its expiry is ahead, STALE once either ended, and
FOREIGN when it carries no well-formed token.  Only STALE objects are swept;
only objects carrying ``owner_token()`` are removed by the run that made them.

A process is trusted only for what a local user cannot choose: its owner (the
real, effective and saved uids from /proc/<pid>/status) and the binary it really
runs (/proc/<pid>/exe, a root-owned file in root-owned directories, and the very
inode at that path).  Its argv and its comm are chosen by whoever started it and
are never trusted for anything.
"""

import binascii
import os
import re
import stat
import time

LIVE, STALE, FOREIGN = "live", "stale", "foreign"
# pid:start ticks[:run part]; tokens of older versions had no run part (still ours, so still swept when stale).
OWNER_PATTERN = re.compile(r"\A([0-9]{1,10}):([0-9]{1,20})(?::([0-9a-f]{6}))?\Z")
EXPIRES_PATTERN = re.compile(r"\A[0-9]{1,12}\Z")
# How long after its own timeout an object still counts as its owner's, in seconds.
EXPIRY_GRACE_SECONDS = 60
RUN_PART_LENGTH = 6
_NAMESPACES = ("pid", "mnt", "net", "user")
_RUN_PART = []


def run_part():
    """Six hex digits drawn once per module process: in every name and owner token this run makes."""
    if not _RUN_PART:
        _RUN_PART.append(binascii.hexlify(os.urandom(RUN_PART_LENGTH // 2)).decode("ascii"))
    return _RUN_PART[0]


def start_ticks(pid):
    """The start time of ``pid`` in clock ticks since boot, or None if it is gone (pid + start names a process)."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            text = handle.read()
    except (IOError, OSError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = text.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def owner_token():
    """``<pid>:<start ticks>:<run part>`` of this module process."""
    pid = os.getpid()
    return "%d:%s:%s" % (pid, start_ticks(pid), run_part())


def expires_at(timeout, now=None):
    """The expiry (seconds since the epoch, an int) of an object made now by a run limited to ``timeout``."""
    now = time.time() if now is None else now
    return int(now + timeout + EXPIRY_GRACE_SECONDS)


def state(owner, expires, now=None):
    """LIVE, STALE or FOREIGN for an object whose owner token and expiry are ``owner`` and ``expires``.

    ``expires`` may be an int or a decimal string.  Anything malformed is FOREIGN
    (never removed); expired or with its owner process gone (or its pid reused) is STALE.
    """
    now = time.time() if now is None else now
    if not isinstance(owner, str) or isinstance(expires, bool):
        return FOREIGN
    match = OWNER_PATTERN.match(owner)
    if isinstance(expires, str):
        if not EXPIRES_PATTERN.match(expires):
            return FOREIGN
        expires = int(expires)
    if not match or not isinstance(expires, int):
        return FOREIGN
    if expires < now:
        return STALE
    pid, ticks = match.group(1), match.group(2)
    return LIVE if start_ticks(int(pid)) == ticks else STALE


def is_mine(owner):
    """True only when ``owner`` is exactly this module run's token."""
    return isinstance(owner, str) and owner == owner_token()


# -- processes ---------------------------------------------------------------

class ProcessInfo(dict):
    """What /proc says of one process: pid, ppid, uids, name, exe, exe_stat, ns, root, start."""


def _read(path, limit=65536):
    with open(path, "rb") as handle:
        return handle.read(limit).decode("utf-8", "replace")


def _readlink(path):
    try:
        return os.readlink(path)
    except OSError:
        return None


def process_info(pid, proc="/proc"):
    """A ProcessInfo of ``pid``, or None when it is gone or unreadable.

    ``uids`` is (real, effective, saved); ``exe`` the path the kernel gives for
    the binary it runs (None for kernel threads or when not permitted),
    ``exe_stat`` (dev, inode) of that very file (even if deleted or replaced).
    """
    base = os.path.join(proc, str(int(pid)))
    try:
        status = _read(os.path.join(base, "status"))
    except (IOError, OSError):
        return None
    fields = {}
    for line in status.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    try:
        uids = tuple(int(value) for value in fields["Uid"].split()[:3])
        ppid = int(fields["PPid"])
    except (KeyError, ValueError):
        return None
    if len(uids) != 3:
        return None
    exe = _readlink(os.path.join(base, "exe"))
    try:
        exe_st = os.stat(os.path.join(base, "exe"))
        exe_stat = (exe_st.st_dev, exe_st.st_ino)
    except OSError:
        exe_stat = None
    ns = {}
    for kind in _NAMESPACES:
        link = _readlink(os.path.join(base, "ns", kind))
        match = re.match(r"\A[a-z_]+:\[([0-9]{1,20})\]\Z", link or "")
        ns[kind] = match.group(1) if match else None
    start = start_ticks(int(pid)) if proc == "/proc" else None
    return ProcessInfo(pid=int(pid), ppid=ppid, uids=uids, name=fields.get("Name"), exe=exe, exe_stat=exe_stat,
                       ns=ns, root=_readlink(os.path.join(base, "root")), start=start)


def _trusted_directories(path):
    """Every directory above ``path`` (an absolute, normalised path) is root's and not group/world writable.

    A symlink on the way lies in a directory already checked, so only root could
    have placed it; where it leads is checked through the resolved path.
    """
    parts = path.split("/")[1:-1]
    prefix = "/"
    for part in [None] + parts:
        if part is not None:
            prefix = os.path.join(prefix, part)
        st = os.lstat(prefix)
        if stat.S_ISLNK(st.st_mode):
            if st.st_uid != 0:
                return False
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
            return False
    return True


def trusted_binary(path):
    """True only for a regular file owned by root, not group/world writable, in root-owned directories
    that are not group/world writable (along the path as given and as resolved)."""
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path or path.endswith(" (deleted)"):
        return False
    try:
        literal = os.path.normpath(path)
        real = os.path.realpath(literal)
        if not _trusted_directories(literal) or not _trusted_directories(real):
            return False
        st = os.lstat(real)
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == 0 and not st.st_mode & 0o022


def runs_trusted_binary(info):
    """The process runs a trusted binary: its exe path is one, and the inode it runs is that path's inode."""
    if not info or not info.get("exe") or not info.get("exe_stat"):
        return False
    exe = info["exe"]
    if not trusted_binary(exe):
        return False
    try:
        st = os.stat(exe)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == tuple(info["exe_stat"])


def is_root(info):
    """Real, effective and saved uid are all 0."""
    return bool(info) and tuple(info.get("uids") or ()) == (0, 0, 0)


def is_trusted_shim(info):
    """A containerd shim only root can have started: root uids, a trusted binary named containerd-shim*."""
    return is_root(info) and runs_trusted_binary(info) \
        and os.path.basename(info["exe"]).startswith("containerd-shim")
