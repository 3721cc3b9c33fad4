# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Many controllers, one answer: merge the evidence bundles of a sliced run into one bundle.

Each part is checked by verify.inspect_bundle before anything in it is read
(checksums, signature, file names, links, sizes, report.json against what
the model writes).  A part that fails is named and left out, with its
reason.  The hosts of the parts that pass go through the same code the
callback uses: model.build_report (host entries conformed, summary,
policies, result), model.to_json, view.build_view, bundle.outputs and
bundle.write_bundle (new folder, checksums, signature, ``latest``).

* A host found in two parts is shown once per part, as ``<host> (part N)``,
  and flagged in ``errors`` and ``merge.duplicate_hosts``: never silently
  chosen.
* Parts of another run id than the first part's are refused unless
  ``allow_mixed_run_ids``.
* report.json gets a ``merge`` section: the parts used (run id, started,
  finished, the SHA-256 of their report.json, who signed), the parts refused
  with the reason, the duplicate hosts.  A refused part makes the merged
  ``result`` fail: the hosts it held are not in the answer.
"""

import getpass
import os
import platform
import socket
import time

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _runid
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import bundle, changes, contract, model, verify
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report.view import build_view

MAX_PARTS = 1000
DEFAULT_LISTED_HOSTS = 500
# The keys of a policy that define it; two parts that disagree on them ran different policies.
POLICY_KEYS = ("severity", "description", "applies_to", "expect", "controls")


class MergeError(ValueError):
    """Nothing was merged: bad input, no part passed its checks, or the folder could not be made."""


def _controller():
    try:
        user = getpass.getuser()
    except Exception:  # pylint: disable=broad-except  # no user name in a container is not a reason to fail
        user = "uid %d" % os.getuid()
    return {"hostname": socket.gethostname(), "user": user, "python": platform.python_version()}


def _record(entry):
    """A contract record holding exactly what a report.json host entry holds (model.host_entry gives it back)."""
    record = contract.new_record()
    record["status"] = entry["status"]
    record["error"] = entry["error"]
    record["host_facts"] = entry["host"]
    for probe in contract.PROBES:
        runtimes = dict((handler, probes[probe]) for handler, probes in entry["runtimes"].items()
                        if probes.get(probe) is not None)
        record[probe] = {"runtimes": runtimes} if runtimes else None
    return record


def _unique_name(name, part, taken):
    shown = "%s (part %d)" % (name, part)
    while shown in taken:
        shown += "'"
    taken.add(shown)
    return shown


def _union(lists):
    out = []
    for items in lists:
        for item in items:
            if item not in out:
                out.append(item)
    return out


def check_input(parts, run_id=None, signing_key=None):
    """The parts as a list of paths; raises MergeError for input no merge can use."""
    if isinstance(parts, (str, bytes, os.PathLike)) or parts is None:
        raise MergeError("parts must be a list of bundle folders, not %r" % (parts,))
    try:
        parts = [os.fspath(part) for part in parts]
    except TypeError as error:
        raise MergeError("parts must be bundle folder paths: %s" % error)
    if not parts:
        raise MergeError("no parts given: name the bundle folders of the run's slices")
    if len(parts) > MAX_PARTS:
        raise MergeError("%d parts: at most %d are merged at once" % (len(parts), MAX_PARTS))
    seen = {}
    for number, part in enumerate(parts, 1):
        if not isinstance(part, str) or not part:
            raise MergeError("part %d is not a folder path: %r" % (number, part))
        real = os.path.realpath(part)
        if real in seen:
            raise MergeError("part %d (%s) is part %d (%s) again: each bundle is merged once" % (
                number, part, seen[real], parts[seen[real] - 1]))
        seen[real] = number
    if run_id is not None and _runid.problem(run_id):
        raise MergeError(_runid.problem(run_id))
    if signing_key is not None and not os.path.isfile(os.fspath(signing_key)):
        raise MergeError("signing key %s is not a file: give the SSH private key to sign the merged bundle with"
                         % os.fspath(signing_key))
    return parts


def check_parts(parts, public_keys=None, allow_mixed_run_ids=False, max_file_bytes=verify.MAX_FILE_BYTES):
    """Check every part; returns (used, refused).

    used: [(number, path, report, facts)]; refused: [{"part", "path", "reason"}].
    The run id every part must carry (unless ``allow_mixed_run_ids``) is the
    first verified part's.
    """
    used, refused, expected = [], [], None
    for number, path in enumerate(parts, 1):
        report, problems, facts = verify.inspect_bundle(path, public_keys, max_file_bytes)
        if problems:
            refused.append({"part": number, "path": path, "reason": "; ".join(problems[:3])})
            continue
        if expected is None:
            expected = report["run_id"]
        elif report["run_id"] != expected and not allow_mixed_run_ids:
            refused.append({"part": number, "path": path, "reason": (
                "run id %s is not this merge's run %s (part %d): parts of different runs are merged only when "
                "asked for (allow_mixed_run_ids, --allow-mixed-run-ids)" % (report["run_id"], expected, used[0][0]))})
            continue
        used.append((number, path, report, facts))
    return used, refused


def merged_report(used, refused, run_id=None, allow_mixed_run_ids=False, controller=None):
    """report.json of the merge as a dict, built by model.build_report over every used part's hosts."""
    owners = {}
    for number, _path, report, _facts in used:
        for name in report["hosts"]:
            owners.setdefault(name, []).append(number)
    taken = set(name for name, numbers in owners.items() if len(numbers) == 1)
    records, per_host, carried, notes, definitions = {}, {}, [], [], {}
    duplicates = []
    for name in sorted(owners):
        if len(owners[name]) > 1:
            shown = [_unique_name(name, number, taken) for number in owners[name]]
            duplicates.append({"host": name, "parts": owners[name], "shown_as": shown})
            notes.append({"host": name, "error": "merge: host %s is in parts %s: shown once per part (%s), neither "
                                                 "chosen" % (name, ", ".join(str(n) for n in owners[name]),
                                                             ", ".join(shown))})
    renamed = dict(((item["host"], number), shown) for item in duplicates
                   for number, shown in zip(item["parts"], item["shown_as"]))
    parts_section = []
    for number, path, report, facts in used:
        def shown(host, number=number):
            return renamed.get((host, number), host)
        for name, entry in report["hosts"].items():
            records[shown(name)] = _record(entry)
        for policy in report["policies"]:
            definition = tuple(repr(policy.get(key)) for key in POLICY_KEYS)
            first = definitions.setdefault(policy["name"], (definition, number))
            if first[0] != definition:
                notes.append({"host": None, "error": "merge: policy %s of part %d is not the one of part %d (severity, "
                                                     "expressions or description differ): each host's result is its "
                                                     "own part's, the definition shown is one of the two"
                                                     % (policy["name"], number, first[1])})
            for result in policy["results"]:
                item = dict((key, policy[key]) for key in ("name", "severity", "description", "applies_to", "expect",
                                                           "controls") if policy.get(key) is not None)
                item.update(status=result["status"], detail=result.get("detail"))
                per_host.setdefault(shown(result["host"]), []).append(item)
        for error in report.get("errors") or []:
            host = error.get("host")
            carried.append({"host": None if host is None else shown(host),
                            "error": error["error"] if host is not None else "part %d: %s" % (number, error["error"])})
        parts_section.append({
            "part": number, "path": path, "run_id": report["run_id"], "started": report["started"],
            "finished": report["finished"], "report_sha256": facts["report_sha256"], "signed": facts["signed"],
            "signed_by": facts["signed_by"], "hosts": len(report["hosts"]), "result": report["result"],
            "controller": report["controller"], "versions": report["versions"]})
    versions = [report["versions"] for _n, _p, report, _f in used]
    if any(item != versions[0] for item in versions):
        notes.append({"host": None, "error": "merge: the parts ran different versions: %s" % "; ".join(
            "part %d ansible-core %s, collection %s" % (number, report["versions"].get("ansible_core"),
                                                        report["versions"].get("collection"))
            for number, _p, report, _f in used)})
    for item in refused:
        notes.append({"host": None, "error": "merge: part %d (%s) refused, its hosts are not in this report: %s"
                                             % (item["part"], item["path"], item["reason"])})
    run_ids = _union([[report["run_id"]] for _n, _p, report, _f in used])
    if run_id is None:
        run_id = run_ids[0] if len(run_ids) == 1 else _runid.new_run_id()
    run = {
        "started": min(report["started"] for _n, _p, report, _f in used),
        "finished": max(report["finished"] for _n, _p, report, _f in used),
        "controller": controller or _controller(),
        "versions": dict(versions[0]),
        "playbooks": _union([report.get("playbooks") or [] for _n, _p, report, _f in used]),
        "inventory": _union([report.get("inventory") or [] for _n, _p, report, _f in used]),
    }
    merged = model.build_report(records, run, run_id, policies=per_host)
    # What changed since the last run: each part's section, made by the same rules against its own previous bundle,
    # joined (changes.combine); each host's no-weakening result is its part's, already among the policies.
    try:
        combined = changes.combine([(number, report.get("changes"), dict(
            (host, shown) for (host, owner), shown in renamed.items() if owner == number))
            for number, _path, report, _facts in used], merged)
    except Exception as error:  # pylint: disable=broad-except  # a part's hostile section is named, never a traceback
        combined = None
        notes.append({"host": None, "error": "merge: the parts' changes sections could not be joined, so the merged "
                      "bundle has none: %s: %s" % (type(error).__name__, changes.text(str(error), changes.PROBLEM_LIMIT))})
    if combined is not None:
        merged["changes"] = combined
    merged["errors"] = carried + merged["errors"] + notes
    if refused:
        merged["result"] = "fail"
    merged["merge"] = {
        "merged_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "run_ids": run_ids,
        "allow_mixed_run_ids": bool(allow_mixed_run_ids),
        "parts": parts_section,
        "refused": refused,
        "duplicate_hosts": duplicates,
    }
    return merged


def merge(parts, out, public_keys=None, allow_mixed_run_ids=False, signing_key=None, run_id=None,
          template_dir=None, listed_hosts=DEFAULT_LISTED_HOSTS, dir_mode=bundle.DIR_MODE, file_mode=bundle.FILE_MODE,
          max_file_bytes=verify.MAX_FILE_BYTES, width=100):
    """Merge the bundles ``parts`` into a new bundle ``out/<run id>[-N]``; returns a dict.

    The dict: ``folder``, ``written``, ``warnings`` (as bundle.write_bundle),
    ``report`` (the merged report.json as a dict), ``console`` (the tables as
    the callback prints them, ``width`` columns), ``used`` (part numbers),
    ``refused`` ([{part, path, reason}]).  Raises MergeError when nothing can
    be merged (bad input, every part refused, the folder cannot be made).
    """
    parts = check_input(parts, run_id, signing_key)
    try:
        keys = verify.public_key_lines(public_keys)
    except verify.PublicKeyError as error:
        raise MergeError(str(error))
    used, refused = check_parts(parts, keys, allow_mixed_run_ids, max_file_bytes)
    if not used:
        raise MergeError("no part passed its checks, nothing merged:\n" + "\n".join(
            "  part %d (%s): %s" % (item["part"], item["path"], item["reason"]) for item in refused))
    report = merged_report(used, refused, run_id, allow_mixed_run_ids)
    json_text = model.to_json_parts(report)
    view, view_error = None, None
    try:
        view = build_view(report, listed_hosts=listed_hosts or None)
        view["changes"] = changes.page_view(report.get("changes"))
    except Exception as error:  # pylint: disable=broad-except  # as in the callback: report.json and junit.xml still go
        view_error = "%s: %s" % (type(error).__name__, error)
    try:
        folder, written, warnings = bundle.write_bundle(
            report["run_id"], os.fspath(out), bundle.outputs(report, json_text, view, template_dir, view_error),
            signing_key and os.fspath(signing_key), dir_mode, file_mode)
    except OSError as error:
        raise MergeError(str(error))
    if view_error:
        warnings.insert(0, "kata-fleet merge: the report view could not be built: %s" % view_error)
    text = None
    if view is not None:
        # pylint: disable=import-outside-toplevel  # only the merge's own printout needs the console renderer
        from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import console
        try:
            text = console.render(view, width)
        except Exception as error:  # pylint: disable=broad-except  # the bundle is written; the printout is extra
            warnings.append("kata-fleet merge: the comparison could not be printed: %s: %s" % (type(error).__name__, error))
    return {"folder": folder, "written": written, "warnings": warnings, "report": report, "console": text,
            "used": [number for number, _path, _report, _facts in used], "refused": refused}
