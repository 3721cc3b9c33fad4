"""bootstrap.yml and verify.yml on a real systemd node: a Debian 12 and a Debian 13 VM (tests/node/node_image.py) over SSH.

The node is reached as the non-root user kf, which becomes root with sudo
(bootstrap.yml's ``become: true``; verify.yml through ``ansible_become``), with
pipelining and ControlPersist. The packages come from the image's local apt
repository (its only apt source), so the package path really runs apt.

The tests run in file order and build on each other, like a node's life: first
bootstrap, a configuration change, a change containerd refuses, a change that
does not start, the converged run, verify, then the switch to the upstream
release archives with their containerd.service. Under TCG every Ansible task
costs seconds, so the later bootstrap runs select ``--tags containerd``.
Every scenario runs on each suite (bookworm, trixie: the ``suite`` fixture)
and names the smallest scenario set it belongs to (node_selection.py:
core, lean, full), which KF_NODE_SUITES selects per suite.

Nothing here assumes one Debian release: the kernel is the guest's own (the one
the image was built with, of the suite's kernel series), Debian's unit is
whatever path systemd loaded it from as long as the containerd package owns it
(bookworm: /lib/systemd/system, trixie: /usr/lib/systemd/system).
"""

import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import NODE
from harness import console_shows

CONFIG = "/etc/containerd/config.toml"
DROPIN = "/etc/systemd/system/containerd.service.d/10-kata-fleet-config.conf"
BASE = {
    # No network at run time: Kata and nerdctl come from GitHub; their own tests use mirrors.
    "kata_fleet_install_kata": False,
    "kata_fleet_install_nerdctl": False,
    "kata_fleet_smoke_runtimes": ["runc"],
}
CHANGED = dict(BASE, containerd_config_extra={"debug": {"level": "warn"}})


def unit(node, *properties):
    """``systemctl show containerd.service`` properties as a dict."""
    shown = node.ssh("systemctl", "show", "containerd.service", "--property=" + ",".join(properties))
    assert shown.returncode == 0, shown.stderr
    return dict(line.split("=", 1) for line in shown.stdout.splitlines() if "=" in line)


def systemctl(node, verb):
    return node.ssh("systemctl", verb, "containerd.service").stdout.strip()


def config_sha(node):
    shown = node.ssh("sudo", "sha256sum", CONFIG)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.split()[0]


def main_pid(node):
    return int(unit(node, "MainPID")["MainPID"])


def assert_running(node):
    assert systemctl(node, "is-enabled") == "enabled"
    assert systemctl(node, "is-active") == "active"
    answer = node.ssh("sudo", "ctr", "version")
    assert answer.returncode == 0, answer.stderr


# The scenario sets (node_selection.py); KF_NODE_SUITES picks one per suite. Under TCG each playbook
# run costs minutes: CI (.ci/run) runs bookworm's lean set and trixie's core set; `make node-test` all.
CORE = pytest.mark.node_scenarios("core")
LEAN = pytest.mark.node_scenarios("lean")
FULL = pytest.mark.node_scenarios("full")

# Debian's kernel series of each suite (linux-image-amd64): bookworm 6.1.0-<abi>, trixie 6.12.<n>+deb13.
KERNEL_SERIES = {
    "bookworm": r"\A6\.1\.0-[0-9]+-amd64\Z",
    "trixie": r"\A6\.12\.[0-9]+\+deb13(\.[0-9]+)?-amd64\Z",
}
UNIT_DIRS = ("/lib/systemd/system", "/usr/lib/systemd/system")


@pytest.fixture(scope="module")
def kernel(node):
    """The kernel the node runs: the one its image was built with, of its suite's series, not the controller's."""
    release = node.ssh("uname", "-r").stdout.strip()
    assert release == node.image.kernel_release, (release, node.image.build)
    assert re.match(KERNEL_SERIES[node.image.suite], release), release
    assert release != os.uname().release
    return release


def packaged_unit(node, path):
    """``path`` is a unit file of Debian's containerd package (dpkg owns it) in a vendor unit folder."""
    assert os.path.dirname(path) in UNIT_DIRS and os.path.basename(path) == "containerd.service", path
    owner = node.ssh("dpkg-query", "--search", path)
    assert owner.returncode == 0, (path, owner.stderr)
    assert owner.stdout.split(":", 1)[0] == "containerd", owner.stdout


@FULL
def test_fresh_node_check_mode_changes_nothing(node, playbook):
    assert node.ssh("systemctl", "is-system-running", "--wait").stdout.strip() in ("running", "degraded")
    assert node.ssh("dpkg-query", "-W", "containerd").returncode != 0, "containerd is preinstalled in the image"
    # The image's package index knows the local repository (apt does not refresh it in check mode).
    run = playbook("bootstrap", "bootstrap: --check on the fresh node", BASE, check=True)
    assert run.status == "successful", run.stdout
    assert run.changed and run.changed > 0
    assert node.ssh("dpkg-query", "-W", "containerd").returncode != 0
    assert node.ssh("test", "-e", CONFIG).returncode != 0
    assert node.ssh("test", "-e", DROPIN).returncode != 0


@CORE
def test_first_bootstrap_installs_enables_and_starts_containerd_under_systemd(node, playbook, kernel):
    # A freshly built image: an empty package index whose timestamp is now (as after an image
    # build's `rm -rf /var/lib/apt/lists/*`), whatever the cached image's age. apt's
    # cache_valid_time took that for a fresh index ("No package matching 'busybox-static'").
    wiped = node.ssh("sudo", "sh", "-c", "rm -rf /var/lib/apt/lists/* && mkdir -p /var/lib/apt/lists/partial")
    assert wiped.returncode == 0, wiped.stderr
    run = playbook("bootstrap", "bootstrap: first run", BASE)
    assert run.status == "successful", run.stdout
    assert run.changed and run.changed > 0
    # Installed by apt from the image's local repository, the node's only apt source.
    policy = node.ssh("apt-cache", "policy", "containerd", "runc", "containernetworking-plugins").stdout
    assert policy.count("Installed: (none)") == 0 and policy.count("file:/var/local/kf-repo") >= 3, policy
    assert_running(node)
    shown = unit(node, "DropInPaths", "ExecStart", "FragmentPath", "Type")
    assert DROPIN in shown["DropInPaths"].split()
    packaged_unit(node, shown["FragmentPath"])  # Debian's own unit, where this suite keeps it
    assert "argv[]=/usr/bin/containerd --config %s " % CONFIG in shown["ExecStart"], shown["ExecStart"]
    assert shown["Type"] == "notify"
    with_config = node.ssh("sudo", "cat", "/proc/%d/cmdline" % main_pid(node)).stdout.split("\0")
    assert with_config[:3] == ["/usr/bin/containerd", "--config", CONFIG], with_config
    # The smoke check: a runc container printed the node's kernel, not the controller's.
    assert "runc: uname -r = %s" % kernel in run.stdout
    assert kernel != os.uname().release


@LEAN
def test_changed_configuration_is_restarted_by_the_handler(node, playbook):
    pid, before = main_pid(node), config_sha(node)
    run = playbook("bootstrap", "bootstrap: changed config (--tags containerd)", CHANGED, tags="containerd")
    assert run.status == "successful", run.stdout
    assert run.changed and run.changed > 0
    assert "RUNNING HANDLER [kata_fleet.runtimes.containerd : Restart containerd and roll the configuration" in run.stdout
    assert config_sha(node) != before
    assert 'level = "warn"' in node.ssh("sudo", "cat", CONFIG).stdout
    assert_running(node)
    assert main_pid(node) != pid, "containerd was not restarted"


@FULL
def test_configuration_containerd_refuses_is_not_written(node, playbook):
    pid, before = main_pid(node), config_sha(node)
    # TOML-valid, wrong type: containerd's own `config dump` on the node refuses it.
    run = playbook("bootstrap", "bootstrap: refused config (--tags containerd)",
                   dict(BASE, containerd_config_extra={"plugins": {"io.containerd.grpc.v1.cri": {"sandbox_image": 3}}}),
                   tags="containerd")
    assert run.status == "failed"
    assert "containerd refused the rendered configuration" in run.stdout and "was NOT changed" in run.stdout
    assert "Can't convert 3(int64) to string" in run.stdout, run.stdout
    assert config_sha(node) == before
    assert main_pid(node) == pid
    assert_running(node)


@LEAN
def test_configuration_that_does_not_start_is_rolled_back_through_systemd(node, playbook):
    pid, before = main_pid(node), config_sha(node)
    # Passes `config dump`, but containerd exits at start: systemctl restart fails.
    run = playbook("bootstrap", "bootstrap: config that does not start (--tags containerd)",
                   dict(CHANGED, containerd_config_extra={"debug": {"level": "bogus"}}), tags="containerd")
    assert run.status == "failed"
    assert "ROLLED BACK" in run.stdout, run.stdout
    assert "journalctl -u containerd.service" in run.stdout
    assert config_sha(node) == before
    assert_running(node)
    assert main_pid(node) != pid, "containerd was not restarted with the previous configuration"
    journal = node.ssh("sudo", "journalctl", "--no-pager", "-u", "containerd.service", "-o", "cat").stdout
    assert 'not a valid logrus Level: "bogus"' in journal, journal[-3000:]


@LEAN
def test_converged_node_second_run_changes_nothing(node, playbook):
    pid = main_pid(node)
    run = playbook("bootstrap", "bootstrap: second run (--tags containerd)", CHANGED, tags="containerd")
    assert run.status == "successful", run.stdout
    assert run.changed == 0, run.stdout
    assert main_pid(node) == pid
    assert_running(node)


@CORE
def test_verify_reports_the_runc_row_of_a_node_with_its_own_kernel(node, playbook, kernel):
    run = playbook("verify", "verify", {"kata_fleet_runtimes": ["runc"], "kata_fleet_startup_runs": 2,
                                        "kata_fleet_startup_warmup": 0, "kata_fleet_http_requests": 5})
    assert run.status == "successful", run.stdout
    host = run.results("host_facts")[NODE]["ansible_facts"]["kata_fleet_host"]
    assert host["kernel_release"] == kernel
    assert host["containerd"]["answers"] is True
    isolation_row = run.table_rows(NODE, "runc")[0]
    assert console_shows(isolation_row[2], kernel) and isolation_row[7] == "shared-kernel", isolation_row
    runc = run.results("isolation_probe")[NODE]["ansible_facts"]["kata_fleet_isolation"]["runtimes"]["runc"]
    assert runc["status"] == "ok" and runc["kernel_release"] == kernel != os.uname().release
    with open("/proc/sys/kernel/random/boot_id") as handle:
        assert runc["boot_id"] != handle.read().strip()  # the node's boot, not the controller's
    report = run.report()
    assert list(report["hosts"]) == [NODE]
    assert report["hosts"][NODE]["runtimes"]["runc"]["isolation"]["verdict"] == "shared-kernel"
    assert report["result"] == "pass", report
    # Nothing of the probes is left on the node.
    assert node.ssh("sudo", "ctr", "--namespace", "kata-fleet", "containers", "list", "--quiet").stdout.strip() == ""


@pytest.fixture(scope="module")
def release_archives(tmp_path_factory):
    """containerd 2.x (Debian sid's binaries), runc and the CNI plugins in the upstream layouts, in one folder."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
    import release_mirror  # pylint: disable=import-outside-toplevel
    if not os.path.exists(os.path.join(release_mirror.SID_CACHE, "root", "usr", "bin", "containerd")):
        pytest.skip("Debian sid's containerd is not in %s: `python3 tests/integration/release_mirror.py` "
                    "fetches it (.ci/run does)" % release_mirror.SID_CACHE)
    sid_bin = release_mirror.fetch_sid_containerd()
    version = subprocess.run([os.path.join(sid_bin, "containerd"), "--version"], capture_output=True, text=True,
                             check=True).stdout.split()[2].split("+")[0].lstrip("v")
    mirror = release_mirror.Mirror(str(tmp_path_factory.mktemp("mirror")))
    archives = {"containerd": mirror.containerd(version, sid_bin), "runc": mirror.runc("1.1.5"),
                "cni": mirror.cni("1.1.1")}
    # containerd_controller_archive_dir: one folder on the controller, upstream file names.
    flat = str(tmp_path_factory.mktemp("controller-archives"))
    for path in archives.values():
        shutil.copy(path, flat)
    return {
        "containerd_install_method": "archive",
        "containerd_controller_archive_dir": flat,
        "containerd_version": version,
        "containerd_runc_version": "1.1.5",
        "containerd_cni_version": "1.1.1",
        "containerd_archive_checksum": mirror.checksum(archives["containerd"]),
        "containerd_runc_checksum": mirror.checksum(archives["runc"]),
        "containerd_cni_checksum": mirror.checksum(archives["cni"]),
    }


@LEAN
def test_archive_method_runs_upstreams_containerd_service(node, playbook, release_archives):
    """The switch from Debian's package to the upstream archives: the role's containerd.service takes over."""
    pid = main_pid(node)
    run = playbook("bootstrap", "bootstrap: archive method (--tags containerd)", dict(BASE, **release_archives),
                   tags="containerd")
    assert run.status == "successful", run.stdout
    assert run.changed and run.changed > 0
    assert_running(node)
    shown = unit(node, "FragmentPath", "DropInPaths", "ExecStart", "Type", "Delegate", "KillMode")
    assert shown["FragmentPath"] == "/etc/systemd/system/containerd.service"
    assert DROPIN in shown["DropInPaths"].split()
    assert "argv[]=/usr/local/bin/containerd --config %s " % CONFIG in shown["ExecStart"], shown["ExecStart"]
    assert (shown["Type"], shown["Delegate"], shown["KillMode"]) == ("notify", "yes", "process")
    new_pid = main_pid(node)
    assert new_pid != pid
    assert node.ssh("sudo", "readlink", "/proc/%d/exe" % new_pid).stdout.strip() == "/usr/local/bin/containerd"
    server = node.ssh("sudo", "/usr/local/bin/ctr", "version").stdout
    assert re.search(r"Server:\s+Version:\s+v?%s" % re.escape(release_archives["containerd_version"]), server), server
    assert "version = 3" in node.ssh("sudo", "cat", CONFIG).stdout
