"""How the report side scales: N synthetic hosts through the callback's aggregation and every renderer.

Each host is this machine's recorded verify results (tests/fixtures/recorded/
this_machine_verify.json) under another name, with every 50th host
unreachable, fed through the comparison callback's own result handlers,
then built into report.json, policies merged, and every bundle file rendered
and written.  Prints seconds per stage and the peak memory of the process
(ru_maxrss).  Policies are evaluated here too, although in a real run each
host's policy_check task evaluates them in parallel over the forks.

    .venv/bin/python bench/aggregate.py --hosts 10000
"""

import argparse
import copy
import json
import os
import resource
import tempfile
import time

from ansible.plugins.loader import callback_loader, init_plugin_loader

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Ansible's collection loader resolves ansible_collections.* from the checkout, as ansible-playbook does.
init_plugin_loader([os.path.join(ROOT, "collections")])

# pylint: disable=wrong-import-position
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _bundle, _policy  # noqa: E402
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._renderers import RENDERERS  # noqa: E402


class _Host(object):
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


class _Task(object):
    def __init__(self, action):
        self.action = self.resolved_action = "kata_fleet.runtimes." + action

    def get_name(self):
        return self.action


class _Result(object):
    """The three attributes the callback reads from Ansible's CallbackTaskResult."""

    def __init__(self, host, action, result):
        self._host, self._task, self._result = _Host(host), _Task(action), result


class _Display(object):
    """Keeps what the callback prints instead of writing 10,000 rows to the terminal."""

    verbosity = 0

    def __init__(self):
        self.lines = []

    def display(self, text, *args, **kwargs):
        self.lines.append(text)

    def banner(self, text, *args, **kwargs):
        self.lines.append(text)

    def warning(self, text, *args, **kwargs):
        self.lines.append("WARNING: " + text)


class _Stats(object):
    def __init__(self, names):
        self.processed = dict((name, 1) for name in names)
        self.custom = {}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10000)
    args = parser.parse_args()
    with open(os.path.join(ROOT, "tests", "fixtures", "recorded", "this_machine_verify.json")) as handle:
        recorded = json.load(handle)
    names = ["node-%05d" % index for index in range(args.hosts)]
    policies = _policy.policy_set()
    stages = {}
    evidence = tempfile.mkdtemp(prefix="kf-aggregate-")
    os.environ["KATA_FLEET_EVIDENCE_DIR"] = evidence

    callback = callback_loader.get("kata_fleet.runtimes.comparison", display=_Display())
    callback.set_options()
    # Ansible hands the callback a fresh result per task and host: make them before the clock starts.
    results = []
    for name in names:
        if name.endswith("49"):
            results.append((callback.v2_runner_on_unreachable, _Result(name, "host_facts", {"msg": "ssh: timed out"})))
            continue
        for action in ("host_facts", "isolation_probe", "startup_bench", "http_latency"):
            results.append((callback.v2_runner_on_ok, _Result(name, action, copy.deepcopy(recorded[action]))))
    started = time.monotonic()
    for handler, result in results:
        handler(result)
    stages["collect results (callback handlers)"] = time.monotonic() - started
    del results

    started = time.monotonic()
    callback.v2_playbook_on_task_start(_Task("host_facts"), False)
    report = callback.build({})
    report.pop("evidence_dir")
    stages["build the report.json model"] = time.monotonic() - started
    started = time.monotonic()
    per_host = dict((name, _policy.evaluate(policies, name, entry))
                    for name, entry in report["hosts"].items() if entry["status"] == "ok")
    stages["evaluate policies (policy_check, per host)"] = time.monotonic() - started
    started = time.monotonic()
    report["policies"] = _policy.merge_results(per_host, report["hosts"])
    stages["merge policy results"] = time.monotonic() - started

    def timed(name, render):
        def run(data):
            began = time.monotonic()
            text = render(data)
            stages["render and write " + name] = time.monotonic() - began
            return text
        return name, run

    started = time.monotonic()
    folder, _written, warnings = _bundle.write_bundle(report, evidence, [timed(name, render) for name, render in RENDERERS])
    stages["SHA256SUMS, latest, file writes"] = time.monotonic() - started - sum(
        seconds for stage, seconds in stages.items() if stage.startswith("render and write"))
    assert not warnings, warnings
    started = time.monotonic()
    callback._display.lines = []  # pylint: disable=protected-access
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _markdown  # noqa: E402  pylint: disable=import-outside-toplevel
    _markdown.console(report)
    stages["console tables and summary"] = time.monotonic() - started
    sizes = dict((name, os.path.getsize(os.path.join(folder, name))) for name, _render in RENDERERS)

    print("hosts: %d (%d unreachable)" % (args.hosts, sum(1 for name in names if name.endswith("49"))))
    for stage, seconds in stages.items():
        print("%-48s %8.2f s" % (stage, seconds))
    print("%-48s %8.2f s" % ("total", sum(stages.values())))
    print("%-48s %8.1f MiB" % ("peak RSS of the process", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))
    for name, size in sizes.items():
        print("%-48s %8.1f MiB" % ("size of " + name, size / 1048576.0))
    print("evidence written to %s" % evidence)


if __name__ == "__main__":
    main()
