# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: comparison
type: aggregate
short_description: The fleet's runtime comparison table and its compliance evidence bundle
version_added: 0.1.0
description:
  - Keeps what M(kata_fleet.runtimes.verify_host) (which carries all of them), M(kata_fleet.runtimes.host_facts),
    M(kata_fleet.runtimes.isolation_probe),
    M(kata_fleet.runtimes.startup_bench), M(kata_fleet.runtimes.http_latency) and
    M(kata_fleet.runtimes.policy_check) return on every host, failed results included, and which
    hosts failed or were unreachable.
  - At the end of the play it prints, readable at O(table_width) columns, the isolation table and the
    performance table (host x runtime), a fleet summary with every failure and broken policy, and the
    lab report's comparison written from this fleet's measurements.
  - It writes the evidence bundle to O(evidence_dir)/<run id>/ (C(report.json), C(report.md),
    C(report.csv), C(report.html), C(junit.xml), C(SHA256SUMS) and, with O(signing_key),
    C(SHA256SUMS.sig)), and points O(evidence_dir)/latest at it.
  - Before it writes the bundle (O(evidence_dir)/latest still names the previous run) it compares this run with the
    previous bundle (O(compare_with)), checked first (checksums, the signature against O(compare_public_keys)), and adds report.json's
    C(changes), a C(CHANGES SINCE <run id>) section on the console and in C(report.md) and C(report.html), and the
    C(no-weakening) policy on every host (O(fail_on_weakening)). See C(docs/evidence.md).
  - The controller names the run. At the start of the playbook the callback sets the environment variable
    C(KATA_FLEET_RUN_ID) in the controller process (unless it is already set, for example to an AWX job id),
    before any host runs a task; C(playbooks/verify.yml) names its run from it, so every host gets the same run
    id under any strategy, C(free) included, where C(run_once) does not hold. An extra variable
    C(kata_fleet_run_id) (C(-e)) names the run instead; a template in it (AWX's C(awx-{{ awx_job_id }})) is
    rendered with the play's variables as the hosts render it. A run id is 1 to 40 ASCII letters and digits joined by
    single C(.), C(_) or C(-) (containerd names every probe container after it); a C(KATA_FLEET_RUN_ID) that is
    not one is not used (a warning says why, and the run gets a new id), a C(kata_fleet_run_id) that is not one
    fails every host before anything runs on it, with the same reason. A host whose results name another run,
    or a run id that is not one, is failed with that reason; its results are kept.
  - An existing run folder is never written into; a second run with the same id gets C(<run id>-2) and a warning.
  - A play that sets the play variable C(kata_fleet_report=false) (C(playbooks/bootstrap.yml), whose
    smoke check runs a probe) is left out of the table and the bundle.
  - Every host and every output fails on its own. A host whose results make no sense becomes that host's
    error; an output that cannot be rendered is a warning, and every other file is written. C(report.json) is
    always written and always valid JSON (a NaN or infinity a host sent becomes null, listed under C(errors)).
    A callback cannot change the play's result, so a failing error-severity policy fails the run
    through the M(kata_fleet.runtimes.verify_host) task (or a M(kata_fleet.runtimes.policy_check) task) instead,
    and so does a weakening since the previous run (see O(fail_on_weakening)).
  - A M(kata_fleet.runtimes.verify_host) result that stopped before the host (a setting or a policy is wrong,
    or check mode) does not make a report; a run where no host got further writes no table and no bundle.
requirements:
  - enable in configuration (C(callbacks_enabled = kata_fleet.runtimes.comparison), as the collection's ansible.cfg does)
  - ssh-keygen (OpenSSH 8.1 or later) on the controller to sign the bundle
options:
  evidence_dir:
    description:
      - Folder that receives one sub-folder per run and the C(latest) link.
      - The variable C(kata_fleet_evidence_dir) overrides it; M(kata_fleet.runtimes.verify_host) hands it to the
        callback in its result (a play of your own can also hand it over with M(ansible.builtin.set_stats)).
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
  template_dir:
    description:
      - A folder of templates to brand C(report.md) and C(report.html) with, looked up before the collection's own.
      - A C(report.html.j2) there can C({% extends "default/report.html.j2" %}) and replace one block (C(header),
        C(answer), C(changes), C(charts), C(table), C(policies), C(findings), C(evidence)); a C(report.css) there replaces the
        page's style. See C(docs/evidence.md).
    type: path
    env:
      - name: KATA_FLEET_TEMPLATE_DIR
    ini:
      - section: callback_comparison
        key: template_dir
  dir_mode:
    description: Mode of the folders the bundle creates (octal, as a string).
    type: str
    default: "0750"
    env:
      - name: KATA_FLEET_EVIDENCE_DIR_MODE
    ini:
      - section: callback_comparison
        key: dir_mode
  file_mode:
    description: Mode of the bundle's files (octal, as a string). They hold kernel command lines, addresses and user names.
    type: str
    default: "0640"
    env:
      - name: KATA_FLEET_EVIDENCE_FILE_MODE
    ini:
      - section: callback_comparison
        key: file_mode
  listed_hosts:
    description:
      - At most this many hosts get their rows in the printed tables and their rows and evidence in C(report.html)
        (hosts that failed, differ from the fleet's verdict or sent refused values first); both say how many more
        there are, and the summary above counts every host. C(report.md), C(report.csv), C(junit.xml) and
        C(report.json) always hold every host. 0 for no limit.
    type: int
    default: 500
    env:
      - name: KATA_FLEET_LISTED_HOSTS
    ini:
      - section: callback_comparison
        key: listed_hosts
  table_width:
    description: Columns the printed tables may use; wide values are shortened on screen, never in the files.
    type: int
    default: 100
    env:
      - name: KATA_FLEET_TABLE_WIDTH
    ini:
      - section: callback_comparison
        key: table_width
  compare_with:
    description:
      - The bundle folder this run is compared with (report.json's C(changes), the console's C(CHANGES SINCE) section,
        the C(no-weakening) policy); by default O(evidence_dir)/latest, the previous run, read before this run's
        bundle is written.
      - The variable C(kata_fleet_compare_with) overrides it (handed over by M(kata_fleet.runtimes.verify_host)).
    type: path
    env:
      - name: KATA_FLEET_COMPARE_WITH
    ini:
      - section: callback_comparison
        key: compare_with
  fail_on_weakening:
    description:
      - A weakening since the previous run (a handler went from vm-isolated or user-space-kernel to shared-kernel or
        unknown, a probed handler is missing, a host that answered is unreachable) fails the C(no-weakening) policy
        with error severity, so the report's result is C(fail); C(false) makes it a warning.
      - When the play starts the callback reads and verifies the previous bundle once, in ansible-playbook's own
        process, and each M(kata_fleet.runtimes.verify_host) task (in a worker forked from it) fails its host when
        that host weakened, so ansible-playbook exits non-zero; the report is the same (the host's status stays what
        its other results make it, the C(no-weakening) policy fails). An unreachable host already fails the run.
      - A previous bundle that fails its checks (checksums, signature) is refused, never compared, and makes the
        policy an error on every host.
      - The variable C(kata_fleet_fail_on_weakening) overrides it.
    type: bool
    default: true
    env:
      - name: KATA_FLEET_FAIL_ON_WEAKENING
    ini:
      - section: callback_comparison
        key: fail_on_weakening
  compare_public_keys:
    description:
      - SSH public keys (files of keys or allowed-signers lines, or key texts) the previous bundle's signature must
        verify against; with them an unsigned previous bundle is refused.
      - By default the public key of O(signing_key) (C(ssh-keygen -y)), so the previous signed bundle of the same
        controller verifies; without either, a signed previous bundle is refused (nothing could verify it).
      - The variable C(kata_fleet_compare_public_keys) overrides it.
    type: list
    elements: path
    env:
      - name: KATA_FLEET_COMPARE_PUBLIC_KEYS
    ini:
      - section: callback_comparison
        key: compare_public_keys
"""

import datetime
import gc
import getpass
import json
import os
import platform
import re
import socket
import time

import yaml

from ansible import context
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.callback import CallbackBase
from ansible.release import __version__ as ansible_version

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _runid
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import bundle, changes, console, contract, model
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report.view import build_view
# The verify_host action's helpers, imported here so that ansible-playbook's own process reads the settings'
# spec once and every worker it forks (one per host and task) inherits them instead of importing them again.
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _policy, _settings  # noqa: F401 pylint: disable=unused-import

COLLECTION = "kata_fleet.runtimes."
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODE = re.compile(r"\A0?[0-7]{3}\Z")


def _short_action(task):
    action = getattr(task, "resolved_action", None) or task.action
    return action[len(COLLECTION):] if action.startswith(COLLECTION) else action


def _play_hosts(play, manager):
    """How many hosts the play runs on (--limit included), or None when the inventory cannot say."""
    try:
        return len(manager._inventory.get_hosts(play.hosts))  # pylint: disable=protected-access
    except Exception:  # pylint: disable=broad-except  # progress only: never stop the run for it
        return None


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def collection_version(root=ROOT):
    """The installed collection's MANIFEST.json, else galaxy.yml of a checkout (parsed as YAML), else "unknown"."""
    try:
        with open(os.path.join(root, "MANIFEST.json")) as handle:
            return str(json.load(handle)["collection_info"]["version"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        with open(os.path.join(root, "galaxy.yml")) as handle:
            return str(yaml.safe_load(handle)["version"])
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return "unknown"


def _mode(text, name):
    if not MODE.match(str(text)):
        raise ValueError("the comparison callback's %s must be an octal mode such as 0750, not %r" % (name, text))
    return int(str(text), 8)


class CallbackModule(CallbackBase):
    """Collect each host's module results, hand them to the report model, print the view, write the bundle."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "kata_fleet.runtimes.comparison"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self.hosts = {}
        self.playbooks = []
        self.started = utc_now()
        self.reporting = False
        self.play_reported = True
        self.run_id = None
        # Progress of the play's verify_host results: hosts done, failed, how many in all, when each began.
        self.progress = {"done": set(), "failed": set(), "total": None, "began": {}}
        # kata_fleet_evidence_dir as the verify_host action hands it over (the last host's wins; all say the same).
        self.evidence_dir = None
        # kata_fleet_compare_with, _fail_on_weakening, _compare_public_keys as verify_host hands them over.
        self.compare_settings = {}
        # The previous bundle as changes.preload read it at the last play's start, and the (evidence dir,
        # compare_with, public keys) it was found with: the report at the end reuses it when they still hold.
        self.preloaded = None
        self.preloaded_with = None
        try:
            _settings.spec()
        except Exception:  # pylint: disable=broad-except  # the action reports an unreadable spec on its own
            pass

    # ---------------------------------------------------------------- naming the run

    def v2_playbook_on_start(self, playbook):
        self.playbooks.append(playbook._file_name)
        given = os.environ.get(_runid.VARIABLE)
        if given and _runid.problem(given):
            self._display.warning("kata-fleet: %s is not used: %s" % (_runid.VARIABLE, _runid.problem(given)))
            given = None
        # The forks that run each host's tasks inherit this process's environment.
        self.run_id = self.run_id or given or _runid.new_run_id()
        os.environ[_runid.VARIABLE] = self.run_id

    def v2_playbook_on_play_start(self, play):
        self.play_reported = str(play.vars.get("kata_fleet_report", True)).lower() not in ("false", "no", "0")
        manager = play.get_variable_manager() if hasattr(play, "get_variable_manager") else None
        variables = self._first_host_variables(play, manager)
        named = self._rendered(variables, manager, "kata_fleet_run_id")
        if isinstance(named, int) and not isinstance(named, bool):
            named = str(named)  # AWX's YAML extra vars: 4711 is a number, and the hosts' spec makes it "4711"
        if named is not None and named != "":
            problem = _runid.problem(named)
            if problem:
                # The verify_host action fails every host with the same reason before anything runs on it.
                self._display.warning("kata-fleet: kata_fleet_run_id is not used: %s" % problem)
            else:
                self.run_id = named
        if self.run_id:
            # The forks of this process see the run's name: the verify_host action stops a host whose own
            # kata_fleet_run_id renders otherwise, before anything runs on it.
            os.environ[_runid.VARIABLE] = self.run_id
        self.progress = {"done": set(), "failed": set(), "total": _play_hosts(play, manager), "began": {}}
        self._preload(play, manager, variables)

    def _first_host_variables(self, play, manager):
        """The variables of the play's first host as the play starts (inventory, group_vars, play vars, -e, by
        Ansible's precedence): where the run's name and the previous bundle's settings are read, ONCE per play.
        Only the extra variables when the inventory cannot be asked (named in a warning)."""
        extra = dict(getattr(manager, "extra_vars", None) or {})
        if manager is None or not hasattr(manager, "get_vars"):
            return extra
        try:
            hosts = manager._inventory.get_hosts(play.hosts)  # pylint: disable=protected-access
            return manager.get_vars(play=play, host=hosts[0] if hosts else None)
        except Exception as error:  # pylint: disable=broad-except  # named; -e still names the run
            self._warn("the play's variables could not be read at its start (only extra variables are used)", error)
            return extra

    def _rendered(self, variables, manager, name):
        """Variable ``name`` as the hosts will see it: a template (AWX's "awx-{{ awx_job_id }}") rendered with
        ``variables``, as the verify_host action renders it; None when unset or when it cannot be rendered."""
        value = variables.get(name)
        if not isinstance(value, (str, list, dict)) or (
                isinstance(value, str) and "{{" not in value and "{%" not in value):
            return value
        # pylint: disable=import-outside-toplevel  # only a templated value needs the templar
        from ansible.template import Templar
        try:
            templar = Templar(loader=getattr(manager, "_loader", None), variables=variables)
            try:  # ansible-core 2.19 renders only text trusted as a template, as the play's own variables are
                from ansible.template import trust_as_template
            except ImportError:  # 2.17, 2.18: every string is a template
                def trust_as_template(text):
                    return text
            if isinstance(value, str):
                value = trust_as_template(value)
            return _policy.plain(templar.template(value))
        except Exception as error:  # pylint: disable=broad-except  # named, and the setting is not used
            self._warn("%s could not be rendered, so it is not used" % name, error)
            return None

    # ---------------------------------------------------------------- the previous bundle, once per play

    def _play_settings(self, variables, manager):
        """kata_fleet_evidence_dir, _compare_with, _compare_public_keys, _fail_on_weakening as the play's first host
        sees them, rendered; unset ones left out."""
        given = {}
        for name in changes.PRELOAD_SETTINGS + ("kata_fleet_fail_on_weakening",):
            value = self._rendered(variables, manager, name)
            if value is not None:
                given[name] = value
        # Converted as the verify_host action converts them (a key given as one string becomes a list), so the
        # action can tell whether its host's settings name the bundle preloaded here.
        settings, _problems = _settings.validate(given, callback=True)
        return dict((name, settings[name]) for name in given if settings.get(name) is not None)

    def _preload(self, play, manager, variables):
        """Find and verify the previous bundle ONCE, here in ansible-playbook's own process, before the workers fork.

        changes.PRELOADED holds it (or why it was refused): every verify_host action of the play, in a worker
        forked from this process, judges its own host against it (a weakening fails the host, so
        ansible-playbook's exit status), and the report at the end is compared with the same bundle.
        """
        changes.clear_preloaded()
        if not self.play_reported or manager is None:
            return
        try:
            settings = self._play_settings(variables, manager)
            keys = settings.get("kata_fleet_compare_public_keys") or self.get_option("compare_public_keys")
            root = settings.get("kata_fleet_evidence_dir") or self.get_option("evidence_dir")
            # The callback's own fail_on_weakening: a host's kata_fleet_fail_on_weakening is applied by its own
            # action (the first host's is not every host's default).
            changes.preload(str(root) if root else None,
                            settings.get("kata_fleet_compare_with") or self.get_option("compare_with"),
                            [keys] if isinstance(keys, str) else keys, self.get_option("signing_key"),
                            boolean(self.get_option("fail_on_weakening"), strict=False), settings)
            self.preloaded = changes.PRELOADED
            self.preloaded_with = (str(root) if root else None, settings.get("kata_fleet_compare_with")
                                   or self.get_option("compare_with"), keys)
        except Exception as error:  # pylint: disable=broad-except  # the report at the end compares as before
            changes.clear_preloaded()
            self._warn("the previous bundle could not be read at the start of the play (the report at the end "
                       "still compares with it, but no host is failed for a weakening)", error)

    # ---------------------------------------------------------------- collecting

    def _record(self, result):
        return self.hosts.setdefault(result._host.get_name(), contract.new_record())

    def v2_playbook_on_task_start(self, task, is_conditional):
        # verify_host makes the run reported when a result of it reached a host (not for a settings error or
        # check mode, where nothing ran): see _reached.
        action = _short_action(task)
        if self.play_reported and action in contract.REPORTED_ACTIONS and action != contract.VERIFY_ACTION:
            self.reporting = True

    def _reached(self, result):
        """Whether the result reached the host (contract.reached_host); if so the run is reported."""
        action = _short_action(result._task)
        if not contract.reached_host(action, result._result):
            return False
        if action in contract.REPORTED_ACTIONS:
            self.reporting = True
        if action == contract.VERIFY_ACTION and isinstance(result._result, dict) \
                and result._result.get(contract.EVIDENCE_KEY) is not None:
            self.evidence_dir = str(result._result[contract.EVIDENCE_KEY])
        if action == contract.VERIFY_ACTION and isinstance(result._result, dict):
            self.compare_settings.update((name, result._result[name]) for name in changes.SETTINGS
                                         if result._result.get(name) is not None)
        return True

    def v2_runner_on_start(self, host, task):
        if _short_action(task) == contract.VERIFY_ACTION:
            self.progress["began"][host.get_name()] = time.monotonic()

    def _show_progress(self, result, failed):
        """One line per host as its verify result arrives (console.progress_line), so a long run can be followed."""
        if not self.play_reported or _short_action(result._task) != contract.VERIFY_ACTION:
            return
        name = result._host.get_name()
        self.progress["done"].add(name)
        if failed:
            self.progress["failed"].add(name)
        began = self.progress["began"].pop(name, None)
        self._display.display(console.progress_line(
            name, self._record(result).get("isolation"), len(self.progress["done"] - self.progress["failed"]),
            len(self.progress["failed"]),
            self.progress["total"], None if began is None else time.monotonic() - began))

    def v2_runner_on_ok(self, result):
        if self.play_reported and self._reached(result):
            contract.keep(self._record(result), _short_action(result._task), result._result)
            self._show_progress(result, False)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if not self.play_reported:
            return
        record = self._record(result)
        if self._reached(result):
            contract.keep(record, _short_action(result._task), result._result)
            self._show_progress(result, True)
        if not ignore_errors:
            data = result._result
            weakening = data.get(changes.WEAKENING_KEY) if isinstance(data, dict) else None
            if _short_action(result._task) == contract.VERIFY_ACTION and isinstance(weakening, dict):
                # verify_host failed the host for a weakening (so ansible-playbook's exit status says it): the report
                # shows it as the no-weakening policy's failure, as it always has, and the host's status is what
                # the other failures, if any, make it.
                if not weakening.get("other_failures"):
                    return
                data = dict(data, msg=weakening.get("other_msg") or "verify_host failed")
            contract.fail(record, result._task.get_name(), _short_action(result._task), data)

    def v2_runner_on_unreachable(self, result):
        if self.play_reported:
            if _short_action(result._task) in contract.REPORTED_ACTIONS:
                self.reporting = True
            contract.unreachable(self._record(result), result._result.get("msg"))

    # ---------------------------------------------------------------- handing over

    def build(self):
        """report.json as a dict (model.build_report) for what was collected."""
        return model.build_report(self.hosts, {
            "started": self.started,
            "finished": utc_now(),
            "controller": {"hostname": socket.gethostname(), "user": getpass.getuser(),
                           "python": platform.python_version()},
            "versions": {"ansible_core": ansible_version, "collection": collection_version()},
            "playbooks": self.playbooks,
            "inventory": [str(item) for item in context.CLIARGS.get("inventory") or []],
        }, self.run_id or _runid.new_run_id())

    def _warn(self, what, error):
        self._display.warning("kata-fleet: %s: %s: %s" % (what, type(error).__name__, error))

    def v2_playbook_on_stats(self, stats):
        if not self.reporting:
            return
        for name in stats.processed:
            self.hosts.setdefault(name, contract.new_record())
        if not self.hosts:
            return
        # At fleet size the results are millions of objects: a full garbage collection during the report
        # (it creates no cycles worth collecting) would cost seconds each time, so it waits until the end.
        enabled = gc.isenabled()
        gc.disable()
        try:
            self._report(stats)
        finally:
            if enabled:
                gc.enable()

    def _compare_setting(self, name, custom):
        """kata_fleet_<name> as verify_host handed it over, else set with set_stats, else the callback's option."""
        variable = "kata_fleet_" + name
        for source in (self.compare_settings, custom):
            if source.get(variable) is not None:
                return source[variable]
        return self.get_option(name)

    def _compare(self, report, root, custom):
        """report.json's ``changes`` against the previous bundle (changes.for_run, changes.judge), in place.

        Before this run's bundle is written: <evidence_dir>/latest still names the previous run.
        """
        try:
            keys = self._compare_setting("compare_public_keys", custom)
            compare_with = self._compare_setting("compare_with", custom)
            if self.preloaded is not None and self.preloaded_with == (str(root) if root else None, compare_with, keys):
                # The bundle the play's hosts were judged against, read once at the play's start.
                section = changes.section_for(self.preloaded["previous"], report)
            else:
                section = changes.for_run(report, str(root) if root else None, compare_with,
                                          [keys] if isinstance(keys, str) else keys, self.get_option("signing_key"))
            changes.judge(report, section, boolean(self._compare_setting("fail_on_weakening", custom), strict=False))
        except Exception as error:  # pylint: disable=broad-except  # the report is written without its changes
            self._warn("the changes since the previous run could not be made", error)

    def _report(self, stats):
        """Hand over, print, write: each step on its own."""
        # Each step on its own: a failure costs that step (a warning), never the steps after it.
        # kata_fleet_evidence_dir: as the verify_host action handed it over, else set with set_stats (a play of
        # the user's own), else the option.
        custom = (getattr(stats, "custom", None) or {}).get("_run") or {}
        root = self.evidence_dir or custom.get("kata_fleet_evidence_dir") or self.get_option("evidence_dir")
        try:
            report = self.build()
        except Exception as error:  # pylint: disable=broad-except  # a callback error must not pass unseen
            self._warn("the report could not be built", error)
            return
        self._compare(report, root, custom)
        try:
            json_text = model.to_json_parts(report)
        except Exception as error:  # pylint: disable=broad-except
            self._warn("the report could not be built", error)
            return
        view, view_error = None, None
        try:
            limit = self.get_option("listed_hosts")
            view = build_view(report, listed_hosts=limit or None)
            view["changes"] = changes.page_view(report.get("changes"))
        except Exception as error:  # pylint: disable=broad-except
            view_error = "%s: %s" % (type(error).__name__, error)
            self._warn("the report view could not be built", error)
        if view is not None:
            try:
                self._display.banner("KATA-FLEET RUNTIME COMPARISON")
                self._display.display(console.render(view, self.get_option("table_width")))
            except Exception as error:  # pylint: disable=broad-except
                self._warn("the comparison could not be printed", error)
        if not self.get_option("write_evidence"):
            return
        try:
            folder, written, warnings = bundle.write_bundle(
                report["run_id"], str(root),
                bundle.outputs(report, json_text, view, self.get_option("template_dir"), view_error),
                self.get_option("signing_key"), _mode(self.get_option("dir_mode"), "dir_mode"),
                _mode(self.get_option("file_mode"), "file_mode"))
        except (OSError, ValueError) as error:
            self._display.warning("kata-fleet: %s" % error)
            return
        for warning in warnings:
            self._display.warning(warning)
        self._display.display("Evidence: %s (%s)" % (folder, ", ".join(written)))
