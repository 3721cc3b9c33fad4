# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options shared by every module that talks to containerd."""


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  address:
    description:
      - Path of the containerd socket to talk to.
      - Set it per host with the inventory variable C(kata_fleet_containerd_address) so that one
        machine can host several containerd instances.
    type: path
    default: /run/containerd/containerd.sock
  namespace:
    description:
      - containerd namespace the collection's images and probe containers live in.
      - Kept apart from C(default) and C(k8s.io) so probes never mix with workloads.
    type: str
    default: kata-fleet
  config_path:
    description:
      - The configuration file of this containerd instance, read with C(containerd config dump)
        to learn its runtime handlers.
    type: path
    default: /etc/containerd/config.toml
  client:
    description:
      - Which client runs containers. V(auto) uses C(nerdctl) when it is on the PATH and C(ctr)
        otherwise; C(ctr) ships with containerd.
      - A handler with a C(ConfigPath) option (a Kata hypervisor configuration) always runs
        through C(ctr), which can pass it on; nerdctl cannot.
    type: str
    choices: [auto, ctr, nerdctl]
    default: auto
"""
