"""A containerd instance a role test manages through playbooks/bootstrap.yml.

Everything of the instance lives under two directories of its own (/var/lib/<tag>,
/run/<tag>): config, socket, root, state, CNI conf dir, pid file, log, and for
the archive method the installed binaries and install markers too. The host's
own containerd is never touched; ``teardown`` stops the instance by its pid
file, kills its shims and removes its directories, whatever happened.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(REPO, "playbooks", "bootstrap.yml")
RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def _ansible_playbook():
    candidate = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return candidate if os.path.exists(candidate) else shutil.which("ansible-playbook")


def sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


class Instance:
    """A containerd instance the role manages; everything lives under two directories."""

    def __init__(self, tmp_dir, name="roletest"):
        tag = "kf-%s-%d" % (name, os.getpid())
        self.lib = os.path.join("/var/lib", tag)
        self.run_dir = os.path.join("/run", tag)
        self.address = os.path.join(self.run_dir, "containerd.sock")
        self.config = os.path.join(self.lib, "etc", "config.toml")
        self.pid_file = os.path.join(self.run_dir, "containerd.pid")
        self.log = os.path.join(self.lib, "containerd.log")
        self.tmp_dir = tmp_dir
        self.variables = {
            # The collection-wide inventory variables the role's defaults follow.
            "kata_fleet_containerd_address": self.address,
            "kata_fleet_containerd_config": self.config,
            "containerd_root": os.path.join(self.lib, "root"),
            "containerd_state": os.path.join(self.run_dir, "state"),
            "containerd_cni_conf_dir": os.path.join(self.lib, "cni", "net.d"),
            "containerd_pid_file": self.pid_file,
            "containerd_log_file": self.log,
            # Never let `auto` pick systemd on a systemd CI host: that would manage
            # the host's containerd.service instead of this instance.
            "containerd_service_manager": "daemon",
            "containerd_start_timeout": 10,
            # Markers of archive installs stay with the instance.
            "kata_fleet_marker_dir": os.path.join(self.lib, "markers"),
            # The containerd tests leave Kata, gVisor and nerdctl out; tests that want them say so.
            "kata_fleet_install_kata": False,
            "kata_fleet_install_gvisor": False,
            "kata_fleet_install_nerdctl": False,
            "kata_fleet_smoke_runtimes": ["runc"],
        }
        # An ansible.cfg of the test's own: only what the role needs, so that the
        # role is tested on its own (callbacks enabled in the repository's
        # ansible.cfg have their own tests).
        self.ansible_cfg = os.path.join(tmp_dir, "ansible.cfg")
        with open(self.ansible_cfg, "w") as handle:
            handle.write("[defaults]\ncollections_path = %s\ninterpreter_python = auto_silent\n"
                         "retry_files_enabled = false\nstdout_callback = default\n"
                         % os.path.join(REPO, "collections"))
        self.inventory = os.path.join(tmp_dir, "inventory.json")
        with open(self.inventory, "w") as handle:
            json.dump({"all": {"hosts": {"localhost": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
            }}}}, handle)
        self._runs = 0

    def playbook(self, *args, **extra_vars):
        """Run bootstrap.yml; returns (rc, output, changed or None)."""
        self._runs += 1
        variables = dict(self.variables, **extra_vars)
        vars_file = os.path.join(self.tmp_dir, "vars-%d.json" % self._runs)
        with open(vars_file, "w") as handle:
            json.dump(variables, handle)
        env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
        env.update({
            "ANSIBLE_CONFIG": self.ansible_cfg,
            "ANSIBLE_COLLECTIONS_PATH": os.path.join(REPO, "collections"),
            "ANSIBLE_NOCOLOR": "1",
            "PATH": os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
        })
        argv = [_ansible_playbook(), "-i", self.inventory, PLAYBOOK, "-e", "@" + vars_file] + list(args)
        proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
        output = proc.stdout + proc.stderr
        recap = RECAP.search(output)
        return proc.returncode, output, int(recap.group(2)) if recap else None

    def ctr(self, *args, **kwargs):
        return subprocess.run(["ctr", "--address", self.address, "--connect-timeout", "2s"] + list(args),
                              capture_output=True, text=True, timeout=kwargs.get("timeout", 60), check=False)

    def answers(self):
        return self.ctr("version").returncode == 0

    def pid(self):
        with open(self.pid_file) as handle:
            return int(handle.read().strip())

    def running_pid(self):
        """The pid from the pid file if that process is alive and is containerd, else None."""
        try:
            pid = self.pid()
            return pid if os.path.realpath("/proc/%d/exe" % pid).endswith("/containerd") else None
        except (OSError, ValueError):
            return None

    def teardown(self):
        subprocess.run(["start-stop-daemon", "--stop", "--oknodo", "--pidfile", self.pid_file,
                        "--exec", self.variables.get("containerd_binary") or shutil.which("containerd"), "--retry", "TERM/10/KILL/5", "--remove-pidfile"],
                       capture_output=True, check=False)
        # Shims of this instance only: their command line names this instance's socket.
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as handle:
                    cmdline = handle.read().split(b"\0")
            except OSError:
                continue
            if cmdline and b"containerd-shim" in cmdline[0] and self.address.encode() in cmdline:
                try:
                    os.kill(int(entry), 9)
                except OSError:
                    pass
        with open("/proc/mounts") as mounts:
            targets = [line.split()[1] for line in mounts]
        for target in sorted(targets, reverse=True):
            if target.startswith((self.lib + "/", self.run_dir + "/")):
                subprocess.run(["umount", "-l", target], capture_output=True, check=False)
        shutil.rmtree(self.lib, ignore_errors=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)
