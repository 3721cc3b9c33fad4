# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options shared by the modules that run probe containers."""


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  runtimes:
    description:
      - The runtime handlers to probe, by their names in containerd's configuration (for example
        V(runc), V(kata), V(kata-dragonball)). Empty means every handler containerd has configured.
      - A name containerd does not know fails the module before anything runs, naming the handlers it knows.
    type: list
    elements: str
    default: []
  image:
    description: The image to run, as returned by M(kata_fleet.runtimes.probe_image).
    type: str
    required: true
  timeout:
    description:
      - Seconds one probe container may take, start to removal. Past it the container is killed
        and removed and the handler is reported as failed.
    type: int
    default: 60
  run_id:
    description:
      - Names this run in container names and labels. 1 to 40 ASCII letters and digits, joined by single
        C(.), C(_) or C(-) (the rule of C(plugins/module_utils/_runid.py), which the controller checks too).
      - Defaults to a UTC timestamp plus a random suffix.
    type: str
"""
