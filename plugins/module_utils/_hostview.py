# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""host_facts' work, shared by that module and verify_host (modules cannot import modules)."""

from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import ContainerdError
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._hostinfo import host_facts
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._module import client_from_params

# host_facts' keys that only the host has; the rest is the view a probe container reports too.
HOST_ONLY_KEYS = ("architecture", "virtualization_flags", "kvm", "vhost", "cgroup_version", "tools", "containerd")


def containerd_view(module, client=None):
    """containerd's state for the report; a daemon that does not answer is a fact, not a failure.

    Returns (view, client): the client, pinged, for the caller to reuse, or None when containerd did not answer.
    """
    view = {"address": module.params["address"], "namespace": module.params["namespace"],
            "config_path": module.params["config_path"], "answers": False, "version": None,
            "handlers": {}, "error": None}
    try:
        client = client or client_from_params(module)
        view["version"] = client.ping()
        view["answers"] = True
        view["handlers"] = client.runtime_handlers()
    except ContainerdError as error:
        view["error"] = str(error)
        return view, None
    return view, client


def shared_view(facts):
    """The part of host_facts' view an isolation probe compares containers against (isolation's ``host``)."""
    return dict((key, value) for key, value in facts.items() if key not in HOST_ONLY_KEYS)


def run(module, client=None):
    """(host_facts' result dict, the pinged client or None)."""
    facts = host_facts(module)
    facts["containerd"], client = containerd_view(module, client)
    return {"changed": False, "ansible_facts": {"kata_fleet_host": facts}}, client
