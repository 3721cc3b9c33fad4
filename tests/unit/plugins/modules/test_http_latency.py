# -*- coding: utf-8 -*-
"""The http_latency module, run through main() against a scripted containerd.

ctr answers from a FakeModule (conftest.py); the probe network is a recording
stand-in for _netns.ProbeNetwork; _http.wait_until_answering, _http.load and
the memory footprint are replaced, so no network, container or /proc tree is
needed.  LOG_DIR points at a temporary directory.
"""

import os

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _containerd, _http, _httpprobe, _netns
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._stats import summarize
from ansible_collections.kata_fleet.runtimes.plugins.modules import http_latency
from ctr_answers import IMAGE, NAMESPACE, RUN_ID, TAG, cleanup, ctr, script_containerd

KATA_TABLES = '''
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata]
  runtime_type = "io.containerd.kata.v2"
'''
SHIM_PID = 4242424
SERVER_SCRIPT = "echo kata-fleet > /www/index.html && exec httpd -f -v -p 80 -h /www"
REFUSED = "[Errno 111] Connection refused"
MEMORY = {"pss_kib": {"shim": 5800, "vmm": 0, "virtiofsd": 0, "workload": 320}, "total_pss_kib": 6120,
          "processes": [{"pid": SHIM_PID, "name": "containerd-shim", "role": "shim", "pss_kib": 5800}]}


def _name(handler="runc"):
    return "kf-%s-%s-%s-http" % (TAG, RUN_ID, handler)


def _container_argvs(fake):
    """Every command that makes, runs, inspects or removes a container."""
    return [argv for argv in fake.calls
            if argv[:1] == ["timeout"] or any(word in argv for word in ("run", "tasks", "delete", "kill"))]


class _Recorder:
    """Stand-ins for the network, the HTTP side, the footprint and the shim tree; records every call."""

    def __init__(self):
        self.networks = []
        self.events = []
        self.waited = (0.05, (None, None))
        self.loaded = ([0.001, 0.002, 0.003], {}, {}, 0)
        self.memory = MEMORY

    def wait_until_answering(self, url, deadline, timeout=1.0):
        self.events.append(("wait", url, deadline, timeout))
        return self.waited

    def load(self, url, requests, concurrency, timeout, deadline):
        self.events.append(("load", url, requests, concurrency, timeout, deadline))
        return self.loaded

    def footprint(self, shim_pids):
        self.events.append(("footprint", list(shim_pids)))
        return self.memory

    def sweep(self, _module):
        self.events.append(("sweep",))
        return ["kf-old-runc-http"], []

    def kinds(self):
        return [event[0] for event in self.events]


@pytest.fixture
def recorder(monkeypatch, tmp_path):
    record = _Recorder()

    class FakeNetwork(_netns.ProbeNetwork):
        """The real names and path; create/remove only recorded."""

        fail_with = None

        def __init__(self, module, name, cidr, log_path=None):
            super().__init__(module, name, cidr, log_path)
            self.steps = []
            record.networks.append(self)

        def create(self, timeout):
            self.steps.append(("create", timeout))
            record.events.append(("network", self.name))
            if FakeNetwork.fail_with:
                raise _netns.NetworkError(FakeNetwork.fail_with)
            # what allocation gives when nothing else is in use: the next /30 of the cidr (and a record)
            self.host_address, self.container_address, self.prefix = _netns.subnet_for(
                self.cidr, len(record.networks) - 1)
            _netns.write_owner(self.name, timeout, log_path=self.log_path)
            self.made.add("record")

        def remove(self):
            self.steps.append(("remove",))
            record.events.append(("network_remove", self.name))
            # the real removal of the record's files (the log, the record in the temporary OWNER_DIR)
            super().remove()

    record.network_class = FakeNetwork
    monkeypatch.setattr(_netns, "ProbeNetwork", FakeNetwork)
    monkeypatch.setattr(_netns, "sweep", record.sweep)
    monkeypatch.setattr(_http, "wait_until_answering", record.wait_until_answering)
    monkeypatch.setattr(_http, "load", record.load)
    monkeypatch.setattr(_httpprobe, "footprint", record.footprint)
    monkeypatch.setattr(_httpprobe, "LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(_netns, "OWNER_DIR", str(tmp_path / "owners"))
    # the shim of a probe container is found by its -namespace/-id/-address arguments; never touch a real process
    monkeypatch.setattr(_containerd, "find_shims",
                        lambda namespace, cid, address: [SHIM_PID] if cid.startswith("kf-") else [])
    monkeypatch.setattr(_containerd, "kill_tree", lambda pid: record.events.append(("kill_tree", pid)) or [pid])
    return record


@pytest.fixture
def containerd(patched_ansible_module, fixture_text, socket_path, recorder):
    """A scripted containerd 1.6 with runc and kata handlers and the probe image present."""
    fake = patched_ansible_module
    script_containerd(fake, fixture_text, socket_path, KATA_TABLES)
    fake.on("tasks", "list", out="TASK PID STATUS\n%s %d RUNNING\n" % (_name(), SHIM_PID + 1))
    fake.address = socket_path
    fake.recorder = recorder
    return fake


def _args(fake, **extra):
    args = {"image": IMAGE, "address": fake.address, "namespace": NAMESPACE,
            "config_path": "/nonexistent/kf-unit/config.toml", "run_id": RUN_ID, "timeout": 30,
            "runtimes": ["runc"], "requests": 3, "concurrency": 1}
    args.update(extra)
    return args


def _url_args(**extra):
    args = {"url": "http://127.0.0.1:8080/healthz", "requests": 4, "concurrency": 2, "timeout": 30}
    args.update(extra)
    return args


def _log_path(name=None):
    return os.path.join(_httpprobe.LOG_DIR, (name or _name()) + ".log")


def _write_log(lines, name=None):
    os.makedirs(_httpprobe.LOG_DIR)
    with open(_log_path(name), "w") as handle:
        handle.write("".join(line + "\n" for line in lines))


# -- parameter validation ------------------------------------------------------------------

@pytest.mark.parametrize("extra, message", [
    ({"requests": 0}, "requests must be at least 1, got 0"),
    ({"requests": -2, "concurrency": 1}, "requests must be at least 1, got -2"),
    ({"concurrency": 0}, "concurrency must be at least 1, got 0"),
    ({"requests": 4, "concurrency": 5}, "concurrency (5) cannot exceed requests (4)"),
    ({"request_timeout": 0}, "request_timeout must be a positive number of seconds, got 0.0"),
    ({"request_timeout": -1.5}, "request_timeout must be a positive number of seconds, got -1.5"),
    ({"port": 0}, "port must be between 1 and 65535, got 0"),
    ({"port": 70000}, "port must be between 1 and 65535, got 70000"),
    ({"network_cidr": "169.254.77.0/31"},
     "network_cidr: network_cidr 169.254.77.0/31 must be an IPv4 network of /30 or larger"),
    ({"network_cidr": "fd00::/64"}, "network_cidr: network_cidr fd00::/64 must be an IPv4 network of /30 or larger"),
    ({"network_cidr": "169.254.77.5/24"}, "network_cidr: 169.254.77.5/24 has host bits set"),
    ({"network_cidr": "nonsense"}, "network_cidr: 'nonsense' does not appear to be an IPv4 or IPv6 network"),
])
def test_bad_parameters_fail_before_anything_runs(containerd, run_module, extra, message):
    code, result = run_module(http_latency.main, _args(containerd, **extra))
    assert code == 1 and result["failed"] is True
    assert result["msg"] == message
    assert "http" not in result and "ansible_facts" not in result
    assert containerd.calls == []
    assert containerd.recorder.events == [] and containerd.recorder.networks == []


@pytest.mark.parametrize("extra, message", [
    ({"url": "ftp://x"}, "url 'ftp://x' must be an http:// or https:// URL with a host"),
    ({"url": "http://"}, "url 'http://' must be an http:// or https:// URL with a host"),
    ({"url": "notaurl"}, "url 'notaurl' must be an http:// or https:// URL with a host"),
    ({"runtimes": ["runc"]}, "parameters are mutually exclusive: url|runtimes"),
    ({"image": IMAGE}, "parameters are mutually exclusive: url|image"),
    ({"requests": 2, "concurrency": 3}, "concurrency (3) cannot exceed requests (2)"),
])
def test_bad_url_parameters(containerd, run_module, extra, message):
    code, result = run_module(http_latency.main, _url_args(**extra))
    assert code == 1 and result["failed"] is True
    assert result["msg"] == message
    assert containerd.calls == [] and containerd.recorder.events == []


def test_neither_url_nor_image(containerd, run_module):
    code, result = run_module(http_latency.main, {"address": containerd.address, "namespace": NAMESPACE})
    assert code == 1
    assert result["msg"] == "one of the following is required: url, image"
    assert containerd.calls == [] and containerd.recorder.events == []


def test_unknown_handler_fails_before_any_container(containerd, run_module):
    code, result = run_module(http_latency.main, _args(containerd, runtimes=["runc", "gvisor"]))
    assert code == 1
    assert "gvisor" in result["msg"] and "kata, runc" in result["msg"]
    assert _container_argvs(containerd) == [] and containerd.recorder.networks == []


# -- check mode --------------------------------------------------------------------------------

def test_check_mode_plans_per_handler_urls(containerd, run_module):
    code, result = run_module(http_latency.main, _args(
        containerd, runtimes=["runc", "kata"], requests=7, _ansible_check_mode=True))
    assert code == 0, result
    assert result["changed"] is False
    http = result["http"]
    assert http == result["ansible_facts"]["kata_fleet_http"]
    assert http["check_mode"] is True and http["run_id"] == RUN_ID
    assert http["runtimes"] == {
        "runc": {"status": "planned", "requests": 7, "url": "http://169.254.77.2:80/"},
        "kata": {"status": "planned", "requests": 7, "url": "http://169.254.77.6:80/"},
    }
    assert result["swept"] == []
    assert _container_argvs(containerd) == [] and containerd.calls_with("containers", "list") == []
    assert containerd.recorder.events == [] and containerd.recorder.networks == []


def test_check_mode_with_port(containerd, run_module):
    code, result = run_module(http_latency.main, _args(containerd, port=8080, _ansible_check_mode=True))
    assert code == 0, result
    assert result["http"]["runtimes"]["runc"]["url"] == "http://169.254.77.2:8080/"


def test_check_mode_url(containerd, run_module):
    code, result = run_module(http_latency.main, _url_args(_ansible_check_mode=True))
    assert code == 0, result
    assert result["http"]["check_mode"] is True and result["http"]["target"] is None
    assert result["http"]["run_id"]  # a generated one, as in every other mode
    assert containerd.calls == [] and containerd.recorder.events == []


# -- success ----------------------------------------------------------------------------------

def test_success_measures_and_cleans_up(containerd, run_module, tmp_path):
    latencies = [0.0012, 0.0009, 0.0011, 0.0010, 0.0030]
    containerd.recorder.loaded = (latencies, {}, {}, 0)
    code, result = run_module(http_latency.main, _args(containerd, requests=5, concurrency=2, request_timeout=1.5))
    assert code == 0, result
    assert result["changed"] is False
    assert result["swept"] == ["kf-old-runc-http"]
    http = result["http"]
    assert http == result["ansible_facts"]["kata_fleet_http"]
    runc = http["runtimes"]["runc"]
    assert (runc["status"], runc["error"], runc["handler"], runc["runtime_type"], runc["client"]) == (
        "ok", None, "runc", "io.containerd.runc.v2", "ctr")
    assert runc["url"] == "http://169.254.77.2:80/"
    assert (runc["requests"], runc["concurrency"], runc["succeeded"], runc["not_sent"]) == (5, 2, 5, 0)
    assert runc["failures"] == {} and runc["failure_examples"] == {}
    assert runc["latency"] == summarize(latencies)
    assert runc["latency"]["n"] == runc["succeeded"] == 5
    assert runc["memory"] == MEMORY
    assert runc["readiness_seconds"] is not None and runc["readiness_seconds"] >= 0

    name = _name()
    log_path = str(tmp_path / "logs" / (name + ".log"))
    [started] = containerd.calls_with("run", "--detach")
    assert started[:2] == ["timeout", "30s"]
    run = started[2:]
    assert run[:11] == ctr(containerd.address, "run", "--detach", "--with-ns", "network:/var/run/netns/" + name,
                           "--log-uri", "file://" + log_path)
    assert run[11:13] == ["--runtime", "io.containerd.runc.v2"]
    labels = run[13:run.index("--snapshotter-label")]
    assert labels[0::2] == ["--label"] * 3 and labels[-1] == "io.kata-fleet.run-id=%s" % RUN_ID
    assert run[run.index("--snapshotter-label"):run.index(IMAGE)] == [
        word if word != "--label" else "--snapshotter-label" for word in labels]
    assert run[run.index(IMAGE):] == [IMAGE, name, "/bin/sh", "-c", SERVER_SCRIPT]
    assert _httpprobe.SERVER_SCRIPT % 80 == SERVER_SCRIPT

    # the order: sweep, network, server, wait, memory of the shim, load, then removal of all of it
    recorder = containerd.recorder
    assert recorder.kinds() == ["sweep", "network", "wait", "footprint", "load", "kill_tree", "network_remove"]
    assert recorder.events[2][1:] == ("http://169.254.77.2:80/", recorder.events[2][2], 1.5)
    assert recorder.events[3] == ("footprint", [SHIM_PID])
    load = recorder.events[4]
    assert load[1:5] == ("http://169.254.77.2:80/", 5, 2, 1.5)
    # wait and load share the one deadline, the timeout from the container start
    assert load[5] == recorder.events[2][2]
    assert recorder.events[5] == ("kill_tree", SHIM_PID)
    [network] = recorder.networks
    assert network.name == name and network.path == "/var/run/netns/" + name
    assert (network.host_address, network.container_address, network.prefix) == ("169.254.77.1", "169.254.77.2", 30)
    assert network.steps == [("create", 30), ("remove",)]
    index = containerd.calls.index(started)
    assert containerd.calls[index + 1:index + 6] == cleanup(containerd.address, name)
    assert containerd.calls_with("tasks", "list") == []
    assert os.path.isdir(str(tmp_path / "logs")) and not os.path.exists(log_path)


def test_gvisor_host_network_is_named_in_the_entry(containerd, run_module, monkeypatch):
    host = {"runtime": "gvisor", "mode": "host", "path": _netns.RUNSC_NETWORK_PATHS["host"]}
    monkeypatch.setattr(_netns, "runsc_network", lambda pids: host if list(pids) == [SHIM_PID] else None)
    code, result = run_module(http_latency.main, _args(containerd))
    assert code == 0, result
    runc = result["http"]["runtimes"]["runc"]
    assert runc["status"] == "ok" and runc["network"] == host


def test_gvisor_without_network_says_why_there_is_no_latency(containerd, run_module, monkeypatch):
    none = {"runtime": "gvisor", "mode": "none", "path": _netns.RUNSC_NETWORK_PATHS["none"]}
    monkeypatch.setattr(_netns, "runsc_network", lambda pids: none)
    code, result = run_module(http_latency.main, _args(containerd))
    assert code == 1
    entry = result["http"]["runtimes"]["runc"]
    assert entry["status"] == "failed" and entry["network"] == none
    assert entry["error"] == "no HTTP latency: the sandbox has " + _netns.RUNSC_NETWORK_PATHS["none"]
    # no request was tried, and the container and network are still removed
    assert "wait" not in containerd.recorder.kinds() and "load" not in containerd.recorder.kinds()
    assert containerd.recorder.kinds()[-1] == "network_remove"


def test_default_log_dir():
    assert _httpprobe.LOG_DIR == "/run/kata-fleet/logs"


def test_two_handlers_get_their_own_subnets(containerd, run_module):
    code, result = run_module(http_latency.main, _args(containerd, runtimes=["runc", "kata"], port=8080))
    assert code == 0, result
    assert [(net.name, net.host_address, net.container_address) for net in containerd.recorder.networks] == [
        (_name("runc"), "169.254.77.1", "169.254.77.2"), (_name("kata"), "169.254.77.5", "169.254.77.6")]
    runtimes = result["http"]["runtimes"]
    assert runtimes["kata"]["url"] == "http://169.254.77.6:8080/"
    assert runtimes["kata"]["runtime_type"] == "io.containerd.kata.v2"
    [kata] = [argv for argv in containerd.calls_with("run", "--detach") if _name("kata") in argv]
    assert kata[kata.index("--runtime") + 1] == "io.containerd.kata.v2"
    assert kata[-1] == "echo kata-fleet > /www/index.html && exec httpd -f -v -p 8080 -h /www"
    assert all(net.steps[-1] == ("remove",) for net in containerd.recorder.networks)


def test_some_requests_failing_is_ok_with_failures_counted(containerd, run_module):
    latencies = [0.001] * 45
    containerd.recorder.loaded = (latencies, {"reset": 3, "timeout": 2},
                                  {"reset": "Remote end closed connection without response", "timeout": "timed out"}, 0)
    code, result = run_module(http_latency.main, _args(containerd, requests=50, concurrency=5))
    assert code == 0, result
    runc = result["http"]["runtimes"]["runc"]
    assert runc["status"] == "ok" and runc["error"] is None
    assert runc["succeeded"] == 45 and runc["latency"]["n"] == 45
    assert runc["failures"] == {"reset": 3, "timeout": 2}
    assert runc["failure_examples"]["timeout"] == "timed out"


# -- failures ------------------------------------------------------------------------------

def test_server_never_answers(containerd, run_module):
    containerd.recorder.waited = (None, ("refused", REFUSED))
    containerd.on("tasks", "list", out="TASK PID STATUS\n%s 123 STOPPED\nkf-other-http 9 RUNNING\n" % _name())
    _write_log(["line %d" % number for number in range(1, 8)])
    code, result = run_module(http_latency.main, _args(containerd))
    assert code == 1 and result["failed"] is True
    assert "ansible_facts" not in result
    runc = result["http"]["runtimes"]["runc"]
    assert runc["status"] == "failed"
    assert runc["error"].startswith("the server never answered within 30s: ")
    assert runc["error"] == (
        "the server never answered within 30s: refused (connection refused: nothing listens on that address and "
        "port: %s); container task STOPPED; log tail: line 3 | line 4 | line 5 | line 6 | line 7" % REFUSED)
    assert result["msg"] == "runc: " + runc["error"]
    assert runc["url"] == "http://169.254.77.2:80/"
    assert runc["memory"] is None and runc["readiness_seconds"] is None
    assert containerd.recorder.kinds() == ["sweep", "network", "wait", "kill_tree", "network_remove"]
    assert containerd.calls_with("tasks", "list") == [ctr(containerd.address, "tasks", "list")]
    assert containerd.calls_with("snapshots", "delete", _name())
    assert not os.path.exists(_log_path())


def test_server_never_answers_task_gone_and_no_log(containerd, run_module):
    containerd.recorder.waited = (None, ("timeout", "timed out"))
    containerd.on("tasks", "list", out="TASK PID STATUS\n")
    code, result = run_module(http_latency.main, _args(containerd, timeout=7))
    assert code == 1
    assert result["http"]["runtimes"]["runc"]["error"] == (
        "the server never answered within 7s: timeout (no answer within the request timeout: timed out); "
        "container task gone; log tail: (empty)")


def test_server_never_answers_nothing_tried(containerd, run_module):
    containerd.recorder.waited = (None, (None, None))
    code, result = run_module(http_latency.main, _args(containerd))
    assert code == 1
    assert result["http"]["runtimes"]["runc"]["error"].startswith(
        "the server never answered within 30s: no request was sent before the time ran out; container task RUNNING")


def test_http_status_failure_meaning(containerd, run_module):
    containerd.recorder.waited = (None, ("http_503", "Service Unavailable"))
    code, result = run_module(http_latency.main, _args(containerd))
    assert code == 1
    assert "http_503 (HTTP status 503: Service Unavailable)" in result["http"]["runtimes"]["runc"]["error"]


def test_no_request_succeeded(containerd, run_module):
    containerd.recorder.loaded = ([], {"timeout": 30, "refused": 20}, {"timeout": "timed out", "refused": REFUSED}, 0)
    _write_log(["httpd: bind: Address in use"])
    code, result = run_module(http_latency.main, _args(containerd, requests=50, concurrency=5))
    assert code == 1
    runc = result["http"]["runtimes"]["runc"]
    assert runc["status"] == "failed"
    assert runc["error"] == (
        "no request succeeded: 20 refused (connection refused: nothing listens on that address and port: %s), "
        "30 timeout (no answer within the request timeout: timed out); container task RUNNING; "
        "log tail: httpd: bind: Address in use" % REFUSED)
    assert runc["succeeded"] == 0 and runc["latency"] == {"n": 0}
    assert runc["memory"] == MEMORY
    assert result["msg"] == "runc: " + runc["error"]
    assert containerd.recorder.kinds()[-2:] == ["kill_tree", "network_remove"]
    assert not os.path.exists(_log_path())


def test_no_request_sent(containerd, run_module):
    containerd.recorder.loaded = ([], {}, {}, 3)
    code, result = run_module(http_latency.main, _args(containerd))
    assert code == 1
    runc = result["http"]["runtimes"]["runc"]
    assert runc["error"].startswith("no request succeeded: 3 not sent: the time ran out; ")
    assert runc["not_sent"] == 3


def test_one_handler_failing_keeps_the_other(containerd, run_module, monkeypatch):
    def waited(url, deadline, timeout=1.0):
        containerd.recorder.events.append(("wait", url, deadline, timeout))
        return (None, ("refused", REFUSED)) if url.startswith("http://169.254.77.6") else (0.01, (None, None))

    monkeypatch.setattr(_http, "wait_until_answering", waited)
    code, result = run_module(http_latency.main, _args(containerd, runtimes=["runc", "kata"]))
    assert code == 1
    runtimes = result["http"]["runtimes"]
    assert runtimes["runc"]["status"] == "ok" and runtimes["kata"]["status"] == "failed"
    assert result["msg"].startswith("kata: the server never answered within 30s: refused")


def test_container_that_does_not_start(containerd, run_module):
    containerd.on("run", "--detach", rc=1, err="ctr: failed to create shim task: OCI runtime create failed\n")
    code, result = run_module(http_latency.main, _args(containerd))
    assert code == 1
    runc = result["http"]["runtimes"]["runc"]
    assert runc["error"] == (
        "the server container did not start (rc=1): ctr: failed to create shim task: OCI runtime create failed")
    assert "wait" not in containerd.recorder.kinds()
    assert containerd.recorder.networks[0].steps == [("create", 30), ("remove",)]
    assert containerd.calls_with("containers", "delete", _name())


def test_network_that_cannot_be_made(containerd, run_module):
    containerd.recorder.network_class.fail_with = "ip netns add %s failed: Operation not permitted" % _name()
    code, result = run_module(http_latency.main, _args(containerd))
    assert code == 1
    runc = result["http"]["runtimes"]["runc"]
    assert runc["error"] == "ip netns add %s failed: Operation not permitted" % _name()
    assert containerd.calls_with("run", "--detach") == []
    assert containerd.recorder.networks[0].steps == [("create", 30), ("remove",)]
    # whatever the name might have left is removed anyway
    assert containerd.calls_with("snapshots", "delete", _name())


# -- url mode ---------------------------------------------------------------------------------

def test_url_success(containerd, run_module):
    latencies = [0.01, 0.02, 0.03, 0.04]
    containerd.recorder.loaded = (latencies, {}, {}, 0)
    code, result = run_module(http_latency.main, _url_args(request_timeout=0.5))
    assert code == 0, result
    target = result["http"]["target"]
    assert result["http"] == result["ansible_facts"]["kata_fleet_http"]
    assert result["http"]["check_mode"] is False and result["swept"] == []
    assert target["status"] == "ok" and target["error"] is None
    assert target["url"] == "http://127.0.0.1:8080/healthz"
    assert (target["requests"], target["concurrency"], target["succeeded"]) == (4, 2, 4)
    assert target["latency"] == summarize(latencies)
    assert [event[:5] for event in containerd.recorder.events] == [
        ("load", "http://127.0.0.1:8080/healthz", 4, 2, 0.5)]
    # no containerd, no network, no sweep
    assert containerd.calls == [] and containerd.recorder.networks == []


def test_url_all_failing(containerd, run_module):
    containerd.recorder.loaded = ([], {"refused": 4}, {"refused": REFUSED}, 0)
    code, result = run_module(http_latency.main, _url_args())
    assert code == 1 and result["failed"] is True
    assert result["msg"] == (
        "no request succeeded: 4 refused (connection refused: nothing listens on that address and port: %s)" % REFUSED)
    target = result["http"]["target"]
    assert target["status"] == "failed" and target["error"] == result["msg"]
    assert "ansible_facts" not in result
    assert containerd.calls == []


def test_url_some_failing(containerd, run_module):
    containerd.recorder.loaded = ([0.01, 0.02], {"http_500": 2}, {"http_500": "Internal Server Error"}, 0)
    code, result = run_module(http_latency.main, _url_args())
    assert code == 0, result
    target = result["http"]["target"]
    assert target["status"] == "ok" and target["failures"] == {"http_500": 2} and target["latency"]["n"] == 2


def test_url_nothing_sent_says_so(containerd, run_module):
    containerd.recorder.loaded = ([], {}, {}, 4)
    code, result = run_module(http_latency.main, _url_args())
    assert code == 1
    assert result["msg"] != "no request succeeded: "
    assert "sent" in result["msg"]


def test_url_timeout_zero_is_rejected(containerd, run_module):
    code, result = run_module(http_latency.main, _url_args(timeout=0))
    assert code == 1
    assert result.get("msg") == "timeout must be a positive number of seconds, got 0"
    assert containerd.recorder.events == []


def test_url_port_out_of_range_names_the_url(containerd, run_module):
    code, result = run_module(http_latency.main, _url_args(url="http://127.0.0.1:99999/"))
    assert code == 1
    assert "http://127.0.0.1:99999/" in result["msg"]
    assert containerd.recorder.events == []


# -- server logs of interrupted runs --------------------------------------------------------------

def test_logs_without_an_owner_record_are_reported_never_removed(containerd, run_module, tmp_path, monkeypatch):
    # A log is removed with its network's record (by _netns.sweep); one no record names is not provably ours.
    from ansible.module_utils.basic import AnsibleModule
    warned = []
    monkeypatch.setattr(AnsibleModule, "warn", lambda self, message: warned.append(message))
    monkeypatch.setattr(_netns, "OWNER_DIR", str(tmp_path / "owners"))
    _write_log(["GET / HTTP/1.1"], name="kf-tenant-blue")
    code, result = run_module(http_latency.main, _args(containerd))
    assert code == 0, result
    assert result["swept"] == ["kf-old-runc-http"]
    assert result["foreign"] == [os.path.join(_httpprobe.LOG_DIR, "kf-tenant-blue.log")]
    [warning] = warned
    assert "not provably kata-fleet's" in warning and "kf-tenant-blue.log" in warning
    assert os.listdir(_httpprobe.LOG_DIR) == ["kf-tenant-blue.log"]


def test_foreign_logs_knows_the_recorded_ones(monkeypatch, tmp_path):
    monkeypatch.setattr(_netns, "OWNER_DIR", str(tmp_path / "owners"))
    monkeypatch.setattr(_httpprobe, "LOG_DIR", str(tmp_path / "logs"))
    (tmp_path / "logs").mkdir()
    for name in ("kf-live-http.log", "kf-tenant-blue.log", "other.log"):
        (tmp_path / "logs" / name).write_text("x\n")
    _netns.write_owner("kf-live-http", 30, log_path=str(tmp_path / "logs" / "kf-live-http.log"))
    assert _httpprobe.foreign_logs() == ["kf-tenant-blue.log", "other.log"]


def test_foreign_logs_without_a_log_dir(monkeypatch, tmp_path):
    monkeypatch.setattr(_httpprobe, "LOG_DIR", str(tmp_path / "absent"))
    assert _httpprobe.foreign_logs() == []
