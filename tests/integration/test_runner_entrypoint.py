"""kata_fleet_runner for real: verify through the Python entry point and its command line, against the tests' containerd."""

import json
import os
import subprocess
import sys
import time

from harness import NOTHING_LEFT, REPO, local_inventory

if REPO not in sys.path:
    sys.path.insert(0, REPO)

from kata_fleet_runner import run_playbook  # noqa: E402  pylint: disable=wrong-import-position

# Isolation only: the probes this test is about, in a few seconds.
QUICK = {"kata_fleet_runtimes": ["runc"], "kata_fleet_startup_runs": 0, "kata_fleet_http_requests": 0}


def test_verify_returns_the_report_and_streams_events(containerd, tmp_path):
    private_data_dir = tmp_path / "runner"
    seen = []

    def on_event(event):
        # While the playbook runs, ansible-runner has not written the run's rc yet.
        rc_file = private_data_dir / "artifacts" / event["runner_ident"] / "rc"
        seen.append((event["event"], rc_file.exists(), time.monotonic()))

    result = run_playbook("verify", local_inventory(containerd, **QUICK), private_data_dir=private_data_dir,
                          on_event=on_event)
    returned = time.monotonic()
    assert (result.status, result.rc) == ("successful", 0), result.stdout

    report = result.report
    assert report["result"] == "pass"
    assert list(report["hosts"]) == ["localhost"]
    assert report["hosts"]["localhost"]["runtimes"]["runc"]["isolation"]["verdict"] == "shared-kernel"
    assert result.evidence_dir.parent == private_data_dir / "evidence"
    assert result.evidence_dir.name == report["run_id"]
    assert json.loads((result.evidence_dir / "report.json").read_text()) == report
    rows = [line.split(" | ") for line in result.stdout.splitlines() if line.startswith("localhost | runc ")]
    # Cell 7 is the verdict, then what the host saw run the container.
    assert rows[0][7].strip() == "shared-kernel" and rows[0][8].strip() == "process", rows

    assert result.artifacts_dir.is_dir() and result.artifacts_dir.parent == private_data_dir / "artifacts"
    assert (result.artifacts_dir / "rc").read_text().strip() == "0"
    job_events = os.listdir(str(result.artifacts_dir / "job_events"))
    # One task per host: play and task starts, the host's result, the stats, and the table's output lines.
    assert len(job_events) == len(result.events) >= 8
    assert (private_data_dir / "inventory" / "kata_fleet.json").is_file()

    names = [entry[0] for entry in seen]
    assert names == [event["event"] for event in result.events]
    # Output outside any task comes as "verbose" events without event_data: the comparison table after
    # the stats, and anything printed before the playbook starts. The playbook's own events come in order.
    played = [name for name in names if name != "verbose"]
    assert played[0] == "playbook_on_start" and played[-1] == "playbook_on_stats"
    assert not [line for line in result.stdout.splitlines() if "Warning:" in line and "Deprecat" in line]
    assert not any(entry[1] for entry in seen)  # every event came before the run ended (no rc file yet)
    assert seen[0][2] < seen[-1][2] <= returned
    assert set(result.results("isolation_probe")) == {"localhost"}
    assert containerd.leftovers() == NOTHING_LEFT


def test_command_line_streams_and_exits_with_ansibles_rc(containerd, tmp_path):
    inventory = tmp_path / "hosts.json"
    inventory.write_text(json.dumps(local_inventory(containerd, **QUICK)))
    argv = [sys.executable, "-m", "kata_fleet_runner", "verify", "-i", str(inventory), "--forks", "2",
            "--evidence-dir", str(tmp_path / "evidence"), "--private-data-dir", str(tmp_path / "runner"),
            "-e", "kata_fleet_probe_timeout=30"]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "TASK [Verify the host (view, probe image, isolation, startup, HTTP) in one module run]" in done.stdout
    assert "KATA-FLEET RUNTIME COMPARISON" in done.stdout
    assert "Evidence: %s" % (tmp_path / "evidence") in done.stdout
    assert "successful (rc 0); artifacts: %s" % (tmp_path / "runner" / "artifacts") in done.stderr
    assert os.listdir(str(tmp_path / "evidence" / "latest"))

    # A failing host: ansible-playbook's rc 2 comes back as the exit code.
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(local_inventory(containerd, kata_fleet_runtimes=["kata"], kata_fleet_startup_runs=0,
                                                 kata_fleet_http_requests=0)))
    failed = subprocess.run(argv[:5] + [str(broken), "-q"], cwd=REPO, capture_output=True, text=True, timeout=300,
                            check=False)
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert failed.stdout == "" and "failed (rc 2)" in failed.stderr
    assert containerd.leftovers() == NOTHING_LEFT
