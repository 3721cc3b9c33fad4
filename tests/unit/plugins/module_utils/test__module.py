"""_module.detach_stdin: commands a module runs never read the SSH session's terminal.

Over SSH without pipelining a module's stdin is a terminal (``ssh -tt``); a
command that ``timeout`` runs is in a background process group, so reading that
terminal stops it (SIGTTIN) until the timeout ends it.  ``ctr run`` copies its
stdin into the container and so stopped every probe of a fleet run.  These tests
run ``timeout 2 cat`` (cat reads stdin like ctr run does) under a real terminal.

_module.prepare_probe_run / prepare / ProbeSetup: the one start of the probe
modules and verify_host (ping, handlers, image, sweep, the same messages), and
probe_every_handler / handlers_outcome, the "probe every handler, then fail" tail.
"""

import json
import os
import pty
import subprocess
import time

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _containerd, _module
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import ContainerdError
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._linux import process_start_ticks
from conftest import CONTAINERD, CTR, FakeModule
from ctr_answers import IMAGE, IMAGES_HEADER, NAMESPACE, script_containerd


def _timeout_cat_under_a_terminal(detach):
    """Exit code of ``timeout 2 cat`` in a child whose stdin is its controlling terminal, and seconds taken."""
    started = time.monotonic()
    pid, master = pty.fork()
    if pid == 0:  # the child: stdin, stdout and stderr are the terminal, as under ssh -tt
        code = 99
        try:
            if detach:
                _module.detach_stdin()
            code = subprocess.run(["timeout", "2", "cat"], check=False).returncode
        finally:
            os._exit(code)
    try:
        while True:
            try:
                if not os.read(master, 1024):
                    break
            except OSError:  # the terminal closes with the child
                break
        _pid, status = os.waitpid(pid, 0)
    finally:
        os.close(master)
    return os.waitstatus_to_exitcode(status), time.monotonic() - started


def test_a_command_reading_the_terminal_hangs_until_its_timeout():
    # The failure the fix is for: timeout(1) exits 124, cat never got to read.
    code, seconds = _timeout_cat_under_a_terminal(detach=False)
    assert code == 124 and seconds >= 2


def test_with_stdin_detached_it_reads_end_of_file_at_once():
    code, seconds = _timeout_cat_under_a_terminal(detach=True)
    assert code == 0 and seconds < 2


def test_client_from_params_detaches_stdin(monkeypatch):
    calls = []
    monkeypatch.setattr(_module, "detach_stdin", lambda: calls.append("detached"))
    monkeypatch.setattr(_module, "ContainerdClient", lambda *args: ("client",) + args)

    class Module:
        params = {"address": "/a.sock", "namespace": "ns", "config_path": "/c.toml", "client": "ctr"}

    module = Module()
    assert _module.client_from_params(module) == ("client", module, "/a.sock", "ns", "/c.toml", "ctr")
    assert calls == ["detached"]


# -- the probe setup: one start for the probe modules and verify_host ---------------------------------------

class Ended(Exception):
    """fail_json was called: the module ends here with ``result``."""

    def __init__(self, result):
        Exception.__init__(self, result["msg"])
        self.result = result


class ProbeModule(FakeModule):
    """FakeModule with the options a probe module takes and an AnsibleModule's fail_json."""

    def __init__(self, address, check_mode=False, **params):
        FakeModule.__init__(self, bins={"ctr": CTR, "containerd": CONTAINERD}, check_mode=check_mode)
        self.params = dict({"address": address, "namespace": NAMESPACE, "client": "ctr",
                            "config_path": "/nonexistent/kf-unit/config.toml", "runtimes": [], "image": IMAGE,
                            "timeout": 30, "run_id": "unit-1"}, **params)

    def fail_json(self, **result):
        raise Ended(result)


@pytest.fixture
def probe_module(socket_path, fixture_text, monkeypatch):
    monkeypatch.setattr(_module, "detach_stdin", lambda: None)  # the test's own stdin stays

    def make(**params):
        return script_containerd(ProbeModule(socket_path, **params), fixture_text, socket_path)
    return make


def test_prepare_probe_run_gives_the_setup_every_capability_takes(probe_module):
    module = probe_module()
    setup = _module.prepare_probe_run(module)
    assert (setup.run_id, setup.image, setup.timeout, setup.check_mode) == ("unit-1", IMAGE, 30, False)
    assert setup.requested == ["kata", "kata-dragonball", "runc"]  # every configured handler, sorted
    assert setup.handlers["runc"]["runtime_type"] == "io.containerd.runc.v2"
    assert setup.params is module.params and setup.module is module and setup.host is None
    # ping, handlers, image, sweep: once each
    assert len(module.calls_with("version")) == 1 and len(module.calls_with("config", "dump")) == 1
    assert len(module.calls_with("images", "ls")) == 1 and len(module.calls_with("containers", "list", "--quiet")) == 2


def test_the_sweep_is_reported_once_by_the_first_capability(probe_module):
    setup = _module.ProbeSetup(probe_module(), None, {}, [], "r", {}, ["kf-old"])
    assert setup.take_swept() == ["kf-old"]
    assert setup.take_swept() == []


@pytest.mark.parametrize("params, words", [
    ({"runtimes": ["runc", "gvisor"]},
     ["gvisor", "not configured", "kata, kata-dragonball, runc", "kata_fleet_runtimes"]),
    ({"image": "localhost/absent:1"}, ["localhost/absent:1", "not in containerd namespace", NAMESPACE,
                                       "run kata_fleet.runtimes.probe_image first"]),
])
def test_prepare_probe_run_fails_naming_the_fix(probe_module, params, words):
    module = probe_module(**params)
    with pytest.raises(Ended) as ended:
        _module.prepare_probe_run(module)
    assert ended.value.result["swept"] == []
    for word in words:
        assert word in ended.value.result["msg"]
    assert module.calls_with("containers", "list") == []  # nothing swept when the run cannot start


def test_prepare_probe_run_fails_with_the_pings_message(socket_path, tmp_path, monkeypatch):
    monkeypatch.setattr(_module, "detach_stdin", lambda: None)
    address = str(tmp_path / "absent.sock")
    with pytest.raises(Ended) as ended:
        _module.prepare_probe_run(ProbeModule(address))
    assert ended.value.result["msg"].startswith("containerd does not answer at %s" % address)
    assert ended.value.result["swept"] == []


def test_check_image_in_check_mode_says_nothing_can_run_yet(probe_module):
    module = probe_module()
    module.on("images", "ls", out=IMAGES_HEADER)
    client = _module.client_from_params(module)
    with pytest.raises(ContainerdError, match=r"\Acheck mode: the probe image .* is not in containerd yet"):
        _module.check_image(client, module.params, check_mode=True)
    with pytest.raises(ContainerdError, match="run kata_fleet.runtimes.probe_image first"):
        _module.check_image(client, module.params)


def test_prepare_takes_a_known_digest_and_asks_nothing_more(probe_module):
    """verify_host: probe_image gave the image and its digest, hostview the handlers; one sweep, no second look."""
    module = probe_module()
    client = _module.client_from_params(module)
    handlers = {"runc": {"runtime_type": "io.containerd.runc.v2"}}
    params = dict(module.params, image="localhost/kata-fleet/probe:feed")
    setup = _module.prepare(module, client, handlers, "unit-1", params, digest="sha256:" + "a" * 64,
                            host={"boot_id": "b"})
    assert (setup.image, setup.requested, setup.host) == ("localhost/kata-fleet/probe:feed", ["runc"], {"boot_id": "b"})
    assert module.calls_with("images", "ls") == [] and module.calls_with("version") == []
    with pytest.raises(ContainerdError, match="check mode: the probe image localhost/kata-fleet/probe:feed"):
        _module.prepare(probe_module(check_mode=True), client, handlers, "unit-1", params, digest=None)


def test_connected_client_ends_the_module_with_its_extra_fields(tmp_path, monkeypatch):
    monkeypatch.setattr(_module, "detach_stdin", lambda: None)
    module = ProbeModule(str(tmp_path / "absent.sock"))
    module.bins.pop("ctr")
    with pytest.raises(Ended) as ended:
        _module.connected_client(module, swept=[])
    assert ended.value.result == {"msg": ended.value.result["msg"], "swept": []}
    assert "ctr is not on the PATH" in ended.value.result["msg"]


def test_probe_every_handler_probes_each_in_order_even_after_a_failure():
    seen = []

    def probe(name, handler):
        seen.append((name, handler["runtime_type"]))
        return {"status": "failed" if name == "kata" else "ok", "error": "boom" if name == "kata" else None}

    setup = _module.ProbeSetup(FakeModule(), None, {"kata": {"runtime_type": "k"}, "runc": {"runtime_type": "r"},
                                                    "runsc": {"runtime_type": "g"}}, ["runsc", "kata", "runc"],
                               "r", {}, [])
    entries = _module.probe_every_handler(setup, probe)
    assert seen == [("runsc", "g"), ("kata", "k"), ("runc", "r")]
    assert list(entries) == ["runsc", "kata", "runc"] and entries["kata"]["error"] == "boom"


def test_handlers_outcome_names_every_failed_handler_and_keeps_the_data():
    entries = {"runsc": {"status": "failed", "error": "did not start"}, "runc": {"status": "ok", "error": None},
               "kata": {"status": "failed", "error": "no KVM"}}
    data = {"runtimes": entries}
    failed = _module.handlers_outcome({"changed": False, "swept": [], "startup": data}, entries,
                                      "kata_fleet_startup", data)
    assert failed == {"failed": True, "changed": False, "swept": [], "startup": data,
                      "msg": "kata: no KVM; runsc: did not start"}
    assert list(failed) == ["failed", "changed", "swept", "startup", "msg"]  # the order module results had
    with_host = _module.handlers_outcome({"changed": False}, entries, "f", data, ["host: cpu: calibration"])
    assert with_host["msg"] == "host: cpu: calibration; kata: no KVM; runsc: did not start"
    host_only = _module.handlers_outcome({"changed": False}, {"runc": entries["runc"]}, "f", data, ["host: x"])
    assert host_only["failed"] is True and host_only["msg"] == "host: x" and "ansible_facts" not in host_only


def test_handlers_outcome_gives_the_fact_when_every_handler_is_ok():
    entries = {"runc": {"status": "ok", "error": None}}
    data = {"runtimes": entries}
    ok = _module.handlers_outcome({"changed": False, "isolation": data}, entries, "kata_fleet_isolation", data)
    assert ok == {"changed": False, "isolation": data, "ansible_facts": {"kata_fleet_isolation": data}}
    assert "failed" not in ok and ok["ansible_facts"]["kata_fleet_isolation"] is data


def test_prepare_sweeps_what_an_interrupted_run_left_and_reports_it_once(probe_module):
    module = probe_module()
    module.on("containers", "list", "--quiet", out="kf-old-runc-iso\n")
    module.on("containers", "info", "kf-old-runc-iso", out=json.dumps({"Labels": {
        _containerd.LABEL_RUN_ID: "19700101T000000-dead",
        _containerd.LABEL_OWNER: "%d:%s" % (os.getpid(), process_start_ticks(os.getpid())),
        _containerd.LABEL_EXPIRES: str(int(time.time()) - 5)}}))
    setup = _module.prepare_probe_run(module)
    assert module.calls_with("containers", "delete", "kf-old-runc-iso")
    assert setup.take_swept() == ["kf-old-runc-iso"] and setup.take_swept() == []


def test_check_mode_sweeps_nothing(probe_module):
    module = probe_module(check_mode=True)
    module.on("containers", "list", "--quiet", out="kf-old-runc-iso\n")
    setup = _module.prepare_probe_run(module)
    assert setup.check_mode is True and setup.swept == []
    assert module.calls_with("containers", "list") == [] and module.calls_with("delete") == []
