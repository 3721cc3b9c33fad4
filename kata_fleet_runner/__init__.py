# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the collection's playbooks from Python through ansible-runner, and get the report back as data.

Why this exists: a service or a test that drives a fleet wants the verdicts as
a dict, the evidence bundle's folder and ansible-runner's artifacts, not a
terminal table to scrape. ``run_playbook`` runs ``verify`` or ``bootstrap``
exactly as ``ansible-playbook`` would (the comparison callback enabled, the
checkout's ansible.cfg or the installed collection), streams every
ansible-runner event to ``on_event``, and returns a ``RunResult``.
See docs/python-api.md.
"""

import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["KataFleetRunError", "RunResult", "run_playbook", "PLAYBOOKS", "MergeResult", "merge_bundles",
           "diff_bundles"]

COLLECTION = "kata_fleet.runtimes"
CALLBACK = COLLECTION + ".comparison"
# Short names of the collection's playbooks (playbooks/<name>.yml, FQCN kata_fleet.runtimes.<name>).
PLAYBOOKS = ("verify", "bootstrap")
# Bounds of the run's knobs: beyond them a value is a typo, not a wish (ansible-runner takes whole seconds).
MAX_TIMEOUT = 30 * 24 * 3600
MAX_FORKS = 10000
# The folder holding this package: a checkout's root, or the installed collection's root.
ROOT = Path(__file__).resolve().parent.parent
# The comparison callback's last line: "Evidence: <folder> (report.json, ...)".
EVIDENCE_LINE = re.compile(r"^Evidence: (.+) \([^()]*\)[ \t]*$", re.M)


class KataFleetRunError(Exception):
    """Bad input to run_playbook; the message names the problem and the fix."""


class RunResult:
    """One finished run: ansible-runner's outcome, its artifacts, and the evidence bundle it wrote."""

    def __init__(self, status, rc, stdout, events, artifacts_dir, evidence_dir, report, private_data_dir):
        self.status = status
        self.rc = rc
        self.stdout = stdout
        self.events = events
        self.artifacts_dir = artifacts_dir
        self.evidence_dir = evidence_dir
        self.report = report
        self.private_data_dir = private_data_dir

    def results(self, action):
        """{host: module result} of the tasks whose action ends in ``action``, ok or failed (the last one wins).

        verify.yml runs every capability in one verify_host task, whose result carries each capability's
        result under its module's name: ``results("isolation_probe")`` finds it there too, as the comparison
        callback does (plugins/plugin_utils/_report/contract.py, ``unpack``).
        """
        contract = _report_module("contract")
        found = {}
        for event in self.events:
            data = event.get("event_data")
            if event.get("event") not in ("runner_on_ok", "runner_on_failed") or not isinstance(data, dict):
                continue
            short = str(data.get("task_action") or "").rsplit(".", 1)[-1]
            if short == action:
                found[data.get("host")] = data.get("res")
            elif short == contract.VERIFY_ACTION:
                found.update((data.get("host"), result) for name, result in contract.unpack(short, data.get("res"))
                             if name == action)
        return found

    def __repr__(self):
        return "RunResult(status=%r, rc=%r, artifacts_dir=%r, evidence_dir=%r)" % (
            self.status, self.rc, str(self.artifacts_dir), self.evidence_dir and str(self.evidence_dir))


def layout(root=ROOT):
    """Where this package sits: ("checkout", None), ("installed", <collections path>) or (None, None).

    A checkout has galaxy.yml and ansible.cfg next to the package; an installed
    collection has MANIFEST.json and sits at <path>/ansible_collections/kata_fleet/runtimes.
    """
    root = Path(root)
    if (root / "galaxy.yml").is_file() and (root / "ansible.cfg").is_file():
        return "checkout", None
    if (root / "MANIFEST.json").is_file() and root.parts[-3:] == ("ansible_collections",) + tuple(COLLECTION.split(".")):
        return "installed", root.parents[2]
    return None, None


def _known_playbooks(root):
    folder = Path(root) / "playbooks"
    return sorted(path.stem for path in folder.glob("*.yml")) if folder.is_dir() else list(PLAYBOOKS)


def resolve_playbook(playbook, where=None, root=ROOT):
    """What to hand ansible-playbook: an absolute path, or the FQCN kata_fleet.runtimes.<name>.

    Paths are made absolute because ansible-runner runs ansible-playbook in the
    private data dir, not in the caller's working directory.
    """
    if where is None:
        where = layout(root)[0]
    if not isinstance(playbook, (str, os.PathLike)) or not os.fspath(playbook):
        raise KataFleetRunError("playbook must be 'verify', 'bootstrap', 'kata_fleet.runtimes.<name>' or the path "
                                "of a playbook file, not %r" % (playbook,))
    text = os.fspath(playbook)
    name = None
    if text in PLAYBOOKS:
        name = text
    elif text.startswith(COLLECTION + ".") and os.sep not in text:
        name = text[len(COLLECTION) + 1:]
    if name is not None:
        if where in ("checkout", "installed"):
            path = Path(root) / "playbooks" / (name + ".yml")
            if not path.is_file():
                raise KataFleetRunError("the collection has no playbook %r: use one of %s, or the path of a playbook "
                                        "file" % (name, ", ".join(_known_playbooks(root))))
            if where == "checkout":
                return str(path)
        return COLLECTION + "." + name
    path = Path(text).expanduser()
    if path.is_file():
        return str(path.absolute())
    if path.suffix in (".yml", ".yaml") or os.sep in text:
        raise KataFleetRunError("playbook file %s does not exist: check the path, or use 'verify' or 'bootstrap'"
                                % path.absolute())
    raise KataFleetRunError("unknown playbook %r: use 'verify' or 'bootstrap' (the collection's playbooks), "
                            "'kata_fleet.runtimes.<name>', or the path of a playbook file" % text)


def resolve_inventory(inventory, private_data_dir=None):
    """An inventory path for ansible-playbook -i; a dict (or "host1,host2,") is written to a JSON file first.

    Without a private_data_dir nothing is written: the dict is only checked.
    """
    if isinstance(inventory, (str, os.PathLike)) and os.fspath(inventory):
        text = os.fspath(inventory)
        path = Path(text).expanduser()
        if path.exists():
            return str(path.absolute())
        if "," not in text:
            raise KataFleetRunError("inventory %s does not exist: give the path of an inventory file or directory "
                                    "(as for ansible-playbook -i), or the inventory as a dict" % path.absolute())
        # ansible's "host1,host2," list; ansible-runner would take it for INI text, so make it a dict.
        hosts = [host.strip() for host in text.split(",") if host.strip()]
        inventory = {"all": {"hosts": dict((host, {}) for host in hosts)}}
    if not isinstance(inventory, Mapping):
        raise KataFleetRunError("inventory must be the path of an inventory file or directory, or a dict in "
                                "ansible's YAML/JSON inventory layout, not %r" % (inventory,))
    if not inventory:
        raise KataFleetRunError("the inventory dict is empty: give at least one host, e.g. "
                                "{'all': {'hosts': {'localhost': {'ansible_connection': 'local'}}}}")
    try:
        text = json.dumps(inventory, indent=2, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise KataFleetRunError("the inventory dict cannot be written as JSON (%s): use only strings, numbers, "
                                "booleans, None, lists and dicts" % error)
    if private_data_dir is None:
        return None
    folder = Path(private_data_dir) / "inventory"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "kata_fleet.json"
    # Host variables may hold secrets (become passwords): readable by the owner only.
    descriptor = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text + "\n")
    return str(path)


def environment(where, collections_dir, evidence_dir, envvars=None, root=ROOT, base=None):
    """The environment ansible-playbook runs with; the caller's ``envvars`` win over every default here.

    The comparison callback is what writes the report, so it is always enabled:
    by the checkout's ansible.cfg, or added to ANSIBLE_CALLBACKS_ENABLED.
    """
    base = os.environ if base is None else base
    env = {"ANSIBLE_NOCOLOR": "1", "KATA_FLEET_EVIDENCE_DIR": str(evidence_dir)}
    # ansible-runner starts ansible-playbook from PATH: prefer the one next to this Python (a venv).
    bin_dir = os.path.dirname(sys.executable)
    path = base.get("PATH", os.defpath)
    if os.path.isfile(os.path.join(bin_dir, "ansible-playbook")) and bin_dir not in path.split(os.pathsep):
        env["PATH"] = bin_dir + os.pathsep + path
    if where == "checkout":
        env["ANSIBLE_CONFIG"] = str(Path(root) / "ansible.cfg")
    elif where == "installed":
        # Resolve kata_fleet.runtimes.* to this very copy first.
        env["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join(
            [str(collections_dir)] + ([base["ANSIBLE_COLLECTIONS_PATH"]] if base.get("ANSIBLE_COLLECTIONS_PATH") else []))
    env.update((str(key), str(value)) for key, value in (envvars or {}).items())
    enabled = env.get("ANSIBLE_CALLBACKS_ENABLED", base.get("ANSIBLE_CALLBACKS_ENABLED"))
    if enabled is not None or where != "checkout":
        names = [name.strip() for name in (enabled or "").split(",") if name.strip()]
        if CALLBACK not in names:
            names.append(CALLBACK)
        env["ANSIBLE_CALLBACKS_ENABLED"] = ",".join(names)
    return env


def find_bundle(stdout, cwd):
    """The bundle folder the comparison callback announced in ``stdout`` (relative to ansible's cwd), or None."""
    found = EVIDENCE_LINE.findall(stdout or "")
    if not found:
        return None
    folder = Path(cwd) / found[-1].strip()
    return folder if (folder / "report.json").is_file() else None


def _check(extravars, forks, limit, envvars, timeout, on_event):
    if extravars is not None and not isinstance(extravars, Mapping):
        raise KataFleetRunError("extravars must be a dict of variable names to values, not %r" % (extravars,))
    try:
        json.dumps(dict(extravars or {}))
    except (TypeError, ValueError) as error:
        raise KataFleetRunError("extravars cannot be passed to ansible as JSON (%s): use only strings, numbers, "
                                "booleans, None, lists and dicts" % error)
    if forks is not None and (isinstance(forks, bool) or not isinstance(forks, int) or not 1 <= forks <= MAX_FORKS):
        raise KataFleetRunError("forks must be a whole number from 1 to %d, not %r" % (MAX_FORKS, forks))
    if limit is not None:
        if isinstance(limit, (list, tuple)) and all(isinstance(item, str) for item in limit):
            limit = ",".join(limit)
        if not isinstance(limit, str) or not limit.strip():
            raise KataFleetRunError("limit must be a host pattern such as 'web*:!web3' or a list of them, not %r"
                                    % (limit,))
    if envvars is not None and not isinstance(envvars, Mapping):
        raise KataFleetRunError("envvars must be a dict of environment variable names to values, not %r" % (envvars,))
    _check_run_id(extravars, envvars)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not (isinstance(timeout, int) or math.isfinite(timeout))
                                or not 0 < timeout <= MAX_TIMEOUT):
        raise KataFleetRunError("timeout must be a number of seconds greater than 0 and at most %d (30 days), "
                                "not %r" % (MAX_TIMEOUT, timeout))
    if on_event is not None and not callable(on_event):
        raise KataFleetRunError("on_event must be a function taking one event dict, not %r" % (on_event,))
    return limit


def _check_run_id(extravars, envvars):
    """A run id the hosts would refuse fails here, with the reason the callback, the action and the modules give."""
    runid = _collection_module("plugins.module_utils._runid")
    given = (("extravars kata_fleet_run_id", (extravars or {}).get("kata_fleet_run_id")),
             ("envvars " + runid.VARIABLE, (envvars or {}).get(runid.VARIABLE)),
             (runid.VARIABLE + " in this process's environment",
              None if runid.VARIABLE in (envvars or {}) else os.environ.get(runid.VARIABLE)))
    for where, value in given:
        # Not a string: the verify_host action's settings check names it (an empty one means "not given"). An
        # extra variable that is a template ("awx-{{ awx_job_id }}") is checked once rendered, by the callback
        # and the action.
        templated = where.startswith("extravars") and isinstance(value, str) and ("{{" in value or "{%" in value)
        if isinstance(value, str) and value and not templated and runid.problem(value):
            raise KataFleetRunError("%s: %s" % (where, runid.problem(value)))


def run_playbook(playbook, inventory, private_data_dir=None, evidence_dir=None, extravars=None, forks=None,
                 limit=None, envvars=None, timeout=None, on_event=None):
    """Run a playbook of the collection against ``inventory`` and return a RunResult.

    ``playbook``: "verify", "bootstrap", "kata_fleet.runtimes.<name>" or a playbook path.
    ``inventory``: an inventory path, or a dict in ansible's inventory layout (written to
    <private_data_dir>/inventory/kata_fleet.json). ``private_data_dir`` defaults to a new
    temporary folder that is kept, because the artifacts live there. ``evidence_dir``
    (default <private_data_dir>/evidence) becomes KATA_FLEET_EVIDENCE_DIR. ``on_event`` is
    called with every ansible-runner event while the playbook runs; if it raises, it is not
    called again and its exception is re-raised once the playbook has finished.
    Bad input raises KataFleetRunError before anything runs.
    """
    return _run(playbook, inventory, private_data_dir, evidence_dir, extravars, forks, limit, envvars, timeout,
                on_event)


def _run(playbook, inventory, private_data_dir, evidence_dir, extravars, forks, limit, envvars, timeout, on_event,
         cancel=None):
    """run_playbook, plus ``cancel``: a function ansible-runner polls; True stops the run (the CLI's Ctrl-C)."""
    where, collections_dir = layout()
    resolved = resolve_playbook(playbook, where)
    resolve_inventory(inventory)  # checked before any folder is made
    limit = _check(extravars, forks, limit, envvars, timeout, on_event)
    try:
        import ansible_runner
        from ansible_runner.exceptions import AnsibleRunnerException
    except ImportError as error:
        raise KataFleetRunError("ansible-runner is not importable (%s): install requirements.txt (make venv) "
                                "and use that Python" % error)

    if private_data_dir is None:
        private_data_dir = Path(tempfile.mkdtemp(prefix="kata-fleet-run-"))
    else:
        private_data_dir = Path(private_data_dir).expanduser().absolute()
        try:
            private_data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise KataFleetRunError("cannot create private_data_dir %s (%s): give a writable folder"
                                    % (private_data_dir, error))
    evidence_dir = private_data_dir / "evidence" if evidence_dir is None else Path(evidence_dir).expanduser().absolute()
    inventory_path = resolve_inventory(inventory, private_data_dir)
    env = environment(where, collections_dir, evidence_dir, envvars)

    handler_errors = []

    def handler(event):
        if on_event is not None and not handler_errors:
            try:
                on_event(event)
            except Exception as error:  # pylint: disable=broad-except  # re-raised after the run, see the docstring
                handler_errors.append(error)
        return True  # keep every event in the artifacts

    kwargs = dict(private_data_dir=str(private_data_dir), playbook=resolved, inventory=inventory_path,
                  extravars=dict(extravars or {}), envvars=env, quiet=True, event_handler=handler,
                  # Nothing from an earlier run in the same folder (env/envvars, env/extravars) overrides this one.
                  suppress_env_files=True, cancel_callback=cancel)
    if forks is not None:
        kwargs["forks"] = forks
    if limit is not None:
        kwargs["limit"] = limit
    if timeout is not None:
        kwargs["timeout"] = int(max(1, round(timeout)))
    try:
        runner = ansible_runner.run(**kwargs)
    except AnsibleRunnerException as error:
        raise KataFleetRunError("ansible-runner could not start the playbook: %s" % error)
    if handler_errors:
        raise handler_errors[0]

    stdout = runner.stdout.read()
    bundle = find_bundle(stdout, runner.config.cwd)
    report = None
    if bundle is not None:
        with open(str(bundle / "report.json")) as handle:
            report = json.load(handle)
    return RunResult(status=runner.status, rc=runner.rc, stdout=stdout, events=list(runner.events),
                     artifacts_dir=Path(runner.config.artifact_dir), evidence_dir=bundle, report=report,
                     private_data_dir=private_data_dir)


# ------------------------------------------------------------------ merging the bundles of a sliced run


class MergeResult:
    """One merged bundle: its folder, the merged report, which parts were used and which refused (and why)."""

    def __init__(self, evidence_dir, report, written, warnings, used, refused, console=None):
        self.evidence_dir = evidence_dir
        self.console = console
        self.report = report
        self.written = written
        self.warnings = warnings
        self.used = used
        self.refused = refused

    def __repr__(self):
        return "MergeResult(evidence_dir=%r, used=%r, refused=%r)" % (
            str(self.evidence_dir), self.used, [item["part"] for item in self.refused])


def _report_module(module, root=ROOT):
    """plugins/plugin_utils/_report/<module>.py of this very collection (a checkout's or an installed one)."""
    return _collection_module("plugins.plugin_utils._report." + module, root)


def _collection_module(module, root=ROOT):
    """``module`` (dotted: plugins.module_utils._runid) of this very collection (a checkout's or an installed one)."""
    name = "ansible_collections.kata_fleet.runtimes." + module
    if __name__ != "ansible_collections.kata_fleet.runtimes.kata_fleet_runner":
        where, collections_dir = layout(root)
        path = str(Path(root) / "collections") if where == "checkout" else collections_dir and str(collections_dir)
        if path and path not in sys.path:
            sys.path.insert(0, path)
    try:
        import importlib
        return importlib.import_module(name)
    except ImportError as error:
        raise KataFleetRunError("the collection's code is not importable (%s): run from a checkout or an "
                                "installed kata_fleet.runtimes, with ansible-core and Jinja2 in this Python" % error)


def merge_bundles(parts, out, public_keys=None, allow_mixed_run_ids=False, signing_key=None, run_id=None,
                  template_dir=None, listed_hosts=500, max_file_mib=None):
    """Merge the evidence bundles of a sliced run (one per controller or AWX slice) into one bundle.

    ``parts``: the bundle folders (``<evidence dir>/<run id>``). ``out``: the evidence folder the merged
    bundle goes to, as ``<out>/<run id>[-N]`` with a ``latest`` link. Every part is checked before anything
    in it is read (SHA256SUMS, the signature against ``public_keys``: key texts or key files; file names,
    links, sizes, report.json); a part that fails is left out and named in the merged report's ``merge``
    section. ``allow_mixed_run_ids``: merge parts of different run ids (refused otherwise). ``signing_key``:
    sign the merged bundle, as the callback does. ``run_id``: the merged bundle's (default: the parts' run
    id, or a new one for mixed runs). Returns a MergeResult; raises KataFleetRunError when nothing can be
    merged (bad input, every part refused). See docs/python-api.md.
    """
    merge = _report_module("merge")
    if max_file_mib is not None and (isinstance(max_file_mib, bool) or not isinstance(max_file_mib, int)
                                     or not 1 <= max_file_mib <= 65536):
        raise KataFleetRunError("max_file_mib must be a whole number of MiB from 1 to 65536, not %r" % (max_file_mib,))
    if listed_hosts is not None and (isinstance(listed_hosts, bool) or not isinstance(listed_hosts, int)
                                     or listed_hosts < 0):
        raise KataFleetRunError("listed_hosts must be a whole number (0: every host), not %r" % (listed_hosts,))
    if not isinstance(out, (str, os.PathLike)) or not os.fspath(out):
        raise KataFleetRunError("out must be the folder the merged bundle goes to, not %r" % (out,))
    limit = max_file_mib * 1024 * 1024 if max_file_mib else merge.verify.MAX_FILE_BYTES
    try:
        done = merge.merge(parts, Path(out).expanduser().absolute(), public_keys=public_keys,
                           allow_mixed_run_ids=allow_mixed_run_ids, signing_key=signing_key, run_id=run_id,
                           template_dir=template_dir, listed_hosts=listed_hosts, max_file_bytes=limit)
    except merge.MergeError as error:
        raise KataFleetRunError(str(error))
    return MergeResult(Path(done["folder"]), done["report"], done["written"], done["warnings"], done["used"],
                       done["refused"], done["console"])


# ------------------------------------------------------------------ what changed between two bundles


def diff_bundles(old, new, public_keys=None):
    """What changed between two evidence bundles: report.json's ``changes`` section, as a dict.

    ``old`` and ``new``: bundle folders (``<evidence dir>/<run id>`` or a ``latest`` link), months apart if need
    be. Both are checked first, as the callback checks the previous bundle (SHA256SUMS, the signature against
    ``public_keys``: key texts or key files; names, links, sizes, report.json). A bundle that fails is not
    compared: the result's ``status`` is ``refused`` and ``problems`` names it and why. Raises
    KataFleetRunError for input that is not folder paths or keys. See docs/evidence.md.
    """
    changes = _report_module("changes")
    for what, value in (("old", old), ("new", new)):
        if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
            raise KataFleetRunError("%s must be a bundle folder, not %r" % (what, value))
    try:
        return changes.diff_bundles(os.fspath(old), os.fspath(new), public_keys=public_keys)
    except changes.DiffError as error:
        raise KataFleetRunError(str(error))
