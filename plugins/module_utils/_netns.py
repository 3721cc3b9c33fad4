# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A network namespace and veth pair the module owns, for a probe that needs a network.

``ctr run --cni`` would use the first config in /etc/cni/net.d (on a Kubernetes
node, the cluster's network) and leaks its IP reservation on ``ctr c rm``, so
the module builds the smallest network itself: a namespace holding one end of a
veth pair as ``eth0``, the other end on the host, a /30 between them.  The
container joins it with ``ctr run --with-ns``.

An owner record in OWNER_DIR (root only) is written before anything is made:
the owning process, an expiry, the /30, the host link and the server log.  It
is kata-fleet's positive mark: a later run removes exactly what a record of a
dead or expired owner names, and only reports a ``kf-`` namespace without one.
The /30 is picked under a lock from what no record and no address of this
network namespace uses, so concurrent runs on one host (or two containerd
instances sharing /run) never share an address.
"""

import errno
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import time

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _owner
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._linux import (
    descendants, parse_ip_addr_oneline, process_table)
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._owner import FOREIGN, STALE

NETNS_DIR = "/var/run/netns"
OWNER_DIR = "/run/kata-fleet/netns"
PREFIX = "kf-"
LOCK_NAME = ".allocate.lock"
RECORD_KIND = "kata-fleet probe network"
NAME_PATTERN = re.compile(r"\Akf-[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*\Z")
LINK_PATTERN = re.compile(r"\Akfh[0-9a-f]{8}\Z")
# Owner tokens and states are _owner's, shared with the containers' labels.
OWNER_PATTERN = _owner.OWNER_PATTERN


# gVisor decides the network per sandbox (runsc --network=...); what the HTTP probe then measures.
RUNSC_NETWORK = re.compile(r"\A--network=(sandbox|host|none)\Z")
RUNSC_NETWORK_PATHS = {
    "sandbox": "gVisor's own netstack (runsc --network=sandbox) in the probe's network namespace",
    "host": "the host kernel's network stack of the probe's own network namespace (runsc --network=host), "
            "not gVisor's netstack",
    "none": "no network at all (runsc --network=none): only loopback inside the sandbox, so no HTTP "
            "latency can be measured from the host",
}


def runsc_network(pids, table=None):
    """{mode, path} of the gVisor sandbox below ``pids`` (the container's shim), or None if none runs there.

    Read from the runsc-sandbox process itself, which carries the flags runsc
    was really given (by a wrapper, a shim configuration or the command line).
    ``pids`` must be trusted shims (ContainerdClient.shim_pids, through
    _owner.is_trusted_shim): a look-alike process tree of any user is never read.
    """
    table = process_table() if table is None else table
    for pid in pids:
        for child in descendants(pid, table)[1:]:
            argv = table.get(child, (None, []))[1]
            if argv and argv[0] == "runsc-sandbox":
                modes = [m.group(1) for m in (RUNSC_NETWORK.match(arg) for arg in argv[1:]) if m]
                # runsc's default when no flag is passed on.
                mode = modes[-1] if modes else "sandbox"
                return {"runtime": "gvisor", "mode": mode, "path": RUNSC_NETWORK_PATHS[mode]}
    return None


class NetworkError(Exception):
    """Setting up the probe network failed; the message names the step."""


def _subnets(cidr):
    network = ipaddress.ip_network(cidr, strict=True)
    if network.version != 4 or network.prefixlen > 30:
        raise NetworkError("network_cidr %s must be an IPv4 network of /30 or larger" % cidr)
    return network.subnets(new_prefix=30)


def _addresses(subnet):
    hosts = list(subnet.hosts())
    return str(hosts[0]), str(hosts[1]), 30


def subnet_for(cidr, index):
    """The ``index``-th /30 of ``cidr``: (host address, container address, prefix length)."""
    subnets = _subnets(cidr)
    for position, subnet in enumerate(subnets):
        if position == index:
            hosts = list(subnet.hosts())
            return str(hosts[0]), str(hosts[1]), 30
    raise NetworkError("network_cidr %s has too few /30 subnets for %d handlers" % (cidr, index + 1))


def free_subnet(cidr, taken):
    """The first /30 of ``cidr`` that overlaps none of the networks in ``taken``."""
    for subnet in _subnets(cidr):
        if not any(subnet.overlaps(network) for network in taken):
            return subnet
    raise NetworkError("network_cidr %s has no free /30 left: every one is in use by an address of this host or "
                       "by another kata-fleet run's probe network; wait for those runs or choose another "
                       "network_cidr" % cidr)


def host_networks(module, ip):
    """The IPv4 networks of every address in this network namespace (``ip -o -4 addr show``)."""
    rc, out, err = module.run_command([ip, "-o", "-4", "addr", "show"])
    if rc != 0:
        raise NetworkError("ip -o -4 addr show failed: %s" % (err or out).strip())
    networks = []
    for cidrs in parse_ip_addr_oneline(out).values():
        for cidr in cidrs:
            try:
                networks.append(ipaddress.ip_network(cidr, strict=False))
            except ValueError:
                continue
    return networks


class _AllocationLock:
    """An exclusive flock on OWNER_DIR/.allocate.lock while a /30 is chosen and recorded."""

    def __enter__(self):
        _owner_dir()
        self.fd = os.open(os.path.join(OWNER_DIR, LOCK_NAME), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


class ProbeNetwork:
    """One namespace + veth pair; ``create`` then ``remove`` (safe to call twice).

    The /30 is allocated by ``create`` (None before): the first of ``cidr``
    that no owner record and no address of this host uses.
    """

    def __init__(self, module, name, cidr, log_path=None):
        self.module = module
        self.name = name
        self.cidr = cidr
        self.log_path = log_path
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        self.host_link = "kfh" + digest
        self.peer_link = "kfc" + digest
        self.host_address = self.container_address = self.prefix = None
        self.ip = module.get_bin_path("ip", required=False)
        # What this object made: only that is removed (a same-named object of someone else is never touched).
        self.made = set()

    @property
    def path(self):
        return os.path.join(NETNS_DIR, self.name)

    def _ip(self, *args):
        rc, out, err = self.module.run_command([self.ip] + list(args))
        if rc != 0:
            raise NetworkError("ip %s failed: %s" % (" ".join(args), (err or out).strip()))

    def allocate(self, timeout):
        """Choose a free /30 and write the owner record naming it, under the allocation lock."""
        with _AllocationLock():
            taken = [record["subnet"] for record in read_records().values() if record and record.get("subnet")]
            subnet = free_subnet(self.cidr, taken + host_networks(self.module, self.ip))
            write_owner(self.name, timeout, subnet=subnet, host_link=self.host_link, log_path=self.log_path)
        self.made.add("record")
        self.host_address, self.container_address, self.prefix = _addresses(subnet)

    def create(self, timeout):
        if not self.ip:
            raise NetworkError("the ip command (iproute2) is not installed; it is needed to build the probe network")
        self.allocate(timeout)
        try:
            self._ip("netns", "add", self.name)
            self.made.add("netns")
            self._ip("link", "add", self.host_link, "type", "veth", "peer", "name", self.peer_link)
            self.made.add("link")
            self._ip("link", "set", self.peer_link, "netns", self.name)
            self._ip("-n", self.name, "link", "set", self.peer_link, "name", "eth0")
            self._ip("-n", self.name, "addr", "add", "%s/%d" % (self.container_address, self.prefix), "dev", "eth0")
            self._ip("-n", self.name, "link", "set", "eth0", "up")
            self._ip("-n", self.name, "link", "set", "lo", "up")
            self._ip("addr", "add", "%s/%d" % (self.host_address, self.prefix), "dev", self.host_link)
            self._ip("link", "set", self.host_link, "up")
        except NetworkError:
            self.remove()
            raise

    def remove(self):
        """Delete what this object made: the namespace (its eth0 goes with it), the host end, the log, the record."""
        if self.ip and "netns" in self.made:
            self.module.run_command([self.ip, "netns", "delete", self.name])
        if self.ip and "link" in self.made:
            self.module.run_command([self.ip, "link", "delete", self.host_link])
        if "record" in self.made:
            # The record goes last: until then a later run can still find and remove what it names.  Only a
            # record that still carries this run's token is ours to remove (with the log it names).
            record = read_records().get(self.name)
            if record and _owner.is_mine(record.get("owner")):
                _unlink(self.log_path)
                _unlink(os.path.join(OWNER_DIR, self.name))
        self.made.clear()


def _unlink(path):
    """Remove ``path`` if there is one; True when a file was removed."""
    if path:
        try:
            os.unlink(path)
            return True
        except OSError:
            pass
    return False


def _owner_dir():
    # Probes on one host start at once (forks, two runs): the first makes the folder, the others find it.
    os.makedirs(OWNER_DIR, 0o700, exist_ok=True)


def write_owner(name, timeout, subnet=None, host_link=None, log_path=None):
    """Write the owner record of probe network ``name``, atomically and never over an existing one."""
    _owner_dir()
    pid = os.getpid()
    record = {"kind": RECORD_KIND, "version": 2, "name": name, "owner": _owner.owner_token(),
              "expires": _owner.expires_at(timeout), "subnet": str(subnet) if subnet else None,
              "host_link": host_link, "log": log_path}
    final = os.path.join(OWNER_DIR, name)
    temporary = os.path.join(OWNER_DIR, ".%s.%d.tmp" % (name, pid))
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(record, handle, sort_keys=True)
            handle.write("\n")
        try:
            os.link(temporary, final)
        except OSError as error:
            if error.errno == errno.EEXIST:
                raise NetworkError("an owner record for probe network %s exists already (%s): another run uses "
                                   "that name" % (name, final))
            raise
    finally:
        _unlink(temporary)


def parse_record(name, text):
    """The owner record in ``text`` as a dict, or None when it is not one kata-fleet wrote for ``name``.

    Version 2 is JSON; version 1 (before 0.x) was ``<pid>:<start ticks> <expiry>``.
    """
    try:
        record = json.loads(text)
    except ValueError:
        owner, _sep, expires = text.strip().partition(" ")
        if not OWNER_PATTERN.match(owner) or not expires.isdigit() or len(expires) > 12:
            return None
        return {"kind": RECORD_KIND, "version": 1, "name": name, "owner": owner, "expires": int(expires),
                "subnet": None, "host_link": "kfh" + hashlib.sha256(name.encode()).hexdigest()[:8], "log": None}
    if not isinstance(record, dict) or record.get("kind") != RECORD_KIND or record.get("name") != name:
        return None
    owner, expires, link, log = record.get("owner"), record.get("expires"), record.get("host_link"), record.get("log")
    if not isinstance(owner, str) or not OWNER_PATTERN.match(owner) or isinstance(expires, bool) \
            or not isinstance(expires, int):
        return None
    if link is not None and not (isinstance(link, str) and LINK_PATTERN.match(link)):
        return None
    # The log a record names is this network's own file, nothing else.
    if log is not None and not (isinstance(log, str) and os.path.isabs(log) and os.path.basename(log) == name + ".log"
                                and os.path.normpath(log) == log):
        return None
    try:
        record["subnet"] = ipaddress.ip_network(record["subnet"]) if record.get("subnet") else None
    except (TypeError, ValueError):
        return None
    return record


def read_records():
    """{name: record or None (unreadable)} of every owner record in OWNER_DIR."""
    try:
        names = sorted(os.listdir(OWNER_DIR))
    except OSError:
        return {}
    records = {}
    for name in names:
        if name.startswith(".") or not NAME_PATTERN.match(name):
            continue
        try:
            with open(os.path.join(OWNER_DIR, name)) as handle:
                records[name] = parse_record(name, handle.read(4096))
        except (IOError, OSError, UnicodeDecodeError):
            records[name] = None
    return records


def record_state(record, now):
    """LIVE, STALE (expired, or the owner process is gone or its pid reused) or FOREIGN (no valid record)."""
    if not record:
        return FOREIGN
    return _owner.state(record["owner"], record["expires"], now)


def is_orphan(name, now):
    """True only for a namespace whose owner record is kata-fleet's and whose owner is gone or expired."""
    return record_state(read_records().get(name), now) == STALE


def sweep(module, now=None):
    """Remove what the records of dead or expired owners name; returns (removed, foreign).

    ``removed`` names the networks whose leftovers went (namespace, host link,
    record) and the server log files removed with them; ``foreign`` the
    ``kf-`` namespaces without a valid record (and unreadable records), which
    are never touched.
    """
    now = time.time() if now is None else now
    ip = module.get_bin_path("ip", required=False)
    records = read_records()
    try:
        namespaces = sorted(os.listdir(NETNS_DIR))
    except OSError:
        namespaces = []
    removed, foreign = [], []
    for name, record in sorted(records.items()):
        state = record_state(record, now)
        if state == FOREIGN:
            foreign.append(name)
        elif state == STALE and (ip or name not in namespaces):
            if ip and name in namespaces:
                module.run_command([ip, "netns", "delete", name])
            if ip and record["host_link"]:
                module.run_command([ip, "link", "delete", record["host_link"]])
            removed.append(name)
            if _unlink(record["log"]):
                removed.append(os.path.basename(record["log"]))
            _unlink(os.path.join(OWNER_DIR, name))
    foreign += [name for name in namespaces if name.startswith(PREFIX) and name not in records]
    return removed, sorted(set(foreign))
