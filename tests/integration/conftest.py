"""Fixtures of the integration tests; the harness itself is in harness.py (tests import it by name)."""

import json
import os
import shutil
import sys
import tempfile

import pytest

from harness import REPO, Containerd, PlaybookRun


def _require(binary):
    if not shutil.which(binary):
        pytest.skip("%s is not installed: .ci/run installs it (apt-get install containerd runc)" % binary)


@pytest.fixture(scope="session")
def containerd():
    if os.geteuid() != 0:
        pytest.skip("the integration tests run real containers and need root")
    for binary in ("containerd", "ctr", "runc"):
        _require(binary)
    instance = Containerd(tempfile.mkdtemp(prefix="kf-it-", dir="/tmp"))
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def run_playbook(tmp_path):
    """Run a playbook of the collection through ansible-runner, as an embedding service would."""
    import ansible_runner

    def run(playbook, inventory, extravars=None, extra_env=None):
        (tmp_path / "runner").mkdir(exist_ok=True)
        inventory_path = tmp_path / "inventory.json"
        inventory_path.write_text(json.dumps(inventory))
        env = {"ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"),
               "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
               "ANSIBLE_NOCOLOR": "1",
               "KATA_FLEET_EVIDENCE_DIR": str(tmp_path / "evidence")}
        env.update(extra_env or {})
        runner = ansible_runner.run(
            private_data_dir=str(tmp_path / "runner"),
            playbook=os.path.join(REPO, "playbooks", playbook),
            inventory=str(inventory_path),
            extravars=extravars or {},
            envvars=env,
            quiet=True,
            timeout=600,
        )
        return PlaybookRun(runner, str(tmp_path / "evidence"))

    return run
