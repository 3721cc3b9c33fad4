# -*- coding: utf-8 -*-
"""_netns: the /30 per handler, the ip(8) steps of the probe network, owner files and the sweep.

No namespace is made: ip runs through a FakeModule that records argv, and
OWNER_DIR / NETNS_DIR point at temporary directories.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import time

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _netns
from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _owner
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._linux import process_start_ticks
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._netns import NetworkError, ProbeNetwork

IP = "/usr/sbin/ip"
# <collections>/ansible_collections/kata_fleet/runtimes/plugins/module_utils/_netns.py
COLLECTIONS = os.path.abspath(_netns.__file__).rsplit(os.sep + "ansible_collections" + os.sep, 1)[0]
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


IP_ADDR_SHOW = (
    "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
    "2: eth0    inet 192.168.1.20/24 brd 192.168.1.255 scope global eth0\\       valid_lft forever preferred_lft forever\n")


def _network(fake_module, bins=None, name=NAME, cidr="169.254.77.0/24", log_path=None):
    module = fake_module(bins={"ip": IP} if bins is None else bins)
    module.on("-o", "-4", "addr", "show", out=IP_ADDR_SHOW)
    return module, ProbeNetwork(module, name, cidr, log_path)


def _create_argvs(network, host="169.254.77.1", container="169.254.77.2"):
    host_link, peer = network.host_link, network.peer_link
    return [
        [IP, "-o", "-4", "addr", "show"],
        [IP, "netns", "add", NAME],
        [IP, "link", "add", host_link, "type", "veth", "peer", "name", peer],
        [IP, "link", "set", peer, "netns", NAME],
        [IP, "-n", NAME, "link", "set", peer, "name", "eth0"],
        [IP, "-n", NAME, "addr", "add", "%s/30" % container, "dev", "eth0"],
        [IP, "-n", NAME, "link", "set", "eth0", "up"],
        [IP, "-n", NAME, "link", "set", "lo", "up"],
        [IP, "addr", "add", "%s/30" % host, "dev", host_link],
        [IP, "link", "set", host_link, "up"],
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
    other = ProbeNetwork(fake_module(bins={"ip": IP}), NAME + "x", "169.254.77.0/24")
    assert other.host_link != network.host_link


def test_path_is_under_netns_dir(fake_module, dirs):
    _module, network = _network(fake_module)
    assert network.path == os.path.join(str(dirs[1]), NAME)


def _record(owner_dir, name=NAME):
    return json.loads((owner_dir / name).read_text())


def test_create_exact_argv_and_owner_record(fake_module, dirs):
    module, network = _network(fake_module, log_path="/run/kata-fleet/logs/%s.log" % NAME)
    network.create(30)
    assert module.calls == _create_argvs(network)
    assert (network.host_address, network.container_address, network.prefix) == ("169.254.77.1", "169.254.77.2", 30)
    record = _record(dirs[0])
    pid = os.getpid()
    assert record["kind"] == "kata-fleet probe network" and record["name"] == NAME
    assert record["owner"] == "%d:%s:%s" % (pid, process_start_ticks(pid), _owner.run_part())
    # expires after the timeout plus a minute of grace
    assert abs(record["expires"] - (time.time() + 30 + 60)) < 5
    assert (record["subnet"], record["host_link"], record["log"]) == (
        "169.254.77.0/30", "kfh" + DIGEST, "/run/kata-fleet/logs/%s.log" % NAME)
    assert (os.stat(str(dirs[0])).st_mode & 0o777) == 0o700
    assert (os.stat(str(dirs[0] / NAME)).st_mode & 0o777) == 0o600
    assert _netns.is_orphan(NAME, time.time()) is False


def test_remove_argv_and_owner_record_gone(fake_module, dirs, tmp_path):
    log = tmp_path / (NAME + ".log")
    log.write_text("GET /\n")
    module, network = _network(fake_module, log_path=str(log))
    network.create(30)
    del module.calls[:]
    network.remove()
    assert module.calls == [[IP, "netns", "delete", NAME], [IP, "link", "delete", "kfh" + DIGEST]]
    assert not (dirs[0] / NAME).exists() and not log.exists()
    # twice is fine, and removes nothing more
    network.remove()
    assert len(module.calls) == 2


def test_a_second_run_gets_the_next_free_subnet(fake_module, dirs):
    """Two runs on one host (or two containerd instances sharing /run): each records its /30 under the lock."""
    _module, first = _network(fake_module)
    first.create(30)
    _module, second = _network(fake_module, name=NAME + "-b")
    second.create(30)
    assert (first.container_address, second.container_address) == ("169.254.77.2", "169.254.77.6")
    first.remove()
    _module, third = _network(fake_module, name=NAME + "-c")
    third.create(30)
    assert third.container_address == "169.254.77.2"  # freed by the first one's removal


def test_subnets_in_use_on_the_host_are_skipped(fake_module, dirs):
    module, network = _network(fake_module)
    # a neighbour (or a run of an older kata-fleet) already has 169.254.77.0/30 and .4/30 on its links
    module.on("-o", "-4", "addr", "show", out=IP_ADDR_SHOW + (
        "7: cni0    inet 169.254.77.1/30 scope link cni0\\       valid_lft forever preferred_lft forever\n"
        "8: kfh00000000    inet 169.254.77.5/30 scope global kfh00000000\\       valid_lft forever\n"))
    network.create(30)
    assert network.container_address == "169.254.77.10"


def test_no_free_subnet_names_the_fix(fake_module, dirs):
    module, network = _network(fake_module, cidr="169.254.77.0/30")
    module.on("-o", "-4", "addr", "show", out="9: x    inet 169.254.77.1/30 scope link x\n")
    with pytest.raises(NetworkError, match="no free /30 left.*another network_cidr"):
        network.create(30)
    assert module.calls == [[IP, "-o", "-4", "addr", "show"]]
    assert not (dirs[0] / NAME).exists()


def test_concurrent_allocations_never_share_a_subnet(dirs):
    """Eight processes allocate at once (the flock is per open file, so processes are the real test)."""
    script = (
        "import sys\n"
        "sys.path.insert(0, %r)\n"
        "from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _netns\n"
        "_netns.OWNER_DIR = %r\n"
        "class M:\n"
        "    def get_bin_path(self, name, required=False):\n"
        "        return '/bin/true'\n"
        "    def run_command(self, argv):\n"
        "        return 0, '', ''\n"
        "net = _netns.ProbeNetwork(M(), sys.argv[1], '169.254.77.0/24')\n"
        "net.allocate(30)\n"
        "print(net.container_address)\n") % (COLLECTIONS, str(dirs[0]))
    children = [subprocess.Popen([sys.executable, "-c", script, "kf-conc-%d" % index], stdout=subprocess.PIPE,
                                 text=True) for index in range(8)]
    addresses = [child.communicate(timeout=60)[0].strip() for child in children]
    assert all(child.returncode == 0 for child in children)
    assert len(set(addresses)) == 8, addresses
    assert len(os.listdir(str(dirs[0]))) == 8 + 1  # eight records and the lock file


@pytest.mark.parametrize("step", range(9))
def test_failing_step_rolls_back_only_what_it_made(fake_module, dirs, step):
    module, network = _network(fake_module)
    expected = _create_argvs(network)[1:]
    failing = expected[step]
    module.on(*failing[1:], rc=2, err="RTNETLINK answers: Operation not permitted\n")
    with pytest.raises(NetworkError) as raised:
        network.create(30)
    assert str(raised.value) == "ip %s failed: RTNETLINK answers: Operation not permitted" % " ".join(failing[1:])
    # the steps up to the failing one, then the removal of what was made: a namespace or link of the same
    # name that "ip ... add" failed on (File exists) is someone else's and stays
    removal = ([[IP, "netns", "delete", NAME]] if step >= 1 else []) + \
        ([[IP, "link", "delete", "kfh" + DIGEST]] if step >= 2 else [])
    assert module.calls[1:] == expected[:step + 1] + removal
    assert not (dirs[0] / NAME).exists()


def test_fourth_step_failure_names_the_step(fake_module, dirs):
    module, network = _network(fake_module)
    module.on("-n", NAME, "link", "set", network.peer_link, "name", "eth0", rc=1, out="Cannot find device\n")
    with pytest.raises(NetworkError, match=r"\Aip -n %s link set kfc%s name eth0 failed: Cannot find device\Z" % (
            NAME, DIGEST)):
        network.create(30)
    assert module.calls[:5] == _create_argvs(network)[:5]
    assert module.calls[5:] == [[IP, "netns", "delete", NAME], [IP, "link", "delete", "kfh" + DIGEST]]
    assert not (dirs[0] / NAME).exists()


def test_existing_namespace_of_the_same_name_is_not_deleted(fake_module, dirs):
    """`ip netns add` says File exists: that namespace is not ours, and it stays."""
    module, network = _network(fake_module)
    module.on("netns", "add", NAME, rc=1, err='Cannot create namespace file "/var/run/netns/%s": File exists\n' % NAME)
    with pytest.raises(NetworkError, match="File exists"):
        network.create(30)
    assert [argv for argv in module.calls if "delete" in argv] == []


def test_no_ip_binary(fake_module, dirs):
    module = fake_module(bins={})
    network = ProbeNetwork(module, NAME, "169.254.77.0/24")
    with pytest.raises(NetworkError, match="iproute2"):
        network.create(30)
    assert module.calls == []
    assert not (dirs[0] / NAME).exists()
    # removing what was never made runs nothing
    network.remove()
    assert module.calls == []


# -- owner records ----------------------------------------------------------------------------

def _write(owner_dir, name, text):
    owner_dir.mkdir(exist_ok=True)
    (owner_dir / name).write_text(text)


def _v2(name, owner, expires, log=None, link=None):
    return json.dumps({"kind": "kata-fleet probe network", "version": 2, "name": name, "owner": owner,
                       "expires": int(expires), "subnet": "169.254.77.0/30",
                       "host_link": link or "kfh" + hashlib.sha256(name.encode()).hexdigest()[:8], "log": log})


def _me():
    return "%d:%s" % (os.getpid(), process_start_ticks(os.getpid()))


def test_write_owner_then_live_process_is_not_orphan(dirs):
    _netns.write_owner(NAME, 30)
    assert (dirs[0] / NAME).exists()
    assert _netns.is_orphan(NAME, time.time()) is False


def test_write_owner_never_replaces_a_record(dirs):
    _netns.write_owner(NAME, 30)
    before = (dirs[0] / NAME).read_text()
    with pytest.raises(NetworkError, match="exists already"):
        _netns.write_owner(NAME, 30)
    assert (dirs[0] / NAME).read_text() == before
    assert sorted(os.listdir(str(dirs[0]))) == [NAME]  # no temporary file left


def test_expired_owner_is_orphan(dirs):
    _netns.write_owner(NAME, 30)
    assert _netns.is_orphan(NAME, time.time() + 30 + 60 + 5) is True


def test_missing_owner_record_is_not_provably_ours(dirs):
    # A kf- namespace without a record may be anyone's (kf-tenant-blue): never an orphan.
    assert _netns.is_orphan(NAME, time.time()) is False


def test_dead_owner_is_orphan(dirs):
    _write(dirs[0], NAME, _v2(NAME, "%d:12345" % _dead_pid(), time.time() + 3600))
    assert _netns.is_orphan(NAME, time.time()) is True


def test_reused_pid_is_orphan(dirs):
    # this pid, but another start time: the pid was reused
    pid = os.getpid()
    _write(dirs[0], NAME, _v2(NAME, "%d:%d" % (pid, int(process_start_ticks(pid)) + 1), time.time() + 3600))
    assert _netns.is_orphan(NAME, time.time()) is True


def test_version_1_record_of_a_dead_owner_is_still_ours(dirs):
    _write(dirs[0], NAME, "%d:1 %d\n" % (_dead_pid(), int(time.time()) + 3600))
    assert _netns.is_orphan(NAME, time.time()) is True


@pytest.mark.parametrize("text", [
    "", "garbage", "x:1 99999999999", "%d:1 soon", "%d:1", "%d:1\n 99", "{}", "[]",
    _v2("kf-other", "1:1", 1),                              # a record of another name
    _v2(NAME, "1:1\n", 1),                                  # \A...\Z: a trailing newline is no owner
    _v2(NAME, "1:1", 1, log="/etc/shadow"),                 # a record may only name its own log
    _v2(NAME, "1:1", 1, log="/run/kata-fleet/logs/../x/%s.log" % NAME),
    _v2(NAME, "1:1", 1, link="eth0"),                       # ... and only a kfh link
])
def test_unreadable_or_bad_record_is_not_provably_ours(dirs, text):
    _write(dirs[0], NAME, text.replace("%d", str(os.getpid())) + "\n")
    assert _netns.is_orphan(NAME, time.time()) is False
    assert _netns.record_state(_netns.read_records()[NAME], time.time()) == _netns.FOREIGN


# -- sweep ------------------------------------------------------------------------------------

def test_sweep_removes_only_provably_stale_and_reports_foreign(fake_module, dirs, tmp_path):
    owner_dir, netns_dir = dirs
    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("kf-dead", "kf-expired", "kf-live", "kf-tenant-blue", "other"):
        (netns_dir / name).write_text("")
    for name in ("kf-dead", "kf-gone", "kf-tenant-blue"):
        (logs / (name + ".log")).write_text("x\n")
    _write(owner_dir, "kf-dead", _v2("kf-dead", "%d:1" % _dead_pid(), time.time() + 3600,
                                     log=str(logs / "kf-dead.log")))
    _write(owner_dir, "kf-expired", _v2("kf-expired", _me(), time.time() - 1))
    _write(owner_dir, "kf-live", _v2("kf-live", _me(), time.time() + 3600))
    # a record whose namespace is already gone: its link and log still go, then the record
    _write(owner_dir, "kf-gone", _v2("kf-gone", "%d:1" % _dead_pid(), time.time() + 3600,
                                     log=str(logs / "kf-gone.log")))
    _write(owner_dir, "kf-garbled", "not a record\n")
    module = fake_module(bins={"ip": IP})
    removed, foreign = _netns.sweep(module)
    assert removed == ["kf-dead", "kf-dead.log", "kf-expired", "kf-gone", "kf-gone.log"]
    assert foreign == ["kf-garbled", "kf-tenant-blue"]
    link = "kfh" + hashlib.sha256(b"kf-dead").hexdigest()[:8]
    assert module.calls[:2] == [[IP, "netns", "delete", "kf-dead"], [IP, "link", "delete", link]]
    assert [argv[3] for argv in module.calls if argv[1:3] == ["netns", "delete"]] == ["kf-dead", "kf-expired"]
    assert module.calls_with("kf-tenant-blue") == [] and module.calls_with("other") == []
    assert sorted(os.listdir(str(owner_dir))) == ["kf-garbled", "kf-live"]
    assert sorted(os.listdir(str(logs))) == ["kf-tenant-blue.log"]


def test_sweep_with_a_given_now(fake_module, dirs):
    (dirs[1] / "kf-b").write_text("")
    _netns.write_owner("kf-b", 30)
    module = fake_module(bins={"ip": IP})
    assert _netns.sweep(module, now=time.time() + 3600) == (["kf-b"], [])


def test_sweep_without_ip_or_netns_dir(fake_module, dirs, monkeypatch, tmp_path):
    (dirs[1] / "kf-a").write_text("")
    _write(dirs[0], "kf-a", _v2("kf-a", "%d:1" % _dead_pid(), time.time() + 3600))
    module = fake_module(bins={})
    # without ip(8) the namespace cannot go, so its record stays too
    assert _netns.sweep(module) == ([], []) and module.calls == []
    assert (dirs[0] / "kf-a").exists()
    monkeypatch.setattr(_netns, "NETNS_DIR", str(tmp_path / "absent"))
    module = fake_module(bins={"ip": IP})
    assert _netns.sweep(module) == (["kf-a"], [])
    assert module.calls == [[IP, "link", "delete", "kfh" + hashlib.sha256(b"kf-a").hexdigest()[:8]]]


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
