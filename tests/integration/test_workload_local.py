"""kata_fleet.runtimes.workload_bench against real containerd, runc and runsc on localhost, through ansible-runner.

The playbook (playbooks/workload_bench.yml next to this file) makes sure the
probe image is there, then measures every workload on the host and under runc
and runsc (gVisor).  runc runs the host's own kernel, so its CPU-bound figure
must match the host's within the noise both measured; the 'hang' stand-in
handler never returns from create, so its workload must time out, fail alone
and leave nothing behind.
"""

import math
import os
import shutil
import time

import pytest

from harness import NOTHING_LEFT, local_inventory

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks", "workload_bench.yml")
WORKLOADS = ["cpu", "syscall", "rootfs_io", "tmpfs_io"]
REPEATS = 5


def finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def test_runc_and_runsc_workloads_are_measured(containerd, run_playbook):
    if not shutil.which("runsc"):
        pytest.skip("runsc (gVisor) is not installed")
    run = run_playbook(PLAYBOOK, local_inventory(
        containerd, kata_fleet_runtimes=["runc", "runsc"], kata_fleet_workload_repeats=REPEATS,
        kata_fleet_workload_budget=6.0, kata_fleet_probe_timeout=60))
    assert run.status == "successful", run.stdout
    result = run.results("workload_bench")["localhost"]
    workload = result["ansible_facts"]["kata_fleet_workload"]
    assert workload == result["workload"]
    assert workload["check_mode"] is False and workload["same_busybox"] is True
    assert workload["image"] == run.results("probe_image")["localhost"]["image"]
    assert sorted(workload["runtimes"]) == ["runc", "runsc"]

    for name in WORKLOADS:
        host = workload["host"][name]
        assert host["status"] == "ok", (name, host)
        assert host["stats"]["n"] == REPEATS and len(host["samples"]) == REPEATS
        assert finite(host["stats"]["median"]) and host["stats"]["median"] > 0
        assert finite(host["stats"]["cov"])
        assert host["inner_seconds"] <= host["outer_seconds"] + 0.05
    assert workload["host"]["tmpfs_io"]["file_system"] == "tmpfs"

    for handler in ("runc", "runsc"):
        entry = workload["runtimes"][handler]
        assert entry["status"] == "ok" and entry["error"] is None, entry
        assert entry["summary"].endswith("."), entry["summary"]
        for name in WORKLOADS:
            figures = entry["workloads"][name]
            host = workload["host"][name]
            # A runtime too slow for the host's count runs fewer units a repeat (sized from its warm-up);
            # the ratio is then per unit of work.
            assert figures["host_count"] == host["count"] and 1 <= figures["count"] <= host["count"], figures
            first = (figures["probes"] or [figures["cut"]])[0]
            assert first["count"] == max(1, host["count"] // 256), figures
            stats = figures["stats"]
            # The container's own timing of its repeats fits inside the run the host timed (startup included).
            assert 0 < figures["inner_seconds"] <= figures["outer_seconds"] + 0.05, (handler, name, figures)
            # Every step is bounded inside the container: the run ends near the budget, never at the timeout.
            assert figures["inner_seconds"] <= workload["budget_seconds"] + 2.0, (handler, name, figures)
            if figures["status"] == "over_budget":
                # Only gVisor may run out of its budget (system calls: its user-space kernel serves each one);
                # it keeps the repeats it completed, its largest warm-up probe when no repeat finished, or a
                # lower bound from the step the watchdog cut when nothing finished.
                assert handler == "runsc", (handler, name, figures)
                assert stats["n"] < REPEATS and len(figures["samples"]) == stats["n"], figures
                if stats["n"] == 0:
                    assert figures["ratio"] is None and finite(figures["ratio_at_least"]), figures
                    assert figures["ratio_at_least"] > 0 and figures["cut"]["seconds"] > 0, figures
                else:
                    assert finite(figures["ratio"]) and figures["ratio"] > 0, (handler, name, figures)
                    assert figures["ratio"] == round(figures["unit_seconds"] / host["unit_seconds"], 4), figures
                    assert figures["within_noise"] is (None if stats["n"] < 2 else
                                                       abs(figures["ratio"] - 1) <= figures["noise"] + 1e-9)
                assert name in entry["summary"]
                continue
            assert finite(figures["ratio"]) and figures["ratio"] > 0, (handler, name, figures)
            assert figures["ratio"] == round(figures["unit_seconds"] / host["unit_seconds"], 4), figures
            assert all(finite(stats[key]) for key in ("median", "min", "max")), (handler, name, stats)
            assert figures["status"] == "ok", (handler, name, figures)
            assert stats["n"] == REPEATS and len(figures["samples"]) == REPEATS, (handler, name, stats)
            assert finite(stats["cov"]), (handler, name, stats)
            assert finite(figures["noise"]) and figures["noise"] > 0, (handler, name, figures)
            assert figures["within_noise"] is (abs(figures["ratio"] - 1) <= figures["noise"] + 1e-9)

    runc = workload["runtimes"]["runc"]["workloads"]["cpu"]
    # runc runs on the host's kernel: no cost to a loop that makes no system call, within the measured noise. The
    # host's and the container's repeats run one after the other, and make test runs a QEMU guest beside this
    # test: the load can change between them, so the check allows twice the band both spreads give.
    assert abs(runc["ratio"] - 1) <= 2 * runc["noise"], (runc["ratio"], runc["noise"], runc["stats"])
    assert workload["runtimes"]["runsc"]["workloads"]["rootfs_io"]["file_system"]
    assert containerd.leftovers() == NOTHING_LEFT


def test_hung_runtime_fails_its_workload_and_leaves_nothing(containerd, run_playbook):
    started = time.monotonic()
    run = run_playbook(PLAYBOOK, local_inventory(
        containerd, kata_fleet_runtimes=["hang"], kata_fleet_workloads=["cpu"], kata_fleet_workload_repeats=2,
        kata_fleet_probe_timeout=3))
    elapsed = time.monotonic() - started
    assert run.status == "failed"
    result = run.results("workload_bench")["localhost"]
    assert "ansible_facts" not in result, sorted(result)
    hang = result["workload"]["runtimes"]["hang"]
    assert hang["status"] == "failed"
    cpu = hang["workloads"]["cpu"]
    assert cpu["status"] == "failed" and cpu["ratio"] is None and cpu["within_noise"] is None
    assert cpu["error"] == "cpu did not finish within 3s; it was killed and removed"
    assert result["msg"] == "hang: cpu: " + cpu["error"]
    # The host's figures stand: a hung runtime costs only its own workload.
    assert result["workload"]["host"]["cpu"]["status"] == "ok"
    assert hang["summary"].startswith("No ratio: cpu (cpu did not finish within 3s")
    assert "Traceback" not in run.stdout
    assert elapsed < 90
    assert containerd.leftovers() == NOTHING_LEFT


def test_verify_runs_the_workload_and_the_audit_when_asked(containerd, run_playbook):
    """verify.yml (one verify_host task) with kata_fleet_workload on: both capabilities reach the carried results."""
    run = run_playbook("verify.yml", local_inventory(
        containerd, kata_fleet_runtimes=["runc"], kata_fleet_workload=True, kata_fleet_workload_repeats=3,
        kata_fleet_workload_budget=2.0, kata_fleet_startup_runs=0, kata_fleet_http_requests=0,
        kata_fleet_audit_names="counts"))
    assert run.status == "successful", run.stdout
    result = run.results("workload_bench")["localhost"]
    workload = result["workload"]
    assert "failed" not in result and result["ansible_facts"]["kata_fleet_workload"] == workload
    assert (workload["check_mode"], workload["repeats"], workload["budget_seconds"]) == (False, 3, 2.0)
    assert workload["image"] == run.results("probe_image")["localhost"]["image"]
    assert sorted(workload["runtimes"]) == ["runc"] and workload["workloads"] == WORKLOADS
    runc = workload["runtimes"]["runc"]
    assert runc["status"] == "ok" and runc["error"] is None, runc
    for name in WORKLOADS:
        assert workload["host"][name]["status"] == "ok", (name, workload["host"][name])
        assert finite(runc["workloads"][name]["ratio"]) and runc["workloads"][name]["ratio"] > 0, runc["workloads"][name]
    # The audit runs last, read-only: every probe container is gone by then, so none is left out as a probe.
    audit = run.results("workload_audit")["localhost"]["audit"]
    assert (audit["status"], audit["names"], audit["excluded_probes"]) == ("ok", "counts", 0), audit
    assert "containers_list" not in audit
    assert containerd.leftovers() == NOTHING_LEFT
