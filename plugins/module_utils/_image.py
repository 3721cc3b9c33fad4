# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""probe_image's work, shared by that module and verify_host (modules cannot import modules)."""

import os
import shutil
import tempfile

from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import ContainerdError
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._oci import (
    ImageBuildError,
    build_archive,
    image_reference,
)

# ``image`` here is a registry image to pull instead of building one (probe_image's meaning).
ARGUMENT_SPEC = dict(
    image=dict(type="str"),
    busybox_path=dict(type="path", default="/bin/busybox"),
    pull_timeout=dict(type="int", default=300),
)


def problem(params):
    if params["pull_timeout"] <= 0:
        return "pull_timeout must be a positive number of seconds, got %d" % params["pull_timeout"]
    return None


def ensure_built(module, client):
    """Import the locally built image unless its content-addressed tag is already there."""
    path = module.params["busybox_path"]
    try:
        with open(path, "rb") as handle:
            reference = image_reference(handle.read())
    except (IOError, OSError) as error:
        raise ImageBuildError("cannot read busybox at %s (%s): install the busybox-static package "
                              "or set busybox_path" % (path, error))
    digest = client.image_digest(reference)
    if digest or module.check_mode:
        return reference, digest, digest is None
    workdir = tempfile.mkdtemp(prefix="kata-fleet-image-")
    try:
        archive = os.path.join(workdir, "probe.tar")
        build_archive(path, os.uname().machine, archive)
        client.import_image(archive)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return reference, client.image_digest(reference), True


def ensure_pulled(module, client):
    reference = module.params["image"]
    digest = client.image_digest(reference)
    if digest or module.check_mode:
        return reference, digest, digest is None
    client.pull(reference, module.params["pull_timeout"])
    return reference, client.image_digest(reference), True


def run(module, client):
    """probe_image's result dict; ``client`` already answered its ping."""
    try:
        if module.params["image"]:
            reference, digest, changed = ensure_pulled(module, client)
        else:
            reference, digest, changed = ensure_built(module, client)
    except (ContainerdError, ImageBuildError) as error:
        return {"failed": True, "changed": False, "msg": str(error)}
    return {"changed": changed, "image": reference, "digest": digest,
            "source": "registry" if module.params["image"] else "built"}
