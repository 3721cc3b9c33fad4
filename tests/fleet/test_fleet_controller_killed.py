"""The controller dies in the middle of a probe; the next run sweeps what the killed run left and succeeds.

What happens on a host when the controller dies depends on how Ansible ran the module there:

- pipelining off (Ansible's default): the module runs on a terminal (``ssh -tt``); the connection drops, the
  terminal hangs up and the module dies of SIGHUP at once, before its own cleanup: its probe container,
  shim, network namespace, veth, server log and Ansible's remote temp folder stay behind.
- pipelining on: no terminal; the module runs on to the end of its probe, removes what it made and exits;
  only its result is lost.
"""

import json
import os
import re
import subprocess
import time

import pytest

from fleet_harness import FAST, controller_command, kill_controller, wait_for, wait_until_quiet
# The length of the tag in every probe name.
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import INSTANCE_TAG_LENGTH  # noqa: E402  pylint: disable=wrong-import-order

# HTTP requests per host in the run that is killed: the probe must still be running when the controller dies.
LONG_HTTP = 5000


def _http_probes(fleet, run_id):
    """{host: name of its HTTP probe container} once every host has the one of run ``run_id``, else None.

    The name's tag hashes the instance and a part drawn by each module run (two runs with one run id never
    share a name), so the probe is found by the rest of its name.
    """
    pattern = re.compile(r"\Akf-[0-9a-f]{%d}-%s-runc-http\Z" % (INSTANCE_TAG_LENGTH, re.escape(run_id)))
    names = {}
    for host in fleet.hosts:
        found = [name for name in host.containerd.ctr("containers", "list", "--quiet").stdout.split()
                 if pattern.match(name)]
        if len(found) != 1:
            return None
        names[host.name] = found[0]
    return names


@pytest.mark.parametrize("pipelining", ["off", "on"])
def test_controller_killed_mid_probe(fleet, verify, tmp_path, pipelining):
    fleet.close_connections()
    run_id = "killed-%s-%d" % (pipelining, os.getpid())
    inventory = fleet.inventory(kata_fleet_startup_runs=1, kata_fleet_startup_warmup=0,
                                kata_fleet_http_requests=LONG_HTTP, kata_fleet_run_id=run_id)
    inventory_path = tmp_path / "inventory.json"
    inventory_path.write_text(json.dumps(inventory))
    argv, env = controller_command(fleet, str(inventory_path), str(tmp_path), forks=4)
    env["ANSIBLE_PIPELINING"] = "1" if pipelining == "on" else "0"
    with open(str(tmp_path / "controller.log"), "w") as log:
        controller = subprocess.Popen(argv, env=env, cwd=str(tmp_path), stdin=subprocess.DEVNULL, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
    try:
        probes = wait_for(lambda: _http_probes(fleet, run_id), 120, what="an HTTP probe container on every host")
    finally:
        killed = kill_controller(fleet, controller)
    assert controller.returncode == -9 and len(killed) > 1, killed
    assert not fleet.control_masters()

    if pipelining == "off":
        # Each module died with its terminal, at once.
        started = time.monotonic()
        wait_until_quiet(fleet, timeout=10)
        assert time.monotonic() - started < 5
        temp_folders = {}
        for host in fleet.hosts:
            left = host.leftovers()
            probe = probes[host.name]
            assert (left["containers"], left["tasks"], left["snapshots"]) == ([probe], [probe], [probe]), left
            assert left["netns"] == [probe] and len(left["links"]) == 1 and left["logs"] == [probe + ".log"], left
            assert len(left["shims"]) == 1, left
            assert len(left["ansible_tmp"]) == 1, left
            temp_folders[host.name] = left["ansible_tmp"]
    else:
        # Each module runs on after the controller is gone, then removes what it made.
        assert all(host.module_processes() for host in fleet.hosts)
        wait_until_quiet(fleet, timeout=90)
        assert fleet.leftovers() == fleet.nothing_left()

    run = verify(fleet.inventory(), extravars=FAST)
    assert run.status == "successful" and run.rc == 0, run.stdout[-3000:]
    for host in fleet.hosts:
        probe = probes[host.name]
        # The orphans of the killed run are reported as swept: the container by the first probe module,
        # the network namespace and the server log by http_latency.
        swept = run.results("isolation_probe")[host.name]["swept"] + run.results("http_latency")[host.name]["swept"]
        assert sorted(swept) == ([probe, probe, probe + ".log"] if pipelining == "off" else []), swept
        assert run.report["hosts"][host.name]["status"] == "ok"

    if pipelining == "off":
        # Ansible's own remote temp folder of the killed module stays: no run of Ansible removes it later.
        assert fleet.leftovers() == dict((name, dict(left, ansible_tmp=temp_folders[name]))
                                         for name, left in fleet.nothing_left().items())
        for host in fleet.hosts:
            host.in_host("rm", "-r", "--", "/root/.ansible/tmp/" + temp_folders[host.name][0])
    assert fleet.leftovers() == fleet.nothing_left()
