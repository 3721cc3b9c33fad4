"""Fixtures of the fleet tests; the harness is fleet_harness.py (simulated hosts over real SSH)."""

import os
import shutil

import pytest

from fleet_harness import Fleet, run_verify

# The tools the harness runs: (binary, Debian package).
REQUIRED = (("containerd", "containerd"), ("ctr", "containerd"), ("runc", "runc"), ("/usr/sbin/sshd", "openssh-server"),
            ("ssh", "openssh-client"), ("ssh-keygen", "openssh-client"), ("unshare", "util-linux"),
            ("nsenter", "util-linux"), ("ip", "iproute2"), ("tc", "iproute2"), ("/usr/bin/python3", "python3"))
HOSTS = 3


@pytest.fixture(scope="session")
def fleet():
    """Three simulated hosts (h1, h2, h3), each with its own sshd and containerd; removed at the end of the session."""
    if os.geteuid() != 0:
        pytest.skip("the fleet tests create namespaces, run sshd and real containers: they need root")
    missing = sorted(set(package for binary, package in REQUIRED if not shutil.which(binary)))
    if missing:
        pytest.skip("not installed: %s (.ci/run installs them with apt-get)" % ", ".join(missing))
    instance = Fleet(HOSTS)
    try:
        instance.start()
        yield instance
    finally:
        errors = instance.stop()
    assert not errors, "fleet teardown: %s" % "; ".join(errors)


@pytest.fixture
def verify(fleet, tmp_path):
    """verify.yml across the fleet through kata_fleet_runner; each call gets its own folder under tmp_path."""
    calls = []

    def run(inventory, forks=HOSTS + 1, **kwargs):
        calls.append(None)
        workdir = tmp_path / ("run%d" % len(calls))
        workdir.mkdir()
        return run_verify(fleet, inventory, str(workdir), forks=forks, **kwargs)

    return run
