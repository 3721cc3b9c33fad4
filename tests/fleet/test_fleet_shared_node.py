"""A shared node: two containerd instances under one /run, a neighbour's kf- objects, concurrent runs.

Real containerd, runc and ip(8) in the simulated hosts of fleet_harness.py:

- h1 gets a second containerd (its own socket, root and state; the same
  containerd namespace and the same /run, so the same runc state root
  /run/containerd/runc/<namespace> and /run/netns), and the inventory names
  both instances as two hosts, h1 and h1b, verified in one run at once;
- before that run, a neighbour's objects that merely share kata-fleet's prefix
  are planted: a running container kf-serving-model (with its snapshot), a
  snapshot kf-cache-layer, a network namespace kf-tenant-blue and a log
  /run/kata-fleet/logs/kf-tenant-blue.log; they must all survive;
- two http_latency runs at once on one host and one containerd must each get
  their own /30 and measure their own server.
"""

import os
import sys
import tempfile
import threading
import time

import pytest

from fleet_harness import FAST, REPO, wait_for

sys.path.insert(0, os.path.join(REPO, "collections"))
from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _oci  # noqa: E402  pylint: disable=wrong-import-position

FOREIGN_CONTAINER = "kf-serving-model"
FOREIGN_SNAPSHOT = "kf-cache-layer"
FOREIGN_NETNS = "kf-tenant-blue"
FOREIGN_LOG = "kf-tenant-blue.log"
HTTP_PLAYBOOK = os.path.join(REPO, "tests", "integration", "playbooks", "http_latency.yml")


@pytest.fixture(scope="module")
def probe_archive():
    """The probe image as an OCI archive (what probe_image builds), for instances a test fills itself."""
    if not _oci.is_static_elf(open("/bin/busybox", "rb").read()):
        pytest.skip("/bin/busybox is not static: apt-get install busybox-static")
    with tempfile.TemporaryDirectory(prefix="kf-fleet-image-") as workdir:
        archive = os.path.join(workdir, "probe.tar")
        built = _oci.build_archive("/bin/busybox", os.uname().machine, archive)
        yield archive, built["reference"]


def _ok(result):
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result


def _plant_foreign(host, containerd, image):
    """A neighbour's objects with kata-fleet's prefix but not its labels or owner records."""
    # ctr in the host's namespaces: the daemon must see the client's /run (no stdio fifos with --null-io anyway)
    host.in_host("ctr", "--address", containerd.address, "--namespace", containerd.namespace, "run", "--detach",
                 "--null-io", "--label", "app=serving-model", image, FOREIGN_CONTAINER, "sleep", "3600")
    _ok(containerd.ctr("snapshots", "prepare", FOREIGN_SNAPSHOT))
    host.in_host("ip", "netns", "add", FOREIGN_NETNS)
    host.in_host("mkdir", "-p", "-m", "0700", "/run/kata-fleet/logs")
    with open(host.fs_root + "/run/kata-fleet/logs/" + FOREIGN_LOG, "w") as handle:
        handle.write("the tenant's own log\n")


def _remove_foreign(host, containerd):
    containerd.ctr("tasks", "kill", "--signal", "SIGKILL", FOREIGN_CONTAINER)
    for _attempt in range(50):
        # a task that has not exited from SIGKILL yet cannot be deleted: try again shortly
        if containerd.ctr("tasks", "delete", FOREIGN_CONTAINER).returncode == 0 or \
                _task_status(containerd, FOREIGN_CONTAINER) is None:
            break
        time.sleep(0.1)
    containerd.ctr("containers", "delete", FOREIGN_CONTAINER)
    containerd.ctr("snapshots", "delete", FOREIGN_SNAPSHOT)
    host.in_host("ip", "netns", "delete", FOREIGN_NETNS, check=False)
    try:
        os.unlink(host.fs_root + "/run/kata-fleet/logs/" + FOREIGN_LOG)
    except OSError:
        pass
    # the shim exits shortly after its last task is deleted
    wait_for(lambda: not containerd.leftovers()["shims"], 15, what="the neighbour's shim gone")


def _task_status(containerd, name):
    for line in containerd.ctr("tasks", "list").stdout.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == name:
            return fields[2]
    return None


def test_two_instances_on_one_run_and_a_neighbours_kf_objects(fleet, verify, probe_archive):
    h1 = fleet.host("h1")
    archive, image = probe_archive
    first = h1.containerd
    second = h1.add_containerd("b")
    try:
        assert second.namespace == first.namespace  # the same runc state root under the shared /run
        _ok(first.ctr("images", "import", archive))
        _plant_foreign(h1, first, image)
        neighbour_shims = first.leftovers()["shims"]
        assert len(neighbour_shims) == 1

        inventory = fleet.inventory(hosts=["h1", "h2"])
        inventory["all"]["hosts"]["h1b"] = fleet.hostvars(h1, containerd=second)
        run = verify(inventory, forks=3, extravars=FAST)
        assert run.rc == 0 and run.status == "successful", run.stdout[-4000:]

        report = run.report
        assert sorted(report["hosts"]) == ["h1", "h1b", "h2"]
        for name, instance in (("h1", first), ("h1b", second)):
            entry = report["hosts"][name]
            assert entry["status"] == "ok", (name, entry["error"])
            assert entry["host"]["containerd"]["address"] == instance.address
            runc = entry["runtimes"]["runc"]
            assert runc["isolation"]["status"] == "ok" and runc["isolation"]["verdict"] == "shared-kernel"
            assert runc["startup"]["status"] == "ok" and runc["http"]["status"] == "ok"
            assert runc["http"]["failures"] == {}
            # the footprint counts this instance's shim only
            http = run.results("http_latency")[name]["http"]["runtimes"]["runc"]
            shims = [p for p in http["memory"]["processes"] if p["role"] == "shim"]
            assert len(shims) == 1
        # Both instances served and measured HTTP without a failure on one /run. Whether their
        # two measurements overlapped is up to the scheduler (CI once saw them in turn, both on
        # the first /30, which is right); that two allocations held at once never share a /30
        # is test_netns.py::test_concurrent_allocations_never_share_a_subnet.

        # The neighbour's objects are all still there, untouched, and were reported.
        assert _task_status(first, FOREIGN_CONTAINER) == "RUNNING"
        assert first.leftovers()["shims"] == neighbour_shims
        snapshots = first.leftovers()["snapshots"]
        assert FOREIGN_CONTAINER in snapshots and FOREIGN_SNAPSHOT in snapshots
        assert first.leftovers()["netns"] == [FOREIGN_NETNS]
        assert first.leftovers()["logs"] == [FOREIGN_LOG]
        http_h1 = run.results("http_latency")["h1"]
        assert FOREIGN_NETNS in http_h1["foreign"]
        assert "/run/kata-fleet/logs/" + FOREIGN_LOG in http_h1["foreign"]
        assert http_h1["swept"] == []

        # Nothing of kata-fleet's is left on either instance.
        left = first.leftovers()
        assert left["containers"] == [FOREIGN_CONTAINER] and left["tasks"] == [FOREIGN_CONTAINER]
        assert sorted(left["snapshots"]) == sorted([FOREIGN_CONTAINER, FOREIGN_SNAPSHOT])
        assert left["links"] == []
        assert second.leftovers() == dict(left, containers=[], tasks=[], snapshots=[], shims=[])
    finally:
        _remove_foreign(h1, first)
        h1.remove_containerd(second)
    assert fleet.leftovers() == fleet.nothing_left()


def _http_run(fleet, inventory, workdir):
    """tests/integration/playbooks/http_latency.yml over SSH through kata_fleet_runner; (result, error) in a list."""
    import kata_fleet_runner  # pylint: disable=import-outside-toplevel

    outcome = []

    def run():
        try:
            outcome.append(kata_fleet_runner.run_playbook(
                HTTP_PLAYBOOK, inventory, private_data_dir=os.path.join(workdir, "runner"),
                evidence_dir=os.path.join(workdir, "evidence"), envvars=fleet.envvars(), timeout=600))
        except Exception as error:  # pylint: disable=broad-except  # reported by the test
            outcome.append(error)

    thread = threading.Thread(target=run, name="kf-http-run")
    thread.start()
    return thread, outcome


def _http_servers(host):
    return [name for name in host.containerd.ctr("containers", "list", "--quiet").stdout.split()
            if name.endswith("-runc-http")]


def test_two_http_latency_runs_at_once_on_one_host(fleet, tmp_path):
    """The second run starts while the first one's server is being measured: each gets its own /30 and server."""
    h2 = fleet.host("h2")
    runs = []
    for index, requests in enumerate((20000, 200)):
        workdir = tmp_path / ("run%d" % index)
        workdir.mkdir()
        inventory = fleet.inventory(hosts=["h2"], http_requests=requests, kata_fleet_probe_timeout=120)
        runs.append(_http_run(fleet, inventory, str(workdir)))
        if index == 0:
            wait_for(lambda: _http_servers(h2), 120, 0.1, "the first run's HTTP server on h2")
    for thread, _outcome in runs:
        thread.join(600)
    results = [outcome[0] for _thread, outcome in runs]
    for result in results:
        assert not isinstance(result, Exception), result
        assert result.rc == 0 and result.status == "successful", result.stdout[-3000:]
    modules = [result.results("http_latency")["h2"] for result in results]
    entries = [module["http"]["runtimes"]["runc"] for module in modules]
    for entry, requests in zip(entries, (20000, 200)):
        assert entry["status"] == "ok" and entry["failures"] == {}, entry
        assert entry["succeeded"] + entry["not_sent"] == requests
    # the second run did not take, measure or sweep the first one's live network
    assert entries[0]["url"] != entries[1]["url"], entries
    assert [module["swept"] for module in modules] == [[], []]
    assert [module["foreign"] for module in modules] == [[], []]
    assert fleet.leftovers() == fleet.nothing_left()
