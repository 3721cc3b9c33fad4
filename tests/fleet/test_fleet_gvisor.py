"""gVisor on one simulated fleet host: verify.yml over real SSH, runc and runsc live on h1, runc on the others.

h1's containerd has the runsc handler the integration harness writes (runc shim,
BinaryName = a wrapper adding --network=host, as roles/gvisor configures
Debian's runsc); the containers run inside h1's own mount and network
namespaces. Nothing is a stand-in.
"""

import shutil

import pytest

from fleet_harness import FAST, GVISOR_HOST

pytestmark = pytest.mark.skipif(shutil.which("runsc") is None, reason="runsc is not installed (.ci/run installs it)")


def test_one_host_runs_gvisor_next_to_runc(fleet, verify):
    inventory = fleet.inventory(hostvars={GVISOR_HOST: {"kata_fleet_runtimes": ["runc", "runsc"]}})
    run = verify(inventory, extravars=FAST)
    assert run.rc == 0 and run.status == "successful", run.stdout[-4000:]
    report = run.report
    assert report["summary"]["runtimes"] == {"runc": 3, "runsc": 1}
    entry = report["hosts"][GVISOR_HOST]
    assert sorted(entry["host"]["containerd"]["handlers"]) == ["hang", "runc", "runsc", "runsc-netstack"]
    runsc, runc = entry["runtimes"]["runsc"], entry["runtimes"]["runc"]
    assert runsc["isolation"]["status"] == "ok", runsc["isolation"]
    assert runsc["isolation"]["verdict"] == "user-space-kernel" and runsc["isolation"]["sandbox"] == "gvisor"
    assert runsc["isolation"]["kernel_release"] == "4.4.0" != entry["host"]["kernel_release"]
    assert runc["isolation"]["verdict"] == "shared-kernel"
    assert runsc["startup"]["status"] == "ok" and runsc["startup"]["total"]["n"] == FAST["kata_fleet_startup_runs"]
    assert runsc["http"]["status"] == "ok" and runsc["http"]["succeeded"] == FAST["kata_fleet_http_requests"]
    assert runsc["http"]["network"]["mode"] == "host"
    for other in fleet.hosts:
        if other.name != GVISOR_HOST:
            assert sorted(report["hosts"][other.name]["runtimes"]) == ["runc"]
            assert "runsc" not in report["hosts"][other.name]["host"]["containerd"]["handlers"]
    policies = dict((policy["name"], policy) for policy in report["policies"])
    results = dict((result["host"], result["status"]) for result in policies["gvisor-user-space-kernel"]["results"])
    assert results == {"h1": "pass", "h2": "skip", "h3": "skip"}
    (performance_row,) = [row for row in run.table_rows(GVISOR_HOST, "runsc") if "(host netstack)" in row[3]]
    assert performance_row[4].endswith(" MiB")
    assert fleet.leftovers() == fleet.nothing_left()
