"""The roles' TOML and systemd templates render values as data (issue 11, "Archives and templates").

The real templates are rendered by Ansible's own Templar with the
collection's filters, and the result is parsed with tomllib: a hostile value
(a mirror URL that tries to add ``skip_verify = true``, a nerdctl_config_extra
key or value with quotes and newlines, DEL) must come out as the string it
was, never as a new key; a systemd path with a newline is refused.  A normal
containerd configuration renders byte for byte as the Jinja macros of 0.1.0
did (the old template is read from git).
"""

import math
import os
import subprocess
import sys
import tomllib

import pytest

from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _toml

from conftest import COLLECTIONS, REPO_ROOT

ROLES = REPO_ROOT / "roles"
HOSTILE_URL = 'https://mirror.example"]\nskip_verify = true\n["x'


@pytest.fixture(scope="module", autouse=True)
def collection_loader():
    """Ansible's collection loader, so the templates find kata_fleet.runtimes.* filters by FQCN.

    conftest imported ``ansible_collections`` as a plain package; the loader only
    answers for a fresh one, so those modules are set aside and put back after.
    """
    saved = dict((name, module) for name, module in sys.modules.items()
                 if name == "ansible_collections" or name.startswith("ansible_collections."))
    for name in saved:
        del sys.modules[name]
    finder = _AnsibleCollectionFinder(paths=[COLLECTIONS])
    finder._install()  # pylint: disable=protected-access
    yield
    finder._remove()  # pylint: disable=protected-access
    for name in [name for name in sys.modules
                 if name == "ansible_collections" or name.startswith("ansible_collections.")]:
        del sys.modules[name]
    sys.modules.update(saved)


def render(text, **variables):
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(text))


def render_file(relative, **variables):
    return render((ROLES / relative).read_text(), **variables)


def test_a_crafted_mirror_url_stays_one_string_in_hosts_toml():
    out = render_file("containerd/templates/containerd/hosts.toml.j2",
                      item={"key": "docker.io", "value": [HOSTILE_URL, "https://plain.example"]})
    parsed = tomllib.loads(out)
    assert set(parsed) == {"server", "host"}
    assert list(parsed["host"]) == [HOSTILE_URL, "https://plain.example"]   # order kept: tried in order
    assert "skip_verify" not in parsed and all(set(h) == {"capabilities"} for h in parsed["host"].values())


def test_a_crafted_registry_name_cannot_add_a_line_to_hosts_toml():
    out = render_file("containerd/templates/containerd/hosts.toml.j2",
                      item={"key": 'evil\nskip_verify = true', "value": ["https://m.example"]})
    parsed = tomllib.loads(out)
    assert "skip_verify" not in parsed and parsed["server"] == "https://evil\nskip_verify = true"


NERDCTL = {"nerdctl_address": "/run/containerd/containerd.sock", "nerdctl_namespace": "default",
           "nerdctl_cni_path": "/opt/cni/bin", "nerdctl_cni_netconfpath": "/etc/cni/net.d"}


def test_nerdctl_config_extra_is_written_as_data():
    extra = {"snapshotter": 'overlayfs"\ninsecure_registry = true\n#', "debug": True, "experimental": None,
             'weird key"\n[x]': "\x7f\x00tab\t", "hosts_dir": ["/etc/containerd/certs.d", "/etc/docker/certs.d"]}
    out = render_file("nerdctl/templates/nerdctl.toml.j2", nerdctl_config_extra=extra, **NERDCTL)
    parsed = tomllib.loads(out)
    assert parsed["snapshotter"] == extra["snapshotter"] and "insecure_registry" not in parsed
    assert parsed['weird key"\n[x]'] == "\x7f\x00tab\t"
    assert parsed["debug"] is True and "experimental" not in parsed
    assert parsed["hosts_dir"] == extra["hosts_dir"] and parsed["address"] == NERDCTL["nerdctl_address"]


def _containerd_vars(**overrides):
    variables = {
        "_containerd_all_runtimes": [
            {"name": "runc", "runtime_type": "io.containerd.runc.v2", "options": {"SystemdCgroup": True}},
            {"name": "kata", "runtime_type": "io.containerd.kata.v2",
             "runtime_path": "/opt/kata/runtime-rs/bin/containerd-shim-kata-v2",
             "pod_annotations": ["io.katacontainers.*"], "privileged_without_host_devices": True,
             "options": {"ConfigPath": "/opt/kata/share/defaults/kata-containers/runtime-rs/configuration.toml"}}],
        "containerd_cni_conf_dir": "/etc/cni/net.d", "containerd_cni_bin_dir": "/opt/cni/bin",
        "_containerd_cni_bin_dirs_key": "bin_dirs", "_containerd_config_schema": "3",
        "containerd_default_runtime": "runc", "containerd_registry_mirrors": {"docker.io": ["https://m"]},
        "containerd_registry_config_dir": "/etc/containerd/certs.d", "containerd_root": "/var/lib/containerd",
        "containerd_state": "/run/containerd", "containerd_address": "/run/containerd/containerd.sock",
        "containerd_config_extra": {"plugins": {"io.containerd.grpc.v1.cri": {"x": None}},
                                    "debug": {"level": "info"}, "ttrpc": {"address": ""}},
        "_containerd_version": "2.2.1"}
    variables.update(overrides)
    return variables


@pytest.mark.parametrize("schema", ["2", "3"])
def test_the_containerd_config_renders_as_the_macros_did(schema):
    relative = "roles/containerd/templates/containerd/config.toml.j2"
    try:
        old = subprocess.run(["git", "-C", str(REPO_ROOT), "show", "489be82:" + relative],
                             capture_output=True, text=True, check=True).stdout
    except (subprocess.CalledProcessError, OSError):
        pytest.skip("the 0.1.0 template is not in this checkout's history")
    variables = _containerd_vars(_containerd_config_schema=schema)
    new = render_file("containerd/templates/containerd/config.toml.j2", **variables)
    assert new.strip() == render(old, **variables).strip()
    parsed = tomllib.loads(new)
    assert parsed["version"] == int(schema)


def test_hostile_containerd_values_stay_strings():
    variables = _containerd_vars(containerd_root='/var/lib/c"\n[plugins.evil]\nx = 1\n#',
                                 containerd_config_extra={'key\nwith newline': {"a": "\x7f"}})
    parsed = tomllib.loads(render_file("containerd/templates/containerd/config.toml.j2", **variables))
    assert parsed["root"] == variables["containerd_root"] and "evil" not in parsed["plugins"]
    assert parsed["key\nwith newline"] == {"a": "\x7f"}


@pytest.mark.parametrize("template", ["containerd.service.j2", "containerd.service.d.conf.j2"])
def test_systemd_units_refuse_a_path_that_would_change_the_unit(template):
    relative = "containerd/templates/containerd/" + template
    good = render_file(relative, containerd_binary="/usr/local/bin/containerd",
                       containerd_config_path="/etc/containerd/config.toml")
    assert "ExecStart=/usr/local/bin/containerd" in good
    for bad in ("/usr/bin/containerd\nExecStartPre=/bin/sh -c evil", "/usr/bin/contain erd", "/srv/%h/containerd",
                "relative/containerd"):
        with pytest.raises(AnsibleError) as failure:
            render_file(relative, containerd_binary=bad, containerd_config_path="/etc/containerd/config.toml")
        assert "containerd_binary must be an absolute path" in str(failure.value)


@pytest.mark.parametrize("value, text", [
    ("a\x7fb", '"a\\u007Fb"'), ("q\"\\", '"q\\"\\\\"'), ("\x00\n", '"\\u0000\\n"'), (True, "true"),
    (3, "3"), (float("nan"), "nan"), (float("-inf"), "-inf"), ([1, None, "x"], '[1, "x"]'),
    ({"a b": 1, "c": None}, '{"a b" = 1}')])
def test_toml_values(value, text):
    assert _toml.value(value) == text
    parsed = tomllib.loads("k = " + text)["k"]
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(parsed)
    elif isinstance(value, list):
        assert parsed == [item for item in value if item is not None]
    elif isinstance(value, dict):
        assert parsed == dict((key, item) for key, item in value.items() if item is not None)
    else:
        assert parsed == value


@pytest.mark.parametrize("value", [2 ** 64, object(), "\ud800", {"a": {1, 2}}])
def test_values_toml_cannot_hold_are_refused(value):
    with pytest.raises(_toml.TomlError):
        _toml.value(value)


def test_a_bare_key_is_anchored():
    # "$" would accept a trailing newline and let "key\n" through bare.
    assert _toml.key("key\n") == '"key\\n"' and _toml.key("key-1_x") == "key-1_x"


def test_the_filters_fail_with_the_message_not_a_traceback():
    with pytest.raises(AnsibleError) as failure:
        render("{{ (2 ** 70) | kata_fleet.runtimes.toml_value }}")
    assert "does not fit a TOML integer" in str(failure.value)
    assert os.path.basename(__file__)
