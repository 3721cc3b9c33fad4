# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write an evidence bundle: one folder per run, checksums, an optional signature, a ``latest`` link.

Each file is rendered and written on its own, so one renderer's failure costs
that file, not the bundle; what failed comes back as warnings for the callback
to show.  Files are written to a temporary name and renamed, so an auditor
never finds half a file.
"""

import hashlib
import os
import subprocess

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_bytes
from ansible.utils.path import makedirs_safe

SUMS = "SHA256SUMS"
SIGNATURE = SUMS + ".sig"
# The namespace ssh-keygen -Y binds the signature to; verifying needs the same one.
SIGNATURE_NAMESPACE = "kata-fleet-evidence"
LATEST = "latest"


def _write(path, text):
    temporary = path + ".tmp"
    with open(temporary, "wb") as handle:
        handle.write(to_bytes(text))
    os.rename(temporary, path)


def sha256sums(folder, names):
    """``sha256sum`` format, so ``sha256sum -c SHA256SUMS`` checks the bundle."""
    lines = []
    for name in sorted(names):
        digest = hashlib.sha256()
        with open(os.path.join(folder, name), "rb") as handle:
            for block in iter(lambda: handle.read(1 << 16), b""):
                digest.update(block)
        lines.append("%s  %s\n" % (digest.hexdigest(), name))
    return "".join(lines)


def sign(folder, key_path):
    """Sign SHA256SUMS with ``ssh-keygen -Y sign``; returns the signature's name or raises OSError."""
    result = subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-q", "-f", key_path, "-n", SIGNATURE_NAMESPACE, os.path.join(folder, SUMS)],
        capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise OSError("ssh-keygen -Y sign with %s failed: %s" % (key_path, (result.stderr or result.stdout).strip()))
    return SIGNATURE


def point_latest(root, run_id):
    """Make ``root/latest`` point at the run's folder, replacing the old link atomically."""
    link = os.path.join(root, LATEST)
    temporary = link + ".tmp"
    if os.path.lexists(temporary):
        os.unlink(temporary)
    os.symlink(run_id, temporary)
    os.rename(temporary, link)


def write_bundle(report, root, renderers, signing_key=None):
    """Render every file of the bundle into ``root/<run id>/``.

    ``renderers`` is [(file name, function(report) -> text)].  Returns
    (folder, files written, warnings).  Raises OSError only when the folder
    itself cannot be made.
    """
    folder = os.path.join(root, report["run_id"])
    try:
        makedirs_safe(folder)
    except AnsibleError as error:
        raise OSError(str(error.__cause__ or error))
    written, warnings = [], []
    for name, render in renderers:
        try:
            _write(os.path.join(folder, name), render(report))
            written.append(name)
        except Exception as error:  # pylint: disable=broad-except  # one broken renderer must not cost the bundle
            warnings.append("kata-fleet evidence: could not write %s: %s: %s" % (name, type(error).__name__, error))
    _write(os.path.join(folder, SUMS), sha256sums(folder, written))
    written.append(SUMS)
    if signing_key:
        try:
            written.append(sign(folder, signing_key))
        except (OSError, subprocess.SubprocessError) as error:
            warnings.append("kata-fleet evidence: the bundle is not signed: %s" % error)
    try:
        point_latest(root, report["run_id"])
    except OSError as error:
        warnings.append("kata-fleet evidence: could not update %s: %s" % (os.path.join(root, LATEST), error))
    return folder, written, warnings
