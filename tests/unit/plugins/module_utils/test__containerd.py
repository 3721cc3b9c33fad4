# -*- coding: utf-8 -*-
"""plugins/module_utils/_containerd.py: handler parsing, argv building, cleanup and sweep.

No containerd is contacted: a FakeModule (conftest.py) records every argv and
answers from a script.  The ctr/containerd outputs scripted here are real
outputs of containerd 1.6.20 on the development machine unless said otherwise.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import time
import tomllib

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _containerd, _exec, _linux, _owner
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import (
    ContainerdClient,
    ContainerdError,
    is_orphan,
    parse_runtime_handlers,
    safe_name_part,
)
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._linux import process_start_ticks
from shim_standin import NOBODY, StandIns

CTR = "/usr/bin/ctr"
NERDCTL = "/usr/local/bin/nerdctl"
CONTAINERD = "/usr/bin/containerd"
ADDRESS = "/run/kf-unit/containerd.sock"
# A namespace no real shim uses, so remove()'s shim search never matches a live process.
NAMESPACE = "kf-unit-ns"
IMAGE = "localhost/kata-fleet/probe:090a4352f97b"
NAME = "kf-20261201T040000-1a2b-runc-iso"
COMMAND = ["/bin/sh", "-c", "uname -r"]
LABELS = {
    "io.kata-fleet.run-id": "20261201T040000-1a2b",
    "io.kata-fleet.owner": "4242:98765",
    "io.kata-fleet.expires": "1800000000",
}
LABEL_ARGS = [
    "--label", "io.kata-fleet.expires=1800000000",
    "--label", "io.kata-fleet.owner=4242:98765",
    "--label", "io.kata-fleet.run-id=20261201T040000-1a2b",
]
# The snapshot carries the same mark, so a snapshot left without its container is provably ours too.
SNAPSHOT_LABEL_ARGS = [word if word != "--label" else "--snapshotter-label" for word in LABEL_ARGS]
RUNC = {"runtime_type": "io.containerd.runc.v2", "options": {}}
KATA_CONFIG = "/opt/kata/share/defaults/kata-containers/runtime-rs/configuration-dragonball.toml"
KATA_DRAGONBALL = {"runtime_type": "io.containerd.kata.v2", "options": {"ConfigPath": KATA_CONFIG}}
KATA = {"runtime_type": "io.containerd.kata.v2", "options": {}}

KATA_TABLES = '''\
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata]
          base_runtime_spec = ""
          cni_conf_dir = ""
          cni_max_conf_num = 0
          container_annotations = []
          pod_annotations = ["io.katacontainers.*"]
          privileged_without_host_devices = true
          runtime_engine = ""
          runtime_path = ""
          runtime_root = ""
          runtime_type = "io.containerd.kata.v2"

          [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata.options]

        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata-dragonball]
          base_runtime_spec = ""
          cni_conf_dir = ""
          cni_max_conf_num = 0
          container_annotations = []
          pod_annotations = ["io.katacontainers.*"]
          privileged_without_host_devices = true
          runtime_engine = ""
          runtime_path = ""
          runtime_root = ""
          runtime_type = "io.containerd.kata.v2"

          [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata-dragonball.options]
            ConfigPath = "/opt/kata/share/defaults/kata-containers/runtime-rs/configuration-dragonball.toml"

'''
RUNC_TABLE = '        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n'

RUNC_OPTIONS_1_6 = {"NoNewKeyring": False, "NoPivotRoot": False, "SystemdCgroup": False}


def _with_kata(dump):
    """The real dump as containerd would print it with two Kata handlers added (sorted before runc)."""
    assert dump.count(RUNC_TABLE) == 1
    return dump.replace(RUNC_TABLE, KATA_TABLES + RUNC_TABLE)


def _handlers_by_tomllib(text):
    """What a full TOML parser says, reduced the way parse_runtime_handlers reduces values."""
    def keep(value):
        return isinstance(value, bool) or (isinstance(value, str) and value != "")

    plugins = tomllib.loads(text).get("plugins", {})
    expected = {}
    for plugin_id in _containerd.CRI_PLUGIN_IDS:
        runtimes = plugins.get(plugin_id, {}).get("containerd", {}).get("runtimes", {})
        for name, table in runtimes.items():
            if not table.get("runtime_type"):
                continue
            entry = dict((key, table[key]) for key in ("runtime_type", "runtime_path") if keep(table.get(key)))
            entry["options"] = dict((k, v) for k, v in (table.get("options") or {}).items() if keep(v))
            expected[name] = entry
    return expected


# -- parse_runtime_handlers ---------------------------------------------------

def test_parse_real_containerd_1_6_dump(fixture_text):
    dump = fixture_text("containerd_1.6_config_dump.toml")
    assert dump.startswith("# ")  # provenance header; still valid TOML
    handlers = parse_runtime_handlers(dump)
    assert handlers == {"runc": {"runtime_type": "io.containerd.runc.v2", "options": RUNC_OPTIONS_1_6}}
    # default_runtime / untrusted_workload_runtime (runtime_type "") are not handlers
    assert handlers == _handlers_by_tomllib(dump)


def test_parse_real_dump_with_kata_handlers(fixture_text):
    dump = _with_kata(fixture_text("containerd_1.6_config_dump.toml"))
    handlers = parse_runtime_handlers(dump)
    assert sorted(handlers) == ["kata", "kata-dragonball", "runc"]
    assert handlers["kata"] == {"runtime_type": "io.containerd.kata.v2", "options": {}}
    assert handlers["kata-dragonball"] == {"runtime_type": "io.containerd.kata.v2",
                                           "options": {"ConfigPath": KATA_CONFIG}}
    assert handlers["runc"]["options"] == RUNC_OPTIONS_1_6
    assert handlers == _handlers_by_tomllib(dump)


def test_parse_kata_handlers_appended_after_other_tables(fixture_text):
    # hand-edited configs put new tables at the end of the file: order must not matter
    dump = fixture_text("containerd_1.6_config_dump.toml") + "\n" + KATA_TABLES
    handlers = parse_runtime_handlers(dump)
    assert handlers["kata-dragonball"]["options"] == {"ConfigPath": KATA_CONFIG}
    assert handlers == _handlers_by_tomllib(dump)


def test_parse_containerd_2_version_3_single_quoted(fixture_text):
    dump = fixture_text("containerd_2.x_v3_config_dump.toml")
    handlers = parse_runtime_handlers(dump)
    assert handlers == {
        "runc": {"runtime_type": "io.containerd.runc.v2",
                 "options": {"NoNewKeyring": False, "SystemdCgroup": True}},
        "kata": {"runtime_type": "io.containerd.kata.v2",
                 "runtime_path": "/opt/kata/runtime-rs/bin/containerd-shim-kata-v2",
                 "options": {"ConfigPath": "/opt/kata/share/defaults/kata-containers/runtime-rs/configuration.toml"}},
    }
    assert handlers == _handlers_by_tomllib(dump)


QUOTED_NAMES = '''\
version = 2
[plugins]
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes."kata-qemu"]
    runtime_type = "io.containerd.kata-qemu.v2"
    privileged_without_host_devices = true
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes."kata-qemu".options]
      ConfigPath = "/opt/kata/share/defaults/kata-containers/configuration-qemu.toml"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes."kata.fc"]
    runtime_type = "io.containerd.kata-fc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.'kata-clh']
    runtime_type = 'io.containerd.kata-clh.v2'
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.incomplete]
    runtime_path = "/usr/local/bin/shim"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crun]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crun.options]
      BinaryName = "/usr/bin/crun"
      SystemdCgroup = true
      IoUid = 0
'''


def test_parse_quoted_handler_names():
    handlers = parse_runtime_handlers(QUOTED_NAMES)
    assert handlers == {
        "kata-qemu": {"runtime_type": "io.containerd.kata-qemu.v2",
                      "options": {"ConfigPath": "/opt/kata/share/defaults/kata-containers/configuration-qemu.toml"}},
        # a dot inside quotes is part of the name, not a key separator
        "kata.fc": {"runtime_type": "io.containerd.kata-fc.v2", "options": {}},
        "kata-clh": {"runtime_type": "io.containerd.kata-clh.v2", "options": {}},
        # numbers are not needed and are dropped; a table without runtime_type is no handler
        "crun": {"runtime_type": "io.containerd.runc.v2",
                 "options": {"BinaryName": "/usr/bin/crun", "SystemdCgroup": True}},
    }
    assert handlers == _handlers_by_tomllib(QUOTED_NAMES)


def test_parse_ignores_other_plugins_and_empty_input():
    assert parse_runtime_handlers("") == {}
    other = '[plugins."io.containerd.other.v1".containerd.runtimes.x]\nruntime_type = "io.containerd.x.v1"\n'
    assert parse_runtime_handlers(other) == {}


# -- safe_name_part -----------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("runc", "runc"),
    ("kata-dragonball", "kata-dragonball"),
    ("kata.fc_2", "kata.fc_2"),
    ("kata qemu/x:y", "kata-qemu-x-y"),
    ("kätä", "k-t"),
    ("kata_", "kata"),
    ("a..b", "a-b"),
    ("x" * 60, "x" * 40),
])
def test_safe_name_part(text, expected):
    assert safe_name_part(text) == expected


# -- the client: construction ---------------------------------------------------

def _client(fake_module, nerdctl=False, client="auto", ctr=True):
    bins = {"containerd": CONTAINERD}
    if ctr:
        bins["ctr"] = CTR
    if nerdctl:
        bins["nerdctl"] = NERDCTL
    module = fake_module(bins=bins)
    # The containers this run made carry its own token (remove() checks it before touching anything).
    module.on("containers", "info", NAME, out=_info(NAME, _mine()))
    return module, ContainerdClient(module, ADDRESS, NAMESPACE, "/etc/containerd/config.toml", client,
                                    runner=module.run_bounded)


def _mine(expires=None):
    """The labels this module run writes (its own owner token)."""
    return {_containerd.LABEL_RUN_ID: "20261201T040000-1a2b", _containerd.LABEL_OWNER: _owner.owner_token(),
            _containerd.LABEL_EXPIRES: str(expires or int(time.time()) + 600)}


def _info(name, labels):
    return json.dumps({"ID": name, "Labels": labels, "Runtime": {"Name": "io.containerd.runc.v2"}})


@pytest.fixture
def standins():
    shims = StandIns()
    yield shims
    shims.close()


def test_client_nerdctl_requested_but_missing(fake_module):
    with pytest.raises(ContainerdError) as error:
        _client(fake_module, nerdctl=False, client="nerdctl")
    message = str(error.value)
    assert "nerdctl" in message and "not on the PATH" in message
    # names the fix
    assert "kata_fleet.runtimes.nerdctl" in message and "client=auto" in message


def test_client_ctr_missing(fake_module):
    with pytest.raises(ContainerdError) as error:
        _client(fake_module, ctr=False)
    assert "ctr is not on the PATH" in str(error.value)
    assert "bootstrap" in str(error.value)


def test_client_ctr_forced_ignores_nerdctl(fake_module):
    module, client = _client(fake_module, nerdctl=True, client="ctr")
    assert client.nerdctl is None
    assert client.run_argv(NAME, IMAGE, RUNC, COMMAND, LABELS)[0] == CTR


# -- run_argv -------------------------------------------------------------------

def test_run_argv_ctr_exact(fake_module):
    _module, client = _client(fake_module)
    assert client.run_argv(NAME, IMAGE, RUNC, COMMAND, LABELS) == [
        CTR, "--address", ADDRESS, "--namespace", NAMESPACE,
        "run", "--rm", "--runtime", "io.containerd.runc.v2",
    ] + LABEL_ARGS + SNAPSHOT_LABEL_ARGS + [IMAGE, NAME] + COMMAND


def test_run_argv_ctr_with_config_path(fake_module):
    _module, client = _client(fake_module)
    assert client.run_argv(NAME, IMAGE, KATA_DRAGONBALL, COMMAND, LABELS) == [
        CTR, "--address", ADDRESS, "--namespace", NAMESPACE,
        "run", "--rm", "--runtime", "io.containerd.kata.v2", "--runtime-config-path", KATA_CONFIG,
    ] + LABEL_ARGS + SNAPSHOT_LABEL_ARGS + [IMAGE, NAME] + COMMAND


def test_run_argv_ctr_with_binary_name(fake_module):
    _module, client = _client(fake_module)
    crun = {"runtime_type": "io.containerd.runc.v2", "options": {"BinaryName": "/usr/bin/crun"}}
    assert client.run_argv(NAME, IMAGE, crun, COMMAND, LABELS) == [
        CTR, "--address", ADDRESS, "--namespace", NAMESPACE,
        "run", "--rm", "--runtime", "io.containerd.runc.v2", "--runc-binary", "/usr/bin/crun",
    ] + LABEL_ARGS + SNAPSHOT_LABEL_ARGS + [IMAGE, NAME] + COMMAND


def test_run_argv_nerdctl_exact(fake_module):
    _module, client = _client(fake_module, nerdctl=True)
    assert client.uses_nerdctl(KATA)
    assert client.run_argv(NAME, IMAGE, KATA, COMMAND, LABELS) == [
        NERDCTL, "--address", ADDRESS, "--namespace", NAMESPACE,
        "run", "--rm", "--name", NAME, "--network", "none", "--runtime", "io.containerd.kata.v2",
    ] + LABEL_ARGS + [IMAGE] + COMMAND


def test_run_argv_nerdctl_present_but_config_path_falls_back_to_ctr(fake_module):
    _module, client = _client(fake_module, nerdctl=True)
    assert not client.uses_nerdctl(KATA_DRAGONBALL)
    argv = client.run_argv(NAME, IMAGE, KATA_DRAGONBALL, COMMAND, LABELS)
    assert argv[0] == CTR
    assert argv[argv.index("--runtime-config-path") + 1] == KATA_CONFIG


def test_run_argv_empty_labels_and_no_options_key(fake_module):
    _module, client = _client(fake_module)
    argv = client.run_argv(NAME, IMAGE, {"runtime_type": "io.containerd.runc.v2"}, ["true"], {})
    assert argv == [CTR, "--address", ADDRESS, "--namespace", NAMESPACE, "run", "--rm",
                    "--runtime", "io.containerd.runc.v2", IMAGE, NAME, "true"]


def test_run_argv_nerdctl_keeps_binary_name(fake_module):
    _module, client = _client(fake_module, nerdctl=True)
    crun = {"runtime_type": "io.containerd.runc.v2", "options": {"BinaryName": "/usr/bin/crun"}}
    argv = client.run_argv(NAME, IMAGE, crun, COMMAND, LABELS)
    assert "/usr/bin/crun" in argv


def test_run_argv_honours_runtime_path(fake_module):
    _module, client = _client(fake_module)
    handler = {"runtime_type": "io.containerd.kata.v2",
               "runtime_path": "/opt/kata/runtime-rs/bin/containerd-shim-kata-v2", "options": {}}
    argv = client.run_argv(NAME, IMAGE, handler, COMMAND, LABELS)
    assert argv[argv.index("--runtime") + 1] == "/opt/kata/runtime-rs/bin/containerd-shim-kata-v2"


# -- ping -------------------------------------------------------------------------

def test_ping_without_socket(fake_module, tmp_path):
    module = fake_module(bins={"ctr": CTR})
    missing = str(tmp_path / "nowhere" / "containerd.sock")
    client = ContainerdClient(module, missing, NAMESPACE, "/etc/containerd/config.toml")
    with pytest.raises(ContainerdError) as error:
        client.ping()
    message = str(error.value)
    assert missing in message
    assert "kata_fleet_containerd_address" in message
    assert module.calls == []  # nothing was run against a socket that is not there


def test_ping_parses_real_ctr_version(fake_module, fixture_text, socket_path):
    module = fake_module(bins={"ctr": CTR})
    module.on("version", out=fixture_text("ctr_1.6_version.txt"))
    client = ContainerdClient(module, socket_path, NAMESPACE, "/etc/containerd/config.toml")
    assert client.ping() == "1.6.20~ds1"
    assert module.calls == [[CTR, "--address", socket_path, "--namespace", NAMESPACE, "version"]]


def test_ping_daemon_not_answering(fake_module, socket_path):
    module = fake_module(bins={"ctr": CTR})
    # what ctr 1.6 prints when the socket exists but nobody listens (the client half still prints)
    module.on("version", rc=1, out="Client:\n  Version:  1.6.20~ds1\n\n",
              err="ctr: failed to dial \"%s\": context deadline exceeded\n" % socket_path)
    client = ContainerdClient(module, socket_path, NAMESPACE, "/etc/containerd/config.toml")
    with pytest.raises(ContainerdError) as error:
        client.ping()
    message = str(error.value)
    assert socket_path in message and "context deadline exceeded" in message
    assert "kata_fleet_containerd_address" in message


def test_ping_permission_denied_says_run_as_root_or_become(fake_module, socket_path):
    """A non-root user's ctr is refused by the socket: the fix is become, not starting containerd."""
    module = fake_module(bins={"ctr": CTR})
    module.on("version", rc=1, out="Client:\n  Version:  1.6.20~ds1\n\n",
              err="ctr: failed to dial \"%s\": connection error: desc = \"transport: error while dialing: dial "
                  "unix %s: connect: permission denied\"\n" % (socket_path, socket_path))
    client = ContainerdClient(module, socket_path, NAMESPACE, "/etc/containerd/config.toml")
    with pytest.raises(ContainerdError) as error:
        client.ping()
    message = str(error.value)
    assert "permission denied" in message and "become" in message and "Start containerd" not in message


def test_ping_unreadable_socket_is_refused_before_ctr_runs(fake_module, socket_path, monkeypatch):
    module = fake_module(bins={"ctr": CTR})
    monkeypatch.setattr(_containerd.os, "access", lambda path, mode: False)
    client = ContainerdClient(module, socket_path, NAMESPACE, "/etc/containerd/config.toml")
    with pytest.raises(ContainerdError) as error:
        client.ping()
    assert "run as root or with become" in str(error.value).lower() and module.calls == []


# -- runtime_handlers / image_digest ------------------------------------------------

def test_runtime_handlers_uses_config_when_present(fake_module, fixture_text, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("version = 2\n")
    module = fake_module(bins={"ctr": CTR, "containerd": CONTAINERD})
    module.on("config", "dump", out=fixture_text("containerd_1.6_config_dump.toml"))
    client = ContainerdClient(module, ADDRESS, NAMESPACE, str(config))
    assert sorted(client.runtime_handlers()) == ["runc"]
    assert module.calls == [[CONTAINERD, "--config", str(config), "config", "dump"]]


def test_runtime_handlers_failure_is_a_containerd_error(fake_module, tmp_path):
    module = fake_module(bins={"ctr": CTR, "containerd": CONTAINERD})
    module.on("config", "dump", rc=1, err="containerd: failed to load TOML: near line 3\n")
    client = ContainerdClient(module, ADDRESS, NAMESPACE, str(tmp_path / "absent.toml"))
    with pytest.raises(ContainerdError) as error:
        client.runtime_handlers()
    assert "near line 3" in str(error.value)
    assert module.calls == [[CONTAINERD, "config", "dump"]]  # no --config for a missing file


REAL_IMAGES_LS = (
    "REF                                     TYPE                                       DIGEST"
    "                                                                  SIZE       PLATFORMS   LABELS \n"
    "localhost/kata-fleet/probe:090a4352f97b application/vnd.oci.image.manifest.v1+json "
    "sha256:5995aaa3770e923f1c76f567c3f1124c62904553cb2cd713b50404ec362bb3f4 1004.6 KiB linux/amd64 -      \n"
)


def test_image_digest_from_real_images_ls(fake_module):
    module, client = _client(fake_module)
    module.on("images", "ls", out=REAL_IMAGES_LS)
    assert client.image_digest(IMAGE) == "sha256:5995aaa3770e923f1c76f567c3f1124c62904553cb2cd713b50404ec362bb3f4"
    assert module.calls == [[CTR, "--address", ADDRESS, "--namespace", NAMESPACE, "images", "ls", "name==" + IMAGE]]
    module.on("images", "ls", out=REAL_IMAGES_LS.splitlines()[0] + "\n")
    assert client.image_digest(IMAGE) is None


# -- owner labels, run_once, remove -----------------------------------------------------

CLEANUP = [
    ["containers", "info", NAME],
    ["tasks", "kill", "--signal", "SIGKILL", NAME],
    ["tasks", "delete", "--force", NAME],
    ["containers", "delete", NAME],
    ["snapshots", "delete", NAME],
]


def _ctr(*args):
    return [CTR, "--address", ADDRESS, "--namespace", NAMESPACE] + list(args)


def test_owner_labels_name_this_process_and_an_expiry(fake_module):
    _module, client = _client(fake_module)
    before = time.time()
    labels = client.owner_labels("run1", 60)
    assert labels[_containerd.LABEL_RUN_ID] == "run1"
    assert labels[_containerd.LABEL_OWNER] == "%d:%s:%s" % (os.getpid(), process_start_ticks(os.getpid()),
                                                            _owner.run_part())
    assert int(before) + 120 <= int(labels[_containerd.LABEL_EXPIRES]) <= time.time() + 120
    assert not is_orphan(labels, time.time())


def test_run_once_timeout_cleans_up(fake_module):
    module, client = _client(fake_module)
    module.on("timeout", rc=124, out="", err="")
    run = client.run_once(NAME, IMAGE, RUNC, COMMAND, "run1", 30)
    assert run.timed_out is True and run.rc == 124
    assert run.seconds >= 0
    first = module.calls[0]
    assert first[:3] == ["timeout", "--kill-after=%d" % _containerd.KILL_GRACE_SECONDS, "30s"]
    labels = [first[i + 1] for i, word in enumerate(first) if word == "--label"]
    assert [label.partition("=")[0] for label in labels] == sorted(
        [_containerd.LABEL_EXPIRES, _containerd.LABEL_OWNER, _containerd.LABEL_RUN_ID])
    assert first[3:] == client.run_argv(NAME, IMAGE, RUNC, COMMAND, dict(label.split("=", 1) for label in labels))
    # then exactly the cleanup sequence, in this order
    assert module.calls[1:] == [_ctr(*step) for step in CLEANUP]


def test_run_once_killed_after_grace_is_a_timeout_too(fake_module):
    module, client = _client(fake_module)
    module.on("timeout", rc=137)
    assert client.run_once(NAME, IMAGE, RUNC, COMMAND, "run1", 30).timed_out is True
    assert module.calls[1:] == [_ctr(*step) for step in CLEANUP]


def test_run_once_success_issues_no_cleanup(fake_module):
    module, client = _client(fake_module)
    module.on("timeout", rc=0, out="6.18.44\n")
    run = client.run_once(NAME, IMAGE, RUNC, COMMAND, "run1", 30)
    assert (run.rc, run.stdout, run.timed_out) == (0, "6.18.44\n", False)
    assert len(module.calls) == 1 and module.calls[0][0] == "timeout"


def test_run_once_failure_cleans_up_but_is_no_timeout(fake_module):
    module, client = _client(fake_module)
    module.on("timeout", rc=1, err="ctr: failed to create shim task: OCI runtime create failed\n")
    run = client.run_once(NAME, IMAGE, RUNC, COMMAND, "run1", 30)
    assert run.timed_out is False and run.rc == 1
    assert module.calls[1:] == [_ctr(*step) for step in CLEANUP]


def test_remove_with_nerdctl_removes_its_own_hex_id_through_nerdctl_first(fake_module, monkeypatch):
    module, client = _client(fake_module, nerdctl=True)
    module.on("containers", "list", "--quiet", 'labels."nerdctl/name"==%s' % NAME, out=NERDCTL_ID + "\n")
    module.on("containers", "info", NERDCTL_ID, out=_nerdctl_info(NAME, _mine()))
    monkeypatch.setattr(_containerd, "find_shims", lambda ns, cid, address: [])
    assert client.remove(NAME) == [NAME, NERDCTL_ID]
    hex_steps = [_ctr(*[w if w != NAME else NERDCTL_ID for w in step]) for step in CLEANUP[1:]]
    # the id, never the name (which another run's container could hold), goes to nerdctl rm
    rm = [NERDCTL, "--address", ADDRESS, "--namespace", NAMESPACE, "rm", "--force", NERDCTL_ID]
    assert module.calls[-6:] == [_ctr("containers", "info", NERDCTL_ID), rm] + hex_steps
    assert [argv for argv in module.calls if "rm" in argv] == [rm]


def _other_runs_token():
    """This very process's pid and start, but another module run's random part: another run's token."""
    pid = os.getpid()
    return "%d:%s:%s" % (pid, process_start_ticks(pid), "0" * 6 if _owner.run_part() != "0" * 6 else "1" * 6)


def test_remove_refuses_a_container_of_another_run(fake_module, monkeypatch):
    """Issue 19 part 3: "already exists", or another run's owner record: its container is never touched."""
    module, client = _client(fake_module, nerdctl=True)
    other = dict(_mine(), **{_containerd.LABEL_OWNER: _other_runs_token()})
    module.on("containers", "info", NAME, out=_info(NAME, other))
    module.on("containers", "list", "--quiet", 'labels."nerdctl/name"==%s' % NAME, out=NERDCTL_ID + "\n")
    module.on("containers", "info", NERDCTL_ID, out=_nerdctl_info(NAME, other))
    looked_up = []
    monkeypatch.setattr(_containerd, "find_shims", lambda *args: looked_up.append(args) or [4242])
    monkeypatch.setattr(_containerd, "kill_tree", lambda pid: pytest.fail("killed %d" % pid))
    assert client.remove(NAME) == []
    assert [argv for argv in module.calls if {"kill", "delete", "rm"} & set(argv)] == [] and looked_up == []
    # a failed `ctr run` ("already exists") cleans up the same way: nothing of the other run goes
    module.on("timeout", rc=1, err='ctr: container "%s": already exists\n' % NAME)
    run = client.run_once(NAME, IMAGE, RUNC, COMMAND, "20261201T040000-1a2b", 30)
    assert run.rc == 1
    assert [argv for argv in module.calls if {"kill", "delete", "rm"} & set(argv) and "timeout" not in argv] == []


def test_remove_of_an_absent_container_deletes_only_a_snapshot_of_ours(fake_module):
    module, client = _client(fake_module)
    module.on("containers", "info", NAME, rc=1, err="ctr: container not found\n")
    module.on("snapshots", "info", NAME, out=_snapshot_info(NAME, _mine(), 5, time.time()))
    assert client.remove(NAME) == [NAME]
    assert [argv for argv in module.calls if "delete" in argv] == [_ctr("snapshots", "delete", NAME)]
    module, client = _client(fake_module)
    module.on("containers", "info", NAME, rc=1, err="ctr: container not found\n")
    module.on("snapshots", "info", NAME, out=_snapshot_info(NAME, LABELS, 5, time.time()))
    assert client.remove(NAME) == []
    assert [argv for argv in module.calls if "delete" in argv] == []


def _wait_for_shims(*args):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not _containerd.find_shims(*args):
        time.sleep(0.02)
    return _containerd.find_shims(*args)


def _wait_for_children(process, count=1):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(_linux.descendants(process.pid)) < count + 1:
        time.sleep(0.02)


def test_remove_kills_a_hung_shim_tree(fake_module, standins):
    """A trusted shim (root's, a root-owned containerd-shim binary) of this container is killed with its children."""
    module, client = _client(fake_module)
    shim = standins.start("sleep 60 & sleep 60", NAMESPACE, NAME, ADDRESS)
    assert _wait_for_shims(NAMESPACE, NAME, ADDRESS) == [shim.pid]
    client.remove(NAME)
    # -9: SIGKILL reached the shell; 137: its sleep died first and the shell exited on its own
    assert shim.wait(timeout=5) in (-9, 137)
    assert _containerd.find_shims(NAMESPACE, NAME, ADDRESS) == []


def test_remove_leaves_another_instances_shim_of_the_same_name(fake_module, standins):
    """Two containerd instances on one machine, same namespace and container name: only ours is killed."""
    module, client = _client(fake_module)
    other = standins.start("sleep 60 & sleep 60", NAMESPACE, NAME, "/run/containerd-2/containerd.sock")
    not_a_shim = standins.start("sleep 60 & sleep 60", NAMESPACE, NAME, ADDRESS, binary="/bin/sh",
                                argv0="kf-admin-grep")
    assert _wait_for_shims(NAMESPACE, NAME, "/run/containerd-2/containerd.sock") == [other.pid]
    assert client.shim_pids(NAME) == []
    client.remove(NAME)
    time.sleep(0.2)
    assert other.poll() is None and not_a_shim.poll() is None


@pytest.mark.parametrize("how", ["unprivileged", "untrusted binary", "not a shim binary"])
def test_look_alike_shims_are_ignored_and_never_killed(fake_module, standins, how):
    """Issue 19 part 1: a process with this container's shim argv is no shim unless only root could start it.

    Its child looks like a gVisor sandbox whose binary would leave a marker if anything executed it.
    """
    module, client = _client(fake_module)
    marker = os.path.join(standins.untrusted_dir, "executed")
    fake_runsc = os.path.join(standins.untrusted_dir, "runsc")
    with open(fake_runsc, "w") as handle:
        handle.write("#!/bin/sh\ntouch %s\nexec sleep 60\n" % marker)
    os.chmod(fake_runsc, 0o755)
    script = "(exec -a runsc-sandbox %s --root=%s --network=host) & wait" % (fake_runsc, standins.untrusted_dir)
    if how == "unprivileged":
        os.chmod(standins.untrusted_dir, 0o777)
        fake = standins.start(script, NAMESPACE, NAME, ADDRESS, user=NOBODY)
    elif how == "untrusted binary":
        fake = standins.start(script, NAMESPACE, NAME, ADDRESS, binary=standins.untrusted)
    else:
        fake = standins.start(script, NAMESPACE, NAME, ADDRESS, binary="/bin/bash",
                              argv0="/usr/bin/containerd-shim-runc-v2")
    _wait_for_children(fake)
    deadline = time.monotonic() + 5
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    # the look-alike's "sandbox" ran once by its own hand; the marker is removed so any second run shows
    os.unlink(marker)
    # argv says "this container's shim" in every case...
    assert fake.pid in _linux.find_processes("-namespace", NAMESPACE, "-id", NAME)
    # ...and none of them is one
    assert _containerd.find_shims(NAMESPACE, NAME, ADDRESS) == []
    gvisor = {"runtime_type": "io.containerd.runc.v2", "options": {"BinaryName": "/usr/bin/runsc"}}
    client.remove(NAME, gvisor)
    time.sleep(0.2)
    assert fake.poll() is None and len(_linux.descendants(fake.pid)) >= 2
    assert not os.path.exists(marker)
    # no runtime cleanup either: there was no trusted shim of this container to end
    assert [argv for argv in module.calls if argv[0] != CTR] == []


@pytest.mark.parametrize("argv, found", [
    (["/usr/bin/containerd-shim-runc-v2", "-namespace", NAMESPACE, "-id", NAME, "-address", ADDRESS], True),
    # Go's flag package also takes --flag and -flag=value
    (["containerd-shim-kata-v2", "--namespace", NAMESPACE, "-id=" + NAME, "--address=" + ADDRESS], True),
    (["/usr/bin/containerd-shim-runc-v2", "-namespace", NAMESPACE, "-id", NAME,
      "-address", "/run/containerd-2/containerd.sock"], False),
    (["/usr/bin/containerd-shim-runc-v2", "-namespace", NAMESPACE, "-id", NAME], False),
    (["/usr/bin/containerd-shim-runc-v2", "-namespace", "other", "-id", NAME, "-address", ADDRESS], False),
    (["/usr/bin/containerd-shim-runc-v2", "-namespace", NAMESPACE, "-id", NAME + "x", "-address", ADDRESS], False),
    # the id as some other flag's value, or a program that is no shim
    (["/usr/bin/containerd-shim-runc-v2", "-namespace", NAMESPACE, "-x", NAME, "-address", ADDRESS], False),
    (["/usr/bin/pgrep", "-namespace", NAMESPACE, "-id", NAME, "-address", ADDRESS], False),
])
def test_find_shims_matches_instance_namespace_and_id(argv, found, monkeypatch):
    table = {4242: (1, argv), 1: (0, ["/sbin/init"])}
    monkeypatch.setattr(_owner, "is_trusted_shim", lambda info: info == "trusted")
    assert _containerd.find_shims(NAMESPACE, NAME, ADDRESS, table, lambda pid: "trusted") == \
        ([4242] if found else [])
    # the same argv of a process that is not a trusted shim never counts
    assert _containerd.find_shims(NAMESPACE, NAME, ADDRESS, table, lambda pid: "a local user's") == []


@pytest.mark.parametrize("uids, exe_ok, name, found", [
    ((0, 0, 0), True, "containerd-shim-runc-v2", True),
    ((65534, 65534, 65534), True, "containerd-shim-runc-v2", False),
    ((0, 65534, 0), True, "containerd-shim-runc-v2", False),
    ((0, 0, 0), False, "containerd-shim-runc-v2", False),
    ((0, 0, 0), True, "bash", False),
])
def test_find_shims_trusts_owner_and_real_binary_not_argv(uids, exe_ok, name, found, monkeypatch):
    argv = ["/usr/bin/containerd-shim-runc-v2", "-namespace", NAMESPACE, "-id", NAME, "-address", ADDRESS]
    exe = "/usr/bin/" + name
    monkeypatch.setattr(_owner, "runs_trusted_binary", lambda info: exe_ok and info["exe"] == exe)
    info = {"pid": 4242, "ppid": 1, "uids": uids, "exe": exe, "exe_stat": (1, 2)}
    assert _containerd.find_shims(NAMESPACE, NAME, ADDRESS, {4242: (1, argv)}, lambda pid: info) == \
        ([4242] if found else [])


# A nerdctl-made container as ``ctr containers info`` shows it: a 64-hex id, the name in nerdctl's label.
# Stand-in written from nerdctl 1.x's labels (nerdctl is not installable here), with kata-fleet's own labels.
NERDCTL_ID = "3f0c2a9b1d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeef"


def _nerdctl_info(name, labels):
    all_labels = {"nerdctl/name": name, "nerdctl/namespace": NAMESPACE, "nerdctl/hostname": NERDCTL_ID[:12],
                  "nerdctl/platform": "linux/amd64", "nerdctl/networks": '["none"]',
                  "nerdctl/state-dir": "/var/lib/nerdctl/1935db59/containers/%s/%s" % (NAMESPACE, NERDCTL_ID)}
    all_labels.update(labels)
    return json.dumps({"ID": NERDCTL_ID, "Labels": all_labels, "Image": IMAGE,
                       "Runtime": {"Name": "io.containerd.kata.v2", "Options": None},
                       "SnapshotKey": NERDCTL_ID, "Snapshotter": "overlayfs",
                       "CreatedAt": "2026-12-01T04:00:00.123456789Z", "UpdatedAt": "2026-12-01T04:00:00.123456789Z"})


def test_remove_of_a_nerdctl_container_finds_its_hex_id_and_shim(fake_module, monkeypatch):
    module, client = _client(fake_module, nerdctl=True)
    module.on("containers", "list", "--quiet", 'labels."nerdctl/name"==%s' % NAME, out=NERDCTL_ID + "\n")
    module.on("containers", "info", NERDCTL_ID, out=_nerdctl_info(NAME, _mine()))
    looked_up, killed = [], []
    monkeypatch.setattr(_containerd, "find_shims",
                        lambda ns, cid, address: looked_up.append((ns, cid, address)) or ([77] if cid == NERDCTL_ID else []))
    monkeypatch.setattr(_containerd, "kill_tree", killed.append)
    client.remove(NAME)
    assert [(ns, cid) for ns, cid, _address in looked_up] == [(NAMESPACE, NAME), (NAMESPACE, NERDCTL_ID)]
    assert all(address == ADDRESS for _ns, _cid, address in looked_up)
    assert killed == [77]
    hex_steps = [_ctr(*[w if w != NAME else NERDCTL_ID for w in step]) for step in CLEANUP[1:]]
    # the cleanup steps for the hex id, then (its shim was killed) the deletes once more, as for a
    # CREATED gVisor task that could not go while its shim lived
    assert module.calls[-7:-3] == hex_steps
    assert module.calls[-3:] == [_ctr(*[w if w != NAME else NERDCTL_ID for w in step]) for step in CLEANUP[2:]]


def test_remove_through_nerdctl_checks_what_the_name_filter_answers(fake_module, monkeypatch):
    """A ctr that ignored the label filter would list every container: only the one with this name is touched."""
    module, client = _client(fake_module, nerdctl=True)
    neighbour = "bb" * 32
    module.on("containers", "list", "--quiet", out="%s\n%s\n" % (neighbour, NERDCTL_ID))
    module.on("containers", "info", NERDCTL_ID, out=_nerdctl_info(NAME, _mine()))
    module.on("containers", "info", neighbour, out=_nerdctl_info("web", {}).replace(NERDCTL_ID, neighbour))
    monkeypatch.setattr(_containerd, "find_shims", lambda ns, cid, address: [])
    assert client.ids_of(NAME) == [NAME, NERDCTL_ID]
    client.remove(NAME)
    assert [argv for argv in module.calls_with(neighbour) if "info" not in argv] == []


def test_remove_of_a_created_gvisor_task_kills_its_sandbox_then_deletes_again(fake_module, standins):
    """runsc leaves a failed start CREATED: after the shim tree dies, delete again and let runsc drop its state.

    The stand-in shim's children are named runsc-sandbox/runsc-gofer (exec -a), as runsc names them, and
    run a binary that is not runsc: what runs the cleanup is the handler's configured BinaryName, with the
    root the runc shim gives it, never a path read from a process.
    """
    module, client = _client(fake_module)
    root = "/run/kf-unit-%d-runc-root" % os.getpid()
    sleeper = "%s -c 'import time; time.sleep(60)'" % sys.executable
    script = ("(exec -a runsc-sandbox %s --root=%s boot %s) & "
              "(exec -a runsc-gofer %s --root=%s gofer) & wait" % (sleeper, root, NAME, sleeper, root))
    shim = standins.start(script, NAMESPACE, NAME, ADDRESS)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(_linux.find_processes("--root=%s" % root)) < 2:
        time.sleep(0.02)
    gvisor = {"runtime_type": "io.containerd.runc.v2", "options": {"BinaryName": "/usr/bin/runsc", "Root": root}}
    client.remove(NAME, gvisor)
    assert shim.wait(timeout=5) in (-9, 137)
    # SIGKILLed, they go as soon as the kernel has torn them down (a moment on a loaded machine)
    deadline = time.monotonic() + 10
    while _linux.find_processes("--root=%s" % root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _linux.find_processes("--root=%s" % root) == []
    steps = [["tasks", "kill", "--signal", "SIGKILL", NAME], ["tasks", "delete", "--force", NAME],
             ["containers", "delete", NAME], ["snapshots", "delete", NAME]]
    assert module.calls == [_ctr("containers", "info", NAME)] + [_ctr(*step) for step in steps + steps[1:]] + \
        [["/usr/bin/runsc", "--root", os.path.join(root, NAMESPACE), "delete", "--force", NAME]]


@pytest.mark.parametrize("options, argv", [
    ({"BinaryName": "/usr/bin/runsc"},
     ["/usr/bin/runsc", "--root", "/run/containerd/runc/" + NAMESPACE, "delete", "--force", NAME]),
    ({"BinaryName": "/usr/bin/runsc", "Root": "/run/gvisor"},
     ["/usr/bin/runsc", "--root", "/run/gvisor/" + NAMESPACE, "delete", "--force", NAME]),
    ({}, None),
    ({"BinaryName": "runsc"}, None),
    ({"BinaryName": "/usr/bin/runsc", "Root": "relative"}, None),
])
def test_runtime_cleanup_argv_comes_from_the_configuration(options, argv):
    handler = {"runtime_type": "io.containerd.runc.v2", "options": options}
    assert _containerd.runsc_cleanup_argv(handler, NAMESPACE, NAME, trusted=lambda path: True) == argv


def test_runtime_cleanup_needs_a_trusted_binary_and_the_runc_shim(tmp_path):
    gvisor = {"runtime_type": "io.containerd.runc.v2", "options": {"BinaryName": "/usr/bin/runsc"}}
    assert _containerd.runsc_cleanup_argv(gvisor, NAMESPACE, NAME)[0] == "/usr/bin/runsc"
    # a wrapper anyone could have written (here: under /tmp) is never run
    wrapper = tmp_path / "runsc-wrapper"
    wrapper.write_text("#!/bin/sh\nexit 0\n")
    wrapper.chmod(0o755)
    assert _containerd.runsc_cleanup_argv({"runtime_type": "io.containerd.runc.v2",
                                           "options": {"BinaryName": str(wrapper)}}, NAMESPACE, NAME) is None
    # another shim type keeps its runtime state elsewhere: nothing is guessed
    assert _containerd.runsc_cleanup_argv({"runtime_type": "io.containerd.runsc.v1",
                                           "options": {"BinaryName": "/usr/bin/runsc"}}, NAMESPACE, NAME) is None
    assert _containerd.runsc_cleanup_argv(gvisor, NAMESPACE, "../x") is None


def test_handlers_with_a_root_pass_it_to_ctr_run_and_skip_phases(fake_module):
    _module, client = _client(fake_module)
    gvisor = {"runtime_type": "io.containerd.runc.v2", "options": {"BinaryName": "/usr/bin/runsc", "Root": "/run/g"}}
    assert client.ctr_runtime_args(gvisor) == ["--runtime", "io.containerd.runc.v2", "--runc-binary",
                                               "/usr/bin/runsc", "--runc-root", "/run/g"]
    assert client.phases_unsupported({"runtime_type": "io.containerd.runc.v2", "options": {"Root": "/run/g"}})


# -- is_orphan ----------------------------------------------------------------------

def _labels(owner, expires):
    return {_containerd.LABEL_RUN_ID: "r", _containerd.LABEL_OWNER: owner, _containerd.LABEL_EXPIRES: str(expires)}


def _dead_pid():
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_is_orphan_expired():
    me = "%d:%s" % (os.getpid(), process_start_ticks(os.getpid()))
    now = time.time()
    assert is_orphan(_labels(me, int(now) - 1), now) is True


def test_is_orphan_owner_dead():
    now = time.time()
    assert is_orphan(_labels("%d:12345" % _dead_pid(), int(now) + 600), now) is True


def test_is_orphan_owner_alive_same_start():
    now = time.time()
    me = "%d:%s" % (os.getpid(), process_start_ticks(os.getpid()))
    assert is_orphan(_labels(me, int(now) + 600), now) is False


def test_is_orphan_pid_reused():
    now = time.time()
    ticks = int(process_start_ticks(os.getpid()))
    assert is_orphan(_labels("%d:%d" % (os.getpid(), ticks + 1), int(now) + 600), now) is True


@pytest.mark.parametrize("labels", [
    {},
    None,
    {"app": "serving-model"},
    {_containerd.LABEL_EXPIRES: "9999999999"},
    {_containerd.LABEL_EXPIRES: "1", _containerd.LABEL_OWNER: "1:1"},
    {_containerd.LABEL_EXPIRES: "9999999999", _containerd.LABEL_OWNER: "garbage", _containerd.LABEL_RUN_ID: "r"},
    {_containerd.LABEL_EXPIRES: "soon", _containerd.LABEL_OWNER: "1:1", _containerd.LABEL_RUN_ID: "r"},
    {_containerd.LABEL_OWNER: "%d:1" % os.getpid()},
    # a trailing newline is no valid value (\A...\Z, not ^...$)
    {_containerd.LABEL_EXPIRES: "1\n", _containerd.LABEL_OWNER: "1:1", _containerd.LABEL_RUN_ID: "r"},
    {_containerd.LABEL_EXPIRES: "1", _containerd.LABEL_OWNER: "1:1\n", _containerd.LABEL_RUN_ID: "r"},
    {_containerd.LABEL_EXPIRES: "1", _containerd.LABEL_OWNER: "1:1", _containerd.LABEL_RUN_ID: "abc\n"},
    {_containerd.LABEL_EXPIRES: 1, _containerd.LABEL_OWNER: "1:1", _containerd.LABEL_RUN_ID: "r"},
])
def test_missing_or_bad_labels_are_foreign_never_orphans(labels):
    # Without kata-fleet's own mark nothing is provably ours, however old or ownerless it looks.
    assert is_orphan(labels, time.time()) is False
    assert _containerd.ownership(labels, time.time()) == _containerd.FOREIGN


def test_ownership_states():
    now = time.time()
    me = "%d:%s" % (os.getpid(), process_start_ticks(os.getpid()))
    assert _containerd.ownership(_labels(me, int(now) + 600), now) == _owner.LIVE
    assert _containerd.ownership(_labels(me, int(now) - 1), now) == _containerd.STALE
    assert _containerd.ownership(_labels("%d:1" % _dead_pid(), int(now) + 600), now) == _containerd.STALE


# -- sweep --------------------------------------------------------------------------

SNAPSHOTS_LIST = (
    "KEY                                                                     PARENT KIND      \n"
    "%s"
    "sha256:4219e61881596e5705473fd13660ed74de8676cf06efadccd40f98567d6c556a        Committed \n")
PARENT = "sha256:4219e61881596e5705473fd13660ed74de8676cf06efadccd40f98567d6c556a"


def _snapshot_info(name, labels, age, now):
    info = {"Kind": "Active", "Name": name, "Parent": PARENT,
            "Created": time.strftime("%Y-%m-%dT%H:%M:%S.123456789Z", time.gmtime(now - age)),
            "Updated": time.strftime("%Y-%m-%dT%H:%M:%S.123456789Z", time.gmtime(now - age))}
    if labels is not None:
        info["Labels"] = labels
    return json.dumps(info)


def test_sweep_removes_only_what_is_provably_ours_and_stale(fake_module):
    module, client = _client(fake_module)
    now = time.time()
    me = "%d:%s" % (os.getpid(), process_start_ticks(os.getpid()))
    dead = "%d:1" % _dead_pid()
    module.on("containers", "list", "--quiet",
              out="kf-old-runc-iso\nkf-live-runc-iso\nneighbour-web\nkf-dead-kata-iso\nkf-serving-model\n")
    module.on("containers", "list", "--quiet", 'labels."io.kata-fleet.owner"',
              out="kf-old-runc-iso\nkf-live-runc-iso\nkf-dead-kata-iso\n")
    module.on("containers", "info", "kf-old-runc-iso",
              out=json.dumps({"ID": "kf-old-runc-iso", "Labels": _labels(me, int(now) - 10)}))
    module.on("containers", "info", "kf-live-runc-iso",
              out=json.dumps({"ID": "kf-live-runc-iso", "Labels": _labels(me, int(now) + 600)}))
    module.on("containers", "info", "kf-dead-kata-iso",
              out=json.dumps({"ID": "kf-dead-kata-iso", "Labels": _labels(dead, int(now) + 600)}))
    # A workload's container that merely shares the prefix: no kata-fleet labels.
    module.on("containers", "info", "kf-serving-model",
              out=json.dumps({"ID": "kf-serving-model", "Labels": {"app": "serving-model"}}))
    module.on("snapshots", "list", out=SNAPSHOTS_LIST % "".join(
        "%s %s Active    \n" % (key, PARENT) for key in (
            "kf-live-runc-iso", "kf-serving-model", "kf-lost-runc-iso", "kf-young-runc-iso", "kf-cache-layer",
            "neighbour-web")))
    # Lonely snapshots: ours of a dead owner goes however young; ours of a live owner and the cache layer stay.
    module.on("snapshots", "info", "kf-lost-runc-iso",
              out=_snapshot_info("kf-lost-runc-iso", _labels(dead, int(now) + 600), 5, now))
    module.on("snapshots", "info", "kf-young-runc-iso",
              out=_snapshot_info("kf-young-runc-iso", _labels(me, int(now) + 600), 5, now))
    module.on("snapshots", "info", "kf-cache-layer", out=_snapshot_info("kf-cache-layer", None, 86400, now))
    module.on("containers", "info", "kf-lost-runc-iso", rc=1, err="ctr: container not found\n")
    module.on("containers", "info", "kf-young-runc-iso", rc=1, err="ctr: container not found\n")
    module.on("containers", "info", "kf-cache-layer", rc=1, err="ctr: container not found\n")

    removed, foreign = client.sweep(now=now)

    assert removed == ["kf-old-runc-iso", "kf-dead-kata-iso", "kf-lost-runc-iso"]
    assert foreign == ["kf-serving-model", "kf-cache-layer"]
    destructive = [argv for argv in module.calls if {"kill", "delete"} & set(argv)]
    assert destructive == (
        [_ctr(*[w if w != NAME else "kf-old-runc-iso" for w in step]) for step in CLEANUP[1:]]
        + [_ctr(*[w if w != NAME else "kf-dead-kata-iso" for w in step]) for step in CLEANUP[1:]]
        + [_ctr("snapshots", "delete", "kf-lost-runc-iso")])
    # a neighbour's container is not even inspected; the foreign kf- ones are read, never changed
    assert module.calls_with("neighbour-web") == []
    assert all({"kill", "delete", "rm"}.isdisjoint(argv) for argv in module.calls_with("kf-serving-model"))
    assert all({"kill", "delete", "rm"}.isdisjoint(argv) for argv in module.calls_with("kf-cache-layer"))


def test_sweep_finds_a_stale_nerdctl_container_by_its_labels(fake_module, monkeypatch):
    """nerdctl names a container by a hex id: the owner-label filter finds it, its name label does not matter."""
    module, client = _client(fake_module, nerdctl=True)
    now = time.time()
    other_hex = "aa" * 32
    module.on("containers", "list", "--quiet", out="%s\n%s\n" % (NERDCTL_ID, other_hex))
    module.on("containers", "list", "--quiet", 'labels."io.kata-fleet.owner"', out=NERDCTL_ID + "\n")
    module.on("containers", "info", NERDCTL_ID,
              out=_nerdctl_info(NAME, _labels("%d:1" % _dead_pid(), int(now) + 600)))
    # as ctr answers a label filter no container matches
    module.on("containers", "list", "--quiet", 'labels."nerdctl/name"==%s' % NERDCTL_ID, out="")
    looked_up, killed = [], []
    monkeypatch.setattr(_containerd, "find_shims",
                        lambda ns, cid, address: looked_up.append(cid) or ([99] if cid == NERDCTL_ID else []))
    monkeypatch.setattr(_containerd, "kill_tree", killed.append)
    removed, foreign = client.sweep(now=now)
    assert (removed, foreign) == ([NERDCTL_ID], [])
    # the other hex id (a neighbour's nerdctl container, no kata-fleet label) is not even inspected
    assert module.calls_with(other_hex) == []
    assert [NERDCTL, "--address", ADDRESS, "--namespace", NAMESPACE, "rm", "--force", NERDCTL_ID] in module.calls
    assert _ctr("tasks", "kill", "--signal", "SIGKILL", NERDCTL_ID) in module.calls
    assert _ctr("snapshots", "delete", NERDCTL_ID) in module.calls
    assert looked_up == [NERDCTL_ID] and killed == [99]


def test_sweep_leaves_a_container_whose_labels_cannot_be_read(fake_module):
    # Unknown is not orphaned: a passing ctr error must not kill another run's live probe.
    module, client = _client(fake_module)
    module.on("containers", "list", "--quiet", out="kf-x\n")
    module.on("containers", "info", rc=1, err="ctr: context deadline exceeded\n")
    module.on("snapshots", "list", out="KEY PARENT KIND\n")
    assert client.sweep(now=time.time()) == ([], [])
    assert [argv for argv in module.calls if "delete" in argv] == []


def test_sweep_with_ctr_failing_removes_nothing(fake_module):
    module, client = _client(fake_module)
    module.on("containers", "list", rc=1, out="", err="ctr: namespace not found\n")
    module.on("snapshots", "list", rc=1, out="", err="ctr: namespace not found\n")
    assert client.sweep() == ([], [])
    assert [argv for argv in module.calls if "delete" in argv] == []


def test_no_argv_is_ever_a_shell_string(fake_module):
    module, client = _client(fake_module, nerdctl=True)
    module.on("timeout", rc=124)
    client.run_once(NAME, IMAGE, KATA_DRAGONBALL, COMMAND, "run1", 5)
    client.sweep()
    for argv in module.calls:
        assert isinstance(argv, list) and all(isinstance(word, str) for word in argv)
        assert not re.match(r"^(/bin/)?(ba)?sh$", argv[0])


# -- names unique per containerd instance ------------------------------------------------

def test_instance_tag_differs_per_socket_and_namespace():
    tags = set(_containerd.instance_tag(address, namespace)
               for address in ("/run/containerd/containerd.sock", "/run/containerd-2/containerd.sock")
               for namespace in ("kata-fleet", "kata-fleet-2"))
    assert len(tags) == 4 and all(re.fullmatch(r"[0-9a-f]{8}", tag) for tag in tags)
    assert _containerd.instance_tag(ADDRESS, NAMESPACE) == _containerd.instance_tag(ADDRESS, NAMESPACE)


def test_two_instances_name_the_same_probe_differently(fake_module):
    module = fake_module(bins={"ctr": CTR})
    one = ContainerdClient(module, "/run/containerd/containerd.sock", NAMESPACE, "/etc/c.toml")
    two = ContainerdClient(module, "/run/containerd-2/containerd.sock", NAMESPACE, "/etc/c.toml")
    assert one.container_name("20261201T040000-1a2b", "runc", "http") == \
        "kf-%s-20261201T040000-1a2b-runc-http" % one.tag
    assert one.container_name("r", "runc", "iso") != two.container_name("r", "runc", "iso")
    # the network namespace and its veth names derive from the container name, so they differ too
    assert hashlib.sha256(one.container_name("r", "runc", "http").encode()).hexdigest()[:8] != \
        hashlib.sha256(two.container_name("r", "runc", "http").encode()).hexdigest()[:8]


@pytest.mark.parametrize("handler", ["runc", "kata qemu/x", "k" * 60, "kata-" + "x" * 45, "kata-" + "x" * 46])
def test_container_names_are_valid_containerd_ids_within_76_characters(fake_module, handler):
    _module, client = _client(fake_module)
    name = client.container_name("r" * 40, handler, "s") + "w12"
    assert len(name) <= 76 and _containerd.ID_PATTERN.match(name), name
    # two long handler names that share their first characters stay apart
    assert client.container_name("r" * 40, "kata-" + "x" * 45, "s") != client.container_name("r" * 40, "kata-" + "x" * 46, "s")


def test_run_once_output_is_bounded_and_overflow_reported(fake_module):
    module, client = _client(fake_module)
    seen = {}

    def runner(argv, timeout=None, max_bytes=None):
        seen.update(timeout=timeout, max_bytes=max_bytes)
        return _exec.Result(0, "x" * 10, "", 0.1234, stdout_dropped=20 * 1024 * 1024)

    client.runner = runner
    run = client.run_once(NAME, IMAGE, RUNC, COMMAND, "run1", 30)
    assert seen == {"timeout": 30 + _containerd.KILL_GRACE_SECONDS + 2, "max_bytes": _containerd.MAX_OUTPUT_BYTES}
    assert run.seconds == 0.1234 and run.stdout == "x" * 10
    assert isinstance(run, _exec.Result) and "stdout %d bytes" % (20 * 1024 * 1024) in run.overflow_note()


def test_run_once_timed_out_by_exec_cleans_up(fake_module):
    module, client = _client(fake_module)
    client.runner = lambda argv, timeout=None, max_bytes=None: _exec.Result(-9, "", "", 37.0, timed_out=True)
    run = client.run_once(NAME, IMAGE, RUNC, COMMAND, "run1", 30)
    assert run.timed_out is True
    assert module.calls == [_ctr(*step) for step in CLEANUP]
