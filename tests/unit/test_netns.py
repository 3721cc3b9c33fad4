# -*- coding: utf-8 -*-
"""_netns: the /30 per handler, the ip(8) steps of the probe network, owner files and the sweep.

No namespace is made: ip runs through a FakeModule that records argv, and
OWNER_DIR / NETNS_DIR point at temporary directories.
"""

import hashlib
import os
import re
import subprocess
import sys
import time

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _netns
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._linux import process_start_ticks
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._netns import NetworkError, ProbeNetwork

IP = "/usr/sbin/ip"
NAME = "kf-unit-1-runc-http"
DIGEST = hashlib.sha256(NAME.encode()).hexdigest()[:8]


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    owner_dir = tmp_path / "owners"
    netns_dir = tmp_path / "netns"
    netns_dir.mkdir()
    monkeypatch.setattr(_netns, "OWNER_DIR", str(owner_dir))
    monkeypatch.setattr(_netns, "NETNS_DIR", str(netns_dir))
    return owner_dir, netns_dir


def _network(fake_module, bins=None):
    module = fake_module(bins={"ip": IP} if bins is None else bins)
    return module, ProbeNetwork(module, NAME, "169.254.77.1", "169.254.77.2", 30)


def _create_argvs(network):
    host, peer = network.host_link, network.peer_link
    return [
        [IP, "netns", "add", NAME],
        [IP, "link", "add", host, "type", "veth", "peer", "name", peer],
        [IP, "link", "set", peer, "netns", NAME],
        [IP, "-n", NAME, "link", "set", peer, "name", "eth0"],
        [IP, "-n", NAME, "addr", "add", "169.254.77.2/30", "dev", "eth0"],
        [IP, "-n", NAME, "link", "set", "eth0", "up"],
        [IP, "-n", NAME, "link", "set", "lo", "up"],
        [IP, "addr", "add", "169.254.77.1/30", "dev", host],
        [IP, "link", "set", host, "up"],
    ]


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# -- subnet_for -------------------------------------------------------------------------------

@pytest.mark.parametrize("cidr, index, expected", [
    ("169.254.77.0/24", 0, ("169.254.77.1", "169.254.77.2", 30)),
    ("169.254.77.0/24", 1, ("169.254.77.5", "169.254.77.6", 30)),
    ("169.254.77.0/24", 63, ("169.254.77.253", "169.254.77.254", 30)),
    ("169.254.77.0/30", 0, ("169.254.77.1", "169.254.77.2", 30)),
    ("10.20.0.0/16", 64, ("10.20.1.1", "10.20.1.2", 30)),
])
def test_subnet_for(cidr, index, expected):
    assert _netns.subnet_for(cidr, index) == expected


@pytest.mark.parametrize("cidr, index, words", [
    ("169.254.77.0/30", 1, "too few /30 subnets for 2 handlers"),
    ("169.254.77.0/24", 64, "too few /30 subnets for 65 handlers"),
    ("169.254.77.0/31", 0, "must be an IPv4 network of /30 or larger"),
    ("169.254.77.1/32", 0, "must be an IPv4 network of /30 or larger"),
    ("fd00:77::/64", 0, "must be an IPv4 network of /30 or larger"),
    ("fd00::/16", 0, "must be an IPv4 network of /30 or larger"),
])
def test_subnet_for_rejects(cidr, index, words):
    with pytest.raises(NetworkError) as raised:
        _netns.subnet_for(cidr, index)
    assert cidr in str(raised.value) and words in str(raised.value)


@pytest.mark.parametrize("cidr", ["169.254.77.5/24", "not-a-network", "169.254.77.0/33", ""])
def test_subnet_for_invalid_is_value_error(cidr):
    with pytest.raises(ValueError):
        _netns.subnet_for(cidr, 0)


# -- ProbeNetwork -----------------------------------------------------------------------------

def test_link_names_fit_the_kernel_limit(fake_module):
    _module, network = _network(fake_module)
    assert re.match(r"^kfh[0-9a-f]{8}$", network.host_link)
    assert re.match(r"^kfc[0-9a-f]{8}$", network.peer_link)
    assert network.host_link[3:] == network.peer_link[3:] == DIGEST
    # IFNAMSIZ is 16 with the NUL: 15 characters at most
    assert len(network.host_link) <= 15 and len(network.peer_link) <= 15
    # a different name gets different links
    other = ProbeNetwork(fake_module(bins={"ip": IP}), NAME + "x", "169.254.77.5", "169.254.77.6", 30)
    assert other.host_link != network.host_link


def test_path_is_under_netns_dir(fake_module, dirs):
    _module, network = _network(fake_module)
    assert network.path == os.path.join(str(dirs[1]), NAME)


def test_create_exact_argv_and_owner_file(fake_module, dirs):
    module, network = _network(fake_module)
    network.create(30)
    assert module.calls == _create_argvs(network)
    owner = (dirs[0] / NAME).read_text()
    pid = os.getpid()
    match = re.match(r"^(\d+):(\d+) (\d+)\n$", owner)
    assert match, owner
    assert (int(match.group(1)), match.group(2)) == (pid, process_start_ticks(pid))
    # expires after the timeout plus a minute of grace
    assert abs(int(match.group(3)) - (time.time() + 30 + 60)) < 5
    assert (os.stat(str(dirs[0])).st_mode & 0o777) == 0o700


def test_remove_argv_and_owner_file_gone(fake_module, dirs):
    module, network = _network(fake_module)
    network.create(30)
    del module.calls[:]
    network.remove()
    assert module.calls == [[IP, "netns", "delete", NAME], [IP, "link", "delete", "kfh" + DIGEST]]
    assert not (dirs[0] / NAME).exists()
    # twice is fine
    network.remove()
    assert len(module.calls) == 4


@pytest.mark.parametrize("step", range(9))
def test_failing_step_rolls_back(fake_module, dirs, step):
    module, network = _network(fake_module)
    expected = _create_argvs(network)
    failing = expected[step]
    module.on(*failing[1:], rc=2, err="RTNETLINK answers: Operation not permitted\n")
    with pytest.raises(NetworkError) as raised:
        network.create(30)
    assert str(raised.value) == "ip %s failed: RTNETLINK answers: Operation not permitted" % " ".join(failing[1:])
    # the steps up to the failing one, then the removal
    assert module.calls == expected[:step + 1] + [
        [IP, "netns", "delete", NAME], [IP, "link", "delete", "kfh" + DIGEST]]
    assert not (dirs[0] / NAME).exists()


def test_fourth_step_failure_names_the_step(fake_module, dirs):
    module, network = _network(fake_module)
    module.on("-n", NAME, "link", "set", network.peer_link, "name", "eth0", rc=1, out="Cannot find device\n")
    with pytest.raises(NetworkError, match=r"^ip -n %s link set kfc%s name eth0 failed: Cannot find device$" % (
            NAME, DIGEST)):
        network.create(30)
    assert module.calls[:4] == _create_argvs(network)[:4]
    assert module.calls[4:] == [[IP, "netns", "delete", NAME], [IP, "link", "delete", "kfh" + DIGEST]]
    assert not (dirs[0] / NAME).exists()


def test_no_ip_binary(fake_module, dirs):
    module, network = _network(fake_module, bins={})
    with pytest.raises(NetworkError, match="iproute2"):
        network.create(30)
    assert module.calls == []
    assert not (dirs[0] / NAME).exists()
    # removing what was never made runs nothing
    network.remove()
    assert module.calls == []


# -- owner files ------------------------------------------------------------------------------

def test_write_owner_then_live_process_is_not_orphan(dirs):
    _netns.write_owner(NAME, 30)
    assert (dirs[0] / NAME).exists()
    assert _netns.is_orphan(NAME, time.time()) is False


def test_expired_owner_is_orphan(dirs):
    _netns.write_owner(NAME, 30)
    assert _netns.is_orphan(NAME, time.time() + 30 + 60 + 5) is True


def test_missing_owner_file_is_orphan(dirs):
    assert _netns.is_orphan(NAME, time.time()) is True


def test_dead_owner_is_orphan(dirs):
    dirs[0].mkdir()
    (dirs[0] / NAME).write_text("%d:12345 %d\n" % (_dead_pid(), int(time.time()) + 3600))
    assert _netns.is_orphan(NAME, time.time()) is True


def test_reused_pid_is_orphan(dirs):
    # this pid, but another start time: the pid was reused
    pid = os.getpid()
    dirs[0].mkdir()
    (dirs[0] / NAME).write_text("%d:%d %d\n" % (pid, int(process_start_ticks(pid)) + 1, int(time.time()) + 3600))
    assert _netns.is_orphan(NAME, time.time()) is True


@pytest.mark.parametrize("text", ["", "garbage", "x:1 99999999999", "%d:1 soon", "%d:1"])
def test_unreadable_owner_is_orphan(dirs, text):
    dirs[0].mkdir()
    (dirs[0] / NAME).write_text(text.replace("%d", str(os.getpid())) + "\n")
    assert _netns.is_orphan(NAME, time.time()) is True


# -- sweep ------------------------------------------------------------------------------------

def test_sweep_removes_only_orphans(fake_module, dirs):
    owner_dir, netns_dir = dirs
    for name in ("kf-a", "kf-b", "other"):
        (netns_dir / name).write_text("")
    _netns.write_owner("kf-b", 30)
    module = fake_module(bins={"ip": IP})
    assert _netns.sweep(module) == ["kf-a"]
    link = "kfh" + hashlib.sha256(b"kf-a").hexdigest()[:8]
    assert module.calls == [[IP, "netns", "delete", "kf-a"], [IP, "link", "delete", link]]
    assert (owner_dir / "kf-b").exists()


def test_sweep_removes_expired_and_dead_owners_and_their_files(fake_module, dirs):
    owner_dir, netns_dir = dirs
    for name in ("kf-dead", "kf-expired", "kf-live"):
        (netns_dir / name).write_text("")
        _netns.write_owner(name, 30)
    (owner_dir / "kf-dead").write_text("%d:1 %d\n" % (_dead_pid(), int(time.time()) + 3600))
    (owner_dir / "kf-expired").write_text("%d:%s %d\n" % (os.getpid(), process_start_ticks(os.getpid()),
                                                          int(time.time()) - 1))
    module = fake_module(bins={"ip": IP})
    assert _netns.sweep(module) == ["kf-dead", "kf-expired"]
    assert [argv[1:3] + argv[3:4] for argv in module.calls if argv[2] == "delete" and argv[1] == "netns"] == [
        ["netns", "delete", "kf-dead"], ["netns", "delete", "kf-expired"]]
    assert sorted(os.listdir(str(owner_dir))) == ["kf-live"]


def test_sweep_with_a_given_now(fake_module, dirs):
    (dirs[1] / "kf-b").write_text("")
    _netns.write_owner("kf-b", 30)
    module = fake_module(bins={"ip": IP})
    assert _netns.sweep(module, now=time.time() + 3600) == ["kf-b"]


def test_sweep_without_ip_or_netns_dir(fake_module, dirs, monkeypatch, tmp_path):
    (dirs[1] / "kf-a").write_text("")
    module = fake_module(bins={})
    assert _netns.sweep(module) == [] and module.calls == []
    monkeypatch.setattr(_netns, "NETNS_DIR", str(tmp_path / "absent"))
    module = fake_module(bins={"ip": IP})
    assert _netns.sweep(module) == [] and module.calls == []


# -- gVisor: which network stack the sandbox really uses ----------------------------------------

def _runsc_table(*sandbox_args):
    """A shim (100) with a gofer and a sandbox below it, argv as runsc 2022 (Debian bookworm) shows them."""
    return {
        100: (1, ["/usr/bin/containerd-shim-runc-v2", "-namespace", "kata-fleet", "-id", "kf-x-runsc-http"]),
        101: (100, ["runsc-gofer", "--root=/run/containerd/runc/kata-fleet", "gofer", "--bundle", "/b"]),
        102: (100, ["runsc-sandbox", "--root=/run/containerd/runc/kata-fleet"] + list(sandbox_args) + ["boot", "x"]),
        200: (1, ["runsc-sandbox", "--network=none", "boot", "someone-else"]),
    }


@pytest.mark.parametrize("args, mode", [
    (["--network=host"], "host"),
    (["--network=none"], "none"),
    (["--network=sandbox"], "sandbox"),
    ([], "sandbox"),  # runsc's default
    (["--network=host", "--network=none"], "none"),  # the last flag wins, as in Go's flag package
    (["--network=bogus"], "sandbox"),
])
def test_runsc_network_reads_the_sandbox_below_the_shim(args, mode):
    found = _netns.runsc_network([100], _runsc_table(*args))
    assert found == {"runtime": "gvisor", "mode": mode, "path": _netns.RUNSC_NETWORK_PATHS[mode]}


def test_runsc_network_is_none_without_a_gvisor_sandbox():
    table = {100: (1, ["containerd-shim-runc-v2"]), 101: (100, ["/bin/httpd", "--network=host"])}
    assert _netns.runsc_network([100], table) is None
    assert _netns.runsc_network([], _runsc_table("--network=host")) is None


def test_host_network_path_says_it_is_not_gvisors_netstack():
    assert "host kernel" in _netns.RUNSC_NETWORK_PATHS["host"]
    assert "not gVisor's netstack" in _netns.RUNSC_NETWORK_PATHS["host"]
