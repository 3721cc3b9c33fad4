#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: probe_image
short_description: Make sure the probe image is in containerd, built locally or pulled
version_added: 0.1.0
description:
  - Without O(image), builds the probe image on the target from a static busybox (Debian's
    C(busybox-static) package) as a one-layer OCI archive written in Python, and imports it with
    C(ctr images import). No registry is needed, so this works on air-gapped hosts.
  - The built image's tag is a hash of the busybox binary, so a second run finds it and changes
    nothing.
  - With O(image), pulls that image once (the lab report used C(alpine:3.19)) so that no later
    timing includes a pull.
author:
  - kata-fleet developers (@kata-fleet)
extends_documentation_fragment:
  - kata_fleet.runtimes.containerd
options:
  image:
    description:
      - A registry image to pull instead of building the probe image. It must provide
        C(/bin/sh) and the busybox applets the probes use (alpine does).
    type: str
  busybox_path:
    description: The static busybox binary laid into the built image.
    type: path
    default: /bin/busybox
  pull_timeout:
    description: Seconds a pull may take before it is abandoned.
    type: int
    default: 300
attributes:
  check_mode:
    support: full
    description: Reports whether it would import or pull, and does neither.
  diff_mode:
    support: none
    description: An image has no text to diff.
"""

EXAMPLES = r"""
- name: Build and import the probe image (air-gapped hosts too)
  kata_fleet.runtimes.probe_image:
  register: probe

- name: Use alpine from a registry instead
  kata_fleet.runtimes.probe_image:
    image: docker.io/library/alpine:3.19
"""

RETURN = r"""
image:
  description: The image reference the probe modules should run.
  returned: success
  type: str
  sample: localhost/kata-fleet/probe:3f0c2a9b1d4e
source:
  description: V(built) for the local busybox image, V(registry) for a pulled one.
  returned: success
  type: str
digest:
  description: The image's digest in containerd (null in check mode before it exists).
  returned: success
  type: str
"""

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import ContainerdError
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._module import (
    client_from_params,
    containerd_argument_spec,
)
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._oci import (
    ImageBuildError,
    build_archive,
    image_reference,
)


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


def main():
    module = AnsibleModule(
        argument_spec=containerd_argument_spec(
            image=dict(type="str"),
            busybox_path=dict(type="path", default="/bin/busybox"),
            pull_timeout=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )
    if module.params["pull_timeout"] <= 0:
        module.fail_json(msg="pull_timeout must be a positive number of seconds, got %d" % module.params["pull_timeout"])
    try:
        client = client_from_params(module)
        client.ping()
        if module.params["image"]:
            reference, digest, changed = ensure_pulled(module, client)
        else:
            reference, digest, changed = ensure_built(module, client)
    except (ContainerdError, ImageBuildError) as error:
        module.fail_json(msg=str(error))
    module.exit_json(changed=changed, image=reference, digest=digest,
                     source="registry" if module.params["image"] else "built")


if __name__ == "__main__":
    main()
