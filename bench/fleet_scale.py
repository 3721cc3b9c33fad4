#!/usr/bin/env python
"""verify.yml across 1, 3, 6 and 12 simulated hosts: wall time and Ansible's own overhead per host.

    sudo .venv/bin/python bench/fleet_scale.py            # the full matrix, 2 rounds, about 11 minutes
    sudo .venv/bin/python bench/fleet_scale.py --quick    # 1 and 3 hosts, baseline only, one round

The hosts are the fleet tests' (tests/fleet/fleet_harness.py): each has its own
network, mount and UTS namespaces, sshd and containerd, and ansible-playbook
reaches it over real SSH.  They all share this machine's CPUs, so this measures
how the controller and the hosts' work share a fixed amount of CPU as the fleet
grows, not how a fleet of real machines (each with its own CPUs) scales.

For every configuration (hosts N, forks F, strategy, pipelining), side by side:

verify    wall time of ``ansible-playbook -i <N hosts> --forks F playbooks/verify.yml``,
          every verify.yml variable at its default but kata_fleet_runtimes [runc]
          (10 counted startup runs, 50 HTTP requests); the controller's CPU time (ansible-playbook and its
          forks and ssh clients, from wait4), and of that the ansible-playbook process's own (its strategy
          loop and callbacks: one CPU at most, whatever the forks; /proc/<pid>/stat sampled every 50 ms);
raw       wall time of bench/raw_verify.sh run on the same N hosts (inside each
          host's namespaces), at most F at a time: the same container operations
          without Ansible, as bench/README.md section 2 defines them;
overhead  (verify - raw) / N: Ansible's own wall time per host.

This is a benchmark, not a test: nothing is judged.  It prints Markdown tables
and writes bench/results/fleet-latest.json (plus a timestamped copy).
Everything it creates (hosts, namespaces, containerds, sshds, temp folders) is
removed at the end, also on failure and Ctrl-C.
"""

import argparse
import concurrent.futures
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "fleet"))
sys.path.insert(0, HERE)

import bench  # noqa: E402  pylint: disable=wrong-import-position
import fleet_harness  # noqa: E402  pylint: disable=wrong-import-position

RESULTS = os.path.join(HERE, "results")
RAW_VERIFY = os.path.join(HERE, "raw_verify.sh")
SIZES = (1, 3, 6, 12)
# (label, forks, strategy, pipelining); forks None = as many as hosts (at least 2). The variants run at VARIANT_SIZES.
# The baseline is the shipped ansible.cfg's: linear, pipelining on.
BASELINE = ("linear, forks 12, pipelining", 12, "linear", True)
VARIANTS = (
    ("linear, forks 5, pipelining", 5, "linear", True),
    ("free, forks 12, pipelining", 12, "free", True),
    ("linear, forks 12, no pipelining", 12, "linear", False),
)
VARIANT_SIZES = (6, 12)


def run_verify(fleet, size, forks, strategy, pipelining, workdir):
    """ansible-playbook verify.yml over the first ``size`` hosts; (wall seconds, controller CPU seconds)."""
    # runc only: the hosts' containerd also has the fleet tests' stand-in runtime that hangs.
    inventory = fleet.inventory(hosts=["h%d" % index for index in range(1, size + 1)])
    path = os.path.join(workdir, "inventory.json")
    with open(path, "w") as handle:
        json.dump(inventory, handle)
    argv, env = fleet_harness.controller_command(fleet, path, workdir, forks)
    env.update(ANSIBLE_STRATEGY=strategy, ANSIBLE_PIPELINING="1" if pipelining else "0")
    fleet.close_connections()  # every run logs in afresh, as a scheduled run would
    log_path = os.path.join(workdir, "verify.log")
    with open(log_path, "w") as log:
        started = time.monotonic()
        process = subprocess.Popen(argv, env=env, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT)
        own = 0.0  # the ansible-playbook process itself (its strategy loop and callbacks), last seen
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            own = process_cpu(process.pid, own)
            time.sleep(0.05)
        wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        with open(log_path) as log:
            raise RuntimeError("verify.yml over %d hosts failed (rc=%d): %s" % (size, process.returncode, log.read()[-3000:]))
    return wall, usage.ru_utime + usage.ru_stime, own


def process_cpu(pid, last):
    """CPU seconds of ``pid`` itself (utime + stime, its children not counted); ``last`` once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            fields = handle.read().rpartition(")")[2].split()
    except OSError:
        return last
    # fields[0] is field 3 (state): utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))


def raw_one(host):
    """bench/raw_verify.sh inside ``host``; the sum of its steps (its "total" line)."""
    # The host's own python: its /root (where pyenv may keep the venv's interpreter) is a home of its own.
    env = dict(os.environ, PYTHON=fleet_harness.REMOTE_PYTHON, KFBENCH_REPO=REPO)
    result = subprocess.run(host.enter + ["bash", RAW_VERIFY, host.containerd.address, host.containerd.namespace],
                            capture_output=True, text=True, env=env, timeout=300, check=False)
    if result.returncode != 0:
        raise RuntimeError("raw_verify.sh on %s failed (rc=%d): %s" % (
            host.name, result.returncode, result.stderr.strip()[-1000:]))
    return float([line.split()[1] for line in result.stdout.splitlines() if line.startswith("total ")][-1])


def run_raw(fleet, size, forks):
    """raw_verify.sh on the first ``size`` hosts, at most ``forks`` at a time; (wall, sum of per-host totals)."""
    hosts = fleet.hosts[:size]
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(forks, size)) as pool:
        totals = list(pool.map(raw_one, hosts))
    return time.monotonic() - started, sum(totals)


def configurations(sizes):
    found = [(size,) + BASELINE for size in sizes]
    found += [(size,) + variant for size in sizes if size in VARIANT_SIZES for variant in VARIANTS]
    return found


def machine():
    with open("/proc/cpuinfo") as handle:
        model = next((line.partition(":")[2].strip() for line in handle if line.startswith("model name")), None)
    return {"nproc": len(os.sched_getaffinity(0)), "kernel": platform.release(), "cpu_model": model,
            "containerd": bench.first_line(["containerd", "--version"]),
            "runc": bench.first_line(["runc", "--version"]),
            "openssh": bench.first_line(["ssh", "-V"]),
            "python": platform.python_version(),
            "ansible_core": bench.first_line([os.path.join(os.path.dirname(sys.executable), "ansible"), "--version"])}


def median(values):
    return round(statistics.median(values), 2)


def summarize(samples):
    rows, summary = [], []
    for key in sorted(samples, key=lambda k: (k[1] != BASELINE[0], k[0], k[1])):
        size, label = key
        runs = samples[key]
        wall, cpu = median([r["verify"] for r in runs]), median([r["controller_cpu"] for r in runs])
        main_cpu = median([r["main_cpu"] for r in runs])
        raw = median([r["raw"] for r in runs])
        overhead = round((wall - raw) / size, 2)
        entry = {"hosts": size, "configuration": label, "verify_wall": wall, "raw_wall": raw,
                 "raw_work": median([r["raw_work"] for r in runs]), "controller_cpu": cpu,
                 "main_process_cpu": main_cpu, "overhead_per_host": overhead, "ratio": round(wall / raw, 2),
                 "verify_samples": [round(r["verify"], 2) for r in runs]}
        summary.append(entry)
        rows.append([size, label, "%.1f s (%s)" % (wall, ", ".join("%.1f" % s for s in entry["verify_samples"])),
                     "%.1f s" % raw, "%.2fx" % entry["ratio"], "%.2f s" % overhead, "%.2f s" % (cpu / size),
                     "%.3f s" % (main_cpu / size)])
    bench.table(["hosts", "forks, strategy", "verify.yml wall, median (samples)", "raw wall",
                 "verify / raw", "Ansible overhead per host", "controller CPU per host",
                 "of which ansible-playbook's own process"], rows)
    return summary


def parse_options():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds over every configuration (default 2)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="fleet sizes (default 1 3 6 12)")
    parser.add_argument("--quick", action="store_true", help="1 and 3 hosts, baseline only, one round")
    options = parser.parse_args()
    if options.quick:
        options.rounds, options.sizes = 1, [1, 3]
    if options.rounds < 1 or min(options.sizes) < 1 or max(options.sizes) > 60:
        parser.error("--rounds must be at least 1, --sizes between 1 and 60")
    if os.geteuid() != 0:
        parser.error("run as root: it creates namespaces, runs sshd and real containers")
    missing = [tool for tool in ("containerd", "ctr", "runc", "/usr/sbin/sshd", "ssh", "unshare", "nsenter", "ip", "curl")
               if not shutil.which(tool)]
    if missing:
        parser.error("not installed: %s" % ", ".join(missing))
    return options


def main():
    options = parse_options()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    os.makedirs(RESULTS, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    report = {"started": stamp, "repo_commit": bench.git_describe(REPO), "machine": machine(),
              "command": [os.path.relpath(sys.executable, REPO), os.path.relpath(__file__, REPO)] + sys.argv[1:],
              "rounds": options.rounds, "sizes": options.sizes}
    bench.section("machine")
    for key, value in report["machine"].items():
        print("%-13s %s" % (key, value))
    report["background_before"] = bench.background_check("before")
    work = tempfile.mkdtemp(prefix="kffleet-", dir=RESULTS)
    fleet = fleet_harness.Fleet(max(options.sizes))
    foreign = bench.ForeignCpu()
    foreign.scan()
    foreign.start()
    try:
        started = time.monotonic()
        fleet.start()
        print("%d hosts up in %.1f s" % (len(fleet.hosts), time.monotonic() - started), flush=True)
        # Unmeasured: imports the probe image on every host.
        run_verify(fleet, len(fleet.hosts), len(fleet.hosts), "linear", True, tempfile.mkdtemp(dir=work))
        foreign.mark("setup")
        samples = {}
        plan = configurations(sorted(options.sizes))
        for round_index in range(options.rounds):
            bench.section("round %d of %d" % (round_index + 1, options.rounds))
            order = plan if round_index % 2 == 0 else list(reversed(plan))
            raws = {}
            for size, label, forks, strategy, pipelining in order:
                parallel = min(forks, size)
                if (size, parallel) not in raws:
                    raws[(size, parallel)] = run_raw(fleet, size, forks)
                raw_wall, raw_work = raws[(size, parallel)]
                wall, cpu, main_cpu = run_verify(fleet, size, forks, strategy, pipelining, tempfile.mkdtemp(dir=work))
                samples.setdefault((size, label), []).append(
                    {"verify": wall, "controller_cpu": cpu, "main_cpu": main_cpu, "raw": raw_wall, "raw_work": raw_work})
                print("%2d hosts, %-30s verify %6.1f s  raw %5.1f s  controller CPU %5.1f s (own %4.1f s)" % (
                    size, label, wall, raw_wall, cpu, main_cpu), flush=True)
            leftovers = dict((name, left) for name, left in fleet.leftovers().items()
                             if left != fleet_harness.FLEET_NOTHING_LEFT)
            if leftovers:
                raise RuntimeError("left on the hosts after round %d: %s" % (round_index + 1, leftovers))
            foreign.mark("round %d" % (round_index + 1))
        bench.section("results (medians of %d rounds)" % options.rounds)
        report["results"] = summarize(samples)
        report["samples"] = dict(("%d hosts, %s" % key, value) for key, value in samples.items())
    finally:
        errors = fleet.stop()
        report["foreign_cpu_seconds"] = foreign.stop()
        report["foreign_cpu_seconds_by_section"] = foreign.sections
        shutil.rmtree(work, ignore_errors=True)
        for name in ("fleet-latest.json", "fleet-%s.json" % stamp):
            with open(os.path.join(RESULTS, name), "w") as handle:
                json.dump(report, handle, indent=1, sort_keys=True)
        if errors:
            print("teardown: %s" % "; ".join(errors), file=sys.stderr)
    print("\nother processes used %.1f CPU-seconds meanwhile (%s)" % (
        report["foreign_cpu_seconds"], ", ".join("%s %.1f" % item for item in report["foreign_cpu_seconds_by_section"].items())))
    print("written: %s" % os.path.join(RESULTS, "fleet-latest.json"))


if __name__ == "__main__":
    main()
