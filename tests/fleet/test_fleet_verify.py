"""playbooks/verify.yml across three hosts over real SSH, each with its own containerd, runc containers for real."""

import datetime
import re


def _spans(events, task_name):
    """The start and the end times of ``task_name`` on every host (ansible-runner events)."""
    starts, ends = [], []
    for event in events:
        data = event.get("event_data", {})
        if data.get("task") != task_name:
            continue
        stamp = datetime.datetime.fromisoformat(event["created"]).timestamp()
        if event["event"] == "runner_on_start":
            starts.append(stamp)
        elif event["event"] in ("runner_on_ok", "runner_on_failed"):
            ends.append(stamp)
    return starts, ends


def test_verify_across_three_hosts(fleet, verify):
    inventory = fleet.inventory()
    fleet.close_connections()  # no SSH connection of an earlier test is reused: this run logs in
    logins = dict((host.name, len(host.ssh_logins())) for host in fleet.hosts)
    run = verify(inventory, forks=3)
    assert run.rc == 0 and run.status == "successful", run.stdout[-4000:]

    # The hosts were worked on at the same time (forks 3): the first module task ran on all three at once.
    starts, ends = _spans(run.events, "Verify the host (view, probe image, isolation, startup, HTTP) in one module run")
    assert len(starts) == len(ends) == 3 and max(starts) < min(ends), (starts, ends)

    report = run.report
    assert report["result"] == "pass"
    assert sorted(report["hosts"]) == ["h1", "h2", "h3"]
    assert report["summary"]["ok"] == 3 and report["summary"]["runtimes"] == {"runc": 3}
    boot_ids = set()
    for host in fleet.hosts:
        entry = report["hosts"][host.name]
        assert entry["status"] == "ok" and entry["error"] is None
        # Each section came from that host: its own containerd, its own network.
        assert entry["host"]["containerd"]["address"] == host.containerd.address
        assert entry["host"]["containerd"]["namespace"] == host.containerd.namespace
        assert entry["host"]["containerd"]["answers"] is True
        runc = entry["runtimes"]["runc"]
        assert runc["isolation"]["status"] == "ok" and runc["isolation"]["verdict"] == "shared-kernel"
        assert runc["isolation"]["boot_id"] == entry["host"]["boot_id"]
        assert [i["name"] for i in runc["isolation"]["interfaces"]] == ["lo"]
        assert runc["startup"]["status"] == "ok" and runc["startup"]["total"]["n"] == 10
        assert 0 < runc["startup"]["total"]["median"] < 10
        assert runc["http"]["status"] == "ok" and runc["http"]["succeeded"] == 50 and runc["http"]["failures"] == {}
        assert runc["http"]["memory"]["pss_kib"]["shim"] > 0
        boot_ids.add(entry["host"]["boot_id"])
    assert len(boot_ids) == 1  # one kernel under all three simulated hosts, and each container saw it

    # The printed table: a host row and a runc row per host in the isolation table, a runc row in the performance one.
    assert "KATA-FLEET RUNTIME COMPARISON" in run.stdout
    for host in fleet.hosts:
        (host_row,) = run.table_rows(host.name, "(host)")
        # The host's own network namespace, not the machine's (the report has the list whole; the console may
        # cut the cell to fit 100 columns).
        interfaces = [item["name"] for item in run.report["hosts"][host.name]["host"]["interfaces"]]
        assert interfaces == ["eth0", "lo"], interfaces
        assert "eth0, lo".startswith(host_row[6].rstrip("~")), host_row
        isolation_row, performance_row = run.table_rows(host.name, "runc")[:2]
        assert isolation_row[7] == "shared-kernel"
        assert re.match(r"^[0-9.]+ m?s / [0-9.]+ m?s$", performance_row[2])
        assert re.match(r"^[0-9.]+ m?s / [0-9.]+ m?s$", performance_row[3])
    assert "Hosts: 3 (ok 3, failed 0, unreachable 0, skipped 0). Result: PASS." in run.stdout

    # Every module ran on its host, which the controller reached over SSH (its sshd logged the logins).
    for action in ("host_facts", "probe_image", "isolation_probe", "startup_bench", "http_latency"):
        assert sorted(run.results(action)) == ["h1", "h2", "h3"], action
    for host in fleet.hosts:
        new_logins = host.ssh_logins()[logins[host.name]:]
        assert new_logins and set(new_logins) == {host.root_address}, (host.name, host.sshd_log)
    assert fleet.leftovers() == fleet.nothing_left()


def test_strategy_free_names_the_run_alike_on_every_host(fleet, verify):
    """run_once does not hold under strategy free; the callback's KATA_FLEET_RUN_ID does."""
    run = verify(fleet.inventory(), forks=3, envvars={"ANSIBLE_STRATEGY": "free"},
                 extravars={"kata_fleet_startup_runs": 0, "kata_fleet_http_requests": 0})
    assert run.rc == 0, run.stdout[-4000:]
    run_ids = set(result["isolation"]["run_id"] for result in run.results("isolation_probe").values())
    assert len(run_ids) == 1, run_ids
    assert run.report["run_id"] in run_ids
    assert "run_once" not in run.stdout
    assert fleet.leftovers() == fleet.nothing_left()
