#!/usr/bin/env python
"""Reproduce the ~1 s outliers in startup_bench's samples: AnsibleModule.run_command against subprocess.run.

    .venv/bin/python bench/run_command_gap.py [--runs 150] [--namespace kata-fleet-bench] [--image REF]

Runs the same ``timeout ... ctr run --rm ... /bin/true`` argv that startup_bench
times, alternately through ansible-core's ``AnsibleModule.run_command`` (what the
module uses) and ``subprocess.run``, and counts the calls that took at least
0.5 s longer than the process itself lived.  It also counts the times
run_command's read loop called ``select(1)`` with nothing left to watch (both
pipes at EOF): that sleeps the whole 1 s timeout.  A measurement aid for
bench/README.md, not a test; the image must already be in the namespace (run
bench/bench.py with --keep-image, or `make verify` and --namespace kata-fleet).
"""

import argparse
import json
import selectors
import subprocess
import time

from ansible.module_utils import basic

EXTRA = 0.5  # seconds beyond the process's own lifetime that count as an outlier


class Watch:
    """Process lifetimes (Popen to reaped) and select() calls on an empty selector."""

    def __init__(self):
        self.lifetimes, self.empty_selects = [], []
        init, reaped, select = subprocess.Popen.__init__, subprocess.Popen._handle_exitstatus, selectors.PollSelector.select
        watch = self

        def popen(proc, *args, **kwargs):
            proc.kfbench_started = time.monotonic()
            init(proc, *args, **kwargs)

        def exited(proc, *args, **kwargs):
            code = reaped(proc, *args, **kwargs)
            watch.lifetimes.append(time.monotonic() - proc.kfbench_started)
            return code

        def selected(selector, timeout=None):
            started = time.monotonic()
            events = select(selector, timeout)
            if not selector.get_map():
                watch.empty_selects.append(time.monotonic() - started)
            return events

        subprocess.Popen.__init__, subprocess.Popen._handle_exitstatus = popen, exited
        selectors.PollSelector.select = selected


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=150)
    parser.add_argument("--address", default="/run/containerd/containerd.sock")
    parser.add_argument("--namespace", default="kata-fleet-bench")
    parser.add_argument("--image", help="default: the first localhost/kata-fleet/probe:* in the namespace")
    options = parser.parse_args()
    ctr = ["ctr", "--address", options.address, "--namespace", options.namespace]
    image = options.image or next(ref for ref in subprocess.run(ctr + ["images", "ls", "-q"], capture_output=True,
                                                                text=True, check=True).stdout.split()
                                  if ref.startswith("localhost/kata-fleet/probe:"))
    # An AnsibleModule outside Ansible: empty arguments, the legacy serialization profile.
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": {}}).encode()  # pylint: disable=protected-access
    basic._ANSIBLE_PROFILE = "legacy"  # pylint: disable=protected-access
    module = basic.AnsibleModule(argument_spec={})
    watch = Watch()
    results = {"run_command": [], "subprocess.run": []}
    name = None
    try:
        for index in range(options.runs):
            for method in results if index % 2 == 0 else reversed(list(results)):
                name = "kfbench-gap-%d-%s" % (index, method[0])
                argv = ["timeout", "--kill-after=5", "60s"] + ctr + [
                    "run", "--rm", "--runtime", "io.containerd.runc.v2", image, name, "/bin/true"]
                started = time.monotonic()
                if method == "run_command":
                    module.run_command(argv)
                else:
                    subprocess.run(argv, capture_output=True, check=False)
                results[method].append(time.monotonic() - started - watch.lifetimes[-1])
        name = None
    finally:
        if name:  # interrupted mid-run: the container may still be there
            for args in (["tasks", "kill", "--signal", "SIGKILL", name], ["tasks", "delete", "--force", name],
                         ["containers", "delete", name]):
                subprocess.run(ctr + args, capture_output=True, check=False)
    for method, extras in results.items():
        slow = sorted(round(extra, 3) for extra in extras if extra >= EXTRA)
        print("%-15s %d calls, %d took >= %.1f s longer than the process: %s" % (method, len(extras), len(slow), EXTRA, slow))
    print("select() on an empty selector: %d times, %s s each" % (
        len(watch.empty_selects), sorted(round(seconds, 3) for seconds in watch.empty_selects)))


if __name__ == "__main__":
    main()
