# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument spec every containerd-facing module shares, and its client factory."""

from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import ContainerdClient

CONTAINERD_ARGUMENT_SPEC = dict(
    address=dict(type="path", default="/run/containerd/containerd.sock"),
    namespace=dict(type="str", default="kata-fleet"),
    config_path=dict(type="path", default="/etc/containerd/config.toml"),
    client=dict(type="str", default="auto", choices=["auto", "ctr", "nerdctl"]),
)


def containerd_argument_spec(**extra):
    spec = dict(CONTAINERD_ARGUMENT_SPEC)
    spec.update(extra)
    return spec


def client_from_params(module):
    params = module.params
    return ContainerdClient(module, params["address"], params["namespace"], params["config_path"], params["client"])
