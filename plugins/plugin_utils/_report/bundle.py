# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write an evidence bundle: one new folder per run, checksums, an optional signature, a ``latest`` link.

* Each file is rendered and written on its own: one renderer's failure costs
  that file, not the bundle; what failed comes back as warnings.
* The run's folder is made exclusively: an existing folder (an old run with
  the same id) is never written into; the new one gets a suffix (``-2``...).
* Each file is written to a temporary file made exclusively in the run's
  folder (``mkstemp``: O_CREAT|O_EXCL, never through a planted link), checked
  as it is written (SHA-256 on the way), then renamed: an auditor never finds
  half a file.
* Folders are 0750 and files 0640 by default: a bundle holds kernel command
  lines, addresses and user names.
* ``latest`` is a relative link to the run's folder name, swapped atomically;
  it cannot point outside the evidence directory.
"""

import concurrent.futures
import hashlib
import os
import subprocess
import tempfile

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _runid

SUMS = "SHA256SUMS"
SIGNATURE = SUMS + ".sig"
# The namespace ssh-keygen -Y binds the signature to; verifying needs the same one.
SIGNATURE_NAMESPACE = "kata-fleet-evidence"
LATEST = "latest"
DIR_MODE = 0o750
FILE_MODE = 0o640
# How many folders named <run id>-N are tried before giving up.
MAX_SUFFIX = 100
# Encoded and hashed 4 MiB at a time: a bounded copy, and few hand-overs of the GIL to the renderer (bench 9.7).
_CHUNK = 4 << 20


class BundleError(OSError):
    """The run's folder cannot be made: nothing was written."""


def run_folder(root, run_id, dir_mode=DIR_MODE):
    """Make ``root/<run id>`` (or ``<run id>-2``...) exclusively; returns its name."""
    problem = _runid.problem(run_id)
    if problem:
        raise BundleError("no evidence written: %s" % problem)
    try:
        os.makedirs(root, mode=dir_mode, exist_ok=True)
    except OSError as error:
        raise BundleError("no evidence written, %s cannot be created: %s" % (root, error))
    for number in range(1, MAX_SUFFIX + 1):
        name = run_id if number == 1 else "%s-%d" % (run_id, number)
        try:
            os.mkdir(os.path.join(root, name), dir_mode)
        except FileExistsError:
            continue
        except OSError as error:
            raise BundleError("no evidence written, %s cannot be created: %s" % (os.path.join(root, name), error))
        os.chmod(os.path.join(root, name), dir_mode)  # mkdir's mode passes through the umask
        return name
    raise BundleError("no evidence written: %s already holds %s and %d more runs of that name; choose a new run id"
                      % (root, run_id, MAX_SUFFIX - 1))


def _blocks(text):
    """``text`` (one str, or a list of str written one after the other: model.to_json_parts) as UTF-8 blocks of
    about _CHUNK characters."""
    if isinstance(text, str):
        for start in range(0, len(text), _CHUNK):
            yield text[start:start + _CHUNK].encode("utf-8", "surrogateescape")
        return
    if not isinstance(text, (list, tuple)) or not all(isinstance(part, str) for part in text):
        raise TypeError("a file's text must be a str or a list of str, not %s" % type(text).__name__)
    batch, size = [], 0
    for part in text:
        batch.append(part)
        size += len(part)
        if size >= _CHUNK:
            yield "".join(batch).encode("utf-8", "surrogateescape")
            batch, size = [], 0
    if batch:
        yield "".join(batch).encode("utf-8", "surrogateescape")


def write_file(folder, name, text, mode=FILE_MODE):
    """Write ``text`` (a str, or a list of str: ``_blocks``) as ``folder/name`` through an exclusive temporary file;
    returns its SHA-256 (hex)."""
    digest = hashlib.sha256()
    handle, temporary = tempfile.mkstemp(prefix=".%s." % name, suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            os.fchmod(out.fileno(), mode)
            for block in _blocks(text):
                digest.update(block)
                out.write(block)
        os.replace(temporary, os.path.join(folder, name))
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise
    return digest.hexdigest()


def sha256sums(digests):
    """``sha256sum`` format, so ``sha256sum -c SHA256SUMS`` checks the bundle."""
    return "".join("%s  %s\n" % (digests[name], name) for name in sorted(digests))


def sign(folder, key_path):
    """Sign SHA256SUMS with ``ssh-keygen -Y sign``; returns the signature's name or raises OSError."""
    result = subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-q", "-f", key_path, "-n", SIGNATURE_NAMESPACE, os.path.join(folder, SUMS)],
        capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise OSError("ssh-keygen -Y sign with %s failed: %s" % (key_path, (result.stderr or result.stdout).strip()))
    return SIGNATURE


def point_latest(root, name):
    """Make ``root/latest`` a relative link to ``name`` (a folder in root), replacing the old link atomically."""
    if os.path.basename(name) != name or name in ("", ".", ".."):
        raise OSError("refusing to point %s at %r: not a folder of the evidence directory" % (LATEST, name))
    for _attempt in range(10):
        temporary = os.path.join(root, ".%s.%s.tmp" % (LATEST, os.urandom(4).hex()))
        try:
            os.symlink(name, temporary)
            break
        except FileExistsError:
            continue
    else:
        raise OSError("could not make a temporary link in %s" % root)
    try:
        os.replace(temporary, os.path.join(root, LATEST))
    except OSError:
        os.unlink(temporary)
        raise


def write_bundle(run_id, root, renderers, signing_key=None, dir_mode=DIR_MODE, file_mode=FILE_MODE):
    """Render every file of the bundle into a new folder ``root/<run id>[-N]``.

    ``renderers`` is [(file name, function() -> text)].  Returns (folder,
    files written, warnings).  Raises BundleError (an OSError) only when the
    folder itself cannot be made.
    """
    name = run_folder(root, run_id, dir_mode)
    folder = os.path.join(root, name)
    digests, written, warnings = {}, [], []
    if name != run_id:
        warnings.append("kata-fleet evidence: %s already exists and is kept; this run is in %s" % (
            os.path.join(root, run_id), folder))

    def could_not(file_name, error):
        warnings.append("kata-fleet evidence: could not write %s: %s: %s" % (file_name, type(error).__name__, error))

    def finish(file_name, write):
        try:
            digests[file_name] = write.result()
            written.append(file_name)
        except Exception as error:  # pylint: disable=broad-except  # a failed write costs that file only
            could_not(file_name, error)

    # One file is written (hashing and writing release the GIL) while the next renders (Python, holding it): at
    # 10,000 hosts writing report.json alone takes a tenth of the end of play (bench/README.md, 9.7). At most one
    # write is in flight, so at most two rendered texts are held at once.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="kata-fleet-bundle") as writer:
        in_flight = None
        for file_name, render in renderers:
            try:
                text = render()
            except Exception as error:  # pylint: disable=broad-except  # one broken renderer must not cost the bundle
                could_not(file_name, error)
                continue
            if in_flight is not None:
                finish(*in_flight)
            in_flight = (file_name, writer.submit(write_file, folder, file_name, text, file_mode))
        if in_flight is not None:
            finish(*in_flight)
    write_file(folder, SUMS, sha256sums(digests), file_mode)
    written.append(SUMS)
    if signing_key:
        try:
            written.append(sign(folder, signing_key))
            os.chmod(os.path.join(folder, SIGNATURE), file_mode)
        except (OSError, subprocess.SubprocessError) as error:
            warnings.append("kata-fleet evidence: the bundle is not signed: %s" % error)
    try:
        point_latest(root, name)
    except OSError as error:
        warnings.append("kata-fleet evidence: could not update %s: %s" % (os.path.join(root, LATEST), error))
    return folder, written, warnings


def outputs(report, json_text, view, template_dir=None, view_error=None):
    """The bundle's files and how to render each: [(name, function() -> text)], report.json first.

    ``json_text`` is report.json's text or its parts (model.to_json_parts).
    ``view`` is view.build_view(report), or None when it could not be built
    (``view_error`` says why): then only report.json and junit.xml are written.
    """
    # pylint: disable=import-outside-toplevel  # the renderers load Jinja2 templates; the bundle's own tests need none
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import csv_table, html, junit, markdown

    def from_view(render, *args):
        def run():
            if view is None:
                raise ValueError("the report view could not be built: %s" % view_error)
            return render(view, *args)
        return run

    return [
        ("report.json", lambda: json_text),
        ("report.md", from_view(markdown.render, template_dir)),
        ("report.csv", from_view(csv_table.render)),
        ("report.html", from_view(html.render, template_dir)),
        ("junit.xml", lambda: junit.render(report)),
    ]
