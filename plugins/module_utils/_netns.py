# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A network namespace and veth pair the module owns, for a probe that needs a network.

``ctr run --cni`` would use the first config in /etc/cni/net.d (on a Kubernetes
node, the cluster's network) and leaks its IP reservation on ``ctr c rm``, so
the module builds the smallest network itself: a namespace holding one end of a
veth pair as ``eth0``, the other end on the host, a /30 between them.  The
container joins it with ``ctr run --with-ns``.  An owner file records the
owning process, so a later run can remove what a killed run left.
"""

import hashlib
import ipaddress
import os
import re
import time

from ansible_collections.kata_fleet.runtimes.plugins.module_utils._linux import descendants, process_start_ticks, process_table

NETNS_DIR = "/var/run/netns"
OWNER_DIR = "/run/kata-fleet/netns"
PREFIX = "kf-"


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


def subnet_for(cidr, index):
    """The ``index``-th /30 of ``cidr``: (host address, container address, prefix length)."""
    network = ipaddress.ip_network(cidr, strict=True)
    if network.version != 4 or network.prefixlen > 30:
        raise NetworkError("network_cidr %s must be an IPv4 network of /30 or larger" % cidr)
    subnets = network.subnets(new_prefix=30)
    for position, subnet in enumerate(subnets):
        if position == index:
            hosts = list(subnet.hosts())
            return str(hosts[0]), str(hosts[1]), 30
    raise NetworkError("network_cidr %s has too few /30 subnets for %d handlers" % (cidr, index + 1))


class ProbeNetwork(object):
    """One namespace + veth pair; ``create`` then ``remove`` (safe to call twice)."""

    def __init__(self, module, name, host_address, container_address, prefix):
        self.module = module
        self.name = name
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        self.host_link = "kfh" + digest
        self.peer_link = "kfc" + digest
        self.host_address = host_address
        self.container_address = container_address
        self.prefix = prefix
        self.ip = module.get_bin_path("ip", required=False)

    @property
    def path(self):
        return os.path.join(NETNS_DIR, self.name)

    def _ip(self, *args):
        rc, out, err = self.module.run_command([self.ip] + list(args))
        if rc != 0:
            raise NetworkError("ip %s failed: %s" % (" ".join(args), (err or out).strip()))

    def create(self, timeout):
        if not self.ip:
            raise NetworkError("the ip command (iproute2) is not installed; it is needed to build the probe network")
        write_owner(self.name, timeout)
        try:
            self._ip("netns", "add", self.name)
            self._ip("link", "add", self.host_link, "type", "veth", "peer", "name", self.peer_link)
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
        remove_network(self.module, self.ip, self.name, self.host_link)


def remove_network(module, ip, name, host_link):
    """Delete the namespace (its eth0 goes with it), the host end if left, and the owner file."""
    if ip:
        module.run_command([ip, "netns", "delete", name])
        module.run_command([ip, "link", "delete", host_link])
    try:
        os.unlink(os.path.join(OWNER_DIR, name))
    except OSError:
        pass


def write_owner(name, timeout):
    if not os.path.isdir(OWNER_DIR):
        os.makedirs(OWNER_DIR, 0o700)
    pid = os.getpid()
    with open(os.path.join(OWNER_DIR, name), "w") as handle:
        handle.write("%d:%s %d\n" % (pid, process_start_ticks(pid), int(time.time() + timeout + 60)))


def is_orphan(name, now):
    """A kf- namespace is an orphan when its owner file is missing, expired or names a dead process."""
    try:
        with open(os.path.join(OWNER_DIR, name)) as handle:
            owner, _sep, expires = handle.read().strip().partition(" ")
    except (IOError, OSError):
        return True
    pid, _sep, ticks = owner.partition(":")
    if not expires.isdigit() or int(expires) < now or not pid.isdigit():
        return True
    return process_start_ticks(int(pid)) != ticks


def sweep(module, now=None):
    """Remove kf- network namespaces whose owner is gone; returns their names."""
    now = time.time() if now is None else now
    ip = module.get_bin_path("ip", required=False)
    if not ip or not os.path.isdir(NETNS_DIR):
        return []
    removed = []
    for name in sorted(os.listdir(NETNS_DIR)):
        if name.startswith(PREFIX) and is_orphan(name, now):
            remove_network(module, ip, name, "kfh" + hashlib.sha256(name.encode()).hexdigest()[:8])
            removed.append(name)
    return removed
