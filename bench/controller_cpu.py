#!/usr/bin/env python
"""Where the controller's CPU goes, per host, in verify.yml over N simulated hosts (BSD process accounting).

    sudo .venv/bin/python bench/controller_cpu.py               # 12 hosts, 2 rounds, about 5 minutes
    sudo .venv/bin/python bench/controller_cpu.py --hosts 6 --rounds 1

bench/fleet_scale.py gives the controller's CPU as one sum (wait4 on
ansible-playbook). This splits it with the kernel's process accounting
(``acct(2)`` through ``accton`` from Debian's ``acct`` package: one record per
exited process with its command, pid, parent and CPU time), into:

main      the ansible-playbook process itself: its strategy loop, which polls
          its workers every ``internal_poll_interval`` (0.001 s by default),
          and the callbacks (the comparison table and bundle);
workers   its forked worker processes, one per host and task (templating,
          the action plugin, the connection plugin);
ssh       the ssh clients, the ControlPersist masters included.

Every other process (sshd, the module's python, ctr, the shims) runs on the
simulated hosts. Configurations: the shipped ansible.cfg (linear, pipelining),
and the same with ``ANSIBLE_INTERNAL_POLL_INTERVAL=0.01``.

A benchmark, not a test. It turns accounting on for the measured runs only
(into a file of its own under bench/results) and off again at the end, also on
failure and Ctrl-C; it refuses to start when accounting is already on.
"""

import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fleet_scale  # noqa: E402  pylint: disable=wrong-import-position
import bench  # noqa: E402  pylint: disable=wrong-import-position
import fleet_harness  # noqa: E402  pylint: disable=wrong-import-position

RESULTS = os.path.join(HERE, "results")
# struct acct_v3 (linux/acct.h): flag, version, tty, exitcode, uid, gid, pid, ppid, btime, etime (float),
# utime, stime, mem, io, rw, minflt, majflt, swaps (comp_t), comm[16]
ACCT_V3 = struct.Struct("=BBHIIIIIIf8H16s")
CONFIGURATIONS = (
    ("shipped ansible.cfg (linear, forks = hosts, pipelining)", {}),
    ("same, internal_poll_interval 0.01", {"ANSIBLE_INTERNAL_POLL_INTERVAL": "0.01"}),
)
# ansible-core's own floor over the same hosts and connections: one ansible.builtin.ping task (a worker, a
# module sent over SSH and run, its result); what verify.yml's one task per host costs beyond it is ours.
FLOOR = "floor: one ansible.builtin.ping task, same hosts and ansible.cfg"
FLOOR_PLAY = "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n"


def comp_t(value):
    """A comp_t (13-bit mantissa, 3-bit base-8 exponent) in clock ticks."""
    return (value & 0x1fff) << (3 * ((value >> 13) & 0x7))


def read_acct(path):
    """Every record: (pid, ppid, command, CPU seconds)."""
    ticks = float(os.sysconf("SC_CLK_TCK"))
    records = []
    with open(path, "rb") as handle:
        data = handle.read()
    for offset in range(0, len(data) - ACCT_V3.size + 1, ACCT_V3.size):
        fields = ACCT_V3.unpack_from(data, offset)
        if fields[1] & 0x0f != 3:
            continue
        pid, ppid = fields[6], fields[7]
        cpu = (comp_t(fields[10]) + comp_t(fields[11])) / ticks
        records.append((pid, ppid, fields[18].split(b"\0")[0].decode("ascii", "replace"), cpu))
    return records


def split(records, main_pid):
    """CPU seconds of the main process, its workers and the ssh clients."""
    found = {"main": 0.0, "workers": 0.0, "ssh": 0.0, "workers_n": 0, "ssh_n": 0}
    for pid, ppid, command, cpu in records:
        if pid == main_pid:
            found["main"] += cpu
        elif command == "ansible-playboo" and ppid == main_pid:
            found["workers"] += cpu
            found["workers_n"] += 1
        elif command == "ssh":
            found["ssh"] += cpu
            found["ssh_n"] += 1
    return found


def run_once(fleet, size, env_extra, workdir, account, floor=False):
    inventory = fleet.inventory(hosts=["h%d" % index for index in range(1, size + 1)])
    path = os.path.join(workdir, "inventory.json")
    with open(path, "w") as handle:
        json.dump(inventory, handle)
    argv, env = fleet_harness.controller_command(fleet, path, workdir, size)
    env.update(env_extra)
    if floor:
        play = os.path.join(workdir, "floor.yml")
        with open(play, "w") as handle:
            handle.write(FLOOR_PLAY)
        argv = [play if arg.endswith("verify.yml") else arg for arg in argv]
    fleet.close_connections()
    # The ControlPersist masters exit after the run: their records are written.
    wall, status, usage, pid = accounted(argv, env, workdir, os.path.join(workdir, "verify.log"), account,
                                         settle=fleet.close_connections)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("verify.yml failed; see %s" % os.path.join(workdir, "verify.log"))
    found = split(read_acct(account), pid)
    found.update(wall=wall, wait4=usage.ru_utime + usage.ru_stime)
    return found


def accounted(argv, env, workdir, log_path, account, settle=None):
    """Run ``argv`` with the kernel's process accounting writing to ``account``: (wall, status, rusage, pid).

    ``settle`` runs after the process ended and before accounting stops (what must exit to be recorded).
    """
    if os.path.exists(account):
        os.unlink(account)
    open(account, "wb").close()
    subprocess.run(["accton", account], check=True, capture_output=True)
    try:
        started = time.monotonic()
        with open(log_path, "w") as log:
            process = subprocess.Popen(argv, env=env, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT)
            dummy, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
        if settle is not None:
            settle()
        time.sleep(0.5)
    finally:
        subprocess.run(["accton", "off"], check=False, capture_output=True)
    return wall, status, usage, process.pid


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("controller_cpu.py: run as root (it starts hosts and turns process accounting on)")
    if subprocess.run(["which", "accton"], capture_output=True, check=False).returncode != 0:
        sys.exit("controller_cpu.py: accton is missing: apt-get install acct")
    os.makedirs(RESULTS, exist_ok=True)
    account = os.path.join(RESULTS, "controller-cpu.pacct")
    work = tempfile.mkdtemp(prefix="kfcpu-", dir=RESULTS)
    fleet = fleet_harness.Fleet(options.hosts)
    samples = dict((label, []) for label, _env in CONFIGURATIONS)
    samples[FLOOR] = []
    try:
        fleet.start()
        fleet_scale.run_verify(fleet, options.hosts, options.hosts, "linear", True, tempfile.mkdtemp(dir=work))
        for round_index in range(options.rounds):
            order = CONFIGURATIONS if round_index % 2 == 0 else tuple(reversed(CONFIGURATIONS))
            for label, env_extra in order:
                found = run_once(fleet, options.hosts, env_extra, tempfile.mkdtemp(dir=work), account)
                samples[label].append(found)
                print("%-58s wall %5.1f s  main %4.2f  workers %5.2f (%d)  ssh %4.2f (%d)  wait4 %5.2f" % (
                    label, found["wall"], found["main"], found["workers"], found["workers_n"], found["ssh"],
                    found["ssh_n"], found["wait4"]), flush=True)
            found = run_once(fleet, options.hosts, {}, tempfile.mkdtemp(dir=work), account, floor=True)
            samples[FLOOR].append(found)
            print("%-58s wall %5.1f s  main %4.2f  workers %5.2f (%d)  ssh %4.2f (%d)  wait4 %5.2f" % (
                FLOOR[:58], found["wall"], found["main"], found["workers"], found["workers_n"], found["ssh"],
                found["ssh_n"], found["wait4"]), flush=True)
    finally:
        subprocess.run(["accton", "off"], check=False, capture_output=True)
        fleet.stop()
        if os.path.exists(account):
            os.unlink(account)
        subprocess.run(["rm", "-rf", work], check=False)
    rows = []
    for label, runs in samples.items():
        med = dict((key, statistics.median(r[key] for r in runs)) for key in ("wall", "main", "workers", "ssh", "wait4"))
        rows.append([label, "%.1f s" % med["wall"], "%.3f s" % (med["main"] / options.hosts),
                     "%.3f s" % (med["workers"] / options.hosts), "%.3f s" % (med["ssh"] / options.hosts),
                     "%.3f s" % ((med["main"] + med["workers"] + med["ssh"]) / options.hosts),
                     "%.3f s" % (med["wait4"] / options.hosts)])
    print()
    bench.table(["%d hosts, medians of %d" % (options.hosts, options.rounds), "wall", "main process / host",
                 "workers / host", "ssh / host", "sum / host", "wait4 / host"], rows)
    with open(os.path.join(RESULTS, "controller-cpu-latest.json"), "w") as handle:
        json.dump(samples, handle, indent=1)


if __name__ == "__main__":
    main()
