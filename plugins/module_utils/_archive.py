# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install a release archive: fetch, check its sha256, unpack, move into place, remember.

Nothing reaches its final path before the whole archive is downloaded, its
checksum matched and every wanted member found: a bad download installs
nothing.  Files are replaced one by one with rename(2) (a reader sees the old
or the new binary, never half of one); a directory tree is moved from the
unpacked archive to its destination's file system and swapped in with two
renames.  A marker file records
what was installed (version, sha256, each file's own sha256, the trees), so a
second run with the same version changes nothing, a tampered file is put
back, an upgrade removes what the old version had and the new one lacks, and
``state=absent`` removes exactly what was installed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile

from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.urls import fetch_url

SHA256 = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")
# gVisor publishes sha512 files only: such a checksum keeps its prefix everywhere (marker included).
SHA512 = re.compile(r"\Asha512:([0-9a-fA-F]{128})\Z")
# How a tar archive is compressed, by name; GNU tar needs zstd(1) for .zst.
TAR_FLAGS = ((".tar.gz", ["-z"]), (".tgz", ["-z"]), (".tar.xz", ["-J"]), (".txz", ["-J"]),
             (".tar.zst", ["--zstd"]), (".tzst", ["--zstd"]), (".tar", []))
CHUNK = 1024 * 1024


class ArchiveError(Exception):
    """A failure whose message is the whole story for the user (no traceback)."""


def parse_checksum(value):
    """The lower-case hex digest from ``sha256:<hex>`` or ``<hex>``; ``sha512:<hex>`` keeps its prefix."""
    text = (value or "").strip()
    match = SHA512.match(text)
    if match:
        return "sha512:" + match.group(1).lower()
    match = SHA256.match(text)
    if not match:
        raise ArchiveError("checksum must be sha256:<64 hex digits> (or the 64 digits alone) or "
                           "sha512:<128 hex digits>, got %r" % (value,))
    return match.group(1).lower()


def checksum_algorithm(checksum):
    """The hashlib name a parsed checksum was made with."""
    return "sha512" if checksum.startswith("sha512:") else "sha256"


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
    lowered = name.lower()
    return "tar" if any(lowered.endswith(suffix) for suffix, _flags in TAR_FLAGS) else "binary"


def tar_flags(name):
    lowered = name.lower()
    for suffix, flags in TAR_FLAGS:
        if lowered.endswith(suffix):
            return list(flags)
    return []


def source_name(url, src):
    """The archive's file name, which decides its format."""
    path = src or re.sub(r"[?#].*$", "", url or "")
    return os.path.basename(path.rstrip("/")) or "download"


def _copy_hashing(source, dest_path, algorithm="sha256"):
    """Copy a readable stream to ``dest_path``; return the digest (``algorithm``) of what was copied."""
    digest = hashlib.new(algorithm)
    with open(dest_path, "wb") as target:
        for block in iter(lambda: source.read(CHUNK), b""):
            digest.update(block)
            target.write(block)
    return digest.hexdigest()


def fetch(module, url, src, dest_path, timeout, algorithm="sha256"):
    """Copy the archive to ``dest_path`` (a private temporary file); return its digest (sha256 by default)."""
    if src or url.startswith("file://"):
        path = src or url[len("file://"):]
        if not os.path.isfile(path):
            raise ArchiveError("the archive %s does not exist on this host" % path)
        with open(path, "rb") as source:
            return _copy_hashing(source, dest_path, algorithm)
    response, info = fetch_url(module, url, timeout=timeout)
    if response is None or info.get("status") != 200:
        raise ArchiveError("could not download %s: %s" % (url, _reason(info)))
    try:
        return _copy_hashing(response, dest_path, algorithm)
    finally:
        response.close()


def _reason(info):
    status = info.get("status", -1)
    message = to_native(info.get("msg", "")).strip()
    if status and status > 0:
        return "HTTP %s %s" % (status, message)
    return message or "no answer"


def unpack(module, archive, fmt, name, staging):
    """Unpack (or, for a bare binary, place) the archive into ``staging``."""
    if fmt == "binary":
        shutil.copyfile(archive, os.path.join(staging, name))
        return
    flags = tar_flags(name)
    if flags == ["--zstd"] and not module.get_bin_path("zstd"):
        raise ArchiveError("%s is zstd-compressed and zstd(1) is not installed on this host: "
                           "install the zstd package first" % name)
    tar = module.get_bin_path("tar", required=True)
    rc, _out, err = module.run_command([tar, "-x", "--no-same-owner"] + flags + ["-f", archive, "-C", staging])
    if rc != 0:
        raise ArchiveError("could not unpack %s: %s" % (name, err.strip() or "tar exited %d" % rc))


def member_path(staging, member):
    """Where an archive member landed; refuses names that leave the archive."""
    clean = os.path.normpath(member.lstrip("/")) if member else "."
    if clean == ".." or clean.startswith("../"):
        raise ArchiveError("member %r points outside the archive" % member)
    return os.path.normpath(os.path.join(staging, clean))


def list_members(staging, limit=25):
    found = []
    for root, dirs, files in os.walk(staging):
        dirs.sort()
        for entry in sorted(files):
            found.append(os.path.relpath(os.path.join(root, entry), staging))
            if len(found) >= limit:
                return found + ["..."]
    return found


def check_members(staging, files, trees, source):
    """Every wanted member must be there before anything is installed."""
    missing = []
    for item in files:
        if not os.path.isfile(member_path(staging, item["src"])):
            missing.append(item["src"])
    for item in trees:
        if not os.path.isdir(member_path(staging, item["src"])):
            missing.append(item["src"] + "/")
    if missing:
        raise ArchiveError("%s has no %s; nothing was installed. It holds: %s"
                           % (source, ", ".join(missing), ", ".join(list_members(staging)) or "nothing"))


def install_file(source, dest, mode):
    """Copy next to ``dest``, then rename over it: never a half-written binary."""
    directory = os.path.dirname(dest)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    handle, temporary = tempfile.mkstemp(prefix=".%s.kf-" % os.path.basename(dest), dir=directory)
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


def install_tree(tree, dest):
    """Move the unpacked ``tree`` beside ``dest`` (same file system) and swap the two with renames."""
    parent = os.path.dirname(dest.rstrip("/"))
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o755)
    staging = tempfile.mkdtemp(prefix=".%s.kf-new-" % os.path.basename(dest), dir=parent)
    try:
        new_tree = os.path.join(staging, "new")
        shutil.move(tree, new_tree)
        if os.path.lexists(dest):
            os.rename(dest, os.path.join(staging, "old"))
        os.rename(new_tree, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_marker(path):
    try:
        with open(path) as handle:
            marker = json.load(handle)
        return marker if isinstance(marker, dict) else None
    except (IOError, OSError, ValueError):
        return None


def write_marker(path, marker):
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    handle, temporary = tempfile.mkstemp(prefix=".marker.", dir=directory)
    with os.fdopen(handle, "w") as target:
        json.dump(marker, target, indent=2, sort_keys=True)
        target.write("\n")
    os.chmod(temporary, 0o644)
    os.rename(temporary, path)


def drift(marker, version, checksum, files, trees):
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
        elif not os.path.isfile(dest) or sha256_file(dest) != recorded[dest]:
            reasons.append("%s is missing or was changed" % dest)
        elif stat.S_IMODE(os.stat(dest).st_mode) != item["mode"]:
            reasons.append("%s has mode %o" % (dest, stat.S_IMODE(os.stat(dest).st_mode)))
    for item in trees:
        if item["dest"] not in (marker.get("trees") or []) or not os.path.isdir(item["dest"]):
            reasons.append("%s is missing" % item["dest"])
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
    lines += ["%s/" % path for path in sorted(marker.get("trees") or [])]
    return "\n".join(lines) + "\n"


def _normalised(params):
    files = [{"src": item["src"] or "", "dest": item["dest"], "mode": int(item["mode"], 8)}
             for item in params["files"] or []]
    trees = [{"src": item["src"] or ".", "dest": item["dest"].rstrip("/")} for item in params["trees"] or []]
    for item in files + trees:
        if not os.path.isabs(item["dest"]):
            raise ArchiveError("dest must be an absolute path, got %r" % item["dest"])
    return files, trees


def apply(module):
    """The module's whole job; returns the result dict for exit_json."""
    params = module.params
    marker_path = os.path.join(params["marker_dir"], "%s.json" % params["name"])
    marker = read_marker(marker_path)
    if params["state"] == "absent":
        result = {"changed": bool(marker), "version": None,
                  "previous_version": (marker or {}).get("version"), "removed": []}
        if marker and not module.check_mode:
            result["removed"] = remove_paths(sorted(marker.get("files") or {}), marker.get("trees") or [])
            os.unlink(marker_path)
        result["diff"] = {"before": describe(marker), "after": describe(None)}
        return result

    files, trees = _normalised(params)
    if not files and not trees:
        raise ArchiveError("state=present needs at least one entry in files or trees")
    if not (params["url"] or params["src"]):
        raise ArchiveError("state=present needs url or src")
    checksum = parse_checksum(params["checksum"])
    source = params["src"] or params["url"]
    reasons = drift(marker, params["version"], checksum, files, trees)
    result = {"changed": bool(reasons), "version": params["version"], "sha256": checksum, "source": source,
              "previous_version": (marker or {}).get("version"), "reasons": reasons, "removed": []}
    if not reasons:
        return result
    wanted = {"name": params["name"], "version": params["version"], "sha256": checksum, "source": source,
              "files": dict((item["dest"], "") for item in files), "trees": [item["dest"] for item in trees]}
    result["diff"] = {"before": describe(marker), "after": describe(wanted)}
    if module.check_mode:
        return result

    name = source_name(params["url"], params["src"])
    fmt = archive_format(name, params["format"])
    workdir = tempfile.mkdtemp(prefix="kata-fleet-archive-", dir=params["tmp_dir"] or None)
    try:
        download = os.path.join(workdir, "download")
        algorithm = checksum_algorithm(checksum)
        actual = fetch(module, params["url"], params["src"], download, params["timeout"], algorithm)
        expected = checksum.partition(":")[2] if algorithm == "sha512" else checksum
        if actual != expected:
            raise ArchiveError("checksum mismatch for %s: expected %s %s, got %s %s; nothing was "
                               "installed and the download was deleted" % (source, algorithm, expected, algorithm, actual))
        staging = os.path.join(workdir, "unpacked")
        os.mkdir(staging)
        unpack(module, download, fmt, name, staging)
        if fmt == "binary":
            files = [dict(item, src=name) for item in files]
        check_members(staging, files, trees, source)
        installed = {}
        for item in files:
            origin = member_path(staging, item["src"])
            install_file(origin, item["dest"], item["mode"])
            installed[item["dest"]] = sha256_file(item["dest"])
        # Files first: a tree is moved out of the unpacked archive, and a file may lie inside it.
        for item in trees:
            install_tree(member_path(staging, item["src"]), item["dest"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    wanted["files"] = installed
    if marker:
        stale_files = sorted(set(marker.get("files") or {}) - set(installed))
        stale_trees = sorted(set(marker.get("trees") or []) - set(wanted["trees"]))
        result["removed"] = remove_paths(stale_files, stale_trees)
    write_marker(marker_path, wanted)
    return result
