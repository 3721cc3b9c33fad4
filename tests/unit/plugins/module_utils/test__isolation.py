# -*- coding: utf-8 -*-
"""_isolation: isolation_probe's work, which verify_host shares.

The module's whole run (scripted ctr, recorded probe output) is tested in
plugins/modules/test_modules.py and verify_host's in test_verify_host.py; these
tests take its parts: the detached run's argv, waiting for the end marker in the
container's log (with a scripted clock and task status), the bounded log, and
``run`` over a ProbeSetup.
"""

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _containerd, _isolation, _module, _probe
from conftest import CTR, FakeModule
from ctr_answers import DIGEST, IMAGE, NAMESPACE, images_ls
from probe_output import NONCE

END = _probe.marker(NONCE, _probe.END_SECTION)


class Clock:
    """monotonic() for wait_for_output: each call moves on by ``step``; sleep() records what it was asked."""

    def __init__(self, step=0.05):
        self.now, self.step, self.slept = 0.0, step, []

    def __call__(self):
        self.now += self.step
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)


class Tasks:
    """task_status() answers from a list (the last one repeats); every question is recorded."""

    def __init__(self, *answers):
        self.answers, self.asked = list(answers), []

    def task_status(self, name):
        self.asked.append(name)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_probe_script_keeps_the_container_alive_for_the_hosts_witness():
    script = _isolation.probe_script(NONCE, 30.7)
    assert script.startswith(_probe.script(NONCE)) and script.endswith("\nexec sleep 30\n")


def test_detached_argv(socket_path):
    module = FakeModule(bins={"ctr": CTR})
    client = _containerd.ContainerdClient(module, socket_path, NAMESPACE, "/nonexistent/config.toml", "ctr")
    labels = {"io.kata-fleet.run-id": "r1", "io.kata-fleet.owner": "1:2"}
    handler = {"runtime_type": "io.containerd.kata.v2", "options": {"ConfigPath": "/etc/kata/c.toml"}}
    argv = _isolation.detached_argv(client, "kf-x", IMAGE, handler, ["/bin/sh", "-c", "true"], labels,
                                    "/run/kata-fleet/logs/kf-x.log", 30)
    assert argv[:2] == ["timeout", "30s"]
    assert argv[2:8] == [CTR, "--address", socket_path, "--namespace", NAMESPACE, "run"]
    assert argv[8:11] == ["--detach", "--log-uri", "file:///run/kata-fleet/logs/kf-x.log"]
    assert argv[-5:] == [IMAGE, "kf-x", "/bin/sh", "-c", "true"]
    assert argv[argv.index("--runtime-config-path") + 1] == "/etc/kata/c.toml"
    # the owner labels on the container and on its snapshot, so the sweep can tell ours from anyone's
    for flag in ("--label", "--snapshotter-label"):
        assert [argv[i + 1] for i, word in enumerate(argv) if word == flag] == [
            "io.kata-fleet.owner=1:2", "io.kata-fleet.run-id=r1"]
    assert "--with-ns" not in argv and "--net-host" not in argv


def test_read_log_is_bounded_and_empty_when_absent(tmp_path):
    path = tmp_path / "kf.log"
    assert _isolation.read_log(str(path)) == ""
    path.write_bytes(b"a" * (_isolation.MAX_LOG_BYTES + 10) + b"\xff")
    assert len(_isolation.read_log(str(path))) == _isolation.MAX_LOG_BYTES


def framed_probe():
    return "kata-fleet probe\n" + _probe.marker(NONCE, "uname") + "\nLinux\n" + END + "\n"


def test_wait_returns_the_output_once_the_end_marker_is_there(tmp_path):
    path = tmp_path / "kf.log"
    path.write_text(framed_probe())
    clock, tasks = Clock(), Tasks("RUNNING")
    text, why = _isolation.wait_for_output(tasks, "kf-x", str(path), NONCE, 10.0, clock.sleep, clock)
    assert (text, why) == (framed_probe(), None)
    assert clock.slept == [] and tasks.asked == []


def test_an_end_marker_without_the_nonce_is_not_the_end(tmp_path):
    path = tmp_path / "kf.log"
    path.write_text(_probe.marker("f" * 32, _probe.END_SECTION) + "\n")
    clock = Clock(step=1.0)
    text, why = _isolation.wait_for_output(Tasks("RUNNING"), "kf-x", str(path), NONCE, 5.0, clock.sleep, clock)
    assert why == "timeout" and len(clock.slept) == 4  # polled every POLL_SECONDS until the deadline


def test_a_task_that_stops_before_the_end_marker_is_named(tmp_path):
    path = tmp_path / "kf.log"
    path.write_text("sh: can't open '/proc/version'\n")
    clock, tasks = Clock(step=0.001), Tasks("RUNNING", "STOPPED")
    text, why = _isolation.wait_for_output(tasks, "kf-x", str(path), NONCE, 60.0, clock.sleep, clock)
    assert why == "the probe container stopped before printing its end marker"
    assert text == "sh: can't open '/proc/version'\n"
    # the task is asked every tenth poll, not on every one
    assert tasks.asked == ["kf-x", "kf-x"] and len(clock.slept) == 19


def test_a_task_that_vanished_is_named(tmp_path):
    path = tmp_path / "kf.log"
    clock = Clock(step=0.001)
    text, why = _isolation.wait_for_output(Tasks(None), "kf-x", str(path), NONCE, 60.0, clock.sleep, clock)
    assert (text, why) == ("", "the probe container has no task before printing its end marker")


def test_an_end_marker_written_as_the_task_stops_still_counts(tmp_path):
    path = tmp_path / "kf.log"
    path.write_text("partial\n")

    class Finishing(Tasks):
        def task_status(self, name):
            path.write_text(framed_probe())  # the rest of the output lands as the task exits
            return "STOPPED"

    clock = Clock(step=0.001)
    text, why = _isolation.wait_for_output(Finishing("STOPPED"), "kf-x", str(path), NONCE, 60.0, clock.sleep, clock)
    assert (text, why) == (framed_probe(), None)


def test_output_past_the_bound_without_an_end_marker_fails(tmp_path):
    path = tmp_path / "kf.log"
    path.write_text("x" * _isolation.MAX_LOG_BYTES)
    clock = Clock()
    text, why = _isolation.wait_for_output(Tasks("RUNNING"), "kf-x", str(path), NONCE, 60.0, clock.sleep, clock)
    assert why == "the probe printed more than %d bytes without its end marker" % _isolation.MAX_LOG_BYTES
    assert clock.slept == []


def test_tail_keeps_the_last_three_lines_without_control_characters():
    assert _isolation._tail("one\ntwo\nthree\nfour\x1b[31m\n\n") == "two three four[31m"
    assert _isolation._tail("a\x1b[2Jb") == "a[2Jb"
    assert _isolation._tail("") == "" and _isolation._tail(None) == ""


# -- run(setup) ---------------------------------------------------------------------------------------------

HANDLERS = {"runc": {"runtime_type": "io.containerd.runc.v2"}, "runsc": {"runtime_type": "io.containerd.runsc.v1"},
            "kata": {"runtime_type": "io.containerd.kata.v2"}}


@pytest.fixture
def probes(monkeypatch):
    """probe_handler stood in: records its arguments, fails the handlers named in ``failing``."""
    calls, failing = [], {}

    def probe_handler(client, name, handler, image, run_id, timeout, host, identity=None, reader=None):
        calls.append((name, handler["runtime_type"], image, run_id, timeout, host, identity, reader))
        error = failing.get(name)
        return {"handler": name, "status": "failed" if error else "ok", "error": error}

    monkeypatch.setattr(_isolation, "probe_handler", probe_handler)
    return calls, failing


def _setup(socket_path, requested, host=None, swept=()):
    module = FakeModule(bins={"ctr": CTR}).on("images", "ls", out=images_ls(IMAGE))
    client = _containerd.ContainerdClient(module, socket_path, NAMESPACE, "/nonexistent/config.toml", "ctr")
    params = {"image": IMAGE, "timeout": 30, "busybox_path": "/nonexistent/busybox"}
    return _module.ProbeSetup(module, client, HANDLERS, requested, "r1", params, swept, host)


def test_run_probes_every_requested_handler_and_gives_the_fact(socket_path, probes):
    calls, failing = probes
    host = {"boot_id": "b", "kernel_release": "6.1.0"}
    setup = _setup(socket_path, ["runsc", "runc"], host=host, swept=["kf-old"])
    result = _isolation.run(setup, reader="a reader")
    identity = {"image_source": "registry", "image_digest": DIGEST}  # not built from that (absent) busybox
    assert calls == [("runsc", "io.containerd.runsc.v1", IMAGE, "r1", 30, host, identity, "a reader"),
                     ("runc", "io.containerd.runc.v2", IMAGE, "r1", 30, host, identity, "a reader")]
    isolation = result["isolation"]
    assert list(result) == ["changed", "swept", "isolation", "ansible_facts"]
    assert result["swept"] == ["kf-old"] and result["ansible_facts"] == {"kata_fleet_isolation": isolation}
    assert dict((key, isolation[key]) for key in ("run_id", "image", "image_source", "image_digest", "host")) == {
        "run_id": "r1", "image": IMAGE, "image_source": "registry", "image_digest": DIGEST, "host": host}
    assert list(isolation["runtimes"]) == ["runsc", "runc"]
    assert setup.take_swept() == []  # reported once


def test_run_fails_naming_every_failed_handler_after_probing_all(socket_path, probes):
    calls, failing = probes
    failing.update(kata="the probe container failed (rc=1): no KVM", runsc="timeout")
    result = _isolation.run(_setup(socket_path, ["runsc", "kata", "runc"], host={}))
    assert [call[0] for call in calls] == ["runsc", "kata", "runc"]
    assert result["failed"] is True and "ansible_facts" not in result
    assert result["msg"] == "kata: the probe container failed (rc=1): no KVM; runsc: timeout"
    assert result["isolation"]["runtimes"]["runc"]["status"] == "ok"


def test_run_reads_the_hosts_view_when_the_setup_has_none(socket_path, probes, monkeypatch):
    calls, failing = probes
    monkeypatch.setattr(_isolation, "host_view", lambda module: {"boot_id": "read now"})
    result = _isolation.run(_setup(socket_path, ["runc"]))
    assert result["isolation"]["host"] == {"boot_id": "read now"} and calls[0][5] == {"boot_id": "read now"}
