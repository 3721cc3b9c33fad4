#!/usr/bin/env python
"""How long and how much memory the workload audit takes for a node of 1,000 running containers.

Three figures (see bench/README.md, "Workload audit at scale"):
1. the audit itself (parsing, 1,000 witness classifications, grouping, findings) over a generated node:
   tests/unit/audit_node.generated_node (pods of two: runc, Kata with QEMU, gVisor) plus extra host
   processes, ctr answered from memory (zero latency), the process table replayed by _audit.RecordedSnapshotReader;
2. what one real read-only ctr call costs against a live containerd (``ctr containers ls``), one at a time
   and 4 at a time, and so what 1,000 ``ctr containers info`` calls cost at the default parallel=4;
3. one snapshot of this machine's live /proc through _audit.SnapshotReader (every pid read once).

Usage: .venv/bin/python bench/audit_scale.py [--containers 1000] [--processes 3000] [--address SOCK]
"""

import argparse
import os
import subprocess
import sys
import threading
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "collections"))
sys.path.insert(0, os.path.join(REPO, "tests", "unit"))

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _audit  # noqa: E402
import audit_node  # noqa: E402


class Module:
    """Just enough of AnsibleModule for ContainerdClient: binaries and ``containerd config dump``."""

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return {"ctr": audit_node.CTR, "containerd": audit_node.CONTAINERD}.get(name)

    def run_command(self, argv, **kwargs):
        return 0, audit_node.CONFIG_DUMP, ""


def audit_figures(containers, processes):
    namespaces, recording, expected = audit_node.generated_node(containers, extra_processes=processes)
    ctr = audit_node.ScriptedCtr(namespaces)
    client = audit_node._containerd.ContainerdClient(Module(), audit_node.ADDRESS, "kata-fleet", "/nonexistent",
                                                     client="ctr", runner=ctr)
    tracemalloc.start()
    started = time.perf_counter()
    result = _audit.audit(client, reader=_audit.RecordedSnapshotReader(recording), timeout=600)
    seconds = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    right = sum(1 for c in result["containers_list"] if expected[c["id"]] == c["class"])
    return {"containers": result["containers"], "classified_right": right, "processes": len(recording["processes"]),
            "seconds": round(seconds, 2), "peak_mib": round(peak / 2.0 ** 20, 1), "ctr_calls": result["ctr_calls"]}


def ctr_figures(address, calls=40):
    argv = ["ctr", "--address", address, "--namespace", "kata-fleet", "containers", "ls"]
    if subprocess.run(argv, capture_output=True, check=False).returncode != 0:
        return None
    started = time.perf_counter()
    for dummy in range(calls):
        subprocess.run(argv, capture_output=True, check=False)
    serial = (time.perf_counter() - started) / calls
    queue = list(range(calls))
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                queue.pop()
            subprocess.run(argv, capture_output=True, check=False)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for dummy in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    parallel = (time.perf_counter() - started) / calls
    return {"serial_ms": round(serial * 1000, 1), "parallel4_ms_per_call": round(parallel * 1000, 1),
            "projected_1000_info_s": round(parallel * 1000, 1)}


def proc_figures():
    started = time.perf_counter()
    reader = _audit.SnapshotReader()
    for pid in reader.pids():
        reader.process(pid)
    reader.host_ns()
    return {"pids": len(reader.table), "seconds": round(time.perf_counter() - started, 3)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--containers", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=3000)
    parser.add_argument("--address", default="/run/containerd/containerd.sock")
    args = parser.parse_args()
    print("audit over a generated node:", audit_figures(args.containers, args.processes))
    print("one real ctr call:", ctr_figures(args.address))
    print("live /proc snapshot:", proc_figures())


if __name__ == "__main__":
    main()
