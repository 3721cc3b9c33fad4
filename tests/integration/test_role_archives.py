"""playbooks/bootstrap.yml with every download from a local mirror: containerd 2.x, nerdctl, Kata.

Real: containerd 2.x (Debian sid's binaries repackaged in the upstream archive
layout, see release_mirror.py) installed by the archive method, configuration
schema 3, started without systemd, a runc container run by the smoke check;
the kata preflight's KVM check (/dev/kvm asked its API version).
STAND-INS (labelled in release_mirror.py): the nerdctl and Kata archives, in
their upstream layouts, whose executables only answer --version. They test
download (HTTP on loopback, file:// on the node, a file on the controller),
checksum refusal, unpack, the handler entries in containerd's config, the
version marker, upgrade across the three Kata layouts and uninstall; they
cannot run a container, so the smoke check runs runc only.

This machine has no vhost modules (no /sys/module/vhost_net, no modprobe), so
the Kata install runs with kata_preflight_skip: [vhost]; the test that runs
the preflight without it checks the refusal message instead.
"""

import json
import os
import shutil
import subprocess

import pytest

import release_mirror
from role_instance import Instance

KATA_FIRST, KATA_ZST, KATA_4X = "3.20.0", "3.23.0", "4.1.0"
NERDCTL, NERDCTL_NEXT = "2.2.1", "2.2.0"


def _why_skip():
    if os.geteuid() != 0:
        return "installs and runs a real containerd: needs root"
    for binary in ("runc", "start-stop-daemon", "zstd", "apt-get"):
        if not shutil.which(binary):
            return "%s is not installed (.ci/run installs it)" % binary
    return None


pytestmark = pytest.mark.skipif(_why_skip() is not None, reason=_why_skip() or "")


@pytest.fixture(scope="module")
def mirror():
    sid_bin = release_mirror.fetch_sid_containerd()
    version = subprocess.run([os.path.join(sid_bin, "containerd"), "--version"], capture_output=True,
                             text=True, check=True).stdout.split()[2].split("+")[0].lstrip("v")
    built = release_mirror.new_mirror()
    built.containerd_version = version
    built.archives = {
        "containerd": built.containerd(version, sid_bin),
        "runc": built.runc("1.1.5"),
        "cni": built.cni("1.1.1"),
        "nerdctl": built.nerdctl(NERDCTL),
        "nerdctl-next": built.nerdctl(NERDCTL_NEXT),
        "nerdctl-full": built.nerdctl(NERDCTL, "full"),
        "kata-first": built.kata(KATA_FIRST)[0],
        "kata-zst": built.kata(KATA_ZST)[0],
        "kata-4x": built.kata(KATA_4X)[0],
    }
    built.serve()
    try:
        yield built
    finally:
        built.close()
        shutil.rmtree(built.root, ignore_errors=True)


@pytest.fixture(scope="module")
def host(tmp_path_factory, mirror):
    inst = Instance(str(tmp_path_factory.mktemp("role-archives")), name="archives")
    lib = inst.lib
    sums = mirror.checksum
    inst.variables.update({
        "kata_fleet_install_kata": True,
        "kata_fleet_install_nerdctl": True,
        "kata_fleet_bootstrap_strict": True,
        # containerd, runc, CNI: archive method, from file:// URLs on the node.
        "containerd_install_method": "archive",
        "containerd_version": mirror.containerd_version,
        "containerd_runc_version": "1.1.5",
        "containerd_cni_version": "1.1.1",
        "containerd_download_base_url": "file://%s/containerd" % mirror.root,
        "containerd_runc_download_base_url": "file://%s/runc" % mirror.root,
        "containerd_cni_download_base_url": "file://%s/cni" % mirror.root,
        "containerd_archive_checksum": sums(mirror.archives["containerd"]),
        "containerd_runc_checksum": sums(mirror.archives["runc"]),
        "containerd_cni_checksum": sums(mirror.archives["cni"]),
        "containerd_binary": os.path.join(lib, "bin", "containerd"),
        "containerd_ctr_binary": os.path.join(lib, "bin", "ctr"),
        "containerd_runc_binary": os.path.join(lib, "sbin", "runc"),
        "containerd_cni_bin_dir": os.path.join(lib, "cni", "bin"),
        # The shim finds the archive's runc through BinaryName, not the host's PATH.
        "containerd_runc_options": {"BinaryName": os.path.join(lib, "sbin", "runc")},
        # nerdctl over HTTP from the loopback mirror.
        "nerdctl_version": NERDCTL,
        "nerdctl_download_base_url": mirror.url + "/nerdctl",
        "nerdctl_checksum": sums(mirror.archives["nerdctl"]),
        "nerdctl_binary": os.path.join(lib, "bin", "nerdctl"),
        "nerdctl_config_path": os.path.join(lib, "etc", "nerdctl", "nerdctl.toml"),
        "nerdctl_full_prefix": os.path.join(lib, "opt", "nerdctl-full"),
        "nerdctl_cni_path": os.path.join(lib, "cni", "bin"),
        "nerdctl_kata_shim": os.path.join(lib, "opt", "kata", "runtime-rs", "bin", "containerd-shim-kata-v2"),
        "nerdctl_kata_shim_link": os.path.join(lib, "bin", "containerd-shim-kata-v2"),
        # Kata over HTTP from the loopback mirror.
        "kata_version": KATA_FIRST,
        "kata_download_base_url": mirror.url + "/kata",
        "kata_checksum": sums(mirror.archives["kata-first"]),
        "kata_install_dir": os.path.join(lib, "opt", "kata"),
        "kata_hypervisors": ["dragonball", "qemu"],
        "kata_shim_link": os.path.join(lib, "bin", "containerd-shim-kata-v2"),
        "kata_modules_load_file": os.path.join(lib, "etc", "modules-load.d", "kata-fleet.conf"),
        "kata_preflight_skip": ["vhost"],
    })
    try:
        yield inst
    finally:
        inst.teardown()


FOREIGN_CNI = {"calico": b"calico plugin of the Kubernetes node\n", "calico-ipam": b"calico-ipam\n",
               "cilium-cni": b"cilium\n"}


def _plant(folder, files):
    os.makedirs(folder, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(folder, name), "wb") as handle:
            handle.write(data)
        os.chmod(os.path.join(folder, name), 0o755)


def _read_all(folder, names):
    result = {}
    for name in names:
        with open(os.path.join(folder, name), "rb") as handle:
            result[name] = handle.read()
    return result


@pytest.fixture(scope="module")
def first_run(host):
    # A Kubernetes node: calico and cilium already live in the shared CNI folder.
    _plant(host.variables["containerd_cni_bin_dir"], FOREIGN_CNI)
    return host.playbook("--diff")


def _marker(host, name):
    with open(os.path.join(host.lib, "markers", "%s.json" % name)) as handle:
        return json.load(handle)


def _dump(host):
    return subprocess.run([host.variables["containerd_binary"], "--config", host.config, "config", "dump"],
                          capture_output=True, text=True, check=True).stdout


def test_check_mode_on_a_fresh_host_changes_nothing(host):
    """Runs before the first real run (file order): nothing is installed yet."""
    rc, output, changed = host.playbook("--check", "--diff")
    assert rc == 0, output
    assert changed > 0
    assert "+kata %s" % KATA_FIRST in output and "+nerdctl %s" % NERDCTL in output
    assert not os.path.exists(host.lib) or sorted(os.listdir(host.lib)) == [], os.listdir(host.lib)
    assert not host.answers()


def test_first_run_installs_containerd2_nerdctl_and_kata(host, first_run, mirror):
    rc, output, changed = first_run
    assert rc == 0, output
    assert changed > 0
    version = subprocess.run([host.variables["containerd_binary"], "--version"], capture_output=True,
                             text=True, check=True).stdout
    assert mirror.containerd_version in version
    assert host.answers() and host.running_pid()
    with open(host.config) as handle:
        config = handle.read()
    assert "version = 3" in config
    dump = _dump(host)
    runtime_rs = os.path.join(host.lib, "opt", "kata", "share", "defaults", "kata-containers", "runtime-rs")
    for handler, config_file in (("kata", "configuration-dragonball.toml"),
                                 ("kata-dragonball", "configuration-dragonball.toml"),
                                 ("kata-qemu", "configuration-qemu-runtime-rs.toml")):
        assert "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.%s]" % handler in dump
        assert "ConfigPath = '%s/%s'" % (runtime_rs, config_file) in dump
    assert "runtime_type = 'io.containerd.kata-qemu.v2'" in dump
    # The smoke check ran a real runc container on containerd 2.x.
    assert "runc: uname -r = %s" % os.uname().release in output, output
    # The markers record what was installed, the shim link points at the Rust shim.
    assert _marker(host, "kata")["version"] == KATA_FIRST
    assert _marker(host, "nerdctl")["version"] == NERDCTL
    assert _marker(host, "containerd")["version"] == mirror.containerd_version
    assert os.readlink(host.variables["kata_shim_link"]) == host.variables["nerdctl_kata_shim"]
    with open(host.variables["nerdctl_config_path"]) as handle:
        toml = handle.read()
    assert 'address = "%s"' % host.address in toml and 'cni_path = "%s"' % host.variables["containerd_cni_bin_dir"] in toml
    with open(host.variables["kata_modules_load_file"]) as handle:
        assert handle.read().split("\n")[1:4] == ["vhost", "vhost_net", "vhost_vsock"]
    assert "Kata preflight checks SKIPPED on request (kata_preflight_skip): vhost" in output


def test_second_run_changes_nothing(host, first_run):
    pid = host.running_pid()
    rc, output, changed = host.playbook()
    assert rc == 0, output
    assert changed == 0, output
    assert host.running_pid() == pid


def test_foreign_cni_plugins_stay_and_are_never_overwritten(host, first_run):
    """Issue 11: the archive method swapped the whole CNI folder; calico and cilium vanished."""
    cni = host.variables["containerd_cni_bin_dir"]
    assert _read_all(cni, FOREIGN_CNI) == FOREIGN_CNI
    ours = _marker(host, "cni-plugins")
    assert ours["trees"] == [] and sorted(ours["file_sets"]) == [cni]
    assert "bridge" in [os.path.basename(path) for path in ours["files"]]
    assert not set(FOREIGN_CNI) & set(os.path.basename(path) for path in ours["files"])
    # Another shared folder that already holds someone else's loopback: nothing is replaced.
    other = os.path.join(host.lib, "cni-other", "bin")
    _plant(other, {"loopback": b"someone else's loopback\n"})
    rc, output, _changed = host.playbook("--tags", "containerd", containerd_cni_bin_dir=other)
    assert rc != 0
    assert "%s already exists and was not installed by kata-fleet" % os.path.join(other, "loopback") in output, output
    assert "containerd_cni_replace_foreign: true" in output
    assert sorted(os.listdir(other)) == ["loopback"]
    with open(os.path.join(other, "loopback"), "rb") as handle:
        assert handle.read() == b"someone else's loopback\n"
    assert _marker(host, "cni-plugins") == ours
    # The run with the real folder again: nothing to do, the foreign plugins untouched.
    rc, output, changed = host.playbook()
    assert rc == 0 and changed == 0, output
    assert _read_all(cni, FOREIGN_CNI) == FOREIGN_CNI
    assert host.answers()


def test_check_mode_diff_shows_a_kata_upgrade_and_changes_nothing(host, first_run, mirror):
    rc, output, changed = host.playbook("--check", "--diff", "--tags", "kata", kata_version=KATA_ZST,
                                        kata_checksum=mirror.checksum(mirror.archives["kata-zst"]))
    assert rc == 0, output
    assert "+kata %s" % KATA_ZST in output and "-kata %s" % KATA_FIRST in output
    assert _marker(host, "kata")["version"] == KATA_FIRST


def test_upgrades_across_the_kata_layouts_leave_no_stale_files(host, first_run, mirror):
    opt_bin = os.path.join(host.lib, "opt", "kata", "bin")
    assert os.path.exists(os.path.join(opt_bin, "version-%s-only" % KATA_FIRST))
    rc, output, _changed = host.playbook("--tags", "kata", kata_version=KATA_ZST,
                                         kata_checksum=mirror.checksum(mirror.archives["kata-zst"]))
    assert rc == 0, output
    assert _marker(host, "kata")["version"] == KATA_ZST
    assert sorted(os.listdir(opt_bin)) == ["containerd-shim-kata-v2", "version-%s-only" % KATA_ZST]
    # 4.x: kata-static holds the Rust shim only (the Go shim moved to kata-go-static).
    rc, output, _changed = host.playbook("--tags", "kata,containerd", kata_version=KATA_4X,
                                         kata_checksum=mirror.checksum(mirror.archives["kata-4x"]))
    assert rc == 0, output
    assert _marker(host, "kata")["version"] == KATA_4X
    assert os.listdir(opt_bin) == ["version-%s-only" % KATA_4X]
    assert "kata-qemu" in _dump(host)


def test_checksum_mismatch_installs_nothing_and_names_file_and_sums(host, first_run, mirror):
    before = _marker(host, "nerdctl")
    wrong = "sha256:" + "0" * 64
    rc, output, _changed = host.playbook("--tags", "nerdctl", nerdctl_version=NERDCTL_NEXT, nerdctl_checksum=wrong)
    assert rc != 0
    url = "%s/nerdctl/v%s/nerdctl-%s-linux-%s.tar.gz" % (mirror.url, NERDCTL_NEXT, NERDCTL_NEXT, release_mirror.ARCH)
    assert "checksum mismatch for %s" % url in output, output
    assert "expected sha256 %s" % ("0" * 64) in output
    assert "got sha256 %s" % mirror.checksum(mirror.archives["nerdctl-next"])[len("sha256:"):] in output
    assert _marker(host, "nerdctl") == before
    version = subprocess.run([host.variables["nerdctl_binary"], "--version"], capture_output=True, text=True,
                             check=False)
    assert version.stdout.strip() == "nerdctl version %s" % NERDCTL


def test_an_archive_on_the_controller_is_used(host, first_run, mirror):
    controller_dir = os.path.dirname(mirror.archives["nerdctl-next"])
    rc, output, changed = host.playbook("--tags", "nerdctl", nerdctl_version=NERDCTL_NEXT,
                                        nerdctl_controller_archive_dir=controller_dir,
                                        nerdctl_checksum=mirror.checksum(mirror.archives["nerdctl-next"]))
    assert rc == 0, output
    assert changed > 0
    assert _marker(host, "nerdctl")["version"] == NERDCTL_NEXT
    assert _marker(host, "nerdctl")["source"].startswith(os.path.expanduser("~/.ansible/tmp/")) or \
        "ansible-tmp" in _marker(host, "nerdctl")["source"]


def test_full_bundle_and_back_to_minimal(host, first_run, mirror):
    prefix = host.variables["nerdctl_full_prefix"]
    rc, output, changed = host.playbook("--tags", "nerdctl", nerdctl_flavour="full",
                                        nerdctl_checksum=mirror.checksum(mirror.archives["nerdctl-full"]))
    assert rc == 0 and changed > 0, output
    assert os.path.isfile(os.path.join(prefix, "bin", "buildkitd"))
    with open(host.variables["nerdctl_binary"], "rb") as installed, \
            open(os.path.join(prefix, "bin", "nerdctl"), "rb") as bundled:
        assert installed.read() == bundled.read()
    # The minimal flavour again: the bundle's tree is stale and goes.
    rc, output, changed = host.playbook("--tags", "nerdctl")
    assert rc == 0 and changed > 0, output
    assert not os.path.exists(prefix)
    assert _marker(host, "nerdctl")["trees"] == []


def test_the_kata_preflight_refuses_a_host_without_vhost(host, first_run):
    missing = [name for name in ("vhost", "vhost_net", "vhost_vsock") if not os.path.isdir("/sys/module/" + name)]
    if not missing:
        pytest.skip("this host has every vhost module loaded: nothing to refuse")
    rc, output, _changed = host.playbook("--tags", "kata", kata_preflight_skip=[])
    assert rc != 0
    assert "%s not loaded, and modprobe could not load" % ", ".join(missing) in output, output
    # Non-strict (the default): containerd is still set up and the reason is reported.
    rc, output, _changed = host.playbook(kata_preflight_skip=[], kata_fleet_bootstrap_strict=False)
    assert rc == 0, output
    assert "kata was NOT installed:" in output and "not loaded, and modprobe could not load" in output
    # A notice where preflight decides it, not a red failure of a run that succeeds.
    assert "NOTICE: kata is NOT installed on this host: " in output, output
    assert not [line for line in output.splitlines() if line.startswith("fatal:") or "[ERROR]" in line], output
    assert "kata-dragonball" not in _dump(host)
    assert host.answers()


def test_unreachable_mirror_is_reported_and_containerd_still_runs(host, first_run):
    rc, output, _changed = host.playbook("--tags", "nerdctl", kata_fleet_bootstrap_strict=False,
                                         nerdctl_version="9.9.9",
                                         nerdctl_checksum="sha256:" + "1" * 64,
                                         nerdctl_download_base_url="http://127.0.0.1:9/nerdctl")
    assert rc == 0, output
    assert "nerdctl was NOT installed: could not download http://127.0.0.1:9/nerdctl/v9.9.9/" in output, output
    assert not [line for line in output.splitlines() if line.startswith("fatal:") or "[ERROR]" in line], output
    assert host.answers()


def test_absent_uninstalls_kata_and_nerdctl_cleanly(host, first_run):
    rc, output, changed = host.playbook(kata_state="absent", nerdctl_state="absent")
    assert rc == 0, output
    assert changed > 0
    assert not os.path.exists(os.path.join(host.lib, "opt", "kata"))
    assert not os.path.lexists(host.variables["kata_shim_link"])
    assert not os.path.exists(host.variables["nerdctl_binary"])
    assert not os.path.exists(host.variables["nerdctl_config_path"])
    assert not os.path.exists(host.variables["kata_modules_load_file"])
    assert sorted(os.listdir(os.path.join(host.lib, "markers"))) == ["cni-plugins.json", "containerd.json", "runc.json"]
    assert _read_all(host.variables["containerd_cni_bin_dir"], FOREIGN_CNI) == FOREIGN_CNI
    assert "kata" not in _dump(host).replace("kata-fleet", "")
    assert host.answers()
    rc, output, changed = host.playbook(kata_state="absent", nerdctl_state="absent")
    assert rc == 0 and changed == 0, output
