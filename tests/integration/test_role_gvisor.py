"""Role kata_fleet.runtimes.gvisor, for real, through playbooks/bootstrap.yml.

Real: Debian's runsc package (installed here already, so the role must not
claim it), containerd from the package with the role's handler (the runc shim,
BinaryName = the role's wrapper), and the smoke check running a real gVisor
container through that handler (uname -r = 4.4.0, gVisor's fixed release).

STAND-INS (labelled in their own text): gVisor's release binaries runsc and
containerd-shim-runsc-v1 for the release method, small shell scripts that only
answer --version, published with .sha512 files in gVisor's format
("<sha512>  <name>") on a local mirror (file:// on the node and HTTP on
loopback). They test the sha512 check and its refusal, the runsc shim handler
(runtime_path, ConfigPath) and runsc.toml, idempotence and removal; they cannot
run a container, so the smoke check runs runc only there.

Everything the role writes goes under the instance's own directories
(wrapper, shim config, binaries, markers); the tests run in file order.
"""

import hashlib
import json
import os
import shutil
import subprocess

import pytest

import release_mirror
from role_instance import Instance

VERSION = "20240729.0"
STAND_IN = "#!/bin/sh\n# kata-fleet test STAND-IN for gVisor's %s %s, not the real program\n%s\n"


def _why_skip():
    if os.geteuid() != 0:
        return "runs a real containerd daemon and gVisor containers: needs root"
    for binary in ("containerd", "ctr", "runc", "runsc", "start-stop-daemon", "unshare"):
        if not shutil.which(binary):
            return "%s is not installed (.ci/run installs it)" % binary
    if not os.path.exists("/etc/debian_version"):
        return "the package method is tested on the Debian family only"
    return None


pytestmark = pytest.mark.skipif(_why_skip() is not None, reason=_why_skip() or "")


def _publish(mirror, name, text):
    """A stand-in binary with its sha512 file next to it, as gVisor publishes them; returns the sha512."""
    path = mirror.path("release", VERSION, os.uname().machine, name)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o755)
    with open(path, "rb") as handle:
        digest = hashlib.sha512(handle.read()).hexdigest()
    with open(path + ".sha512", "w") as handle:
        handle.write("%s  %s\n" % (digest, name))
    return digest


@pytest.fixture(scope="module")
def mirror():
    built = release_mirror.new_mirror()
    runsc_version = 'echo "runsc version release-%s.0"\necho "spec: 1.1.0-rc.1"' % VERSION
    built.sha512 = {
        "runsc": _publish(built, "runsc", STAND_IN % ("runsc", VERSION, runsc_version)),
        "shim": _publish(built, "containerd-shim-runsc-v1", STAND_IN % ("containerd-shim-runsc-v1", VERSION, "exit 0")),
    }
    built.serve()
    try:
        yield built
    finally:
        built.close()
        shutil.rmtree(built.root, ignore_errors=True)


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    inst = Instance(str(tmp_path_factory.mktemp("role-gvisor")), name="gvisor")
    for path in (inst.lib, inst.run_dir):
        assert not os.path.exists(path), "%s is left over from an earlier run" % path
    inst.variables.update({
        "kata_fleet_install_gvisor": True,
        "kata_fleet_bootstrap_strict": True,
        "kata_fleet_smoke_runtimes": ["runc", "runsc"],
        "gvisor_wrapper_path": os.path.join(inst.lib, "libexec", "runsc-containerd"),
        "gvisor_shim_config_path": os.path.join(inst.lib, "etc", "runsc.toml"),
        "gvisor_bin_dir": os.path.join(inst.lib, "bin"),
    })
    try:
        yield inst
    finally:
        inst.teardown()
        # The smoke containers ran in namespace kata-fleet on this instance: nothing of gVisor may outlive them.
        assert subprocess.run(["pgrep", "-f", "^runsc-(sandbox|gofer) --root=/run/containerd/runc/kata-fleet "],
                              capture_output=True, check=False).stdout == b""


def _marker(host, name="gvisor-role"):
    with open(os.path.join(host.lib, "markers", "%s.json" % name)) as handle:
        return json.load(handle)


def _dump(host):
    return subprocess.run(["containerd", "--config", host.config, "config", "dump"],
                          capture_output=True, text=True, check=True).stdout


def _runsc_table(dump):
    """The lines of the runsc handler's tables in ``containerd config dump``."""
    lines = dump.splitlines()
    start = [i for i, line in enumerate(lines) if line.strip().endswith('containerd.runtimes.runsc]')][0]
    table = []
    for line in lines[start + 1:]:
        if line.strip().startswith("[") and ".runtimes.runsc" not in line:
            break
        table.append(line.strip())
    return table


def _rmem_everywhere():
    return subprocess.run(["unshare", "--net", "--", "test", "-e", "/proc/sys/net/core/rmem_default"],
                          check=False).returncode == 0


def test_check_mode_on_a_fresh_host_changes_nothing(host):
    rc, output, changed = host.playbook("--check", "--diff")
    assert rc == 0, output
    assert changed > 0
    assert not os.path.exists(host.variables["gvisor_wrapper_path"])
    assert not os.path.exists(os.path.join(host.lib, "markers", "gvisor-role.json"))
    assert not host.answers()


def test_first_run_gives_containerd_a_live_runsc_handler(host):
    rc, output, changed = host.playbook("--diff")
    assert rc == 0, output
    assert changed > 0
    wrapper = host.variables["gvisor_wrapper_path"]
    mode = "host" if _rmem_everywhere() else "sandbox"
    with open(wrapper) as handle:
        text = handle.read()
    assert text.startswith("#!/bin/sh\n# Managed by Ansible (kata_fleet.runtimes.gvisor)")
    assert text.splitlines()[-1] == 'exec /usr/bin/runsc --network=%s "$@"' % mode
    assert os.stat(wrapper).st_mode & 0o777 == 0o755
    if mode == "host":
        assert "gvisor_network=auto chose host" in output
    table = _runsc_table(_dump(host))
    assert 'runtime_type = "io.containerd.runc.v2"' in table
    assert 'BinaryName = "%s"' % wrapper in table
    # The smoke check ran a real gVisor container: gVisor's own kernel release, not the host's.
    assert "runsc: uname -r = 4.4.0" in output, output
    assert "runc: uname -r = %s" % os.uname().release in output
    # runsc was installed before: the role records no package of its own, only its wrapper.
    assert _marker(host) == {"role": "kata_fleet.runtimes.gvisor", "method": "package", "packages": [],
                             "files": [wrapper]}


def test_second_run_changes_nothing(host):
    pid = host.running_pid()
    rc, output, changed = host.playbook()
    assert rc == 0, output
    assert changed == 0, output
    assert host.running_pid() == pid


def _absent_components(host):
    """Kata and nerdctl on, their archives on a port nothing listens on, every path under the instance."""
    return {
        "kata_fleet_install_kata": True, "kata_fleet_install_nerdctl": True,
        "kata_fleet_smoke_runtimes": ["runc"],
        "kata_download_base_url": "http://127.0.0.1:9/kata",
        "kata_install_dir": os.path.join(host.lib, "opt", "kata"),
        "kata_shim_link": os.path.join(host.lib, "bin", "containerd-shim-kata-v2"),
        "kata_modules_load_file": os.path.join(host.lib, "modules-load.d", "kata-fleet.conf"),
        "nerdctl_download_base_url": "http://127.0.0.1:9/nerdctl",
        "nerdctl_binary": os.path.join(host.lib, "bin", "nerdctl"),
        "nerdctl_config_path": os.path.join(host.lib, "etc", "nerdctl.toml"),
        "nerdctl_kata_shim_link": os.path.join(host.lib, "bin", "containerd-shim-kata-v2"),
    }


def _alarms(output):
    return [line for line in output.splitlines() if line.startswith("fatal:") or "[ERROR]" in line
            or line.startswith("failed:")]


# Kata cannot be had here (no vhost modules: preflight decides; on a host with them, its archive
# cannot be downloaded) and nerdctl's archive cannot be downloaded: a successful run says so where
# it is decided and in its summary, without one red line.
def test_a_component_the_host_cannot_have_is_a_notice_not_a_failure(host):
    settings = _absent_components(host)
    rc, output, changed = host.playbook(kata_fleet_bootstrap_strict=False, **settings)
    assert rc == 0, output
    assert _alarms(output) == [], output
    assert "NOTICE: kata is NOT installed on this host: " in output, output
    assert "NOTICE: nerdctl is NOT installed on this host: could not download http://127.0.0.1:9/nerdctl/" in output
    summary = output[output.index("Report what was not installed and why"):]
    assert "kata was NOT installed: " in summary, summary
    assert "nerdctl was NOT installed: could not download http://127.0.0.1:9/nerdctl/v2.2.1/" in summary, summary
    if not all(os.path.isdir("/sys/module/" + name) for name in ("vhost", "vhost_net", "vhost_vsock")):
        assert "not loaded, and modprobe could not load" in summary, summary
    assert "rescued=0" in output, output
    # Nothing of either was installed, containerd got no Kata handler, and runc still ran.
    for path in (settings["kata_install_dir"], settings["kata_modules_load_file"], settings["nerdctl_binary"],
                 settings["nerdctl_config_path"]):
        assert not os.path.exists(path), path
    assert "kata" not in _dump(host).replace("kata-fleet", "")
    assert "runc: uname -r = %s" % os.uname().release in output
    assert changed == 0, output
    # Strict: the same reason fails the host (red), right after the kata role.
    rc, output, _changed = host.playbook(kata_fleet_bootstrap_strict=True, **settings)
    assert rc != 0
    failed = [line for line in output.splitlines() if line.startswith("fatal:")]
    assert len(failed) == 1 and "Kata Containers was not installed: " in failed[0], output
    assert "Install, configure and run containerd" not in output


def test_a_bad_flag_is_refused_before_anything_changes(host):
    before = open(host.variables["gvisor_wrapper_path"]).read()
    rc, output, _changed = host.playbook("--tags", "gvisor", gvisor_runsc_flags=["--debug; rm -rf /"])
    assert rc != 0
    assert "each of gvisor_runsc_flags must look like --name or --name=value" in output
    assert open(host.variables["gvisor_wrapper_path"]).read() == before


# The release binaries go through kata_fleet.runtimes._common's install: its digest check and its
# "cannot be downloaded" notice, as for every role's downloads.
UNREACHABLE = "http://127.0.0.1:9/gvisor"
PINNED = {"gvisor_runsc_checksum": "sha512:" + "ab" * 64, "gvisor_shim_checksum": "sha512:" + "cd" * 64}


def test_a_malformed_pinned_digest_is_refused_by_commons_check(host):
    before = open(host.variables["gvisor_wrapper_path"]).read()
    rc, output, _changed = host.playbook("--tags", "gvisor", gvisor_install_method="release",
                                         gvisor_download_base_url=UNREACHABLE,
                                         **dict(PINNED, gvisor_runsc_checksum="sha512:" + "ab" * 64 + "\n"))
    assert rc != 0
    assert "Correct gvisor_runsc_checksum" in output and "sha512:<128 hex digits>" in output, output
    assert "could not download" not in output, output
    assert open(host.variables["gvisor_wrapper_path"]).read() == before
    assert not os.path.exists(os.path.join(host.lib, "markers", "gvisor-runsc.json"))


def test_a_release_binary_that_cannot_be_downloaded_is_a_notice(host):
    before = open(host.variables["gvisor_wrapper_path"]).read()
    rc, output, changed = host.playbook("--tags", "gvisor", gvisor_install_method="release",
                                        gvisor_download_base_url=UNREACHABLE, kata_fleet_bootstrap_strict=False,
                                        **PINNED)
    assert rc == 0, output
    assert _alarms(output) == [], output
    assert "NOTICE: gvisor is NOT installed on this host: could not download %s/%s/" % (UNREACHABLE, VERSION) \
        in output, output
    assert changed == 0, output
    # Nothing was installed, removed or recorded: the package method's wrapper and marker stay as they were.
    assert open(host.variables["gvisor_wrapper_path"]).read() == before
    assert not os.path.exists(os.path.join(host.lib, "markers", "gvisor-runsc.json"))
    assert _marker(host)["method"] == "package"
    # Strict: the same reason fails the host.
    rc, output, _changed = host.playbook("--tags", "gvisor", gvisor_install_method="release",
                                         gvisor_download_base_url=UNREACHABLE, **PINNED)
    assert rc != 0
    failed = [line for line in output.splitlines() if line.startswith("fatal:")]
    assert len(failed) == 1 and "gVisor was not installed: could not download %s/" % UNREACHABLE in failed[0], output


def test_a_wrong_published_sha512_installs_nothing(host, mirror, tmp_path):
    # A copy of the mirror whose runsc.sha512 names another digest.
    bad = tmp_path / "bad-mirror"
    shutil.copytree(mirror.root, str(bad))
    sha_file = bad / "release" / VERSION / os.uname().machine / "runsc.sha512"
    sha_file.write_text("%s  runsc\n" % ("0" * 128))
    rc, output, _changed = host.playbook("--tags", "gvisor", gvisor_install_method="release",
                                         gvisor_download_base_url="file://%s/release" % bad)
    assert rc != 0
    assert "checksum mismatch" in output and "expected sha512 " + "0" * 128 in output, output
    assert not os.path.exists(os.path.join(host.variables["gvisor_bin_dir"], "runsc"))
    assert not os.path.exists(os.path.join(host.lib, "markers", "gvisor-runsc.json"))


def test_release_method_installs_the_shim_pinned_by_published_sha512(host, mirror):
    rc, output, changed = host.playbook("--diff", gvisor_install_method="release",
                                        gvisor_download_base_url=mirror.url + "/release",
                                        kata_fleet_smoke_runtimes=["runc"])
    assert rc == 0, output
    assert changed > 0
    bin_dir = host.variables["gvisor_bin_dir"]
    for name, key in (("runsc", "runsc"), ("containerd-shim-runsc-v1", "shim")):
        with open(os.path.join(bin_dir, name), "rb") as handle:
            assert hashlib.sha512(handle.read()).hexdigest() == mirror.sha512[key]
    assert _marker(host, "gvisor-runsc")["sha256"] == "sha512:" + mirror.sha512["runsc"]
    assert _marker(host, "gvisor-containerd-shim")["version"] == VERSION
    table = _runsc_table(_dump(host))
    assert 'runtime_type = "io.containerd.runsc.v1"' in table
    assert 'runtime_path = "%s"' % os.path.join(bin_dir, "containerd-shim-runsc-v1") in table
    assert 'ConfigPath = "%s"' % host.variables["gvisor_shim_config_path"] in table
    assert 'TypeUrl = "io.containerd.runsc.v1.options"' in table
    with open(host.variables["gvisor_shim_config_path"]) as handle:
        toml = handle.read()
    assert 'binary_name = "%s"' % os.path.join(bin_dir, "runsc") in toml
    assert 'network = "%s"' % ("host" if _rmem_everywhere() else "sandbox") in toml
    # The package method's wrapper is gone with the method; the package (not the role's) stays.
    assert not os.path.exists(host.variables["gvisor_wrapper_path"])
    assert os.path.exists("/usr/bin/runsc")
    assert _marker(host)["files"] == [host.variables["gvisor_shim_config_path"]]
    rc, output, changed = host.playbook(gvisor_install_method="release", gvisor_download_base_url=mirror.url + "/release",
                                        kata_fleet_smoke_runtimes=["runc"])
    assert rc == 0 and changed == 0, output


def test_state_absent_removes_only_what_the_role_installed(host):
    # Without gVisor the smoke check has only runc to run.
    rc, output, changed = host.playbook("--diff", gvisor_state="absent", kata_fleet_smoke_runtimes=["runc"])
    assert rc == 0, output
    assert changed > 0
    for path in (os.path.join(host.variables["gvisor_bin_dir"], "runsc"),
                 os.path.join(host.variables["gvisor_bin_dir"], "containerd-shim-runsc-v1"),
                 host.variables["gvisor_shim_config_path"], host.variables["gvisor_wrapper_path"],
                 os.path.join(host.lib, "markers", "gvisor-role.json"),
                 os.path.join(host.lib, "markers", "gvisor-runsc.json")):
        assert not os.path.exists(path), path
    # Debian's runsc was there before the role came: it stays.
    assert subprocess.run(["dpkg-query", "-W", "runsc"], capture_output=True, check=False).returncode == 0
    assert ".runtimes.runsc]" not in _dump(host)
    rc, output, changed = host.playbook(gvisor_state="absent", kata_fleet_smoke_runtimes=["runc"])
    assert rc == 0 and changed == 0, output
