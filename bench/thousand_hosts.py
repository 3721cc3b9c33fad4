#!/usr/bin/env python
"""The controller's CPU per host with 1,000 inventory hosts: verify.yml at forks 50 and 100, and two floors.

    sudo .venv/bin/python bench/thousand_hosts.py                     # 1,000 hosts, about 15 minutes on 2 CPUs
    sudo .venv/bin/python bench/thousand_hosts.py --hosts 200 --forks 50
    sudo .venv/bin/python bench/thousand_hosts.py --repo /tmp/old     # the same over another checkout's verify.yml

Every inventory host is this machine, reached through a real connection
plugin (``ansible_connection=local``: a fork of the worker runs the module, as
a remote login would, minus the network). verify.yml runs the real
verify_host module with a reduced capability set: ``--tags facts,policy`` (the
host's view and the policies, no probe containers), containerd pointed at a
socket nothing listens on, so the hosts' side is the module's Python and its
host view only and nothing is left behind. Its evidence bundle (1,000 hosts)
is written, as in a real run.

Configurations, each run once per round:

verify F     verify.yml, forks F (50 and 100);
ping         the floor of one module task per host: a play of one
             ``ansible.builtin.ping`` (forks 50);
empty        the floor of the run itself: the same inventory, a play with no task.

The controller's CPU is taken apart with process accounting exactly as
bench/controller_cpu.py does (one record per exited process): the
``ansible-playbook`` process itself (main), its forked workers (one per host
and task) and ssh clients (none here). The modules' Python processes are the
targets' side and are counted apart ("targets": everything ansible-playbook
waited for, from wait4, minus main and workers). A benchmark, not a test:
nothing is judged.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bench  # noqa: E402  pylint: disable=wrong-import-position
from controller_cpu import accounted, read_acct, split  # noqa: E402  pylint: disable=wrong-import-position

RESULTS = os.path.join(HERE, "results")
VENV_BIN = os.path.dirname(sys.executable)


def inventory(size, workdir):
    hosts = dict(("h%04d" % index, None) for index in range(1, size + 1))
    return {"all": {"hosts": hosts, "vars": {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "kata_fleet_containerd_address": os.path.join(workdir, "nobody.sock"),
        "kata_fleet_containerd_namespace": "kf-thousand",
    }}}


def floors(workdir):
    plays = {
        "ping": [{"name": "floor: one module task", "hosts": "all", "gather_facts": False,
                  "tasks": [{"name": "ping", "ansible.builtin.ping": None}]}],
        "empty": [{"name": "floor: no task", "hosts": "all", "gather_facts": False, "tasks": []}],
    }
    paths = {}
    for name, play in plays.items():
        paths[name] = os.path.join(workdir, "%s.yml" % name)
        with open(paths[name], "w") as handle:
            json.dump(play, handle)
    return paths


def run_once(repo, playbook, forks, extra, workdir, inventory_path, account):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(repo, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
               ANSIBLE_LOCAL_TEMP=os.path.join(workdir, "ansible-tmp"),
               KATA_FLEET_EVIDENCE_DIR=os.path.join(workdir, "evidence"))
    argv = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", inventory_path, "--forks", str(forks)] + extra + [playbook]
    wall, status, usage, pid = accounted(argv, env, workdir, os.path.join(workdir, "run.log"), account)
    found = split(read_acct(account), pid)
    waited = usage.ru_utime + usage.ru_stime
    # wait4 counts ansible-playbook and every process below it that was waited for: what is not the main
    # process or a worker is the modules (the targets' side). Walking the accounting records' parent links
    # instead would mix in other processes once pids are reused (thousands of processes per run).
    found.update(wall=wall, wait4=waited, targets=max(waited - found["main"] - found["workers"] - found["ssh"], 0.0),
                 rc=os.waitstatus_to_exitcode(status))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--forks", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--repo", default=REPO, help="the checkout whose playbooks/verify.yml runs (default this one)")
    parser.add_argument("--no-floors", action="store_true", help="verify.yml only")
    options = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("thousand_hosts.py: run as root (it turns process accounting on)")
    if subprocess.run(["which", "accton"], capture_output=True, check=False).returncode != 0:
        sys.exit("thousand_hosts.py: accton is missing: apt-get install acct")
    os.makedirs(RESULTS, exist_ok=True)
    account = os.path.join(RESULTS, "thousand-hosts.pacct")
    work = tempfile.mkdtemp(prefix="kf1000-", dir=RESULTS)
    repo = os.path.abspath(options.repo)
    configurations = [("verify.yml, forks %d" % forks, os.path.join(repo, "playbooks", "verify.yml"), forks,
                       ["--tags", "facts,policy"]) for forks in options.forks]
    samples = {}
    try:
        inventory_path = os.path.join(work, "inventory.json")
        with open(inventory_path, "w") as handle:
            json.dump(inventory(options.hosts, work), handle)
        if not options.no_floors:
            paths = floors(work)
            configurations += [("floor: one ping task, forks 50", paths["ping"], 50, []),
                               ("floor: empty play", paths["empty"], 50, [])]
        for round_index in range(options.rounds):
            for label, playbook, forks, extra in configurations:
                found = run_once(repo, playbook, forks, extra, tempfile.mkdtemp(dir=work), inventory_path, account)
                samples.setdefault(label, []).append(found)
                print("%-34s rc %d  wall %6.1f s  main %6.1f  workers %6.1f (%d)  targets %6.1f  wait4 %6.1f" % (
                    label, found["rc"], found["wall"], found["main"], found["workers"], found["workers_n"],
                    found["targets"], found["wait4"]), flush=True)
    finally:
        subprocess.run(["accton", "off"], check=False, capture_output=True)
        if os.path.exists(account):
            os.unlink(account)
        subprocess.run(["rm", "-rf", work], check=False)
    rows = []
    for label, runs in samples.items():
        med = dict((key, statistics.median(r[key] for r in runs)) for key in ("wall", "main", "workers", "targets"))
        rows.append([label, "%.1f s" % med["wall"], "%.3f s" % (med["main"] / options.hosts),
                     "%.3f s" % (med["workers"] / options.hosts),
                     "%.3f s" % ((med["main"] + med["workers"]) / options.hosts),
                     "%.3f s" % (med["targets"] / options.hosts)])
    print()
    bench.table(["%d hosts (%s)" % (options.hosts, bench.git_describe(repo)), "wall", "main process / host",
                 "workers / host", "controller / host", "targets (modules) / host"], rows)
    with open(os.path.join(RESULTS, "thousand-hosts-latest.json"), "w") as handle:
        json.dump({"hosts": options.hosts, "repo": repo, "samples": samples}, handle, indent=1)


if __name__ == "__main__":
    main()
