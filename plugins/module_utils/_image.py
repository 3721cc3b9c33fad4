# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""probe_image's work, shared by that module and verify_host (modules cannot import modules)."""

import os
import re
import shutil
import tempfile

from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import ContainerdError
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._oci import (
    ImageBuildError,
    build_archive,
    expected_image,
)

DIGEST_PATTERN = re.compile(r"\Asha256:[0-9a-f]{64}\Z")
BUILT, REGISTRY = "built", "registry"

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


def checked_digest(client, reference):
    """The digest containerd records for ``reference``, or None: absent, or not a sha256 digest."""
    digest = client.image_digest(reference)
    return digest if isinstance(digest, str) and DIGEST_PATTERN.match(digest) else None


def ensure_built(module, client):
    """Import the locally built image unless the image under its name already IS it (same digest).

    The name alone proves nothing: anything can be tagged
    ``localhost/kata-fleet/probe:<12 hex>``.  The image is reproducible, so its
    digest is computed first and an image under the name with another digest
    is replaced by the one built here.
    """
    path = module.params["busybox_path"]
    machine = os.uname().machine
    reference, expected = expected_image(path, machine)
    digest = checked_digest(client, reference)
    if digest == expected:
        return reference, digest, False
    if module.check_mode:
        return reference, digest, True
    workdir = tempfile.mkdtemp(prefix="kata-fleet-image-")
    try:
        archive = os.path.join(workdir, "probe.tar")
        build_archive(path, machine, archive)
        client.import_image(archive)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    digest = checked_digest(client, reference)
    if digest != expected:
        raise ImageBuildError("after importing the probe image, %s has digest %s, not the %s built from %s: "
                              "something else keeps writing that name in this containerd namespace"
                              % (reference, digest or "none", expected, path))
    return reference, digest, True


def identify(client, image, busybox_path):
    """{image_source, image_digest} of ``image`` as containerd holds it: decided by content, not by name.

    ``built`` only when its digest is the one kata-fleet builds from the busybox
    at ``busybox_path`` on this machine; any other image is ``registry``,
    whatever it is called.  The digest is recorded either way (None if unknown).
    """
    try:
        digest = checked_digest(client, image)
    except ContainerdError:
        digest = None
    try:
        expected = expected_image(busybox_path, os.uname().machine)[1] if busybox_path else None
    except ImageBuildError:
        expected = None
    return {"image_source": BUILT if digest is not None and digest == expected else REGISTRY,
            "image_digest": digest}


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
    # A pulled image is a registry image with its digest recorded, whatever its name.
    return {"changed": changed, "image": reference, "digest": digest,
            "source": REGISTRY if module.params["image"] else BUILT}
