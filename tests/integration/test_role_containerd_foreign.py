"""The containerd role leaves a containerd it does not manage alone unless told (containerd_take_over).

Runs bootstrap.yml (containerd part) against the tests' own containerd instance
(role_instance.py): a hand-written config.toml in the instance's config path
stands in for a foreign one (Docker's, a kubeadm node's); a stand-in "manager"
path (a file the test creates, in place of /run/docker.sock, which must not be
faked on a shared machine) stands in for another manager on the socket.
"""

import os
import shutil

import pytest

from role_instance import Instance, sha256

FOREIGN = "# written by hand for a kubeadm node\nversion = 2\n[plugins]\n"


def _why_skip():
    if os.geteuid() != 0:
        return "runs a real containerd daemon: needs root"
    for binary in ("containerd", "ctr", "runc", "start-stop-daemon", "dpkg-query"):
        if not shutil.which(binary):
            return "%s is not installed (tools/prereqs.sh --install)" % binary
    return None


pytestmark = pytest.mark.skipif(_why_skip() is not None, reason=_why_skip() or "")


@pytest.fixture
def instance(tmp_path):
    inst = Instance(str(tmp_path), name="foreign")
    try:
        yield inst
    finally:
        inst.teardown()


def test_a_foreign_config_is_refused_and_left_untouched(instance):
    os.makedirs(os.path.dirname(instance.config))
    with open(instance.config, "w") as handle:
        handle.write(FOREIGN)
    before = sha256(instance.config)

    rc, output, _changed = instance.playbook("--tags", "containerd", "--diff")
    assert rc != 0
    assert "Not touching containerd on this host: %s exists and was not written by this collection" % instance.config \
        in output
    assert "containerd_take_over: true" in output and "--check --diff" in output
    assert sha256(instance.config) == before
    assert sorted(os.listdir(os.path.dirname(instance.config))) == ["config.toml"]
    assert instance.running_pid() is None and not instance.answers()

    # Opting in: the file is replaced (a backup kept) and containerd runs with the role's config.
    rc, output, _changed = instance.playbook("--tags", "containerd", containerd_take_over=True)
    assert rc == 0, output
    with open(instance.config) as handle:
        assert "Managed by Ansible (kata_fleet.runtimes.containerd)" in handle.read()
    backups = [name for name in os.listdir(os.path.dirname(instance.config)) if name != "config.toml"]
    assert len(backups) == 1
    with open(os.path.join(os.path.dirname(instance.config), backups[0])) as handle:
        assert handle.read() == FOREIGN
    assert instance.answers()

    # The role's own file is the role's: the next run needs no opt-in.
    rc, output, _changed = instance.playbook("--tags", "containerd")
    assert rc == 0, output


def test_another_manager_on_the_socket_is_refused(instance, tmp_path):
    docker_sock = tmp_path / "docker.sock"
    docker_sock.write_text("")
    managers = [{"path": str(docker_sock), "reason": "Docker (stand-in %s) runs its containers on this containerd"
                 % docker_sock, "applies_to": [instance.address]}]
    rc, output, _changed = instance.playbook("--tags", "containerd", _containerd_foreign_managers=managers)
    assert rc != 0
    assert "Not touching containerd on this host: Docker (stand-in %s)" % docker_sock in output
    assert not os.path.exists(instance.config) and instance.running_pid() is None


def test_k3s_paths_are_refused(instance):
    rc, output, _changed = instance.playbook("--tags", "containerd",
                                             containerd_address="/run/k3s/containerd/containerd.sock")
    assert rc != 0
    assert "is k3s/RKE2 embedded containerd" in output
    assert not os.path.exists("/run/k3s/containerd/containerd.sock") or "k3s" in output
    assert instance.running_pid() is None
