"""playbooks/verify.yml against real containerd and runc on localhost, through ansible-runner."""

import os
import re
import time

from harness import console_shows, NAMESPACE, NOTHING_LEFT, local_inventory


def _host_kernel():
    return os.uname().release


def _assert_nothing_left(containerd):
    assert containerd.leftovers() == NOTHING_LEFT


def test_verify_runc_is_shared_kernel(containerd, run_playbook):
    run = run_playbook("verify.yml", local_inventory(containerd, kata_fleet_runtimes=["runc"]))
    assert run.status == "successful", run.stdout

    host = run.results("host_facts")["localhost"]["ansible_facts"]["kata_fleet_host"]
    assert host["kernel_release"] == _host_kernel()
    assert host["containerd"]["answers"] is True
    assert host["containerd"]["handlers"]["runc"]["runtime_type"] == "io.containerd.runc.v2"
    assert host["tools"]["runc"]["version"]

    isolation = run.results("isolation_probe")["localhost"]["ansible_facts"]["kata_fleet_isolation"]
    runc = isolation["runtimes"]["runc"]
    assert runc["status"] == "ok"
    assert runc["verdict"] == "shared-kernel"
    assert runc["kernel_release"] == _host_kernel()
    with open("/proc/sys/kernel/random/boot_id") as handle:
        assert runc["boot_id"] == handle.read().strip()
    # A fresh network namespace of its own: loopback only, unlike the host.
    assert [i["name"] for i in runc["interfaces"]] == ["lo"]
    assert 0 < runc["proc_entries"] < host["proc_entries"]

    assert "KATA-FLEET RUNTIME COMPARISON" in run.stdout
    isolation_row, performance_row = run.table_rows("localhost", "runc")[:2]
    assert console_shows(isolation_row[2], _host_kernel()) and isolation_row[7] == "shared-kernel", isolation_row
    assert re.match(r"^[0-9.]+ m?s / [0-9.]+ m?s$", performance_row[2])
    assert re.match(r"^[0-9.]+ m?s / [0-9.]+ m?s$", performance_row[3])
    assert performance_row[4].endswith(" MiB")
    assert max(len(line) for line in run.stdout.split("KATA-FLEET RUNTIME COMPARISON")[1].splitlines()
               if "|" in line) <= 100
    report = run.report()
    assert report["result"] == "pass" and report["hosts"]["localhost"]["runtimes"]["runc"]["isolation"]["verdict"] \
        == "shared-kernel"

    startup = run.results("startup_bench")["localhost"]["startup"]["runtimes"]["runc"]
    assert startup["status"] == "ok" and startup["total"]["n"] == 10
    assert 0 < startup["total"]["min"] <= startup["total"]["median"] <= startup["total"]["p95"] < 10
    assert startup["guest_kernel_boot_seconds"] is None  # the host's kernel did not boot for it
    http = run.results("http_latency")["localhost"]["http"]["runtimes"]["runc"]
    assert http["status"] == "ok" and http["succeeded"] == 50 and http["failures"] == {}
    assert 0 < http["latency"]["p50"] <= http["latency"]["p99"] < 2
    assert http["memory"]["pss_kib"]["shim"] > 0 and http["memory"]["pss_kib"]["vmm"] == 0
    _assert_nothing_left(containerd)


def test_second_run_changes_nothing(containerd, run_playbook):
    inventory = local_inventory(containerd, kata_fleet_runtimes=["runc"])
    run_playbook("verify.yml", inventory)
    again = run_playbook("verify.yml", inventory)
    assert again.status == "successful"
    assert again.results("probe_image")["localhost"]["changed"] is False
    assert "changed=0" in again.stdout


def test_hung_runtime_times_out_and_leaves_nothing(containerd, run_playbook):
    started = time.monotonic()
    run = run_playbook("verify.yml", local_inventory(
        containerd, kata_fleet_runtimes=["runc", "hang"], kata_fleet_probe_timeout=3))
    assert run.status == "failed"
    assert time.monotonic() - started < 60
    result = run.results("isolation_probe")["localhost"]
    hang = result["isolation"]["runtimes"]["hang"]
    assert hang["status"] == "failed"
    # The probe runs detached: a runtime that hangs never gets its container started.
    assert "did not start within 3s" in hang["error"]
    # The other handler is still probed and reported.
    assert result["isolation"]["runtimes"]["runc"]["verdict"] == "shared-kernel"
    hang_isolation = run.report()["hosts"]["localhost"]["runtimes"]["hang"]["isolation"]
    assert hang_isolation["status"] == "failed" and "did not start within 3s" in hang_isolation["error"]
    assert run.table_rows("localhost", "hang")[0][7].startswith("FAILED")
    assert "- localhost hang isolation failed: the probe container did not start within 3s" in run.stdout
    _assert_nothing_left(containerd)


def test_unknown_runtime_names_the_known_ones(containerd, run_playbook):
    run = run_playbook("verify.yml", local_inventory(containerd, kata_fleet_runtimes=["kata"]))
    assert run.status == "failed"
    msg = run.results("isolation_probe")["localhost"]["msg"]
    assert "kata not configured" in msg and "it knows: hang, runc" in msg
    assert "Traceback" not in run.stdout
    assert run.table_rows("localhost", "-")[0][7].startswith("FAILED")
    assert run.report()["hosts"]["localhost"]["status"] == "failed"


def test_containerd_that_does_not_answer(containerd, run_playbook, tmp_path):
    inventory = local_inventory(containerd, kata_fleet_containerd_address=str(tmp_path / "absent.sock"))
    run = run_playbook("verify.yml", inventory)
    assert run.status == "failed"
    host = run.results("host_facts")["localhost"]["ansible_facts"]["kata_fleet_host"]
    assert host["containerd"]["answers"] is False
    msg = run.results("probe_image")["localhost"]["msg"]
    assert "does not answer at %s" % (tmp_path / "absent.sock") in msg
    assert "kata_fleet_containerd_address" in msg
    assert "Traceback" not in run.stdout


def test_orphans_of_an_interrupted_run_are_swept(containerd, run_playbook):
    # A container as an interrupted run leaves it: kf- name, owner long gone, expired.
    image_run = run_playbook("verify.yml", local_inventory(containerd, kata_fleet_runtimes=["runc"]))
    image = image_run.results("probe_image")["localhost"]["image"]
    orphan = "kf-19700101T000000-dead-runc-iso"
    created = containerd.ctr("containers", "create", "--label", "io.kata-fleet.owner=999999:1",
                             "--label", "io.kata-fleet.expires=1", "--label", "io.kata-fleet.run-id=19700101T000000-dead",
                             image, orphan, "true")
    assert created.returncode == 0, created.stderr
    # A neighbour's container and snapshot that merely share the prefix (no kata-fleet labels): they stay.
    foreign = containerd.ctr("containers", "create", "--label", "app=serving-model", image, "kf-serving-model", "true")
    assert foreign.returncode == 0, foreign.stderr
    assert containerd.ctr("snapshots", "prepare", "kf-cache-layer").returncode == 0
    try:
        run = run_playbook("verify.yml", local_inventory(containerd, kata_fleet_runtimes=["runc"]))
        assert run.status == "successful"
        swept = run.results("isolation_probe")["localhost"]["swept"]
        assert orphan in swept and "kf-serving-model" not in swept and "kf-cache-layer" not in swept
        left = containerd.leftovers()
        assert left["containers"] == ["kf-serving-model"]
        assert sorted(left["snapshots"]) == ["kf-cache-layer", "kf-serving-model"]
    finally:
        containerd.ctr("containers", "delete", "kf-serving-model")
        containerd.ctr("snapshots", "delete", "kf-serving-model")
        containerd.ctr("snapshots", "delete", "kf-cache-layer")
    _assert_nothing_left(containerd)


def test_unreachable_host_gets_a_row(containerd, run_playbook):
    inventory = local_inventory(containerd, kata_fleet_runtimes=["runc"])
    # Nothing listens on this loopback port: the connection is refused at once.
    inventory["all"]["hosts"]["ghost"] = {"ansible_host": "127.0.0.1", "ansible_port": 1,
                                          "ansible_connection": "ssh"}
    run = run_playbook("verify.yml", inventory)
    assert run.status == "failed"
    assert run.table_rows("ghost", "-")[0][7].startswith("UNREACHABLE")
    assert run.table_rows("localhost", "runc")[0][7] == "shared-kernel"
    report = run.report()
    assert report["hosts"]["ghost"]["status"] == "unreachable" and report["result"] == "fail"
    assert NAMESPACE
