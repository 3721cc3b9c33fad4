"""The integration tests' harness: a containerd instance of their own, playbook runs, inventories.

The instance has its own socket, root, state and namespace, so the tests never
touch the host's containerd or its workloads, and exercise the
kata_fleet_containerd_address / _config inventory variables on the way.
"""

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import time


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STAND_INS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stand_ins")
NAMESPACE = "kata-fleet-test"
# What Containerd.leftovers() must show after every run, passed or failed.
NOTHING_LEFT = {"containers": [], "tasks": [], "snapshots": [], "shims": [], "netns": [], "links": [], "logs": [],
                "runsc": []}


class Containerd:
    """One containerd daemon with its own directories; stopped and removed by ``stop``.

    The fleet tests (tests/fleet) run one per simulated host: ``namespace`` is
    that host's containerd namespace, ``enter`` the argv prefix that runs a
    command inside the host's namespaces (nsenter ...), ``fs_root`` the
    path under which the host's own view of the file system is seen
    (/proc/<pid>/root), for its /run and /sys, and ``gvisor`` whether it gets
    the runsc handlers (where runsc is installed).
    """

    def __init__(self, base, namespace=NAMESPACE, enter=(), fs_root="", gvisor=True):
        self.base = base
        self.address = os.path.join(base, "containerd.sock")
        self.config = os.path.join(base, "config.toml")
        self.log = os.path.join(base, "containerd.log")
        self.namespace = namespace
        self.enter = list(enter)
        self.fs_root = fs_root
        # runsc handlers where runsc is installed (write_config); a fleet host may go without.
        self.gvisor = gvisor
        self.process = None

    def write_config(self):
        # 'hang' is a clearly labelled stand-in runtime: runc behind a wrapper that
        # never returns from `create`, to exercise the probe timeout for real.
        with open(self.config, "w") as handle:
            handle.write(textwrap.dedent("""\
                version = 2
                root = "{base}/root"
                state = "{base}/state"
                [grpc]
                  address = "{address}"
                [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
                  runtime_type = "io.containerd.runc.v2"
                [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hang]
                  runtime_type = "io.containerd.runc.v2"
                  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hang.options]
                    BinaryName = "{stand_ins}/runc-hang"
                """).format(base=self.base, address=self.address, stand_ins=STAND_INS))
            runsc = shutil.which("runsc") if self.gvisor else None
            if runsc:
                # gVisor, live: the runc shim runs runsc through a wrapper that adds its flags, as
                # roles/gvisor does where there is no runsc shim; host networking (in the probe's own
                # namespace) because this runsc refuses its netstack where every namespace shows
                # /proc/sys/net/core/rmem_default (docs/bootstrap.md).
                wrapper = os.path.join(self.base, "runsc-containerd")
                with open(wrapper, "w") as script:
                    script.write('#!/bin/sh\nexec %s --network=host "$@"\n' % shlex.quote(runsc))
                os.chmod(wrapper, 0o755)
                # 'runsc-netstack' is runsc with its defaults (gVisor's own netstack): where every namespace
                # shows rmem_default it cannot start in the HTTP probe's namespace and stays CREATED, which
                # the tests use to check that such a task is removed with all of its processes.
                handle.write(textwrap.dedent("""\
                    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc]
                      runtime_type = "io.containerd.runc.v2"
                      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc.options]
                        BinaryName = "{wrapper}"
                    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc-netstack]
                      runtime_type = "io.containerd.runc.v2"
                      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc-netstack.options]
                        BinaryName = "{runsc}"
                    """).format(wrapper=wrapper, runsc=runsc))

    def start(self):
        self.write_config()
        log = open(self.log, "w")
        self.process = subprocess.Popen(self.enter + ["containerd", "--config", self.config], stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if os.path.exists(self.address) and self.ctr("version").returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("test containerd did not answer within 30 s; log: %s" % open(self.log).read()[-2000:])

    def ctr(self, *args):
        return subprocess.run(["ctr", "--address", self.address, "--namespace", self.namespace] + list(args),
                              capture_output=True, text=True, timeout=60, check=False)

    def leftovers(self):
        """Everything of kata-fleet's that should not outlive a run."""
        containers = self.ctr("containers", "list", "--quiet").stdout.split()
        tasks = [line.split()[0] for line in self.ctr("tasks", "list").stdout.splitlines()[1:] if line.strip()]
        snapshots = [line.split()[0] for line in self.ctr("snapshots", "list").stdout.splitlines()[1:]
                     if line.split() and line.split()[0].startswith("kf-")]
        shims = subprocess.run(["pgrep", "-f", "containerd-shim.*-address %s" % self.address],
                               capture_output=True, text=True, check=False).stdout.split()
        netns = [name for name in self._listdir("/var/run/netns") if name.startswith("kf-")]
        links = [name for name in self._listdir("/sys/class/net") if name.startswith("kfh")]
        logs = self._listdir("/run/kata-fleet/logs")
        # gVisor: its sandbox/gofer processes and its state files under the runc shim's root.
        runsc_root = "/run/containerd/runc/%s" % self.namespace
        runsc = subprocess.run(["pgrep", "-f", "^runsc-(sandbox|gofer) --root=%s " % runsc_root],
                               capture_output=True, text=True, check=False).stdout.split()
        runsc += self._listdir(runsc_root)
        return {"containers": containers, "tasks": tasks, "snapshots": snapshots, "shims": shims,
                "netns": netns, "links": links, "logs": logs, "runsc": runsc}

    def _listdir(self, path):
        """The entries of ``path`` as the host sees it; none when it does not exist."""
        # Symlinks such as /var/run -> /run are resolved here: below /proc/<pid>/root an
        # absolute link target would be looked up in the caller's mount namespace.
        path = self.fs_root + os.path.realpath(path)
        return sorted(os.listdir(path)) if os.path.isdir(path) else []

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        subprocess.run(["pkill", "-9", "-f", "containerd-shim.*-address %s" % self.address], check=False)
        # Snapshot mounts of a crashed run would make rmtree fail; unmount what is left.
        with open("/proc/mounts") as mounts:
            for line in mounts:
                target = line.split()[1]
                if target.startswith(self.base):
                    subprocess.run(["umount", "-l", target], check=False)
        shutil.rmtree(self.base, ignore_errors=True)


class PlaybookRun:
    """A finished run (kata_fleet_runner.RunResult) and what the tests read from its output."""

    def __init__(self, result, evidence_dir):
        self.result = result
        self.status = result.status
        self.rc = result.rc
        self.stdout = result.stdout
        self.events = result.events
        self.evidence_dir = evidence_dir
        self.results = result.results

    def table_rows(self, host, runtime):
        """The cells of every printed table row for ``host`` and ``runtime`` (isolation, then performance)."""
        rows = []
        for line in self.stdout.splitlines():
            cells = [cell.strip() for cell in line.split(" | ")]
            if len(cells) > 2 and cells[0] == host and cells[1] == runtime:
                rows.append(cells)
        return rows

    def report(self):
        """report.json of the bundle this run wrote."""
        with open(os.path.join(self.evidence_dir, "latest", "report.json")) as handle:
            return json.load(handle)


def console_shows(cell, value):
    """True when a console table cell shows ``value``: whole, or cut to fit 100 columns (``6.18.44-fc~``).

    The console shortens the kernel, CPU model and interfaces first; report.md and report.csv carry them whole.
    """
    return cell == value or (cell.endswith("~") and len(cell) > 4 and value.startswith(cell[:-1]))


def local_inventory(containerd, **hostvars):
    """localhost, pointed at the tests' containerd instance.

    The workload benchmark (~5-10 s per handler) is off unless ``hostvars`` turn it on; the audit stays on.
    """
    variables = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "kata_fleet_containerd_address": containerd.address,
        "kata_fleet_containerd_config": containerd.config,
        "kata_fleet_containerd_namespace": NAMESPACE,
        "kata_fleet_workload": False,
    }
    variables.update(hostvars)
    return {"all": {"hosts": {"localhost": variables}}}
