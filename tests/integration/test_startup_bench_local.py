"""kata_fleet.runtimes.startup_bench against real containerd and runc on localhost, through ansible-runner.

The playbook (playbooks/startup_bench.yml next to this file) makes sure the
probe image is there, then times startup.  runc shares the host's kernel, so
no guest kernel boot time is reported; the 'hang' stand-in handler never
returns from create, so its run must time out and be cleaned up.
"""

import os
import time

from harness import NOTHING_LEFT, local_inventory

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks", "startup_bench.yml")


def test_runc_startup_is_measured(containerd, run_playbook):
    run = run_playbook(PLAYBOOK, local_inventory(
        containerd, kata_fleet_runtimes=["runc"], kata_fleet_bench_runs=5, kata_fleet_bench_warmup=1,
        kata_fleet_bench_phase_runs=2, kata_fleet_probe_timeout=30))
    assert run.status == "successful", run.stdout
    result = run.results("startup_bench")["localhost"]
    assert result["changed"] is False
    startup = result["ansible_facts"]["kata_fleet_startup"]
    assert startup == result["startup"]
    assert startup["check_mode"] is False
    assert startup["image"] == run.results("probe_image")["localhost"]["image"]
    assert list(startup["runtimes"]) == ["runc"]

    runc = startup["runtimes"]["runc"]
    assert runc["status"] == "ok" and runc["error"] is None, runc
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    total = runc["total"]
    assert total["n"] == 5 and len(runc["samples"]) == 5
    assert 0 < total["min"] <= total["median"] <= total["p95"] <= total["max"] < 10, total
    assert total["min"] == min(runc["samples"]) and total["max"] == max(runc["samples"])
    assert total["stdev"] >= 0

    assert set(runc["phases"]) == {"create", "start", "task_delete", "remove"}
    for phase, summary in runc["phases"].items():
        assert summary["n"] == 2, phase
        assert 0 < summary["median"] < 10, (phase, summary)
    # runc runs on the host kernel: the warm-up saw the host's boot id, so there is no guest boot to time
    assert runc["guest_kernel_boot_seconds"] is None
    assert containerd.leftovers() == NOTHING_LEFT


def test_hung_runtime_times_out_and_leaves_nothing(containerd, run_playbook):
    started = time.monotonic()
    run = run_playbook(PLAYBOOK, local_inventory(
        containerd, kata_fleet_runtimes=["hang"], kata_fleet_bench_runs=1, kata_fleet_bench_warmup=0,
        kata_fleet_bench_phase_runs=0, kata_fleet_probe_timeout=3))
    elapsed = time.monotonic() - started
    assert run.status == "failed"
    result = run.results("startup_bench")["localhost"]
    assert "ansible_facts" not in result, sorted(result)
    hang = result["startup"]["runtimes"]["hang"]
    assert hang["status"] == "failed"
    assert hang["error"] == "counted run 1 did not finish within 3s; it was killed and removed"
    assert result["msg"] == "hang: " + hang["error"]
    assert "total" not in hang
    assert "Traceback" not in run.stdout
    # Bounded, not hung: a whole playbook run on a loaded machine, far below a run that waits forever.
    assert elapsed < 60
    assert containerd.leftovers() == NOTHING_LEFT
