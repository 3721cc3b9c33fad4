# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: comparison
type: aggregate
short_description: The fleet's runtime comparison table and its compliance evidence bundle
version_added: 0.1.0
description:
  - Keeps what M(kata_fleet.runtimes.host_facts), M(kata_fleet.runtimes.isolation_probe),
    M(kata_fleet.runtimes.startup_bench), M(kata_fleet.runtimes.http_latency) and
    M(kata_fleet.runtimes.policy_check) return on every host, failed results included, and which
    hosts failed or were unreachable.
  - At the end of the play it prints, readable at O(table_width) columns, the isolation table and the
    performance table (host x runtime), a fleet summary with every failure and broken policy, and the
    lab report's comparison written from this fleet's measurements.
  - It writes the evidence bundle to O(evidence_dir)/<run id>/ (C(report.json), C(report.md),
    C(report.csv), C(report.html), C(junit.xml), C(SHA256SUMS) and, with O(signing_key),
    C(SHA256SUMS.sig)), and points O(evidence_dir)/latest at it.
  - At the start of the playbook it sets the environment variable C(KATA_FLEET_RUN_ID) (unless it is
    already set, for example to an AWX job id) in the controller process, before any host runs a task;
    C(playbooks/verify.yml) names its run from it, so every host gets the same run id under any
    strategy, C(free) included, where C(run_once) does not hold.
  - A play that sets the play variable C(kata_fleet_report=false) (C(playbooks/bootstrap.yml), whose
    smoke check runs a probe) is left out of the table and the bundle.
  - A failure while writing is shown as a warning; every file that could be written is written.
    A callback cannot change the play's result, so a failing error-severity policy fails the run
    through the M(kata_fleet.runtimes.policy_check) task instead.
requirements:
  - enable in configuration (C(callbacks_enabled = kata_fleet.runtimes.comparison), as the collection's ansible.cfg does)
  - ssh-keygen (OpenSSH 8.1 or later) on the controller to sign the bundle
options:
  evidence_dir:
    description:
      - Folder that receives one sub-folder per run and the C(latest) link.
      - The play variable C(kata_fleet_evidence_dir) overrides it; C(playbooks/verify.yml) hands it to the
        callback through M(ansible.builtin.set_stats).
    type: path
    default: ./evidence
    env:
      - name: KATA_FLEET_EVIDENCE_DIR
    ini:
      - section: callback_comparison
        key: evidence_dir
  write_evidence:
    description: Write the evidence bundle. The table is printed either way.
    type: bool
    default: true
    env:
      - name: KATA_FLEET_WRITE_EVIDENCE
    ini:
      - section: callback_comparison
        key: write_evidence
  signing_key:
    description:
      - An SSH private key; when set, C(SHA256SUMS) is signed with C(ssh-keygen -Y sign) in the namespace
        C(kata-fleet-evidence). See C(docs/evidence.md) for the command that verifies it.
    type: path
    env:
      - name: KATA_FLEET_SIGNING_KEY
    ini:
      - section: callback_comparison
        key: signing_key
  table_width:
    description: Columns the printed tables may use; wide values are shortened on screen, never in the files.
    type: int
    default: 100
    env:
      - name: KATA_FLEET_TABLE_WIDTH
    ini:
      - section: callback_comparison
        key: table_width
"""

import datetime
import getpass
import json
import os
import platform
import socket

from ansible import context
from ansible.plugins.callback import CallbackBase
from ansible.release import __version__ as ansible_version

from ansible_collections.kata_fleet.runtimes.plugins.module_utils._module import default_run_id
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _bundle, _evidence, _markdown, _policy
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._renderers import RENDERERS

COLLECTION = "kata_fleet.runtimes."
# How verify.yml learns one run id for all hosts (see DOCUMENTATION).
RUN_ID_VARIABLE = "KATA_FLEET_RUN_ID"
# The key each probe module returns its per-handler results under, also when it failed.
PROBE_RESULTS = {"isolation_probe": "isolation", "startup_bench": "startup", "http_latency": "http"}
# A play that runs none of these (bootstrap.yml, say) gets no table and no bundle.
REPORTED_ACTIONS = frozenset(["host_facts", "policy_check"]) | frozenset(PROBE_RESULTS)


def _short_action(task):
    action = getattr(task, "resolved_action", None) or task.action
    return action[len(COLLECTION):] if action.startswith(COLLECTION) else action


def new_record():
    return {"status": "ok", "error": None, "host_facts": None, "isolation": None, "startup": None, "http": None,
            "policies": None}


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def collection_version():
    """From the installed collection's MANIFEST.json, or galaxy.yml in a checkout."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        with open(os.path.join(root, "MANIFEST.json")) as handle:
            return json.load(handle)["collection_info"]["version"]
    except (IOError, OSError, ValueError, KeyError):
        pass
    try:
        with open(os.path.join(root, "galaxy.yml")) as handle:
            for line in handle:
                if line.startswith("version:"):
                    return line.split(":", 1)[1].strip().strip("'\"")
    except (IOError, OSError):
        pass
    return "unknown"


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "kata_fleet.runtimes.comparison"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super(CallbackModule, self).__init__(display=display)
        self.hosts = {}
        self.playbooks = []
        self.started = utc_now()
        self.reporting = False
        self.play_reported = True

    def _record(self, result):
        return self.hosts.setdefault(result._host.get_name(), new_record())

    def _keep(self, record, result):
        data = result._result
        action = _short_action(result._task)
        if action == "host_facts":
            record["host_facts"] = (data.get("ansible_facts") or {}).get("kata_fleet_host")
        elif action in PROBE_RESULTS and data.get(PROBE_RESULTS[action]):
            record[PROBE_RESULTS[action]] = data[PROBE_RESULTS[action]]
        elif action == "policy_check" and data.get("policies") is not None:
            record["policies"] = data["policies"]

    def v2_playbook_on_start(self, playbook):
        self.playbooks.append(playbook._file_name)
        # The forks that run each host's tasks inherit this process's environment.
        os.environ.setdefault(RUN_ID_VARIABLE, default_run_id())

    def v2_playbook_on_play_start(self, play):
        self.play_reported = str(play.vars.get("kata_fleet_report", True)).lower() not in ("false", "no", "0")

    def v2_playbook_on_task_start(self, task, is_conditional):
        if self.play_reported and _short_action(task) in REPORTED_ACTIONS:
            self.reporting = True

    def v2_runner_on_ok(self, result):
        if self.play_reported:
            self._keep(self._record(result), result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if not self.play_reported:
            return
        record = self._record(result)
        self._keep(record, result)
        if not ignore_errors:
            record["status"] = "failed"
            record["error"] = "%s: %s" % (result._task.get_name(), result._result.get("msg", "failed"))

    def v2_runner_on_unreachable(self, result):
        if not self.play_reported:
            return
        record = self._record(result)
        record["status"] = "unreachable"
        record["error"] = result._result.get("msg", "unreachable")

    def _run_id(self):
        """The run id the probes used (verify.yml gives every host the same), else a new one."""
        for record in self.hosts.values():
            for part in PROBE_RESULTS.values():
                if (record.get(part) or {}).get("run_id"):
                    return record[part]["run_id"]
        return default_run_id()

    def build(self, custom_stats):
        report = _evidence.build_report(self.hosts, {
            "run_id": self._run_id(),
            "started": self.started,
            "finished": utc_now(),
            "controller": {"hostname": socket.gethostname(), "user": getpass.getuser(),
                           "python": platform.python_version()},
            "versions": {"ansible_core": ansible_version, "collection": collection_version()},
            "playbooks": self.playbooks,
            "inventory": list(context.CLIARGS.get("inventory") or []),
        })
        report["policies"] = _policy.merge_results(dict(
            (name, record["policies"]) for name, record in self.hosts.items() if record.get("policies")),
            report["hosts"])
        if any(result["status"] in ("fail", "error") for policy in report["policies"]
               if policy["severity"] == "error" for result in policy["results"]):
            report["result"] = "fail"
        report["evidence_dir"] = custom_stats.get("kata_fleet_evidence_dir") or self.get_option("evidence_dir")
        return report

    def v2_playbook_on_stats(self, stats):
        if not self.reporting:
            return
        for name in stats.processed:
            self.hosts.setdefault(name, new_record())
        if not self.hosts:
            return
        try:
            report = self.build((getattr(stats, "custom", None) or {}).get("_run") or {})
            root = report.pop("evidence_dir")
            self._display.banner("KATA-FLEET RUNTIME COMPARISON")
            self._display.display(_markdown.console(report, self.get_option("table_width")))
        except Exception as error:  # pylint: disable=broad-except  # a callback error must not pass unseen
            self._display.warning("kata-fleet: the comparison could not be built: %s: %s" % (type(error).__name__, error))
            return
        if not self.get_option("write_evidence"):
            return
        try:
            folder, written, warnings = _bundle.write_bundle(report, root, RENDERERS, self.get_option("signing_key"))
        except OSError as error:
            self._display.warning("kata-fleet: no evidence written, %s cannot be created: %s" % (root, error))
            return
        for warning in warnings:
            self._display.warning(warning)
        self._display.display("Evidence: %s (%s)" % (folder, ", ".join(written)))
