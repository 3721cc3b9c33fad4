"""http_latency against real containerd and runc: failures explained, nothing left behind."""

import http.server
import os
import subprocess
import sys
import tempfile
import threading

import pytest

from harness import NOTHING_LEFT, REPO, local_inventory

sys.path.insert(0, os.path.join(REPO, "collections"))
from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _netns, _oci  # noqa: E402  pylint: disable=wrong-import-position

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks", "http_latency.yml")


@pytest.fixture(scope="module")
def image_without_www(containerd):
    """A probe image without the /www folder the server is started in: it exits at once."""
    if not _oci.is_static_elf(open("/bin/busybox", "rb").read()):
        pytest.skip("/bin/busybox is not static: apt-get install busybox-static")
    with tempfile.TemporaryDirectory() as workdir:
        archive = os.path.join(workdir, "nowww.tar")
        patch = pytest.MonkeyPatch()
        patch.setattr(_oci, "DIRECTORIES", tuple(folder for folder in _oci.DIRECTORIES if folder != "www"))
        # Its own name, so it never replaces the real probe image.
        patch.setattr(_oci, "image_reference", lambda busybox: "localhost/kata-fleet/nowww:1")
        try:
            built = _oci.build_archive("/bin/busybox", os.uname().machine, archive)
        finally:
            patch.undo()
        imported = containerd.ctr("images", "import", archive)
        assert imported.returncode == 0, imported.stderr
    return built["reference"]


def _http_result(run):
    return run.results("http_latency")["localhost"]


def test_server_that_never_answers_is_explained(containerd, run_playbook, image_without_www):
    run = run_playbook(PLAYBOOK, local_inventory(containerd, kata_fleet_runtimes=["runc"], kata_fleet_probe_timeout=5,
                                                 http_image=image_without_www))
    assert run.status == "failed"
    entry = _http_result(run)["http"]["runtimes"]["runc"]
    assert entry["status"] == "failed"
    error = entry["error"]
    assert error.startswith("the server never answered within 5s: refused (connection refused")
    assert "container task STOPPED" in error or "container task gone" in error
    assert "/www/index.html" in error.split("log tail:")[1]  # the shell said why it stopped
    assert "000" not in error
    assert containerd.leftovers() == NOTHING_LEFT


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the stdlib's name)
        status = 503 if self.path == "/unhealthy" else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_external_url_is_measured(containerd, run_playbook, local_server):
    run = run_playbook(PLAYBOOK, local_inventory(containerd, http_url=local_server + "/", http_requests=20,
                                                 http_concurrency=4))
    assert run.status == "successful", run.stdout
    target = _http_result(run)["http"]["target"]
    assert target["succeeded"] == 20 and target["failures"] == {} and target["latency"]["n"] == 20


def test_external_url_failures_are_classified(containerd, run_playbook, local_server):
    run = run_playbook(PLAYBOOK, local_inventory(containerd, http_url=local_server + "/unhealthy", http_requests=5))
    assert run.status == "failed"
    result = _http_result(run)
    assert result["http"]["target"]["failures"] == {"http_503": 5}
    assert "5 http_503 (HTTP status 503" in result["msg"]
    refused = run_playbook(PLAYBOOK, local_inventory(containerd, http_url="http://127.0.0.1:1/", http_requests=3))
    assert _http_result(refused)["http"]["target"]["failures"] == {"refused": 3}


def _dead_pid():
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_orphaned_network_namespace_is_swept_and_a_foreign_one_kept(containerd, run_playbook):
    # A namespace as a killed run leaves it: kf- name and an owner record naming a dead process.
    orphan, foreign = "kf-19700101T000000-dead-runc-http", "kf-tenant-blue"
    subprocess.run(["ip", "netns", "add", orphan], check=True)
    _netns.write_owner(orphan, 30)
    record = os.path.join(_netns.OWNER_DIR, orphan)
    with open(record) as handle:
        text = handle.read()
    with open(record, "w") as handle:
        handle.write(text.replace('"owner": "%d:' % os.getpid(), '"owner": "%d:' % _dead_pid()))
    # A neighbour's namespace that merely shares the prefix: no owner record. It stays.
    subprocess.run(["ip", "netns", "add", foreign], check=True)
    try:
        run = run_playbook(PLAYBOOK, local_inventory(containerd, kata_fleet_runtimes=["runc"], http_requests=5))
        assert run.status == "successful", run.stdout
        result = _http_result(run)
        assert orphan in result["swept"] and foreign not in result["swept"], result
        assert foreign in result["foreign"], result
        assert not os.path.exists(record)
        assert containerd.leftovers() == dict(NOTHING_LEFT, netns=[foreign])
    finally:
        subprocess.run(["ip", "netns", "delete", foreign], check=False)
    assert containerd.leftovers() == NOTHING_LEFT
