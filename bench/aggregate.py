"""How the report side scales: N synthetic hosts through the comparison callback and the whole bundle.

Each host is this machine's recorded verify results (tests/fixtures/recorded/
this_machine_verify.json) under another name, every 100th host unreachable,
with the policy_check result the default policies give it (evaluated once
here: in a real run each host's policy_check task evaluates them in the forks).
The results are fed through the callback's own handlers, then the callback's
end of play runs as in ansible-playbook: report model, console text, every
bundle file written.

The floor is measured the same way in a child process: the same results
built, the parts the callback keeps (the evidence report.json carries) held
per host, then one plain ``json.dumps`` of them written to a file: what any
report of these results costs at least.  Prints seconds per stage, the
peak memory (ru_maxrss) of each process and the ratio.

    .venv/bin/python bench/aggregate.py --hosts 10000
"""

import argparse
import copy
import gc
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "collections"))
sys.path.insert(0, os.path.join(ROOT, "tests", "unit"))

# pylint: disable=wrong-import-position
from callback_harness import FakeDisplay, options, result  # noqa: E402
from ansible_collections.kata_fleet.runtimes.plugins.callback import comparison  # noqa: E402
from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _runid  # noqa: E402
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _policy  # noqa: E402
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import (  # noqa: E402
    bundle, console, contract, model)
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report.view import build_view  # noqa: E402

ACTIONS = ("host_facts", "isolation_probe", "startup_bench", "http_latency", "policy_check")
RUN_ID = "bench-aggregate"


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def high_water_mib():
    """This process's peak resident memory since the last ``reset_high_water`` (VmHWM)."""
    with open("/proc/self/status") as handle:
        return int(re.search(r"^VmHWM:\s+(\d+) kB$", handle.read(), re.M).group(1)) / 1024.0


def reset_high_water():
    """Start VmHWM again from what is resident now (Linux 4.0+, /proc/PID/clear_refs "5")."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def resident_mib():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1048576.0


def results_for(hosts, copy_with="json"):
    """[(handler name, host, action, data)] as Ansible would hand them over, made before any clock starts."""
    with open(os.path.join(ROOT, "tests", "fixtures", "recorded", "this_machine_verify.json")) as handle:
        recorded = json.load(handle)
    for action, key in (("isolation_probe", "isolation"), ("startup_bench", "startup"), ("http_latency", "http")):
        recorded[action][key]["run_id"] = RUN_ID
    registered = {"host_facts": recorded["host_facts"], "isolation": recorded["isolation_probe"],
                  "startup": recorded["startup_bench"], "http": recorded["http_latency"]}
    entry = model.host_entry(contract.record_from_results(registered))
    recorded["policy_check"] = {"changed": False, "policies": _policy.evaluate(_policy.policy_set(), "node", entry)}
    # Each host gets its own copy, as Ansible hands each result over: parsed from the module's JSON, so no two
    # hosts share a string ("json"); "deepcopy" shares the strings, as this benchmark did before (less memory).
    texts = dict((action, json.dumps(recorded[action])) for action in ACTIONS)
    fresh = (lambda action: json.loads(texts[action])) if copy_with == "json" else \
        (lambda action: copy.deepcopy(recorded[action]))
    out = []
    for index in range(hosts):
        name = "node-%05d" % index
        if index % 100 == 49:
            out.append(("unreachable", name, "host_facts", {"msg": "ssh: connect to host %s port 22: timed out" % name}))
            continue
        for action in ACTIONS:
            out.append(("ok", name, action, fresh(action)))
    return out


KEPT = {"host_facts": lambda data: data["ansible_facts"]["kata_fleet_host"],
        "isolation_probe": lambda data: data["isolation"], "startup_bench": lambda data: data["startup"],
        "http_latency": lambda data: data["http"], "policy_check": lambda data: data["policies"]}


def floor(hosts, folder, copy_with):
    """The evidence of the same results (what report.json carries), one plain json.dumps written to a file.

    Returns (seconds, peak MiB, bytes, MiB resident before the dump).  The results are held as the callback holds them (references to
    the parts it keeps), so the memory floor is comparable too.
    """
    results = results_for(hosts, copy_with)
    per_host = {}
    for kind, name, action, data in results:
        per_host.setdefault(name, {})[action] = KEPT[action](data) if kind == "ok" else data
    del results
    held = resident_mib()
    started = time.monotonic()
    text = json.dumps(per_host)
    with open(os.path.join(folder, "floor.json"), "w") as out:
        out.write(text)
    return time.monotonic() - started, peak_mib(), len(text), held


REFERENCE = "reference: json.dumps of this report.json"


def reference_dump(report):
    """Seconds one plain ``json.dumps`` of ``report`` takes: what the issue's ratio divides by. Timed where the
    end of play wrote report.json that way before (right after the model), then its text is dropped and the peak
    memory starts again, so the end of play's memory is its own."""
    started = time.monotonic()
    text = json.dumps(report, separators=(",", ":"), allow_nan=False)
    seconds = time.monotonic() - started
    del text
    reset_high_water()
    return seconds


def callback_side(hosts, folder, copy_with):
    results = results_for(hosts, copy_with)
    stages = {}
    callback = comparison.CallbackModule(display=FakeDisplay())
    callback._plugin_options = options(evidence_dir=folder)  # pylint: disable=protected-access
    os.environ[_runid.VARIABLE] = RUN_ID
    callback.v2_playbook_on_start(SimpleNamespace(_file_name="playbooks/verify.yml"))
    callback.v2_playbook_on_task_start(SimpleNamespace(resolved_action="kata_fleet.runtimes.host_facts",
                                                       action="host_facts"), False)
    started = time.monotonic()
    for kind, name, action, data in results:
        if kind == "ok":
            callback.v2_runner_on_ok(result(name, action, data))
        else:
            callback.v2_runner_on_unreachable(result(name, action, data))
    stages["collect results (callback handlers)"] = time.monotonic() - started
    del results
    collected_mib = resident_mib()

    # The callback's v2_playbook_on_stats, stage by stage (the same calls, timed; garbage collection off as there).
    gc.disable()
    total = time.monotonic()
    started = time.monotonic()
    report = callback.build()
    stages["build the report model"] = time.monotonic() - started
    paused = time.monotonic()
    stages[REFERENCE] = reference_dump(report)
    total += time.monotonic() - paused  # not part of the end of play
    started = time.monotonic()
    json_text = model.to_json_parts(report)
    stages["report.json text (to_json_parts)"] = time.monotonic() - started
    started = time.monotonic()
    view = build_view(report, listed_hosts=callback.get_option("listed_hosts"))
    stages["build the view (every cell, once)"] = time.monotonic() - started
    started = time.monotonic()
    console.render(view, callback.get_option("table_width"))
    stages["console text"] = time.monotonic() - started

    def timed(name, render):
        def run():
            began = time.monotonic()
            text = render()
            stages["render " + name] = time.monotonic() - began
            return text
        return name, run

    started = time.monotonic()
    target, _written, warnings = bundle.write_bundle(
        report["run_id"], folder, [timed(name, render) for name, render in bundle.outputs(report, json_text, view)])
    stages["write files, SHA256SUMS, latest"] = time.monotonic() - started - sum(
        seconds for stage, seconds in stages.items() if stage.startswith("render "))
    assert not warnings, warnings
    stages["end of play in all"] = time.monotonic() - total
    peak = high_water_mib()
    gc.enable()
    sizes = dict((name, os.path.getsize(os.path.join(target, name))) for name in sorted(os.listdir(target)))
    return stages, peak, sizes, collected_mib


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10000)
    parser.add_argument("--floor", action="store_true", help="only the floor (run in a child process)")
    parser.add_argument("--copy", choices=("json", "deepcopy"), default="json",
                        help="how each host's results are made: parsed from JSON (as Ansible does) or deep copies "
                             "sharing their strings (as this benchmark did before)")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="kf-aggregate-")
    if args.floor:
        print(json.dumps(floor(args.hosts, folder, args.copy)))
        return
    child = subprocess.run([sys.executable, os.path.abspath(__file__), "--hosts", str(args.hosts), "--floor",
                            "--copy", args.copy],
                           check=True, capture_output=True, text=True)
    floor_seconds, floor_mib, floor_bytes, floor_held = json.loads(child.stdout)
    stages, mib, sizes, collected_mib = callback_side(args.hosts, folder, args.copy)
    print("hosts: %d (%d unreachable), results made by %s" % (args.hosts, sum(1 for i in range(args.hosts) if i % 100 == 49), args.copy))
    print("%-48s %8.1f MiB" % ("resident after collecting (results held)", collected_mib))
    for stage, seconds in stages.items():
        print("%-48s %8.2f s" % (stage, seconds))
    print("%-48s %8.1f MiB" % ("peak resident (VmHWM), end of play", mib))
    print("%-48s %8.2f s   %8.1f MiB  (%.1f MiB of JSON)" % (
        "floor: json.dumps of the same results", floor_seconds, floor_mib, floor_bytes / 1048576.0))
    in_all = stages["end of play in all"]
    print("%-48s %8.2f x" % ("end of play / the reference json.dumps", in_all / stages[REFERENCE]))
    print("%-48s %8.2f x   %8.2f x" % ("ratio to the floor (time, peak memory)", in_all / floor_seconds, mib / floor_mib))
    print("%-48s %8.1f MiB vs floor %.1f MiB" % (
        "memory the end of play adds (peak - held)", mib - collected_mib, floor_mib - floor_held))
    for name, size in sizes.items():
        print("%-48s %8.1f MiB" % ("size of " + name, size / 1048576.0))
    print("evidence written to %s" % folder)


if __name__ == "__main__":
    main()
