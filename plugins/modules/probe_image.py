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
  - The built image is reproducible, so its digest is known before it is built. A second run finds
    the image under its name with that digest and changes nothing; an image under the name with any
    other digest (the name proves nothing) is replaced by the one built here.
  - With O(image), pulls that image once (the lab report used C(alpine:3.19)) so that no later
    timing includes a pull.
author:
  - kata-fleet developers (@kata-fleet)
extends_documentation_fragment:
  - kata_fleet.runtimes.containerd
  - kata_fleet.runtimes.capabilities.image
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
  description: V(built) for the local busybox image (its digest checked), V(registry) for a pulled one,
    whatever its name.
  returned: success
  type: str
digest:
  description: The image's digest in containerd (null in check mode before it exists).
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _image
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._module import (
    connected_client,
    containerd_argument_spec,
    finish,
)


def main():
    module = AnsibleModule(argument_spec=containerd_argument_spec(**_image.ARGUMENT_SPEC), supports_check_mode=True)
    message = _image.problem(module.params)
    if message:
        module.fail_json(msg=message)
    finish(module, _image.run(module, connected_client(module)))


if __name__ == "__main__":
    main()
