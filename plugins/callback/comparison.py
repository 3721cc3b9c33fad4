# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: comparison
type: aggregate
short_description: One runtime isolation comparison table for the whole fleet
version_added: 0.1.0
description:
  - Keeps what M(kata_fleet.runtimes.host_facts) and M(kata_fleet.runtimes.isolation_probe) return
    on every host, and what M(kata_fleet.runtimes.startup_bench) and M(kata_fleet.runtimes.http_latency)
    measured, and at the end of the play prints one Markdown table with a row for each host's own view
    and one per host and runtime handler (kernel, CPU model, C(/proc) entries, modules, interfaces,
    verdict, startup median and p95, HTTP p50 and p99, host memory of an idle container).
  - Hosts that failed or were unreachable get a row that says so, with the error.
  - Enable it with C(callbacks_enabled = kata_fleet.runtimes.comparison) (the collection's
    C(ansible.cfg) does).
requirements:
  - enable in configuration
"""

from ansible.plugins.callback import CallbackBase

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _report

COLLECTION = "kata_fleet.runtimes."
# The key each probe module returns its per-handler results under, also when it failed.
PROBE_RESULTS = {"isolation_probe": "isolation", "startup_bench": "startup", "http_latency": "http"}


def _short_action(task):
    action = getattr(task, "resolved_action", None) or task.action
    return action[len(COLLECTION):] if action.startswith(COLLECTION) else action


def new_record():
    return {"status": "ok", "error": None, "host_facts": None, "isolation": None, "startup": None, "http": None}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "kata_fleet.runtimes.comparison"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super(CallbackModule, self).__init__(display=display)
        self.hosts = {}

    def _record(self, result):
        name = result._host.get_name()
        return self.hosts.setdefault(name, new_record())

    def _keep(self, record, result):
        data = result._result
        action = _short_action(result._task)
        if action == "host_facts":
            record["host_facts"] = (data.get("ansible_facts") or {}).get("kata_fleet_host")
        elif action in PROBE_RESULTS and data.get(PROBE_RESULTS[action]):
            record[PROBE_RESULTS[action]] = data[PROBE_RESULTS[action]]

    def v2_runner_on_ok(self, result):
        self._keep(self._record(result), result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        record = self._record(result)
        self._keep(record, result)
        if not ignore_errors:
            record["status"] = "failed"
            record["error"] = "%s: %s" % (result._task.get_name(), result._result.get("msg", "failed"))

    def v2_runner_on_unreachable(self, result):
        record = self._record(result)
        record["status"] = "unreachable"
        record["error"] = result._result.get("msg", "unreachable")

    def v2_playbook_on_stats(self, stats):
        for name in stats.processed:
            self.hosts.setdefault(name, new_record())
        if not self.hosts:
            return
        self._display.banner("KATA-FLEET RUNTIME COMPARISON")
        self._display.display(_report.markdown_table(_report.rows(self.hosts)))
