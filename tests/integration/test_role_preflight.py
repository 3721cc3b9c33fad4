"""The containerd and kata roles' preflight refuses values with a trailing newline, through ansible-playbook.

Each test runs one role of the collection (not bootstrap.yml) on localhost with
``--check --tags preflight``: preflight is the only phase that runs, check mode
changes nothing, and every path the role would use lives under the test's own
tmp_path. A validation pattern anchored ``^...$`` lets "runc\\n" or a sha256
followed by a newline through (``$`` also matches before a final newline);
the roles must refuse them through kata_fleet.runtimes._common's ``\\A...\\Z``
checks, with a message that names the variable. The good-values runs show
the bad ones are refused for that value alone. A few seconds per run.
"""

import json
import os
import subprocess
import sys

import pytest

from harness import REPO

BIN = os.path.dirname(sys.executable)
SHA = "sha256:" + "ab" * 32

pytestmark = pytest.mark.skipif(not os.path.exists("/etc/debian_version"),
                                reason="the containerd role supports the Debian family only")


def _role(tmp_path, role, variables):
    """Run one role's preflight in check mode on localhost; returns (rc, output)."""
    (tmp_path / "play.yml").write_text(
        "---\n- name: Preflight of %s\n  hosts: localhost\n  gather_facts: false\n  roles:\n"
        "    - role: kata_fleet.runtimes.%s\n" % (role, role))
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    (tmp_path / "hosts.json").write_text(json.dumps({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    (tmp_path / "ansible.cfg").write_text(
        "[defaults]\ncollections_path = %s\ninterpreter_python = auto_silent\nretry_files_enabled = false\n"
        "stdout_callback = default\n" % os.path.join(REPO, "collections"))
    env = dict((key, value) for key, value in os.environ.items() if not key.startswith("ANSIBLE_"))
    env.update({"ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_COLLECTIONS_PATH": os.path.join(REPO, "collections"),
                "PATH": BIN + os.pathsep + env.get("PATH", os.defpath)})
    done = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", str(tmp_path / "hosts.json"),
                           str(tmp_path / "play.yml"), "-e", "@" + str(tmp_path / "vars.json"),
                           "--check", "--tags", "preflight"],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300, check=False)
    return done.returncode, done.stdout + done.stderr


def _containerd_vars(tmp_path, **extra):
    """An archive-method containerd of the test's own: nothing on the host is looked at or touched."""
    base = str(tmp_path / "c")
    variables = {
        "containerd_install_method": "archive",
        "containerd_service_manager": "daemon",
        "containerd_binary": base + "/bin/containerd",
        "containerd_ctr_binary": base + "/bin/ctr",
        "containerd_runc_binary": base + "/bin/runc",
        "containerd_cni_bin_dir": base + "/cni/bin",
        "containerd_cni_conf_dir": base + "/cni/net.d",
        "containerd_config_path": base + "/etc/config.toml",
        "containerd_registry_config_dir": base + "/etc/certs.d",
        "containerd_address": base + "/run/containerd.sock",
        "containerd_root": base + "/root",
        "containerd_state": base + "/run/state",
        "containerd_pid_file": base + "/run/containerd.pid",
        "containerd_log_file": base + "/containerd.log",
        "containerd_marker_dir": base + "/markers",
    }
    variables.update(extra)
    return variables


def _kata_vars(tmp_path, **extra):
    base = str(tmp_path / "k")
    variables = {
        "kata_checksum": SHA,
        "kata_install_dir": base + "/opt/kata",
        "kata_shim_link": base + "/bin/containerd-shim-kata-v2",
        "kata_modules_load_file": base + "/modules-load.d/kata-fleet.conf",
        "kata_marker_dir": base + "/markers",
        # Preflight's KVM, vhost and memory checks look at the host: not what is tested here.
        "kata_preflight_skip": ["kvm", "vhost", "memory"],
    }
    variables.update(extra)
    return variables


def test_containerd_preflight_passes_with_good_values(tmp_path):
    rc, output = _role(tmp_path, "containerd", _containerd_vars(
        tmp_path, containerd_runtimes=[{"name": "kata-qemu", "runtime_type": "io.containerd.kata-qemu.v2"}]))
    assert rc == 0, output


def test_containerd_refuses_a_handler_name_with_a_trailing_newline(tmp_path):
    rc, output = _role(tmp_path, "containerd", _containerd_vars(
        tmp_path, containerd_runtimes=[{"name": "runc\n", "runtime_type": "io.containerd.runc.v2"}]))
    assert rc != 0
    assert "containerd_runtimes: names must be unique lower-case DNS labels" in output, output
    assert 'Handlers: "runc", "runc\\n"' in output, output


def test_containerd_refuses_a_checksum_with_a_trailing_newline(tmp_path):
    rc, output = _role(tmp_path, "containerd", _containerd_vars(tmp_path, containerd_runc_checksum=SHA + "\n"))
    assert rc != 0
    assert 'The sha256 of runc 1.3.4 is "%s\\n": that is not sha256:<hex>' % SHA in output, output
    assert "Correct containerd_runc_checksum" in output, output


def test_kata_preflight_passes_with_good_values(tmp_path):
    rc, output = _role(tmp_path, "kata", _kata_vars(tmp_path))
    assert rc == 0, output


def test_kata_refuses_a_checksum_with_a_trailing_newline(tmp_path):
    rc, output = _role(tmp_path, "kata", _kata_vars(tmp_path, kata_checksum=SHA + "\n"))
    assert rc != 0
    assert 'The sha256 of kata 3.7.0 is "%s\\n": that is not sha256:<hex>' % SHA in output, output
    assert "Correct kata_checksum" in output, output
    assert "Kata publishes no checksum files" in output, output


# kata_install_dir goes into containerd's config.toml: kata checks it as containerd checks its own paths.
@pytest.mark.parametrize("role, make_vars, key", [("containerd", _containerd_vars, "containerd_config_path"),
                                                  ("kata", _kata_vars, "kata_install_dir")])
def test_a_path_with_a_trailing_newline_is_refused(tmp_path, role, make_vars, key):
    variables = make_vars(tmp_path)
    variables[key] += "\n"
    rc, output = _role(tmp_path, role, variables)
    assert rc != 0
    assert "%s must be an absolute path of letters, digits" % key in output, output
    assert json.dumps(variables[key]) in output, output
