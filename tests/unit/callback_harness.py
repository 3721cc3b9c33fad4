"""Drive the comparison callback as ansible-playbook does, without a playbook run.

The callback's options come from its own DOCUMENTATION defaults (as Ansible's
config manager would give them) plus the test's overrides; results are fed
through the same ``v2_*`` handlers Ansible calls.
"""

import copy
import json
import os
from pathlib import Path
from types import SimpleNamespace

import yaml

from ansible_collections.kata_fleet.runtimes.plugins.callback import comparison

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded" / "this_machine_verify.json"
ACTIONS = ("host_facts", "isolation_probe", "startup_bench", "http_latency")


class FakeDisplay:
    verbosity = 0

    def __init__(self):
        self.lines = []
        self.warnings = []

    def banner(self, text, *args, **kwargs):
        self.lines.append(text)

    def display(self, text, *args, **kwargs):
        self.lines.append(text)

    def warning(self, text, *args, **kwargs):
        self.warnings.append(text)

    @property
    def text(self):
        return "\n".join(self.lines)


def options(**overrides):
    documented = yaml.safe_load(comparison.DOCUMENTATION)["options"]
    values = dict((key, spec.get("default")) for key, spec in documented.items())
    values.update(overrides)
    return values


def make_callback(**overrides):
    display = FakeDisplay()
    callback = comparison.CallbackModule(display=display)
    callback._plugin_options = options(**overrides)  # pylint: disable=protected-access
    return callback, display


def recorded():
    """This machine's recorded verify results (runc), one per module."""
    return json.loads(RECORDED.read_text())


def task(action, name=None):
    return SimpleNamespace(resolved_action="kata_fleet.runtimes." + action, action=action,
                           get_name=lambda: name or action)


def result(host, action, data):
    return SimpleNamespace(_task=task(action), _host=SimpleNamespace(get_name=lambda: host), _result=data)


def host_results(run_id, mutate=None):
    """The four module results of one host, named for ``run_id``; ``mutate(results)`` may change them."""
    results = copy.deepcopy(recorded())
    for action in ACTIONS[1:]:
        key = {"isolation_probe": "isolation", "startup_bench": "startup", "http_latency": "http"}[action]
        results[action][key]["run_id"] = run_id
    if mutate:
        mutate(results)
    return results


def run_play(evidence_dir, hosts, run_id="run-1", unreachable=(), env_run_id=None, play_vars=None, **overrides):
    """A whole play: ``hosts`` maps name -> results (dict action -> result); returns (callback, display)."""
    callback, display = make_callback(evidence_dir=str(evidence_dir), **overrides)
    previous = os.environ.get(comparison._runid.VARIABLE)
    os.environ[comparison._runid.VARIABLE] = env_run_id or run_id
    try:
        callback.v2_playbook_on_start(SimpleNamespace(_file_name="playbooks/verify.yml"))
        callback.v2_playbook_on_play_start(SimpleNamespace(vars=play_vars or {}, get_variable_manager=lambda: None))
        callback.v2_playbook_on_task_start(task("host_facts"), False)
        for name, results in hosts.items():
            for action in ACTIONS:
                if action in results:
                    callback.v2_runner_on_ok(result(name, action, results[action]))
        for name in unreachable:
            callback.v2_runner_on_unreachable(result(name, "host_facts", {"msg": "ssh: connect timed out"}))
        callback.v2_playbook_on_stats(SimpleNamespace(processed=dict((name, {}) for name in list(hosts) + list(unreachable)),
                                                      custom={}))
    finally:
        if previous is None:
            os.environ.pop(comparison._runid.VARIABLE, None)
        else:
            os.environ[comparison._runid.VARIABLE] = previous
    return callback, display
