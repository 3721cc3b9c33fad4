#!/usr/bin/env python
"""How close workload_bench's figures come to the same commands timed by hand with farm-bench.

    .venv/bin/python bench/workload_accuracy.py [--runs 7] [--namespace kata-fleet-bench-workload]
                                                [--address /run/containerd/containerd.sock] [--json]

For each workload (cpu, syscall, tmpfs_io, rootfs_io) it calibrates the count as
the module does, then times one repeat of the same work:
- on the host: the capability's host median (``_workload.host_run``) against
  ``farm-bench -n RUNS -- busybox sh -c '<one repeat>'`` (median wall seconds);
- under runc: the capability's container median (``_workload.container_run``,
  repeats inside one container) against ``farm-bench`` of
  ``ctr run --rm <image> busybox sh -c '<one repeat>'`` minus ``farm-bench`` of the
  same container running ``busybox true`` (startup and teardown taken out).
Prints each pair and their ratio (capability / by hand). By hand, the host figure
includes one ``sh`` start (about a millisecond); the runc figure carries the noise
of two container-run medians.  A measurement aid for bench/README.md, not a test;
it uses containerd at --address in a namespace of its own and removes its image.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "collections"))

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _oci, _workload  # noqa: E402
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import ContainerdClient  # noqa: E402
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._stats import summarize  # noqa: E402

WALL = re.compile(r"^A wall s\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)", re.M)
RUNC = {"runtime_type": "io.containerd.runc.v2", "options": {}}


class Module:
    """What ContainerdClient needs of AnsibleModule, outside Ansible."""

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return shutil.which(name)

    def run_command(self, argv, **kwargs):
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
        return done.returncode, done.stdout, done.stderr


def farm_median(argv, runs):
    done = subprocess.run(["farm-bench", "-n", str(runs), "--timeout", "600", "--"] + argv,
                          capture_output=True, text=True, check=False)
    match = WALL.search(done.stdout + done.stderr)
    if not match:
        raise SystemExit("farm-bench gave no wall time for %s:\n%s%s" % (argv[:6], done.stdout, done.stderr))
    return float(match.group(2))


def one_repeat(name, count, directory):
    """The body of one repeat, as the capability's script runs it (its `work` function, then a call)."""
    lines = ["BB=/bin/busybox"] + _workload._work(name, directory) + ["work %d" % count]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--namespace", default="kata-fleet-bench-workload")
    parser.add_argument("--address", default="/run/containerd/containerd.sock")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    client = ContainerdClient(Module(), args.address, args.namespace, "/nonexistent")
    client.ping()
    machine = os.uname()[4]
    folder = tempfile.mkdtemp(prefix="kf-workload-bench-")
    archive = os.path.join(folder, "probe.tar")
    image = _oci.build_archive("/bin/busybox", machine, archive)["reference"]
    client.import_image(archive)
    params = {"image": image, "timeout": 120, "workload_repeats": args.runs, "workload_budget": 60.0,
              "workload_repeat_seconds": 0.1}
    rows = []
    try:
        for index, name in enumerate(("cpu", "syscall", "tmpfs_io", "rootfs_io")):
            host_dir = {"rootfs_io": folder, "tmpfs_io": "/dev/shm"}.get(name)
            count, _seconds, error = _workload.calibrate("/bin/busybox", name, 0.1, host_dir, 120)
            if error:
                raise SystemExit("calibration of %s: %s" % (name, error))
            host, _outer, error = _workload.host_run("/bin/busybox", name, count, args.runs, 60.0, host_dir, 120)
            if error:
                raise SystemExit("host run of %s: %s" % (name, error))
            cont, _outer, error = _workload.container_run(
                client, client.container_name("bench", "runc", "w") + str(index), "runc", RUNC, name, count, params,
                "bench")
            if error:
                raise SystemExit("runc run of %s: %s" % (name, error))
            by_hand_host = farm_median(["/bin/busybox", "sh", "-c", one_repeat(name, count, host_dir)], args.runs)
            base = client.ctr_argv("run", "--rm", "--runtime", RUNC["runtime_type"], image)
            ctr_work = farm_median(base + ["wlbench-%d" % index, "/bin/busybox", "sh", "-c",
                                           one_repeat(name, count, _workload.CONTAINER_DIRS.get(name))], args.runs)
            ctr_true = farm_median(base + ["wlbench-t%d" % index, "/bin/busybox", "true"], args.runs)
            host_median = summarize(host["samples"])["median"]
            # Per the host's count: runc normally runs it; if its warm-up sized the repeats down, scale back.
            runc_median = summarize(cont["samples"])["median"] * count / float(cont["count"] or count)
            rows.append({"workload": name, "count": count,
                         "host": {"capability": host_median, "by_hand": by_hand_host,
                                  "ratio": round(host_median / by_hand_host, 3)},
                         "runc": {"capability": runc_median, "by_hand": round(ctr_work - ctr_true, 6),
                                  "ctr_run_work": ctr_work, "ctr_run_true": ctr_true,
                                  "ratio": round(runc_median / (ctr_work - ctr_true), 3)
                                  if ctr_work > ctr_true else None}})
    finally:
        client.module.run_command(client.ctr_argv("images", "rm", image))
        shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print("%-10s %10s | %9s %9s %6s | %9s %9s %6s" % ("workload", "count", "host cap", "by hand", "ratio",
                                                      "runc cap", "by hand", "ratio"))
    for row in rows:
        print("%-10s %10d | %9.4f %9.4f %6.3f | %9.4f %9.4f %6s" % (
            row["workload"], row["count"], row["host"]["capability"], row["host"]["by_hand"], row["host"]["ratio"],
            row["runc"]["capability"], row["runc"]["by_hand"], row["runc"]["ratio"]))


if __name__ == "__main__":
    main()
