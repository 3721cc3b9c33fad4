# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install a release archive: fetch, check its sha256, unpack, move into place, remember.

Nothing reaches its final path before the whole archive is downloaded, its
checksum matched and every wanted member found: a bad download installs
nothing.  Files are replaced one by one with rename(2) (a reader sees the old
or the new binary, never half of one); a directory tree is moved from the
unpacked archive to its destination's file system and swapped in with one
``renameat2(RENAME_EXCHANGE)`` (two renames where the kernel or libc lacks
it).  A marker file records what was installed (version, sha256, each file's
own sha256, each tree's files), so a second run with the same version changes
nothing, a tampered file (also inside a tree) is put back, an upgrade removes
what the old version had and the new one lacks, and ``state=absent`` removes
exactly what was installed.

The archive is hostile until proven otherwise (it runs as root):

* it is unpacked by Python's ``tarfile`` member by member under the rules of
  tarfile's ``data`` filter (PEP 706), implemented here because targets run
  Python 3.7+ and the filter exists only from 3.11.4/3.12: regular files,
  directories and symlinks whose target stays inside the archive; hard links
  only to an earlier regular member (unpacked as a copy); no device, fifo or
  other special member (the archive is refused); setuid/setgid/sticky and
  group/other write bits are dropped; nothing is chowned; no absolute name,
  no ``..``, no NUL, nothing that resolves outside the unpacking folder;
* every member is created, chmod-ed or (for a hard link) read through
  directory descriptors, one name at a time, with ``O_NOFOLLOW``/``*at``
  calls that never follow a link: a member is never placed behind a symlink
  (the archive is refused), so a link re-pointed by a later member cannot
  carry a write, a chmod or a copy outside; a hard link copies the bytes of
  the file written for its target (same inode, opened without following);
  the unpacked bytes are counted as they are written (hard-link copies too);
  the links left at the end are checked against the finished tree;
* ``.tar.zst`` is decompressed by the ``zstd`` binary (argv, no shell) into a
  private file, because Python has no zstd module before 3.14;
* the download, the unpacked bytes and the member count are bounded
  (``max_download_bytes``, ``max_unpacked_bytes``, ``max_members``); a
  refusal names the parameter to raise.

Our own temporary paths next to installed files (``.<name>.kf-*``) are listed
in a journal beside the marker (``<marker_dir>/<name>.json.pending``) before
they are created, and the next run removes exactly those (restoring a tree an
interrupted fallback swap left without its destination): never anything
found by its name alone.
"""

import binascii
import ctypes
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile

from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.module_utils.urls import fetch_url

SHA256 = re.compile(r"\A(?:sha256:)?([0-9a-fA-F]{64})\Z")
# gVisor publishes sha512 files only: such a checksum keeps its prefix everywhere (marker included).
SHA512 = re.compile(r"\Asha512:([0-9a-fA-F]{128})\Z")
# A marker's name becomes a file name in marker_dir: one plain path component.
NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}\Z")
# An octal mode as a string, as ansible.builtin.file takes it ("0755", "755", "0o755").
OCTAL_MODE = re.compile(r"\A0?o?([0-7]{3,4})\Z")
# Modes the module installs: at most rwxr-xr-x (no setuid/setgid/sticky, no group/other write).
MODE_ALLOWED = 0o755
# How a tar archive is compressed, by name. zstd is decompressed by zstd(1).
TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.zst", ".tzst", ".tar")
ZSTD_SUFFIXES = (".tar.zst", ".tzst")
CHUNK = 1024 * 1024
GIB = 1024 * 1024 * 1024
DEFAULT_LIMITS = {"max_download_bytes": 2 * GIB, "max_unpacked_bytes": 8 * GIB, "max_members": 100000}
# tar headers and padding on top of the members' bytes, per member (a bound for the zstd stream).
TAR_OVERHEAD = 3 * 512
# renameat2(2): AT_FDCWD and RENAME_EXCHANGE (linux/fcntl.h, linux/fs.h).
AT_FDCWD = -100
RENAME_EXCHANGE = 2


class ArchiveError(Exception):
    """A failure whose message is the whole story for the user (no traceback)."""


def parse_checksum(value):
    """The lower-case hex digest from ``sha256:<hex>`` or ``<hex>``; ``sha512:<hex>`` keeps its prefix."""
    text = value.strip() if isinstance(value, str) else ""
    match = SHA512.match(text)
    if match:
        return "sha512:" + match.group(1).lower()
    match = SHA256.match(text)
    if not match:
        raise ArchiveError("checksum must be sha256:<64 hex digits> (or the 64 digits alone) or "
                           "sha512:<128 hex digits>, got %r" % (value,))
    return match.group(1).lower()


def parse_name(value):
    if not isinstance(value, str) or not NAME.match(value):
        raise ArchiveError("name must be 1-64 letters, digits, '_', '.', '+' or '-' starting with a letter or "
                           "digit (it names the marker file in marker_dir), got %r" % (value,))
    return value


def parse_mode(value, where="mode"):
    """A file mode the way ansible.builtin.file reads it, limited to what an install may set.

    An int is taken as the number it is (YAML reads an unquoted 0644 as octal,
    i.e. 420 == 0o644), as AnsibleModule.set_mode_if_different does; a string
    must be octal digits.  Symbolic modes are not accepted here.
    """
    if isinstance(value, bool):
        mode = None
    elif isinstance(value, int):
        mode = value
    elif isinstance(value, str) and OCTAL_MODE.match(value.strip()):
        mode = int(OCTAL_MODE.match(value.strip()).group(1), 8)
    else:
        mode = None
    if mode is None or mode < 0 or mode > 0o7777:
        raise ArchiveError("%s must be an octal mode such as '0755' (quote it in YAML), got %r" % (where, value))
    if mode & ~MODE_ALLOWED:
        hint = ""
        if isinstance(value, int) and not isinstance(value, bool):
            hint = (" (%r is read as the decimal number %d = 0o%o: an unquoted 755 is not octal in YAML;"
                    " write '0755' in quotes)" % (value, value, value))
        raise ArchiveError("%s 0o%o is not allowed: an installed file is at most 0755 (no setuid, setgid, "
                           "sticky, group or other write)%s" % (where, mode, hint))
    return mode


def parse_limit(params, key):
    value = params.get(key)
    if value is None:
        return DEFAULT_LIMITS[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArchiveError("%s must be a whole number of at least 1, got %r" % (key, value))
    return value


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def archive_format(name, requested="auto"):
    """``tar`` or ``binary``: how the downloaded file is turned into files."""
    if requested != "auto":
        return requested
    return "tar" if name.lower().endswith(TAR_SUFFIXES) else "binary"


def source_name(url, src):
    """The archive's file name, which decides its format."""
    path = src or re.sub(r"[?#].*\Z", "", url or "", flags=re.S)
    return os.path.basename(path.rstrip("/")) or "download"


def checksum_algorithm(checksum):
    """The hashlib name a parsed checksum was made with."""
    return "sha512" if checksum.startswith("sha512:") else "sha256"


def _copy_hashing(source, dest_path, limit, algorithm="sha256"):
    """Copy a readable stream to ``dest_path``, at most ``limit`` bytes; return its digest (``algorithm``)."""
    digest = hashlib.new(algorithm)
    size = 0
    with open(dest_path, "wb") as target:
        for block in iter(lambda: source.read(CHUNK), b""):
            size += len(block)
            if size > limit:
                raise ArchiveError("the download is larger than max_download_bytes (%d bytes); nothing was "
                                   "installed. Raise max_download_bytes if this archive really is that big"
                                   % limit)
            digest.update(block)
            target.write(block)
    return digest.hexdigest()


def fetch(module, url, src, dest_path, timeout, limit=DEFAULT_LIMITS["max_download_bytes"], algorithm="sha256"):
    """Copy the archive to ``dest_path`` (a private temporary file); return its digest (sha256 by default)."""
    if src or url.startswith("file://"):
        path = src or url[len("file://"):]
        if not os.path.isfile(path):
            raise ArchiveError("the archive %s does not exist on this host" % path)
        with open(path, "rb") as source:
            return _copy_hashing(source, dest_path, limit, algorithm)
    response, info = fetch_url(module, url, timeout=timeout)
    if response is None or info.get("status") != 200:
        raise ArchiveError("could not download %s: %s" % (url, _reason(info)))
    try:
        return _copy_hashing(response, dest_path, limit, algorithm)
    finally:
        response.close()


def _reason(info):
    status = info.get("status", -1)
    message = to_native(info.get("msg", "")).strip()
    if status and status > 0:
        return "HTTP %s %s" % (status, message)
    return message or "no answer"


def _zstd_to_tar(module, archive, name, plain, limit):
    """Decompress ``archive`` with zstd(1) into ``plain``, refusing more than ``limit`` bytes."""
    zstd = module.get_bin_path("zstd")
    if not zstd:
        raise ArchiveError("%s is zstd-compressed and zstd(1) is not installed on this host: "
                           "install the zstd package first" % name)
    with tempfile.TemporaryFile() as errors, open(plain, "wb") as target:
        process = subprocess.Popen([zstd, "-d", "-q", "-c", "--", archive], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=errors)
        size = 0
        try:
            for block in iter(lambda: process.stdout.read(CHUNK), b""):
                size += len(block)
                if size > limit:
                    raise ArchiveError("%s unpacks to more than max_unpacked_bytes (%d bytes); nothing was "
                                       "installed. Raise max_unpacked_bytes if the release really is that big"
                                       % (name, limit))
                target.write(block)
        except BaseException:
            process.kill()
            process.stdout.close()
            process.wait()
            raise
        process.stdout.close()
        rc = process.wait()
        if rc != 0:
            errors.seek(0)
            raise ArchiveError("could not unpack %s: zstd: %s" % (
                name, to_native(errors.read(4096)).strip() or "exited %d" % rc))


def _safe_name(member_name, archive):
    """The member's path relative to the unpacking folder, or an ArchiveError."""
    if "\x00" in member_name:
        raise ArchiveError("%s holds a member whose name contains NUL (%r); nothing was installed"
                           % (archive, member_name))
    if member_name.startswith("/") or re.match(r"\A[A-Za-z]:", member_name):
        raise ArchiveError("%s holds a member with an absolute name (%r); nothing was installed"
                           % (archive, member_name))
    parts = [part for part in member_name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ArchiveError("%s holds a member whose name leaves the archive (%r); nothing was installed"
                           % (archive, member_name))
    return "/".join(parts)


def _inside(root, path):
    real = os.path.realpath(path)
    return real == root or real.startswith(root + os.sep)


def _clean_mode(mode, directory):
    """The data filter's mode rule: no setuid/setgid/sticky, no group/other write, owner rw(x)."""
    mode &= MODE_ALLOWED
    if directory:
        return mode | 0o700
    mode |= 0o600
    if not mode & 0o100:
        mode &= ~0o111
    return mode


# Opening one path component of the unpacking folder: never through a symlink, never inherited.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _lstat_at(directory, entry):
    """What ``entry`` is in the folder open as ``directory`` (a link is not followed), or None."""
    try:
        return os.stat(entry, dir_fd=directory, follow_symlinks=False)
    except OSError as error:
        if error.errno == errno.ENOENT:
            return None
        raise


def _open_parent(top, parts, where, create=True):
    """A descriptor of the folder ``parts[:-1]`` below the folder open as ``top``.

    Each step opens one component relative to the previous folder's descriptor
    with O_NOFOLLOW (a missing folder is made with mkdirat when ``create``): a
    member is never placed, and nothing is read, behind a symlink, whatever
    the archive's links point at by now.
    """
    current = os.dup(top)
    try:
        for index, part in enumerate(parts[:-1]):
            info = _lstat_at(current, part)
            walked = "/".join(parts[:index + 1])
            if info is None and create:
                os.mkdir(part, 0o755, dir_fd=current)
            elif info is None:
                raise ArchiveError("%s: %r does not exist; nothing was installed" % (where, walked))
            elif stat.S_ISLNK(info.st_mode):
                raise ArchiveError("%s lies behind the symlink %r (members are never placed or read through a "
                                   "link); nothing was installed" % (where, walked))
            elif not stat.S_ISDIR(info.st_mode):
                raise ArchiveError("%s lies below %r, which is not a directory; nothing was installed"
                                   % (where, walked))
            following = os.open(part, _DIR_FLAGS, dir_fd=current)
            os.close(current)
            current = following
    except BaseException:
        os.close(current)
        raise
    return current


def _write_counted(source, target, total, limit, too_big):
    """Copy ``source`` into ``target``, adding each written byte to ``total`` (at most ``limit``)."""
    for block in iter(lambda: source.read(CHUNK), b""):
        total += len(block)
        if total > limit:
            raise ArchiveError(too_big)
        target.write(block)
    return total


def _open_hard_link_source(top, target, regular, where, linkname):
    """A read descriptor of the earlier regular member ``target`` (the very file written for it)."""
    not_regular = ("%s is a hard link to %r, which is not an earlier regular file of the archive; nothing was "
                   "installed" % (where, linkname))
    if target not in regular:
        raise ArchiveError(not_regular)
    parts = target.split("/")
    parent = _open_parent(top, parts, where, create=False)
    try:
        descriptor = os.open(parts[-1], _READ_FLAGS, dir_fd=parent)
    except OSError:
        raise ArchiveError(not_regular)
    finally:
        os.close(parent)
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode) or (info.st_dev, info.st_ino) != regular[target]:
        os.close(descriptor)
        raise ArchiveError(not_regular)
    return descriptor


def extract(module, archive, name, staging, limits):
    """Unpack the tar ``archive`` into the empty folder ``staging`` under the data filter's rules.

    Every change is made through directory descriptors, one path component at a
    time and never through a link (see ``_open_parent``), so a member lands at
    its own name inside ``staging`` however earlier members re-pointed their
    links; the links that remain are checked against the finished tree.
    """
    root = os.path.realpath(staging)
    tar_path = archive
    if name.lower().endswith(ZSTD_SUFFIXES):
        tar_path = os.path.join(os.path.dirname(staging), "download.tar")
        _zstd_to_tar(module, archive, name, tar_path,
                     limits["max_unpacked_bytes"] + TAR_OVERHEAD * (limits["max_members"] + 2))
    try:
        handle = tarfile.open(tar_path, "r:*")
    except (tarfile.TarError, EOFError, OSError, ImportError) as error:
        raise ArchiveError("could not unpack %s: not a tar archive this host can read (%s)" % (name, error))
    top = os.open(staging, _DIR_FLAGS)
    links = {}
    # Each regular file written so far, by name: (device, inode) of the file made for it.
    regular = {}
    total = 0
    count = 0
    limit = limits["max_unpacked_bytes"]
    try:
        while True:
            try:
                member = handle.next()
            except (tarfile.TarError, EOFError, OSError, UnicodeError, ValueError) as error:
                raise ArchiveError("could not unpack %s: %s" % (name, error))
            if member is None:
                break
            count += 1
            if count > limits["max_members"]:
                raise ArchiveError("%s has more than max_members (%d) members; nothing was installed. Raise "
                                   "max_members if the release really has that many files"
                                   % (name, limits["max_members"]))
            relative = _safe_name(member.name, name)
            where = "%s: member %r" % (name, member.name)
            too_big = ("%s unpacks to more than max_unpacked_bytes (%d bytes) at member %r; nothing was "
                       "installed. Raise max_unpacked_bytes if the release really is that big"
                       % (name, limit, member.name))
            if not (member.isdir() or member.isreg() or member.issym() or member.islnk()):
                kind = ("device" if member.ischr() or member.isblk() else "fifo" if member.isfifo()
                        else "special file")
                raise ArchiveError("%s holds a %s member (%r); release archives hold regular files, "
                                   "directories and links only, so nothing was installed" % (name, kind, member.name))
            if not relative:
                if member.isdir():
                    continue
                raise ArchiveError("%s has no name; nothing was installed" % where)
            parts = relative.split("/")
            leaf = parts[-1]
            source = None
            if member.islnk():
                # Opened before the member's own name is cleared: a link to itself copies the old bytes.
                source = _open_hard_link_source(top, _safe_name(member.linkname, name), regular, where,
                                                member.linkname)
            parent = None
            try:
                parent = _open_parent(top, parts, where)
                existing = _lstat_at(parent, leaf)
                if member.isdir():
                    if existing is not None and not stat.S_ISDIR(existing.st_mode):
                        raise ArchiveError("%s: directory member %r replaces another member (%s); nothing was "
                                           "installed" % (name, member.name, "a symlink" if stat.S_ISLNK(
                                               existing.st_mode) else "a file"))
                    if existing is None:
                        os.mkdir(leaf, 0o700, dir_fd=parent)
                    folder = os.open(leaf, _DIR_FLAGS, dir_fd=parent)
                    try:
                        os.fchmod(folder, _clean_mode(member.mode, True))
                    finally:
                        os.close(folder)
                    continue
                if existing is not None:
                    # A later member of the same name replaces a file or link (as tar does); the
                    # link itself is removed, never what it points at.  A directory stays.
                    if stat.S_ISDIR(existing.st_mode):
                        raise ArchiveError("%s: member %r replaces a directory; nothing was installed"
                                           % (name, member.name))
                    os.unlink(leaf, dir_fd=parent)
                    regular.pop(relative, None)
                    links.pop(relative, None)
                if member.issym():
                    target = member.linkname
                    if "\x00" in target or target.startswith("/") or not target \
                            or not _inside(root, os.path.join(root, os.path.dirname(relative), target)):
                        raise ArchiveError("%s: symlink %r points to %r, outside the archive; nothing was "
                                           "installed" % (name, member.name, target))
                    os.symlink(target, leaf, dir_fd=parent)
                    links[relative] = member.name
                    continue
                if member.isreg() and total + member.size > limit:
                    raise ArchiveError(too_big)
                with os.fdopen(os.open(leaf, _CREATE_FLAGS, 0o600, dir_fd=parent), "wb") as target:
                    if member.isreg():
                        origin = handle.extractfile(member)
                        mode = _clean_mode(member.mode, False)
                    else:
                        # A hard link becomes a copy of the bytes of the file written for its target.
                        origin = os.fdopen(source, "rb")
                        source = None
                        mode = _clean_mode(os.fstat(origin.fileno()).st_mode, False)
                    with origin:
                        total = _write_counted(origin, target, total, limit, too_big)
                    os.fchmod(target.fileno(), mode)
                    info = os.fstat(target.fileno())
                regular[relative] = (info.st_dev, info.st_ino)
            finally:
                if parent is not None:
                    os.close(parent)
                if source is not None:
                    os.close(source)
    finally:
        os.close(top)
        handle.close()
    # Nothing above followed a link; the links that remain must also stay inside the finished tree
    # (a later member may have re-pointed one that an earlier link resolves through).
    for relative, member_name in sorted(links.items()):
        if not _inside(root, os.path.join(root, relative)):
            raise ArchiveError("%s: symlink %r resolves outside the archive; nothing was installed"
                               % (name, member_name))


def unpack(module, archive, fmt, name, staging, limits=None):
    """Unpack (or, for a bare binary, place) the archive into ``staging``."""
    limits = limits or DEFAULT_LIMITS
    if fmt == "binary":
        shutil.copyfile(archive, os.path.join(staging, name))
        return
    extract(module, archive, name, staging, limits)


def member_path(staging, member):
    """Where an archive member landed; refuses names that leave the archive."""
    relative = _safe_name(member or "", "the archive")
    return os.path.join(staging, relative) if relative else staging


def list_members(staging, limit=25):
    found = []
    for root, dirs, files in os.walk(staging):
        dirs.sort()
        for entry in sorted(files):
            found.append(os.path.relpath(os.path.join(root, entry), staging))
            if len(found) >= limit:
                return found + ["..."]
    return found


def check_members(staging, files, trees, source, file_sets=()):
    """Every wanted member must be there (and be what it should be) before anything is installed."""
    root = os.path.realpath(staging)
    missing = []
    for item in files:
        path = member_path(staging, item["src"])
        if os.path.islink(path):
            raise ArchiveError("%s: %s is a symlink, not a file; name the file it points to (%s)"
                               % (source, item["src"], os.readlink(path)))
        if not os.path.isfile(path):
            missing.append(item["src"])
    for item in list(trees) + list(file_sets):
        path = member_path(staging, item["src"])
        if not os.path.isdir(path) or os.path.islink(path) or not _inside(root, path):
            missing.append(item["src"] + "/")
    if missing:
        raise ArchiveError("%s has no %s; nothing was installed. It holds: %s"
                           % (source, ", ".join(missing), ", ".join(list_members(staging)) or "nothing"))


def set_files(staging, file_sets):
    """The regular files directly inside each file set's folder, as file items (the folder itself is shared)."""
    items = []
    for item in file_sets:
        folder = member_path(staging, item["src"])
        for entry in sorted(os.listdir(folder)):
            path = os.path.join(folder, entry)
            if os.path.isfile(path) and not os.path.islink(path):
                relative = os.path.relpath(path, staging)
                items.append({"src": relative, "dest": os.path.join(item["dest"], entry),
                              "mode": stat.S_IMODE(os.lstat(path).st_mode) & MODE_ALLOWED})
    return items


class Journal:
    """Our temporary paths outside the work folder, written down before they exist.

    The file ``<marker_dir>/<name>.json.pending`` lists them; ``sweep`` on the
    next run removes exactly those, so nothing is ever removed for looking like
    one of ours.
    """

    def __init__(self, marker_path):
        self.path = marker_path + ".pending"
        self.entries = []

    def read(self):
        try:
            with open(self.path) as handle:
                data = json.load(handle)
        except (IOError, OSError, ValueError):
            return []
        entries = data.get("paths") if isinstance(data, dict) else None
        return [entry for entry in entries or [] if isinstance(entry, dict) and isinstance(entry.get("path"), str)]

    def _write(self):
        if not self.entries:
            if os.path.lexists(self.path):
                os.unlink(self.path)
            return
        directory = os.path.dirname(self.path)
        os.makedirs(directory, 0o755, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".journal.", dir=directory)
        with os.fdopen(handle, "w") as target:
            json.dump({"paths": self.entries}, target, indent=2, sort_keys=True)
        os.rename(temporary, self.path)

    def add(self, path, dest=None):
        self.entries.append({"path": path, "dest": dest})
        self._write()

    def done(self, path):
        self.entries = [entry for entry in self.entries if entry["path"] != path]
        self._write()

    def sweep(self):
        """Remove the leftovers an interrupted earlier run recorded; returns them."""
        swept = []
        for entry in self.read():
            path = entry["path"]
            dest = entry.get("dest")
            old = os.path.join(path, "old")
            if dest and not os.path.lexists(dest) and os.path.isdir(old) and not os.path.islink(old):
                # The fallback swap stopped between its renames: put the previous tree back first.
                os.rename(old, dest)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
                swept.append(path)
            elif os.path.lexists(path):
                os.unlink(path)
                swept.append(path)
        self.entries = []
        self._write()
        return swept


def install_file(source, dest, mode, journal=None):
    """Copy next to ``dest``, then rename over it: never a half-written binary."""
    directory = os.path.dirname(dest)
    os.makedirs(directory, 0o755, exist_ok=True)
    temporary = _our_name(directory, ".%s.kf-" % os.path.basename(dest), journal)
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(handle, "wb") as target, open(source, "rb") as origin:
            shutil.copyfileobj(origin, target, CHUNK)
            target.flush()
            os.fsync(target.fileno())
        os.chmod(temporary, mode)
        os.rename(temporary, dest)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    if journal is not None:
        journal.done(temporary)


def _our_name(directory, prefix, journal, dest=None):
    """A fresh name in ``directory``, written into the journal before anything is created under it."""
    path = os.path.join(directory, prefix + binascii.hexlify(os.urandom(6)).decode("ascii"))
    if journal is not None:
        journal.add(path, dest)
    return path


_RENAMEAT2 = []


def _renameat2():
    """libc's renameat2, or None (glibc < 2.28, musl < 1.2.5, no ctypes)."""
    if not _RENAMEAT2:
        function = None
        try:
            function = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
        except (OSError, AttributeError):
            function = None
        if function is not None:
            function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            function.restype = ctypes.c_int
        _RENAMEAT2.append(function)
    return _RENAMEAT2[0]


def exchange(first, second):
    """Swap two existing paths atomically; False when this kernel/libc/file system cannot."""
    function = _renameat2()
    if function is None:
        return False
    if function(AT_FDCWD, to_bytes(first), AT_FDCWD, to_bytes(second), RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP), errno.EOPNOTSUPP):
        return False
    raise OSError(error, os.strerror(error), first)


def install_tree(tree, dest, journal=None):
    """Move the unpacked ``tree`` beside ``dest`` (same file system) and swap the two."""
    parent = os.path.dirname(dest.rstrip("/"))
    os.makedirs(parent, 0o755, exist_ok=True)
    staging = _our_name(parent, ".%s.kf-new-" % os.path.basename(dest), journal, dest)
    os.mkdir(staging, 0o700)
    new_tree = os.path.join(staging, "new")
    shutil.move(tree, new_tree)
    os.chmod(new_tree, 0o755)
    if not os.path.lexists(dest):
        os.rename(new_tree, dest)
    elif not exchange(new_tree, dest):
        # No atomic exchange here: two renames; an interruption between them is repaired by
        # the journal's sweep on the next run (the old tree goes back first).
        os.rename(dest, os.path.join(staging, "old"))
        os.rename(new_tree, dest)
    shutil.rmtree(staging, ignore_errors=True)
    if journal is not None:
        journal.done(staging)


def tree_manifest(root):
    """Every entry below ``root``: relative path -> ``dir``, ``link:<target>`` or ``<mode>:<sha256>``."""
    manifest = {}
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for entry in sorted(dirs + files):
            path = os.path.join(folder, entry)
            relative = os.path.relpath(path, root)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                manifest[relative] = "link:" + os.readlink(path)
            elif stat.S_ISDIR(info.st_mode):
                manifest[relative] = "dir"
            elif stat.S_ISREG(info.st_mode):
                manifest[relative] = "%04o:%s" % (stat.S_IMODE(info.st_mode), sha256_file(path))
            else:
                manifest[relative] = "other"
    return manifest


def read_marker(path):
    try:
        with open(path) as handle:
            marker = json.load(handle)
        return marker if isinstance(marker, dict) else None
    except (IOError, OSError, ValueError):
        return None


def write_marker(path, marker):
    directory = os.path.dirname(path)
    os.makedirs(directory, 0o755, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".marker.", dir=directory)
    with os.fdopen(handle, "w") as target:
        json.dump(marker, target, indent=2, sort_keys=True)
        target.write("\n")
    os.chmod(temporary, 0o644)
    os.rename(temporary, path)


def _tree_drift(dest, recorded):
    """Why the tree at ``dest`` differs from its recorded manifest ([] when it does not)."""
    if not isinstance(recorded, dict):
        return ["%s has no record of its files" % dest]
    current = tree_manifest(dest)
    changed = sorted(path for path in set(recorded) | set(current) if recorded.get(path) != current.get(path))
    if not changed:
        return []
    shown = ", ".join(os.path.join(dest, path) for path in changed[:5]) + (", ..." if len(changed) > 5 else "")
    return ["%s changed inside (%d entries: %s)" % (dest, len(changed), shown)]


def drift(marker, version, checksum, files, trees, file_sets=()):
    """Why the installed state differs from the wanted one ([] when it does not)."""
    if not marker:
        return ["not installed"]
    reasons = []
    if marker.get("version") != version or marker.get("sha256") != checksum:
        reasons.append("installed %s (sha256 %s)" % (marker.get("version"), marker.get("sha256")))
    recorded = marker.get("files") or {}
    for item in files:
        dest = item["dest"]
        if dest not in recorded:
            reasons.append("%s is not installed" % dest)
        elif not os.path.isfile(dest) or os.path.islink(dest) or sha256_file(dest) != recorded[dest]:
            reasons.append("%s is missing or was changed" % dest)
        elif stat.S_IMODE(os.stat(dest).st_mode) != item["mode"]:
            reasons.append("%s has mode %o" % (dest, stat.S_IMODE(os.stat(dest).st_mode)))
    recorded_sets = marker.get("file_sets") or {}
    for item in file_sets:
        if item["dest"] not in recorded_sets:
            reasons.append("%s: the release's files are not installed" % item["dest"])
            continue
        for dest in recorded_sets[item["dest"]]:
            if dest not in recorded or not os.path.isfile(dest) or os.path.islink(dest) \
                    or sha256_file(dest) != recorded[dest]:
                reasons.append("%s is missing or was changed" % dest)
    manifests = marker.get("tree_files") or {}
    for item in trees:
        if item["dest"] not in (marker.get("trees") or []) or not os.path.isdir(item["dest"]) \
                or os.path.islink(item["dest"]):
            reasons.append("%s is missing" % item["dest"])
        else:
            reasons.extend(_tree_drift(item["dest"], manifests.get(item["dest"])))
    return reasons


def remove_paths(files, trees):
    """Remove installed files and trees; returns what was really there."""
    removed = []
    for path in files:
        if os.path.lexists(path) and not os.path.isdir(path):
            os.unlink(path)
            removed.append(path)
    for path in trees:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
            removed.append(path)
    return removed


def describe(marker):
    """The diff text of a marker: what is installed, one line per path."""
    if not marker:
        return "not installed\n"
    lines = ["%s %s (sha256 %s)" % (marker.get("name"), marker.get("version"), marker.get("sha256"))]
    lines += sorted(marker.get("files") or {})
    lines += ["%s/*" % path for path in sorted(marker.get("file_sets") or {})]
    lines += ["%s/" % path for path in sorted(marker.get("trees") or [])]
    return "\n".join(lines) + "\n"


def _absolute(item):
    dest = item["dest"]
    if not isinstance(dest, str) or not os.path.isabs(dest) or "\x00" in dest:
        raise ArchiveError("dest must be an absolute path, got %r" % (dest,))
    if ".." in dest.split("/"):
        raise ArchiveError("dest must not contain '..', got %r" % (dest,))
    return dest


def _normalised(params):
    files = []
    for index, item in enumerate(params["files"] or []):
        files.append({"src": item.get("src") or "", "dest": item["dest"],
                      "mode": parse_mode(item.get("mode", "0755"), "files[%d].mode" % index)})
    trees = [{"src": item.get("src") or ".", "dest": item["dest"].rstrip("/") or item["dest"]}
             for item in params["trees"] or []]
    file_sets = [{"src": item.get("src") or ".", "dest": item["dest"].rstrip("/") or item["dest"]}
                 for item in params.get("file_sets") or []]
    for item in files + trees + file_sets:
        _absolute(item)
        _safe_name(item["src"], "src of %s" % item["dest"])
    for item in trees:
        if item["dest"] == "/":
            raise ArchiveError("a tree cannot be installed at /")
    return files, trees, file_sets


def _refuse_foreign(marker, items, trees, override, hint):
    """A destination that exists, differs and is not in our marker belongs to someone else."""
    recorded = (marker or {}).get("files") or {}
    ours = set((marker or {}).get("trees") or [])
    foreign = []
    for item in items:
        dest = item["dest"]
        if dest in recorded or not os.path.lexists(dest):
            continue
        if os.path.isfile(dest) and not os.path.islink(dest) and item.get("sha256") \
                and sha256_file(dest) == item["sha256"]:
            continue  # the same bytes: adopting it loses nothing
        foreign.append(dest)
    for item in trees:
        dest = item["dest"]
        if dest in ours or not os.path.lexists(dest):
            continue
        if os.path.isdir(dest) and not os.path.islink(dest) and not os.listdir(dest):
            continue  # an empty folder: replacing it loses nothing
        foreign.append(dest + "/")
    if foreign and not override:
        raise ArchiveError("%s already exist%s and %s not installed by kata-fleet (not in its install marker), so "
                           "nothing was installed. Remove or move %s, or set %s to let kata-fleet replace %s"
                           % (", ".join(foreign[:10]) + (", ..." if len(foreign) > 10 else ""),
                              "s" if len(foreign) == 1 else "", "was" if len(foreign) == 1 else "were",
                              "it" if len(foreign) == 1 else "them", hint, "it" if len(foreign) == 1
                              else "them"))
    return foreign


def apply(module):
    """The module's whole job; returns the result dict for exit_json."""
    params = module.params
    name = parse_name(params["name"])
    marker_path = os.path.join(params["marker_dir"], "%s.json" % name)
    marker = read_marker(marker_path)
    journal = Journal(marker_path)
    swept = [] if module.check_mode else journal.sweep()
    if params["state"] == "absent":
        result = {"changed": bool(marker) or bool(swept), "version": None,
                  "previous_version": (marker or {}).get("version"), "removed": [], "swept": swept}
        if marker and not module.check_mode:
            result["removed"] = remove_paths(sorted(marker.get("files") or {}), marker.get("trees") or [])
            os.unlink(marker_path)
        result["diff"] = {"before": describe(marker), "after": describe(None)}
        return result

    files, trees, file_sets = _normalised(params)
    limits = dict((key, parse_limit(params, key)) for key in DEFAULT_LIMITS)
    if not files and not trees and not file_sets:
        raise ArchiveError("state=present needs at least one entry in files, file_sets or trees")
    if not (params["url"] or params["src"]):
        raise ArchiveError("state=present needs url or src")
    checksum = parse_checksum(params["checksum"])
    source = params["src"] or params["url"]
    reasons = drift(marker, params["version"], checksum, files, trees, file_sets)
    result = {"changed": bool(reasons) or bool(swept), "version": params["version"], "sha256": checksum,
              "source": source, "previous_version": (marker or {}).get("version"), "reasons": reasons,
              "removed": [], "swept": swept}
    if not reasons:
        return result
    wanted = {"name": name, "version": params["version"], "sha256": checksum, "source": source,
              "files": dict((item["dest"], "") for item in files), "trees": [item["dest"] for item in trees],
              "file_sets": dict((item["dest"], []) for item in file_sets)}
    result["diff"] = {"before": describe(marker), "after": describe(wanted)}
    if module.check_mode:
        return result

    archive_name = source_name(params["url"], params["src"])
    fmt = archive_format(archive_name, params["format"])
    workdir = _our_name(params["tmp_dir"] or tempfile.gettempdir(), "kata-fleet-archive-", journal)
    os.mkdir(workdir, 0o700)
    try:
        download = os.path.join(workdir, "download")
        algorithm = checksum_algorithm(checksum)
        actual = fetch(module, params["url"], params["src"], download, params["timeout"],
                       limits["max_download_bytes"], algorithm)
        expected = checksum.partition(":")[2] if algorithm == "sha512" else checksum
        if actual != expected:
            raise ArchiveError("checksum mismatch for %s: expected %s %s, got %s %s; nothing was installed and "
                               "the download was deleted" % (source, algorithm, expected, algorithm, actual))
        staging = os.path.join(workdir, "unpacked")
        os.mkdir(staging, 0o700)
        unpack(module, download, fmt, archive_name, staging, limits)
        os.unlink(download)
        if fmt == "binary":
            files = [dict(item, src=archive_name) for item in files]
        check_members(staging, files, trees, source, file_sets)
        set_items = set_files(staging, file_sets)
        every = files + set_items
        for item in every:
            item["sha256"] = sha256_file(member_path(staging, item["src"]))
        _refuse_foreign(marker, every, trees, params.get("replace_foreign"),
                        params.get("replace_foreign_hint") or "replace_foreign: true")
        installed = {}
        for item in every:
            install_file(member_path(staging, item["src"]), item["dest"], item["mode"], journal)
            installed[item["dest"]] = item["sha256"]
        for item in file_sets:
            prefix = item["dest"] + "/"
            wanted["file_sets"][item["dest"]] = sorted(
                entry["dest"] for entry in set_items if entry["dest"].startswith(prefix))
        # Files first: a tree is moved out of the unpacked archive, and a file may lie inside it.
        manifests = {}
        for item in trees:
            install_tree(member_path(staging, item["src"]), item["dest"], journal)
            manifests[item["dest"]] = tree_manifest(item["dest"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        journal.done(workdir)
    wanted["files"] = installed
    wanted["tree_files"] = manifests
    if marker:
        stale_files = sorted(set(marker.get("files") or {}) - set(installed))
        # A folder that was once a tree and is now a shared file-set folder (the CNI plugins
        # before and after 0.2) stays: other software's files live there.
        stale_trees = sorted(set(marker.get("trees") or []) - set(wanted["trees"]) - set(wanted["file_sets"]))
        result["removed"] = remove_paths(stale_files, stale_trees)
    write_marker(marker_path, wanted)
    return result
