"""The fleet tests' harness: simulated hosts reached over real SSH, each with its own containerd.

Every simulated host is a set of Linux namespaces the harness creates and owns:

- a network namespace holding ``eth0``, one end of a veth pair whose other end
  (``kff<tag><n>``) sits in the root namespace; each pair gets a /30 from the
  RFC 2544 benchmarking range 198.18.0.0/15, which is never routed;
- a mount namespace (private propagation) with its own tmpfs on /run (so its
  /run/netns, /run/kata-fleet and /run/containerd are its own, as on a real
  machine), its own sysfs (its /sys/class/net shows its own links, the cgroup
  mounts are carried over for runc), and its own /root (the SSH user's home,
  where Ansible puts its remote temporary files);
- a UTS namespace with its own host name.

A ``sleep infinity`` process holds the namespaces; everything else enters them
with nsenter: the host's sshd (Debian's openssh-server with a config, host key
and authorized key of the harness, nothing under /etc/ssh is read or changed)
and its containerd (tests/integration/harness.Containerd with its own socket,
root, state and config, in the host's own containerd namespace).  The process
id namespace is shared, so the modules' owner labels (pid:start time) mean the
same from everywhere.

The controller (ansible-playbook, in the root namespaces) reaches each host
over SSH at its veth address, checking the host key against a known_hosts file
the harness writes (HostKeyAlias = the inventory name).  A slow link puts
``tc qdisc netem`` delay on a host's veth pair where the kernel has netem, and
otherwise relays the host's SSH connection through a user-space relay that
holds every chunk for the delay in each direction (``DelayRelay``).

``Fleet.stop`` removes everything, also after a failed test: the SSH sessions,
sshd, the shims with what runs below them, containerd, every process left in
the host's namespaces, the holder (the namespaces, the veth pairs and their
qdiscs go with it), the SSH control masters of the runs, and the temp folder.
"""

import asyncio
import fcntl
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))  # the checkout: kata_fleet_runner
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "collections"))  # its FQCN imports

from harness import NOTHING_LEFT, REPO, Containerd  # noqa: E402  pylint: disable=wrong-import-position
# The process table the modules use to find and kill process trees.
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._linux import (  # noqa: E402  pylint: disable=wrong-import-position
    descendants, process_table)

PLAYBOOK = os.path.join(REPO, "playbooks", "verify.yml")
VENV_BIN = os.path.dirname(sys.executable)
SSHD = "/usr/sbin/sshd"
# The targets' own Python, as on a real host (the controller runs the venv's).
REMOTE_PYTHON = "/usr/bin/python3"
ADDRESS_POOL = ipaddress.ip_network("198.18.0.0/15")
ALLOCATION_LOCK = "/run/lock/kf-fleet-addresses.lock"
# What a fleet host must show after every run: Containerd.leftovers(), no Ansible remote temp folder in its
# home, and no process in its namespaces besides its containerd and sshd (with the SSH sessions).
FLEET_NOTHING_LEFT = dict(NOTHING_LEFT, ansible_tmp=[], processes=[])
# Fewer counted runs where a test is about a fault, not about the figures.
FAST = {"kata_fleet_startup_runs": 2, "kata_fleet_startup_warmup": 1, "kata_fleet_http_requests": 10}
# The one simulated host whose containerd also has the runsc (gVisor) handlers, where runsc is installed.
GVISOR_HOST = "h1"


def run(argv, check=True, timeout=60):
    """Run ``argv`` (never a shell); raise with its output when it fails and ``check`` is set."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise RuntimeError("%s failed (rc=%d): %s" % (" ".join(argv), result.returncode,
                                                      (result.stderr or result.stdout).strip()))
    return result


def kill(pids):
    """SIGKILL each of ``pids``, children first; gone ones are fine."""
    for pid in reversed(list(pids)):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def alive(pid):
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def namespace_of(pid, kind):
    try:
        return os.readlink("/proc/%d/ns/%s" % (pid, kind))
    except OSError:
        return None


def wait_for(predicate, timeout, interval=0.05, what="condition"):
    """Poll ``predicate`` until it returns something true; that value, or RuntimeError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError("%s not reached within %.0f s" % (what, timeout))
        time.sleep(interval)


def wait_until_quiet(fleet, timeout=30):
    """Wait until no module process of an earlier run is still running on any host."""
    deadline = time.monotonic() + timeout
    while any(host.module_processes() for host in fleet.hosts):
        if time.monotonic() > deadline:
            raise AssertionError("module processes still running: %s" % dict(
                (host.name, host.module_processes()) for host in fleet.hosts))
        time.sleep(0.2)


def table_rows(stdout, host, runtime):
    """The cells of every printed table row for ``host`` and ``runtime`` (isolation, then performance)."""
    rows = []
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.split(" | ")]
        if len(cells) > 2 and cells[0] == host and cells[1] == runtime:
            rows.append(cells)
    return rows


class DelayRelay:
    """A TCP relay that holds every chunk for ``delay`` seconds in each direction (a slow link in user space).

    Used where the kernel has no netem qdisc.  Bytes keep their order; the
    delay applies per direction, so an SSH round trip costs 2 x ``delay`` more.
    TCP's own acknowledgements are not delayed (the relay ends each TCP
    connection), so bandwidth-delay effects of a long link are not modelled.
    """

    def __init__(self, listen_address, target, delay):
        self.listen_address = listen_address
        self.target = target
        self.delay = delay
        self.port = None
        self.connections = 0
        self.chunks = 0
        self._loop = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="delay-relay", daemon=True)
        self._error = None

    def start(self):
        self._thread.start()
        if not self._ready.wait(10) or self._error:
            raise RuntimeError("the delay relay did not start: %s" % self._error)
        return self

    def _serve(self):
        loop = self._loop = asyncio.new_event_loop()
        try:
            server = loop.run_until_complete(asyncio.start_server(self._client, self.listen_address, 0))
        except OSError as error:
            self._error = error
            self._ready.set()
            loop.close()
            return
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

    async def _client(self, reader, writer):
        self.connections += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer),
                             return_exceptions=True)

    async def _pipe(self, reader, writer):
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()

        async def pump():
            while True:
                try:
                    data = await reader.read(65536)
                except OSError:
                    data = b""
                queue.put_nowait((loop.time() + self.delay, data))
                if not data:
                    return

        async def deliver():
            try:
                while True:
                    due, data = await queue.get()
                    await asyncio.sleep(max(0.0, due - loop.time()))
                    if not data:
                        if writer.can_write_eof():
                            writer.write_eof()
                        return
                    self.chunks += 1
                    writer.write(data)
                    await writer.drain()
            except OSError:
                writer.close()

        await asyncio.gather(pump(), deliver(), return_exceptions=True)

    def stop(self):
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


class FleetHost:
    """One simulated host: namespaces, veth pair, containerd, sshd."""

    def __init__(self, fleet, index, root_address, host_address, prefix):
        self.fleet = fleet
        self.index = index
        self.name = "h%d" % index
        self.base = os.path.join(fleet.base, self.name)
        self.root_address = str(root_address)
        self.address = str(host_address)
        self.prefix = prefix
        self.root_link = "kff%s%d" % (fleet.tag, index)
        self.holder = None
        self.sshd = None
        self.containerd = None
        # More containerd instances of this host (add_containerd): they share its /run, as on a real machine.
        self.extra_containerds = []
        self.relay = None
        self.netem = False
        self.host_key = os.path.join(self.base, "ssh_host_ed25519_key")
        self.sshd_config = os.path.join(self.base, "sshd_config")
        self.sshd_log = os.path.join(self.base, "sshd.log")

    # -- the namespaces ------------------------------------------------------
    @property
    def enter(self):
        """argv prefix: run a command inside this host's namespaces."""
        return ["nsenter", "--target", str(self.holder.pid), "--mount", "--net", "--uts", "--"]

    @property
    def fs_root(self):
        """This host's file system as seen from the root mount namespace."""
        return "/proc/%d/root" % self.holder.pid

    def in_host(self, *argv, **kwargs):
        return run(self.enter + list(argv), **kwargs)

    def start(self):
        os.makedirs(os.path.join(self.base, "home"))
        os.makedirs(os.path.join(self.base, "cgroup"))
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--mount", "--uts", "--propagation", "private", "sleep", "infinity"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        own = namespace_of(os.getpid(), "net")
        wait_for(lambda: self.holder.poll() is None and namespace_of(self.holder.pid, "net") not in (None, own),
                 10, what="the namespaces of %s" % self.name)
        self.in_host("hostname", "fleet-" + self.name)
        # Its own sysfs shows its own network devices; runc needs the cgroup mounts kept below it.
        self.in_host("mount", "--rbind", "/sys/fs/cgroup", os.path.join(self.base, "cgroup"))
        self.in_host("mount", "-t", "sysfs", "sysfs", "/sys")
        self.in_host("mount", "--move", os.path.join(self.base, "cgroup"), "/sys/fs/cgroup")
        self.in_host("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run")
        self.in_host("mkdir", "-m", "0755", "/run/sshd")
        self.in_host("touch", "/run/utmp")  # sshd records logins there
        self.in_host("mount", "--bind", os.path.join(self.base, "home"), "/root")
        self.in_host("ip", "link", "set", "lo", "up")
        run(["ip", "link", "add", self.root_link, "type", "veth", "peer", "name", "eth0", "netns",
             str(self.holder.pid)])
        run(["ip", "addr", "add", "%s/%d" % (self.root_address, self.prefix), "dev", self.root_link])
        run(["ip", "link", "set", self.root_link, "up"])
        self.in_host("ip", "addr", "add", "%s/%d" % (self.address, self.prefix), "dev", "eth0")
        self.in_host("ip", "link", "set", "eth0", "up")
        self.start_containerd()
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", self.name, "-f", self.host_key])
        self.write_sshd_config()
        self.start_sshd()

    # -- containerd ------------------------------------------------------------
    def start_containerd(self):
        """A containerd of this host's own (a new one after ``stop_containerd``: empty root and state)."""
        self.containerd = Containerd(os.path.join(self.base, "containerd"), namespace="kf-fleet-" + self.name,
                                     enter=self.enter, fs_root=self.fs_root, gvisor=self.name == GVISOR_HOST)
        os.makedirs(self.containerd.base)
        self.containerd.start()

    def stop_containerd(self):
        """containerd stops (its socket, root and state go with it); the shims and what runs below them too."""
        if self.containerd is None:
            return
        self._stop_instance(self.containerd)

    @staticmethod
    def _stop_instance(containerd):
        # What runs below a shim (a container's processes, a hung runtime) does not die with it.
        table = process_table()
        for pid, (_ppid, argv) in table.items():
            if argv and "containerd-shim" in argv[0] and containerd.address in argv:
                kill(descendants(pid, table))
        containerd.stop()

    def add_containerd(self, suffix):
        """A further containerd instance on this host: its own socket, root and state, the same namespace and /run."""
        instance = Containerd(os.path.join(self.base, "containerd-" + suffix), namespace=self.containerd.namespace,
                              enter=self.enter, fs_root=self.fs_root)
        os.makedirs(instance.base)
        self.extra_containerds.append(instance)
        instance.start()
        return instance

    def remove_containerd(self, instance):
        self._stop_instance(instance)
        self.extra_containerds.remove(instance)

    def stop_extra_containerds(self):
        for instance in list(self.extra_containerds):
            self.remove_containerd(instance)

    # -- sshd ----------------------------------------------------------------
    def write_sshd_config(self):
        with open(self.sshd_config, "w") as handle:
            handle.write(textwrap.dedent("""\
                # sshd of simulated fleet host {name} (tests/fleet); nothing under /etc/ssh is read.
                ListenAddress {address}:22
                HostKey {host_key}
                PidFile {base}/sshd.pid
                AuthorizedKeysFile {authorized_keys}
                PermitRootLogin prohibit-password
                PubkeyAuthentication yes
                PasswordAuthentication no
                KbdInteractiveAuthentication no
                UsePAM no
                StrictModes no
                MaxStartups 100
                MaxSessions 100
                Subsystem sftp internal-sftp
                LogLevel INFO
                """).format(name=self.name, address=self.address, host_key=self.host_key, base=self.base,
                            authorized_keys=self.fleet.authorized_keys))

    def start_sshd(self):
        log = open(self.sshd_log, "a")
        self.sshd = subprocess.Popen(self.enter + [SSHD, "-D", "-e", "-f", self.sshd_config],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        wait_for(self._banner, 15, 0.05, "sshd of %s answering at %s:22 (log %s)" % (
            self.name, self.address, self.sshd_log))

    def _banner(self):
        if self.sshd.poll() is not None:
            raise RuntimeError("sshd of %s exited (rc=%s): %s" % (self.name, self.sshd.returncode,
                                                                  open(self.sshd_log).read()[-2000:]))
        try:
            with socket.create_connection((self.address, 22), timeout=2) as conn:
                return conn.recv(64).startswith(b"SSH-2.0-")
        except OSError:
            return False

    def ssh_logins(self):
        """The source addresses of every login this host's sshd accepted, from its log, oldest first."""
        with open(self.sshd_log) as handle:
            return re.findall(r"Accepted publickey for root from (\S+) port", handle.read())

    def session_processes(self):
        """The processes of the SSH sessions: everything below the listening sshd."""
        return descendants(self.sshd.pid)[1:] if self.sshd and self.sshd.poll() is None else []

    def stop_sshd(self):
        """The host becomes unreachable: sshd and its sessions end."""
        if self.sshd is None:
            return
        kill(self.session_processes())
        if self.sshd.poll() is None:
            self.sshd.kill()
        self.sshd.wait()
        self.sshd = None

    # -- the link ------------------------------------------------------------
    def slow_link(self, delay):
        """Delay everything between the controller and this host by ``delay`` seconds each way."""
        millis = "%dms" % round(delay * 1000)
        added = run(["tc", "qdisc", "add", "dev", self.root_link, "root", "netem", "delay", millis], check=False)
        if added.returncode == 0:
            self.netem = True
            self.in_host("tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", millis)
            return
        if "unknown" not in added.stderr.lower():
            raise RuntimeError("tc qdisc add ... netem failed: %s" % added.stderr.strip())
        # This kernel has no netem (sch_netem): relay the SSH connections through a delaying relay instead.
        self.relay = DelayRelay(self.root_address, (self.address, 22), delay).start()

    def fast_link(self):
        if self.netem:
            run(["tc", "qdisc", "del", "dev", self.root_link, "root"], check=False)
            self.in_host("tc", "qdisc", "del", "dev", "eth0", "root", check=False)
            self.netem = False
        if self.relay is not None:
            self.relay.stop()
            self.relay = None

    @property
    def ssh_endpoint(self):
        """(address, port) the controller connects to."""
        if self.relay is not None:
            return self.root_address, self.relay.port
        return self.address, 22

    # -- what is left ----------------------------------------------------------
    def host_processes(self):
        """Pids in this host's mount or network namespace, the holder excepted."""
        mnt, net = namespace_of(self.holder.pid, "mnt"), namespace_of(self.holder.pid, "net")
        return [pid for pid in process_table() if pid != self.holder.pid
                and (namespace_of(pid, "mnt") == mnt or namespace_of(pid, "net") == net)]

    def stray_processes(self):
        """Processes in this host's namespaces besides its containerd, its sshd and the SSH sessions: "pid argv"."""
        table = process_table()
        expected = {self.holder.pid}
        for instance in [self.containerd] + self.extra_containerds:
            if instance and instance.process:
                expected.add(instance.process.pid)
        if self.sshd and self.sshd.poll() is None:
            expected.update(descendants(self.sshd.pid, table))
        mnt, net = namespace_of(self.holder.pid, "mnt"), namespace_of(self.holder.pid, "net")
        return ["%d %s" % (pid, " ".join(argv)) for pid, (_ppid, argv) in sorted(table.items())
                if pid not in expected and (namespace_of(pid, "mnt") == mnt or namespace_of(pid, "net") == net)]

    def leftovers(self):
        """Containerd.leftovers() inside this host, Ansible's remote temp folders in its home, stray processes."""
        found = self.containerd.leftovers()
        found["ansible_tmp"] = self.containerd._listdir("/root/.ansible/tmp")  # pylint: disable=protected-access
        found["processes"] = self.stray_processes()
        return found

    def module_processes(self):
        """The Ansible module processes on this host now, also those whose SSH session has ended."""
        table = process_table()
        found = []
        for pid in self.host_processes():
            argv = table.get(pid, (0, []))[1]
            # Without pipelining: python3 .../AnsiballZ_<module>.py; with it: python3 reading the module on stdin.
            if argv and (argv[0] == REMOTE_PYTHON or any("AnsiballZ_" in arg for arg in argv)):
                found.append(pid)
        return found

    # -- teardown --------------------------------------------------------------
    def stop(self):
        errors = []
        for step in (self.fast_link, self.stop_sshd, self.stop_extra_containerds, self.stop_containerd,
                     self._stop_namespaces):
            try:
                step()
            except Exception as error:  # pylint: disable=broad-except  # tear down the rest, then report
                errors.append("%s: %s: %s" % (self.name, step.__name__, error))
        return errors

    def _stop_namespaces(self):
        if self.holder is None:
            return
        if self.holder.poll() is None:
            kill(self.host_processes())
            self.holder.kill()
        self.holder.wait()
        # The namespaces end with their last process; the veth pair (and any qdisc) with them.
        wait_for(lambda: not os.path.exists("/sys/class/net/%s" % self.root_link), 10,
                 what="veth %s gone" % self.root_link)


class Fleet:
    """``size`` simulated hosts, an SSH client key and known_hosts for them; ``stop`` removes everything."""

    def __init__(self, size):
        if not 1 <= size <= 60:
            raise ValueError("a fleet has 1 to 60 hosts")
        self.size = size
        self.base = tempfile.mkdtemp(prefix="kf-fleet-", dir="/tmp")
        self.tag = os.path.basename(self.base)[-4:].lower().replace("_", "x")
        self.hosts = []
        self.ssh_dir = os.path.join(self.base, "ssh")
        self.client_key = os.path.join(self.ssh_dir, "id_ed25519")
        self.authorized_keys = os.path.join(self.ssh_dir, "authorized_keys")
        self.known_hosts = os.path.join(self.ssh_dir, "known_hosts")
        self.control_path_dir = os.path.join(self.base, "cp")

    def start(self):
        os.makedirs(self.ssh_dir, 0o700)
        os.makedirs(self.control_path_dir, 0o700)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kata-fleet-tests", "-f", self.client_key])
        shutil.copy(self.client_key + ".pub", self.authorized_keys)
        with self._address_lock():
            block = self._free_block()
            subnets = list(block.subnets(new_prefix=30))
            for index in range(1, self.size + 1):
                root_address, host_address = list(subnets[index].hosts())
                host = FleetHost(self, index, root_address, host_address, 30)
                self.hosts.append(host)
                host.start()
        with open(self.known_hosts, "w") as handle:
            for host in self.hosts:
                with open(host.host_key + ".pub") as key:
                    kind, blob = key.read().split()[:2]
                handle.write("fleet-%s %s %s\n" % (host.name, kind, blob))
        return self

    @staticmethod
    def _address_lock():
        class Lock:
            def __enter__(self):
                self.handle = open(ALLOCATION_LOCK, "a")
                fcntl.flock(self.handle, fcntl.LOCK_EX)

            def __exit__(self, *exc):
                fcntl.flock(self.handle, fcntl.LOCK_UN)
                self.handle.close()
        return Lock()

    @staticmethod
    def _free_block():
        """A /24 of the benchmarking range that no address of this machine falls in or overlaps."""
        used = []
        for line in run(["ip", "-o", "-4", "addr", "show"]).stdout.splitlines():
            fields = line.split()
            if "inet" in fields:
                used.append(ipaddress.ip_interface(fields[fields.index("inet") + 1]).network)
        for block in ADDRESS_POOL.subnets(new_prefix=24):
            if not any(block.overlaps(network) for network in used):
                return block
        raise RuntimeError("no free /24 left in %s" % ADDRESS_POOL)

    def host(self, name):
        return next(host for host in self.hosts if host.name == name)

    # -- inventories and runs ----------------------------------------------------
    def hostvars(self, host, containerd=None):
        """Connection and containerd variables of ``host`` (its first containerd unless ``containerd`` is given)."""
        containerd = containerd or host.containerd
        address, port = host.ssh_endpoint
        return {
            "ansible_connection": "ssh",
            "ansible_host": address,
            "ansible_port": port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": self.client_key,
            "ansible_ssh_common_args": " ".join([
                "-F /dev/null", "-o IdentitiesOnly=yes", "-o StrictHostKeyChecking=yes",
                "-o UserKnownHostsFile=%s" % self.known_hosts, "-o GlobalKnownHostsFile=/dev/null",
                "-o HostKeyAlias=fleet-%s" % host.name]),
            "ansible_python_interpreter": REMOTE_PYTHON,
            "kata_fleet_containerd_address": containerd.address,
            "kata_fleet_containerd_namespace": containerd.namespace,
            "kata_fleet_containerd_config": containerd.config,
        }

    def inventory(self, hosts=None, hostvars=None, **groupvars):
        """An inventory of ``hosts`` (default all); ``hostvars`` {name: {var: value}} on top; group vars."""
        chosen = self.hosts if hosts is None else [self.host(name) for name in hosts]
        # The workload benchmark costs ~5-10 s per handler: off unless a test turns it on (audit stays: cheap).
        inventory = {"all": {"vars": dict({"kata_fleet_runtimes": ["runc"], "kata_fleet_workload": False}, **groupvars),
                             "hosts": {}}}
        for host in chosen:
            variables = self.hostvars(host)
            variables.update((hostvars or {}).get(host.name, {}))
            inventory["all"]["hosts"][host.name] = variables
        return inventory

    def envvars(self, **extra):
        """What a run against this fleet needs in its environment besides the entry point's own settings.

        The SSH control masters (ControlPersist) get a folder of the fleet's, so
        teardown can find and end them.
        """
        env = {"ANSIBLE_SSH_CONTROL_PATH_DIR": self.control_path_dir}
        env.update(extra)
        return env

    def leftovers(self):
        return dict((host.name, host.leftovers()) for host in self.hosts)

    def nothing_left(self):
        return dict((host.name, FLEET_NOTHING_LEFT) for host in self.hosts)

    def control_masters(self):
        """The SSH ControlPersist masters of the runs against this fleet (controller side)."""
        # A master renames itself "ssh: <control path> [mux]".
        return [pid for pid, (_ppid, argv) in process_table().items()
                if argv and argv[0].startswith("ssh") and any(self.control_path_dir in arg for arg in argv)]

    def close_connections(self):
        """End the SSH control masters, so the next run logs in afresh."""
        masters = self.control_masters()
        kill(masters)
        wait_for(lambda: not any(os.path.exists("/proc/%d" % pid) for pid in masters), 10, what="control masters gone")

    def stop(self):
        errors = []
        kill(self.control_masters())
        for host in reversed(self.hosts):
            errors += host.stop()
        shutil.rmtree(self.base, ignore_errors=True)
        return errors


def controller_command(fleet, inventory_path, workdir, forks):
    """argv and environment of a bare ``ansible-playbook verify.yml`` against the fleet (no ansible-runner)."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
               KATA_FLEET_EVIDENCE_DIR=os.path.join(workdir, "evidence"), **fleet.envvars())
    return [os.path.join(VENV_BIN, "ansible-playbook"), "-i", inventory_path, "--forks", str(forks), PLAYBOOK], env


def kill_controller(fleet, controller):
    """SIGKILL a controller as if its machine died; returns the pids killed.

    That is ansible-playbook, every process below it (its forks put themselves
    in process groups of their own, so a process group kill misses them, and a
    surviving fork goes on to clean up over a new connection) and the SSH control
    masters (they detach from it).  The tree is frozen with SIGSTOP first, so
    nothing in it can start a new process while it is being killed.
    """
    frozen = []
    while True:
        table = process_table()
        found = descendants(controller.pid, table) + fleet.control_masters()
        new = [pid for pid in found if pid not in frozen]
        if not new:
            break
        for pid in new:
            try:
                os.kill(pid, signal.SIGSTOP)
            except OSError:
                pass
        frozen.extend(new)
    for pid in frozen:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    controller.wait()
    wait_for(lambda: not any(alive(pid) for pid in frozen), 10, what="the killed controller's processes gone")
    return frozen


def run_verify(fleet, inventory, workdir, forks=None, extravars=None, envvars=None, timeout=600, limit=None):
    """playbooks/verify.yml over ``inventory`` through the entry point kata_fleet_runner.

    Returns its RunResult, with ``seconds`` (wall time of the run) and ``table_rows(host, runtime)`` added.
    """
    import kata_fleet_runner  # pylint: disable=import-outside-toplevel

    started = time.monotonic()
    result = kata_fleet_runner.run_playbook(
        "verify", inventory, private_data_dir=os.path.join(workdir, "runner"),
        evidence_dir=os.path.join(workdir, "evidence"), extravars=extravars, forks=forks, limit=limit,
        envvars=fleet.envvars(**(envvars or {})), timeout=timeout)
    result.seconds = time.monotonic() - started
    result.table_rows = lambda host, runtime: table_rows(result.stdout, host, runtime)
    return result
