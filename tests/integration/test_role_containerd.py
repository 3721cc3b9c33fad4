"""Role kata_fleet.runtimes.containerd, for real, through playbooks/bootstrap.yml.

Every test drives ``ansible-playbook`` (argv list, no shell) against a containerd
instance of its own: own config file, socket, root, state, CNI conf dir, pid file
and log, managed by the role as a background daemon (containerd_service_manager:
daemon). The host's own containerd (/run/containerd/containerd.sock,
/etc/containerd/config.toml) is never touched. The module fixture stops the
instance by its pid file and removes its directories, whatever happened.

The tests run in file order and build on each other (first run, second run, ...).
"""

import hashlib
import io
import json
import os
import platform
import shutil
import struct
import subprocess
import tarfile
import time

import pytest

from role_instance import Instance, sha256 as _sha256

NAMESPACE = "kf-roletest"
IMAGE = "docker.io/kata-fleet/busybox:roletest"


def _why_skip():
    if os.geteuid() != 0:
        return "runs a real containerd daemon and installs packages: needs root"
    for binary in ("containerd", "ctr", "runc", "start-stop-daemon"):
        if not shutil.which(binary):
            return "%s is not installed (apt-get install containerd runc containernetworking-plugins)" % binary
    if not os.path.exists("/etc/debian_version"):
        return "the containerd role supports the Debian family only"
    return None


pytestmark = pytest.mark.skipif(_why_skip() is not None, reason=_why_skip() or "")


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    inst = Instance(str(tmp_path_factory.mktemp("role-containerd")))
    for path in (inst.lib, inst.run_dir):
        assert not os.path.exists(path), "%s is left over from an earlier run" % path
    try:
        yield inst
    finally:
        inst.teardown()


@pytest.fixture(scope="module")
def bootstrapped(instance):
    """The first run of bootstrap.yml against the fresh instance."""
    rc, output, changed = instance.playbook("--diff")
    return rc, output, changed


def _static_busybox():
    """A statically linked busybox (busybox-static), or None."""
    for path in ("/bin/busybox", "/usr/bin/busybox"):
        if not os.path.exists(path):
            continue
        with open(path, "rb") as handle:
            head = handle.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2:
                continue
            phoff, = struct.unpack_from("<Q", head, 32)
            phentsize, phnum = struct.unpack_from("<HH", head, 54)
            handle.seek(phoff)
            table = handle.read(phentsize * phnum)
        if all(struct.unpack_from("<I", table, i * phentsize)[0] != 3 for i in range(phnum)):  # no PT_INTERP
            return path
    return None


def _busybox_oci_archive(busybox, destination):
    """A one-layer OCI image archive holding a static busybox, for `ctr images import`."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())

    layer_buffer = io.BytesIO()
    with tarfile.open(fileobj=layer_buffer, mode="w", format=tarfile.PAX_FORMAT) as layer:
        directory = tarfile.TarInfo("bin")
        directory.type, directory.mode = tarfile.DIRTYPE, 0o755
        layer.addfile(directory)
        with open(busybox, "rb") as handle:
            data = handle.read()
        binary = tarfile.TarInfo("bin/busybox")
        binary.size, binary.mode = len(data), 0o755
        layer.addfile(binary, io.BytesIO(data))
        for applet in ("sh", "echo", "cat", "uname"):
            link = tarfile.TarInfo("bin/" + applet)
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            layer.addfile(link)
    layer_bytes = layer_buffer.getvalue()

    blobs = {}

    def blob(content):
        digest = hashlib.sha256(content).hexdigest()
        blobs[digest] = content
        return "sha256:" + digest, len(content)

    layer_digest, layer_size = blob(layer_bytes)
    config_digest, config_size = blob(json.dumps({
        "architecture": arch, "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }).encode())
    manifest_digest, manifest_size = blob(json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": layer_size}],
    }).encode())
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest, "size": manifest_size,
        "platform": {"architecture": arch, "os": "linux"},
        "annotations": {"io.containerd.image.name": IMAGE, "org.opencontainers.image.ref.name": "roletest"},
    }]}).encode()

    with tarfile.open(destination, "w") as archive:
        def add(name, content):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        add("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        add("index.json", index)
        for digest, content in blobs.items():
            add("blobs/sha256/" + digest, content)


def test_first_run_installs_configures_and_starts(instance, bootstrapped):
    rc, output, changed = bootstrapped
    assert rc == 0, output
    assert changed and changed > 0, output
    assert instance.answers()
    assert instance.running_pid(), "no containerd behind %s" % instance.pid_file
    with open(instance.config) as handle:
        config = handle.read()
    assert 'address = "%s"' % instance.address in config
    assert "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]" in config
    # The smoke check of bootstrap.yml ran a runc container on this instance (the lab's Task 1 check).
    assert "runc: uname -r = %s" % os.uname().release in output, output


def test_second_run_changes_nothing(instance, bootstrapped):
    pid = instance.running_pid()
    rc, output, changed = instance.playbook()
    assert rc == 0, output
    assert changed == 0, output
    assert instance.running_pid() == pid


def test_check_mode_with_diff_shows_the_change_and_changes_nothing(instance, bootstrapped):
    before, pid = _sha256(instance.config), instance.running_pid()
    rc, output, changed = instance.playbook(
        "--check", "--diff",
        containerd_runtimes=[{"name": "kata-test", "runtime_type": "io.containerd.kata.v2"}])
    assert rc == 0, output
    assert '+        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata-test]' in output
    assert _sha256(instance.config) == before
    assert instance.running_pid() == pid


def test_plugins_load_and_a_runc_container_runs(instance, bootstrapped, tmp_path):
    plugins = instance.ctr("plugins", "ls")
    assert plugins.returncode == 0, plugins.stderr
    statuses = {tuple(line.split()[:2]): line.split()[-1] for line in plugins.stdout.splitlines()[1:]}
    assert statuses[("io.containerd.grpc.v1", "cri")] == "ok"
    assert statuses[("io.containerd.runtime.v2", "task")] == "ok"

    busybox = _static_busybox()
    if not busybox:
        pytest.skip("no statically linked busybox (apt-get install busybox-static) to build a test image from")
    archive = str(tmp_path / "busybox-oci.tar")
    _busybox_oci_archive(busybox, archive)
    imported = instance.ctr("--namespace", NAMESPACE, "images", "import", archive)
    assert imported.returncode == 0, imported.stderr
    run = instance.ctr("--namespace", NAMESPACE, "run", "--rm", "--runtime", "io.containerd.runc.v2",
                       IMAGE, "kf-roletest-smoke", "/bin/busybox", "echo", "hello from runc", timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "hello from runc"
    assert instance.ctr("--namespace", NAMESPACE, "containers", "list", "--quiet").stdout.strip() == ""


def test_invalid_variable_fails_before_any_change(instance, bootstrapped):
    before, pid = _sha256(instance.config), instance.running_pid()
    rc, output, changed = instance.playbook(containerd_service_manager="launchd")
    assert rc != 0
    assert "value of containerd_service_manager must be one of: auto, systemd, daemon" in output
    assert changed == 0, output
    rc, output, changed = instance.playbook(
        containerd_runtimes=[{"name": "runc", "runtime_type": "io.containerd.runc.v2"}])
    assert rc != 0
    assert "must not be \"runc\"" in output
    assert changed == 0, output
    assert _sha256(instance.config) == before
    assert instance.running_pid() == pid


def test_broken_config_extra_is_refused_by_validation(instance, bootstrapped):
    before, pid = _sha256(instance.config), instance.running_pid()
    # TOML-valid but the wrong type: containerd itself refuses it (`config dump`).
    rc, output, changed = instance.playbook(
        containerd_config_extra={"plugins": {"io.containerd.grpc.v1.cri": {"sandbox_image": 3}}})
    assert rc != 0
    assert "containerd refused the rendered configuration" in output
    assert "Can't convert 3(int64) to string" in output
    assert "was NOT changed" in output
    assert _sha256(instance.config) == before
    assert instance.running_pid() == pid
    assert instance.answers()


def test_config_that_does_not_start_is_rolled_back(instance, bootstrapped):
    before, pid = _sha256(instance.config), instance.running_pid()
    # Passes `config dump`, but containerd refuses to start with it.
    rc, output, changed = instance.playbook(containerd_config_extra={"debug": {"level": "bogus"}})
    assert rc != 0
    assert "ROLLED BACK" in output, output
    assert 'not a valid logrus Level: \\"bogus\\"' in output, output
    assert _sha256(instance.config) == before
    new_pid = instance.running_pid()
    assert new_pid and new_pid != pid, "containerd was not restarted with the previous configuration"
    assert instance.answers()
    # The rolled-back state is the converged state.
    rc, output, changed = instance.playbook()
    assert rc == 0, output
    assert changed == 0, output


def test_new_runtime_handler_restarts_containerd_once(instance, bootstrapped):
    pid = instance.running_pid()
    runtimes = [{"name": "kata-test", "runtime_type": "io.containerd.kata.v2",
                 "pod_annotations": ["io.katacontainers.*"],
                 "options": {"ConfigPath": "/opt/kata/share/defaults/kata-containers/configuration.toml"}}]
    rc, output, changed = instance.playbook(containerd_runtimes=runtimes)
    assert rc == 0, output
    assert changed > 0
    new_pid = instance.running_pid()
    assert new_pid and new_pid != pid
    assert instance.answers()
    dump = subprocess.run(["containerd", "--config", instance.config, "config", "dump"],
                          capture_output=True, text=True, check=True).stdout
    assert '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata-test]' in dump
    assert 'ConfigPath = "/opt/kata/share/defaults/kata-containers/configuration.toml"' in dump
    rc, output, changed = instance.playbook(containerd_runtimes=runtimes)
    assert rc == 0, output
    assert changed == 0, output
    assert instance.running_pid() == new_pid
    # Back to the plain configuration for the tests that follow.
    rc, output, changed = instance.playbook()
    assert rc == 0, output


def test_stopped_daemon_is_started_again(instance, bootstrapped):
    subprocess.run(["start-stop-daemon", "--stop", "--pidfile", instance.pid_file, "--exec",
                    shutil.which("containerd"), "--retry", "TERM/10/KILL/5", "--remove-pidfile"], check=True)
    assert not instance.answers()
    rc, output, changed = instance.playbook("--check")
    assert rc == 0, output
    assert changed > 0 and "Check mode: containerd would be started." in output, output
    assert not instance.answers()
    rc, output, changed = instance.playbook()
    assert rc == 0, output
    assert changed > 0
    assert instance.running_pid() and instance.answers()
    rc, output, changed = instance.playbook()
    assert rc == 0 and changed == 0, output


def test_refuses_to_start_a_second_containerd_on_a_busy_socket(instance, bootstrapped):
    pid = instance.running_pid()
    with open(instance.pid_file) as handle:
        saved = handle.read()
    os.unlink(instance.pid_file)
    try:
        rc, output, changed = instance.playbook()
        assert rc != 0
        assert "is not tracked by %s already answers on %s" % (instance.pid_file, instance.address) in output
        assert changed == 0, output
        assert not os.path.exists(instance.pid_file)
    finally:
        with open(instance.pid_file, "w") as handle:
            handle.write(saved)
    time.sleep(0.1)
    assert instance.running_pid() == pid and instance.answers()
