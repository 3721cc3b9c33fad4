"""Fixtures of the integration tests; the harness itself is in harness.py (tests import it by name)."""

import os
import shutil
import sys
import tempfile

import pytest

from harness import REPO, Containerd, PlaybookRun

if REPO not in sys.path:
    sys.path.insert(0, REPO)
# The collection's own FQCN imports (ansible_collections.kata_fleet.runtimes...) resolve through the
# checkout's self-link, for every test module, whichever runs first.
if os.path.join(REPO, "collections") not in sys.path:
    sys.path.insert(0, os.path.join(REPO, "collections"))

import kata_fleet_runner  # noqa: E402  pylint: disable=wrong-import-position


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
    """Run a playbook of the collection through the Python entry point (kata_fleet_runner), as an embedding service would."""

    def run(playbook, inventory, extravars=None, extra_env=None):
        result = kata_fleet_runner.run_playbook(
            os.path.join(REPO, "playbooks", playbook), inventory,
            private_data_dir=tmp_path / "runner", evidence_dir=tmp_path / "evidence",
            extravars=extravars, envvars=extra_env, timeout=600)
        return PlaybookRun(result, str(tmp_path / "evidence"))

    return run
