"""inventories/example: each kind of node gets the right socket, config, binaries, namespace and become.

The inventory is loaded the way ansible-playbook loads it (InventoryManager and
VariableManager: group_vars/all.yml under each group's file), and every
kata_fleet_* value is checked against the kata_fleet role's argument spec.
"""

import os

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.manager import VariableManager

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(REPO, "inventories", "example")
K3S_SOCKET = "/run/k3s/containerd/containerd.sock"

EXPECTED = {
    # host: (socket, config, ctr, containerd, bin dir, may bootstrap)
    "node-a": ("/run/containerd/containerd.sock", "/etc/containerd/config.toml", "/usr/bin/ctr", "/usr/bin/containerd",
               "", True),
    "kube-worker-1": ("/run/containerd/containerd.sock", "/etc/containerd/config.toml", "/usr/bin/ctr",
                      "/usr/bin/containerd", "", False),
    "k3s-agent-1": (K3S_SOCKET, "/var/lib/rancher/k3s/agent/etc/containerd/config.toml", "/usr/local/bin/ctr",
                    "/var/lib/rancher/k3s/data/current/bin/containerd", "/var/lib/rancher/k3s/data/current/bin", False),
    "rke2-agent-1": (K3S_SOCKET, "/var/lib/rancher/rke2/agent/etc/containerd/config.toml", "/var/lib/rancher/rke2/bin/ctr",
                     "/var/lib/rancher/rke2/bin/containerd", "/var/lib/rancher/rke2/bin", False),
}


@pytest.fixture(scope="module")
def hostvars():
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[EXAMPLE])
    manager = VariableManager(loader=loader, inventory=inventory)
    return dict((host.name, manager.get_vars(host=host)) for host in inventory.get_hosts())


def _spec():
    with open(os.path.join(REPO, "roles", "kata_fleet", "meta", "argument_specs.yml")) as handle:
        return yaml.safe_load(handle)["argument_specs"]["main"]["options"]


def test_every_group_file_is_loaded(hostvars):
    assert sorted(hostvars) == sorted(EXPECTED)
    groups = sorted(name[:-4] for name in os.listdir(os.path.join(EXAMPLE, "group_vars")))
    assert groups == ["all", "containerd_nodes", "k3s_nodes", "kubeadm_nodes", "rke2_nodes"]


@pytest.mark.parametrize("host", sorted(EXPECTED))
def test_socket_config_and_binaries_per_kind_of_node(hostvars, host):
    socket, config, ctr, containerd, bin_dir, may_bootstrap = EXPECTED[host]
    variables = hostvars[host]
    assert variables["kata_fleet_containerd_address"] == socket
    assert variables["kata_fleet_containerd_config"] == config
    assert variables["containerd_ctr_binary"] == ctr
    assert variables["containerd_binary"] == containerd
    assert variables["kata_fleet_bin_dir"] == bin_dir
    # The containerd role refuses on a node it does not manage unless told; only plain nodes may be bootstrapped.
    assert variables.get("containerd_take_over", False) is False
    assert (socket == K3S_SOCKET or host == "kube-worker-1") is (not may_bootstrap)
    # The probes never use the kubelet's namespace.
    assert variables["kata_fleet_containerd_namespace"] == "kata-fleet"
    # Root on the node through become, pipelined.
    assert variables["ansible_become"] is True and variables["ansible_pipelining"] is True


@pytest.mark.parametrize("host", sorted(EXPECTED))
def test_every_setting_passes_the_argument_spec(hostvars, host):
    spec = _spec()
    settings = dict((key, value) for key, value in hostvars[host].items() if key.startswith("kata_fleet_"))
    assert set(settings) <= set(spec), sorted(set(settings) - set(spec))
    result = ArgumentSpecValidator(spec).validate(settings)
    assert not result.error_messages, result.error_messages


def test_expected_runtimes_per_group(hostvars):
    assert hostvars["node-a"]["kata_fleet_expected_runtimes"] == ["runc", "kata"]
    for host in ("kube-worker-1", "k3s-agent-1", "rke2-agent-1"):
        assert hostvars[host]["kata_fleet_expected_runtimes"] == ["runc"]
