# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report model: ``build_report`` makes report.json (schema in docs/report.schema.json), ``to_json`` its text.

report.json keeps what each host sent, each value checked against the
schema's words (``conform``): a host whose results make no sense becomes
that host's error, never a lost report.  What every output shows is derived
from it once, in ``view`` (``build_view``).  This module imports nothing
of the view; the view, the narrative and junit read a result's verdict
through ``verdict_of`` here.
"""

import json
import math
import re

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _policy
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import contract, formatting as fmt, workload_audit

SCHEMA = "kata_fleet.report/v1"
# From the weakest boundary to the strongest; the order trade-offs compare in.
VERDICTS = ("shared-kernel", "user-space-kernel", "vm-isolated")


def as_dict(value):
    """``value`` when it is a mapping, else an empty one: how every reader of report.json takes a host's value."""
    return value if isinstance(value, dict) else {}


def as_list(value):
    """``value`` when it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def dig(data, path):
    """The value at ``path`` (keys) in nested mappings, None where a step is missing or not a mapping."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


# ------------------------------------------------------------------ report.json


def host_entry(record):
    """A record (contract.new_record) as report.json's host entry: status, error, host view, runtimes."""
    runtimes = {}
    for probe in contract.PROBES:
        for handler, result in as_dict(as_dict(record.get(probe)).get("runtimes")).items():
            runtimes.setdefault(str(handler), dict((name, None) for name in contract.PROBES))[probe] = result
    host_view = record.get("host_facts") or as_dict(record.get("isolation")).get("host")
    status = record.get("status") or "ok"
    if status not in contract.STATUSES:
        status = "failed"
    if status == "ok" and not host_view and not runtimes:
        status = "skipped"
    error = record.get("error") or ("no probe results: the host ran none of the probe tasks"
                                    if status == "skipped" else None)
    entry = {"status": status, "error": None if error is None else str(error),
             "host": host_view if isinstance(host_view, dict) else None, "runtimes": runtimes}
    # workload_bench's and workload_audit's results (issues 21, 24): only when the host ran them.
    for key in ("workload", "audit"):
        if record.get(key) is not None:
            entry[key] = record[key]
    return entry


PROBE_STATUSES = ("ok", "failed", "planned")
VERDICT_VALUES = VERDICTS + ("unknown",)
# The statistics a probe result may carry (startup_bench's total, http_latency's latency): docs/report.schema.json
# allows both in every probe entry, each a $defs/stats or null.
STATS_BLOCKS = ("total", "latency")
# Probe-entry fields the schema gives a type but no words: key, the Python types allowed besides None, what a note calls them.
TYPED_FIELDS = (("error", (str,), "text"), ("verdict_reason", (str,), "text"), ("sandbox", (str,), "text"),
                ("evidence", (list,), "a list"), ("signals", (dict, list), "a mapping or a list"),
                ("fact_errors", (dict, list), "a mapping or a list"))


def _short(value):
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an int past Python's digit limit, a value nested past the stack
        return "a %s that cannot be shown" % type(value).__name__
    return fmt.host_text(text if len(text) <= 80 else text[:77] + "...", 80)


# What the two witnesses and the probe image may be (docs/report.schema.json says the same).
IMAGE_SOURCES = ("built", "registry")
# Older probes named the source by the image's name ("kata-fleet"), not by its content.
LEGACY_IMAGE_SOURCES = ("kata-fleet",)
DIGEST = re.compile(r"\Asha256:[0-9a-f]{64}\Z")
HOST_CLASSES = ("host-process", "vmm", "user-space-kernel", "unknown")
WITNESS_VALUES = ("agrees", "contradicted", "host-unknown")
VMMS = ("qemu", "cloud-hypervisor", "firecracker", "dragonball")
# A witness's words: printable ASCII, bounded (the module side promises no less; the controller checks).
_ASCII = re.compile(r"\A[\x20-\x7e]*\Z")
WITNESS_TEXT_LIMIT = 1000
WITNESS_EVIDENCE_LINES = 50
WITNESS_FIELDS = ("image_source", "image_digest", "host_witness", "witness", "contradiction")
# A binary path the host names (the task's, the shim's), and each half of a contradiction's story.
BINARY_LIMIT = 4096
STORY_LIMIT = 300


def text_ok(value, limit=WITNESS_TEXT_LIMIT):
    return isinstance(value, str) and len(value) <= limit and bool(_ASCII.match(value))


def _pid_ok(value):
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2 ** 32


def host_witness_problem(witness):
    """None when ``witness`` is a host witness as the contract says, else which part is not."""
    if not isinstance(witness, dict):
        return "not a mapping"
    if witness.get("class") not in HOST_CLASSES:
        return "class %s is not one of %s" % (_short(witness.get("class")), ", ".join(HOST_CLASSES))
    checks = (("reason", lambda v: v is None or text_ok(v)), ("task_pid", lambda v: v is None or _pid_ok(v)),
              ("vmm", lambda v: v is None or v in VMMS), ("binary", lambda v: v is None or text_ok(v, BINARY_LIMIT)),
              ("shim", lambda v: v is None or (isinstance(v, dict) and _pid_ok(v.get("pid")) and text_ok(v.get("binary"), BINARY_LIMIT))),
              ("evidence", lambda v: v is None or (isinstance(v, list) and len(v) <= WITNESS_EVIDENCE_LINES
                                                   and all(text_ok(line) for line in v))))
    for key, good in checks:
        if not good(witness.get(key)):
            return "%s %s is not what the contract allows" % (key, _short(witness.get(key)))
    return None


def _conform_witness(result, where, notes):
    """The probe image and the host's witness of one probe result (isolation's; the schema holds every entry to the
    same words): each value as the contract says, or null and a note."""
    source = result.get("image_source")
    if source is not None and source not in IMAGE_SOURCES + LEGACY_IMAGE_SOURCES:
        notes.append("%s/image_source: %s is not built or registry: invalid, left out" % (where, _short(source)))
        result["image_source"] = None
    digest = result.get("image_digest")
    if digest is not None and not (isinstance(digest, str) and DIGEST.match(digest)):
        notes.append("%s/image_digest: %s is not sha256:<64 hex digits>: invalid, left out" % (where, _short(digest)))
        result["image_digest"] = None
    witness = result.get("host_witness")
    if witness is not None:
        why = host_witness_problem(witness)
        if why:
            notes.append("%s/host_witness: %s: invalid, left out" % (where, why))
            result["host_witness"] = None
    agreement = result.get("witness")
    if agreement is not None and agreement not in WITNESS_VALUES:
        notes.append("%s/witness: %s is not %s: invalid, left out" % (where, _short(agreement), ", ".join(WITNESS_VALUES)))
        result["witness"] = None
    contradiction = result.get("contradiction")
    if contradiction is not None and not (isinstance(contradiction, dict) and text_ok(contradiction.get("container"), STORY_LIMIT)
                                          and text_ok(contradiction.get("host"), STORY_LIMIT)):
        notes.append("%s/contradiction: %s is not the container's and the host's story: invalid, left out"
                     % (where, _short(contradiction)))
        result["contradiction"] = None
    if result.get("witness") == "contradicted" and result.get("status") == "ok":
        notes.append("%s: the host contradicts the container, yet the probe says ok: read as failed" % where)
        result["status"] = "failed"
        result["verdict"] = None
        result["error"] = str(result.get("error") or "contradicted by the host (the host sent no story)")


def conform(entry):
    """Make one host entry fit report.json's schema; returns a note per value it had to refuse.

    A probe result that is not a mapping, a status or verdict outside the
    schema's words, a value of a type the schema does not allow (TYPED_FIELDS,
    the witness fields), or statistics that are not numbers would make
    report.json invalid for every reader: each such value is replaced (null,
    "failed", "unknown") and the note says what the host sent.  Every probe
    entry is held to the whole of the schema's probe_entry, whichever probe it
    is (tests/unit/plugins/plugin_utils/_report/test_model.py walks the two together).
    """
    notes = []
    for runtime, probes in list(entry["runtimes"].items()):
        for probe in contract.PROBES:
            result = probes.get(probe)
            where = "runtimes/%s/%s" % (runtime, probe)
            if result is None:
                continue
            if not isinstance(result, dict):
                notes.append("%s: %s is not a probe result: left out" % (where, _short(result)))
                probes[probe] = None
                continue
            for key, types, words in TYPED_FIELDS:
                if result.get(key) is not None and not isinstance(result[key], types):
                    notes.append("%s/%s: %s is not %s: left out" % (where, key, _short(result[key]), words))
                    result[key] = None
            if result.get("status") not in PROBE_STATUSES:
                notes.append("%s/status: %s is not ok, failed or planned: read as failed" % (where, _short(result.get("status"))))
                result["status"] = "failed"
                result["error"] = str(result.get("error") or "the host sent status %s" % _short(result.get("status")))
            _conform_witness(result, where, notes)
            if "verdict" in result and result["verdict"] not in VERDICT_VALUES \
                    and not (result["verdict"] is None and result["status"] == "failed"):
                notes.append("%s/verdict: %s is not a verdict: read as unknown" % (where, _short(result["verdict"])))
                result["verdict"] = "unknown"
            for block in STATS_BLOCKS:
                stats = result.get(block)
                if stats is None:
                    continue
                if not isinstance(stats, dict) or isinstance(stats.get("n"), bool) or not isinstance(stats.get("n"), int) \
                        or stats["n"] < 0:
                    notes.append("%s/%s: %s are not statistics with a count n: left out" % (where, block, _short(stats)))
                    result[block] = None
                    continue
                for key, value in list(stats.items()):
                    if key != "n" and value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                        notes.append("%s/%s/%s: %s is not a number: written as null" % (where, block, key, _short(value)))
                        stats[key] = None
    notes.extend(workload_audit.conform(entry))
    return notes


def summary(hosts):
    counts = dict((status, 0) for status in contract.STATUSES)
    runtimes = {}
    for entry in hosts.values():
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
        for handler in entry["runtimes"]:
            runtimes[handler] = runtimes.get(handler, 0) + 1
    counts["hosts"] = len(hosts)
    counts["runtimes"] = dict(sorted(runtimes.items()))
    return counts


def error_policies(policies):
    """Names of the error-severity policies that failed or could not be evaluated on some host (decided here only)."""
    names = []
    for policy in policies or []:
        severity = policy.get("severity")
        if any(_policy.blocks(severity, result.get("status"))
               for result in as_list(policy.get("results")) if isinstance(result, dict)):
            names.append(str(policy.get("name")))
    return names


def overall_result(hosts, policies):
    """pass when every host is ok and no error-severity policy failed anywhere."""
    if any(entry["status"] != "ok" for entry in hosts.values()) or error_policies(policies):
        return "fail"
    return "pass"


def build_report(records, run, run_id, policies=None):
    """report.json as a dict.

    ``records`` maps host name to its record (contract); ``run`` carries
    started, finished, controller, versions, playbooks and inventory;
    ``run_id`` is the controller's name for this run: a host whose results
    name another run is failed with the reason.  ``policies``: per host, the
    policy_check results (None: take them from the records).
    """
    hosts, errors = {}, []
    for name in sorted(records, key=str):
        record = records[name]
        try:
            entry = host_entry(record)
            errors.extend({"host": str(name), "error": note} for note in conform(entry))
            mismatch = contract.check_run_id(record, run_id)
            if mismatch:
                entry["status"] = "failed"
                entry["error"] = mismatch if not entry["error"] else "%s; %s" % (mismatch, entry["error"])
        except Exception as error:  # pylint: disable=broad-except  # one host's nonsense is that host's error
            entry = {"status": "failed", "host": None, "runtimes": {},
                     "error": "the controller could not read this host's results: %s: %s" % (type(error).__name__, error)}
            errors.append({"host": str(name), "error": entry["error"]})
        hosts[str(name)] = entry
    if policies is None:
        policies = dict((name, record["policies"]) for name, record in records.items()
                        if isinstance(record, dict) and record.get("policies"))
    report = {"schema": SCHEMA, "run_id": run_id}
    report.update(run)
    report["summary"] = summary(hosts)
    report["hosts"] = hosts
    try:
        report["policies"] = _policy.merge_results(policies, hosts)
    except Exception as error:  # pylint: disable=broad-except  # malformed policy results cost the policies, not the report
        report["policies"] = []
        errors.append({"host": None, "error": "policy results could not be merged: %s: %s" % (type(error).__name__, error)})
    report["result"] = overall_result(hosts, report["policies"])
    report["errors"] = errors
    return report


# What report.json holds of any one value a host sent (docs/evidence.md, "What a host cannot break"):
# nesting (jq 1.6 stops at 256 levels, Python's own parser near 1,000), integers (Python writes at
# most 4,300 digits), text (no lone surrogate: UTF-8 cannot hold one; bounded).
MAX_DEPTH = 64
MAX_INT_BITS = 3300  # about 1,000 decimal digits
MAX_TEXT = 1 << 20
_SURROGATE = re.compile("[\ud800-\udfff]")


def _where(path):
    return fmt.host_text("/".join(path), 300) or "(top)"


def _clean_text(text, path, notes):
    if len(text) > MAX_TEXT:
        notes.append("%s: a text of %d characters: cut to %d" % (_where(path), len(text), MAX_TEXT))
        text = text[:MAX_TEXT]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        notes.append("%s: %s holds a lone surrogate, which no UTF-8 file can hold: replaced with U+FFFD"
                     % (_where(path), _short(text)))
        text = _SURROGATE.sub(fmt.REPLACEMENT, text)
    return text


def _clean_scalar(value, path, notes):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            notes.append("%s: an integer of about %d digits: written as null" % (_where(path), int(value.bit_length() * 0.30103)))
            return None
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        notes.append("%s: %r is not a number JSON can hold: written as null" % (_where(path), value))
        return None
    if isinstance(value, str):
        return _clean_text(value, path, notes)
    if isinstance(value, bytes):
        notes.append("%s: bytes are not a JSON value: written as text" % _where(path))
        return _clean_text(value.decode("utf-8", "replace"), path, notes)
    notes.append("%s: a %s is not a JSON value: written as text" % (_where(path), type(value).__name__))
    try:
        text = str(value)
    except Exception:  # pylint: disable=broad-except  # anything at all may arrive here
        text = "a %s" % type(value).__name__
    return _clean_text(text, path, notes)


def clean(value, path=(), notes=None):
    """A copy of ``value`` that JSON (RFC 8259), UTF-8 and every JSON reader can hold, each change noted with where.

    Not recursive, so no nesting can exhaust the stack: values nested deeper
    than MAX_DEPTH become null; NaN, infinities and integers past MAX_INT_BITS
    null; lone surrogates U+FFFD; texts past MAX_TEXT are cut; keys become
    text; anything else JSON has no word for becomes its text.
    """
    notes = [] if notes is None else notes
    holder = [None]
    stack = [(value, holder, 0, list(path), 0)]
    while stack:
        item, parent, slot, where, depth = stack.pop()
        if not isinstance(item, (dict, list, tuple)):
            parent[slot] = _clean_scalar(item, where, notes)
            continue
        if depth >= MAX_DEPTH:
            notes.append("%s: nested deeper than %d levels: left out" % (_where(where), MAX_DEPTH))
            parent[slot] = None
            continue
        children = []
        if isinstance(item, dict):
            out = {}
            for key, child in item.items():
                name = key if isinstance(key, str) else "%s" % (key,)
                name = _clean_text(name, where + [fmt.host_text(name, 64)], notes)
                if name in out:
                    notes.append("%s: two keys read as %s: the second is kept" % (_where(where), _short(name)))
                out[name] = None
                children.append((child, out, name, where + [name], depth + 1))
        else:
            out = [None] * len(item)
            children = [(child, out, index, where + [str(index)], depth + 1) for index, child in enumerate(item)]
        stack.extend(reversed(children))  # notes in the order of the value
        parent[slot] = out
    return holder[0]


def _encodes(value):
    """True when ``value`` is already what ``clean`` would make of it, as far as JSON's encoder can tell (fast, in C)."""
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        return False
    # A lone surrogate is written as \udXXX; so is half of every pair (an emoji): those cost a closer look only.
    return "\\ud" not in text


def to_json(report):
    """report.json's text, always valid JSON (RFC 8259: no NaN, no Infinity, no lone surrogate): ``to_json_parts``
    joined."""
    return "".join(to_json_parts(report))


def _parts(report, default=None):
    """The compact JSON of ``report`` (``json.dumps(report, separators=(",", ":"))``, byte for byte) as a list of
    texts, one per host; raises ValueError, TypeError or RecursionError as json.dumps does, and TypeError for a
    key that is not text (json.dumps would write it as text; ``clean`` does)."""
    encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=default).encode
    parts = ["{"]
    for key, value in report.items():
        if not isinstance(key, str):
            raise TypeError("key %r is not text" % (key,))
        parts.append(("," if len(parts) > 1 else "") + encode(key) + ":")
        if key != "hosts" or not isinstance(value, dict):
            parts.append(encode(value))
            continue
        parts.append("{")
        first = len(parts)
        for name, entry in value.items():
            if not isinstance(name, str):
                raise TypeError("host name %r is not text" % (name,))
            parts.append(("," if len(parts) > first else "") + encode(name) + ":" + encode(entry))
        parts.append("}")
    parts.append("}\n")
    return parts


def to_json_parts(report):
    """report.json's text as parts to be written one after the other (one per host), always valid JSON.

    Compact, one line, keys in the order the model builds them: Python's C
    encoder only runs without indent, and sorting every object's keys costs a
    quarter more at fleet size (``jq -S . report.json`` pretty-prints it sorted).
    In parts, because one text of every host is built by joining the encoder's
    pieces, twice report.json's size at once (150 MiB at 10,000 hosts; bench/README.md 9.7).
    Only when the report cannot be written as it is (NaN, an infinity, a lone surrogate,
    nesting past the encoder's stack, an integer past Python's digit limit, a
    value JSON has no word for, a key that is not text) is it walked (``clean``), host by host: each
    refused value becomes null or its text and an entry in ``errors`` naming
    the host and where, and ``report`` is changed in place so every other
    output shows the same.
    """
    try:
        parts = _parts(report)
        # A lone surrogate is written as \udXXX; so is half of every pair (an emoji): those cost a closer look only.
        if not any("\\ud" in part for part in parts):
            return parts
    except (ValueError, TypeError, RecursionError):
        pass
    parts = None
    report["errors"] = list(report.get("errors") or [])
    hosts = {}
    for name, entry in (report.get("hosts") or {}).items():
        notes = []
        key = clean(name, ["hosts"], notes)
        if not isinstance(key, str):  # 7, true, null: the text json.dumps writes for such a key
            key = json.dumps(key)
        if not _encodes(entry):
            entry = clean(entry, [], notes)
        if notes:
            report["errors"].extend({"host": key, "error": note} for note in notes)
        hosts[key] = entry
    if "hosts" in report:
        report["hosts"] = hosts
    notes = []
    for key in [key for key in report if key not in ("hosts", "errors")]:
        if not _encodes(report[key]):
            report[key] = clean(report[key], [key], notes)
    report["errors"] = clean(report["errors"], ["errors"], notes) + [{"host": None, "error": note} for note in notes]
    return _parts(report, default=str)


# ------------------------------------------------------------------ a result's verdict (the view, narrative, junit)


def sandbox_text(isolation):
    sandbox = isolation.get("sandbox")
    return fmt.host_text(sandbox, 64) if isinstance(sandbox, str) and sandbox else None


def verdict_of(isolation):
    """(verdict, sandbox) of one isolation result; verdict None when not probed, 'failed' when the probe failed."""
    if not isinstance(isolation, dict) or not isolation:
        return None, None
    if isolation.get("status") == "failed":
        return "failed", None
    if isolation.get("status") == "planned":
        return None, None
    verdict = isolation.get("verdict")
    verdict = verdict if verdict in VERDICTS else "unknown"
    return verdict, sandbox_text(isolation)


def verdict_label(verdict, sandbox):
    if verdict is None:
        return "-"
    return "%s (%s)" % (verdict, sandbox) if sandbox else verdict
