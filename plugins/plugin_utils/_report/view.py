# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The view: ``build_view`` decides once, from report.json, what every output shows.

Every cell already formatted (``formatting``), every verdict, figure, policy
sentence and finding decided, so the console, report.md, report.html and
report.csv are pure renderings that cannot disagree.  A report.json may come
from anywhere (a merge, a diff): the view validates what it shows again, and
one host's nonsense costs that host's rows only.  Imports the report model
(``model``) and the findings (``narrative``); neither imports this module.
"""

import json
import re

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _policy
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import contract, formatting as fmt, narrative, workload_audit
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report.model import (
    DIGEST, IMAGE_SOURCES, LEGACY_IMAGE_SOURCES, STORY_LIMIT, WITNESS_FIELDS, WITNESS_TEXT_LIMIT, WITNESS_VALUES, as_dict,
    as_list, dig, error_policies, host_witness_problem, text_ok, verdict_label, verdict_of)

HOST_ROW = "(host)"
# Columns of the comparison table: key, title.  One list for every output.
ISOLATION_COLUMNS = (
    ("host", "Host"), ("runtime", "Runtime"), ("kernel", "Kernel"), ("cpu_model", "CPU model"),
    ("proc_entries", "/proc"), ("modules", "Modules"), ("interfaces", "Interfaces"), ("verdict", "Verdict"),
    ("host_sees", "Host sees"),
)
PERFORMANCE_COLUMNS = (
    ("host", "Host"), ("runtime", "Runtime"), ("startup", "Startup med/p95"), ("http", "HTTP p50/p99"),
    ("memory", "Memory (PSS)"),
)
COLUMNS = ISOLATION_COLUMNS + PERFORMANCE_COLUMNS[2:]
# Plain numbers for machines reading report.csv: column, probe, path, bounds.
NUMBERS = (
    ("startup_median_s", ("startup", "total", "median"), fmt.DURATION_RANGE),
    ("startup_p95_s", ("startup", "total", "p95"), fmt.DURATION_RANGE),
    ("http_p50_s", ("http", "latency", "p50"), fmt.DURATION_RANGE),
    ("http_p99_s", ("http", "latency", "p99"), fmt.DURATION_RANGE),
    ("memory_pss_kib", ("http", "memory", "total_pss_kib"), fmt.KIB_RANGE),
)
# The two witnesses and the probe image, as report.csv's plain columns (validated values, else
# NOT_RECORDED or INVALID): key of the row's ``witness`` dict, CSV column.
WITNESS_COLUMNS = (("image_source", "image_source"), ("image_digest", "image_digest"),
                   ("host_witness", "host_witness"), ("witness", "witness"))

NOT_RECORDED = "not recorded"
INVALID = "invalid"
DIGEST_SHOWN = len("sha256:") + 12
_REFUSED = re.compile(r"\Aruntimes/(.*)/isolation/(%s): " % "|".join(WITNESS_FIELDS), re.S)


def refused_fields(report):
    """{host: {runtime: set of witness fields conform refused}} from report.json's errors (shown as invalid)."""
    out = {}
    for item in report.get("errors") or []:
        match = _REFUSED.match(str(item.get("error"))) if isinstance(item, dict) and item.get("host") else None
        if match:
            out.setdefault(item["host"], {}).setdefault(match.group(1), set()).add(match.group(2))
    return out


def short_digest(digest):
    return digest[:DIGEST_SHOWN] + "\u2026" if len(digest) > DIGEST_SHOWN else digest


def witness_view(isolation, refused=()):
    """What every output shows of one isolation result's probe image and host witness.

    Validated here again (a report.json may come from anywhere): a value the
    contract does not allow, or one ``conform`` refused (``refused``), is
    INVALID; an absent one (an older record) NOT_RECORDED.  Returns a dict:
    image_source, image_digest (full), host_witness (the class), vmm, witness,
    image (one line: "built sha256:abcd... (kata-fleet's own)"), host_sees (the cell),
    host_evidence (lines), contradiction (a sentence or None).
    """
    isolation = as_dict(isolation)

    def word(key, allowed, absent=NOT_RECORDED):
        if key in refused:
            return INVALID
        value = isolation.get(key)
        if value is None:
            return absent
        return value if isinstance(value, str) and value in allowed else INVALID

    source = word("image_source", IMAGE_SOURCES + LEGACY_IMAGE_SOURCES)
    digest = isolation.get("image_digest")
    if "image_digest" in refused or (digest is not None and not (isinstance(digest, str) and DIGEST.match(digest))):
        digest = INVALID
    elif digest is None:
        digest = NOT_RECORDED
    witness = isolation.get("host_witness")
    if "host_witness" in refused or (witness is not None and host_witness_problem(witness)):
        host_class, vmm, host_evidence, reason = INVALID, None, [], None
    elif witness is None:
        host_class, vmm, host_evidence, reason = NOT_RECORDED, None, [], None
    else:
        host_class, vmm = witness["class"], witness.get("vmm")
        host_evidence = [fmt.host_text(line, WITNESS_TEXT_LIMIT) for line in as_list(witness.get("evidence"))]
        reason = fmt.host_text(witness["reason"], 300) if witness.get("reason") else None
    agreement = word("witness", WITNESS_VALUES)
    shown = short_digest(digest) if digest not in (INVALID, NOT_RECORDED) else "image, digest %s" % digest
    if source == "built":
        image = "built %s (kata-fleet's own)" % shown
    elif source == "registry":
        image = "registry %s: its tools print the facts" % shown
    elif source == "kata-fleet":
        image = "kata-fleet's own by its name (an older record: the digest was not recorded)"
    elif source == INVALID or digest == INVALID:
        image = "invalid (see the errors)"
    else:
        image = NOT_RECORDED
    host_sees = host_class + (" (%s)" % vmm if host_class == "vmm" and vmm else "")
    if host_class == "unknown" and reason:
        host_sees += ": " + reason
    contradiction = None
    story = isolation.get("contradiction")
    if "contradiction" in refused:
        contradiction = "contradicted: the two stories were invalid (see the errors)"
    elif isinstance(story, dict) and text_ok(story.get("container"), STORY_LIMIT) and text_ok(story.get("host"), STORY_LIMIT):
        contradiction = "the container says %s; the host sees %s" % (
            fmt.host_text(story["container"], 300), fmt.host_text(story["host"], 300))
    elif story is not None:
        contradiction = "contradicted: the two stories were invalid (see the errors)"
    return {"image_source": source, "image_digest": digest, "host_witness": host_class, "vmm": vmm,
            "witness": agreement, "image": image, "host_sees": host_sees, "host_evidence": host_evidence,
            "contradiction": contradiction}


def image_lines(rows, limit=10):
    """"Probe image: <what>: <hosts>" per distinct image among the runtime rows (hosts in order, at most ``limit`` named)."""
    groups = {}
    for row in rows:
        if row.get("kind") == "runtime" and row.get("image"):
            # A dict as an ordered set: a list's `in` made this quadratic (2.7 s of 6 at 10,000 hosts).
            groups.setdefault(row["image"], {})[row["host"]] = None
    if len(groups) == 1:
        return ["Probe image: %s, on every host" % next(iter(groups))]
    lines = []
    for image, named_hosts in groups.items():
        hosts = list(named_hosts)
        named = ", ".join(hosts[:limit]) + (" and %d more" % (len(hosts) - limit) if len(hosts) > limit else "")
        lines.append("Probe image: %s, on %s" % (image, named))
    return lines


def _interfaces(view, notes, where):
    names = []
    for item in as_list(view.get("interfaces")):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            notes.append("%s: an interface without a name (%s) is shown as ?" % (where, fmt.host_text(item, 60)))
            name = fmt.MISSING
        names.append(fmt.host_text(name, 64))
    return ", ".join(names) or "-"


def _check(value, bounds, what, notes, where):
    why = fmt.problem(value, bounds, what)
    if why:
        notes.append("%s: %s" % (where, why))


def _count(value, what, notes, where):
    """A count as its cell ("136"), None when absent; an absurd one is noted once and shown as MISSING."""
    if value is None:
        return None
    number = fmt.number(value, fmt.COUNT_RANGE)
    if number is None:
        _check(value, fmt.COUNT_RANGE, what, notes, where)
        return fmt.MISSING
    return "%d" % number


def view_cells(view, notes, where):
    """Kernel, CPU, /proc, modules, interfaces: the same cells for the host's view and each container's."""
    view = as_dict(view)
    proc = _count(view.get("proc_entries"), "/proc count", notes, where)  # noted in this order: /proc, modules
    modules = _count(view.get("modules"), "module count", notes, where)
    return {
        "kernel": fmt.host_text(view.get("kernel_release") or fmt.MISSING, 256),
        "cpu_model": fmt.host_text(view.get("cpu_model") or fmt.MISSING, 256),
        "proc_entries": proc or fmt.MISSING,
        "modules": modules or ("n/a" if view.get("modules_available") is False else fmt.MISSING),
        "interfaces": _interfaces(view, notes, where),
    }


def _stat(entry, block, key, what, notes, where):
    value = dig(entry, (block, key))
    number = fmt.number(value, fmt.DURATION_RANGE)
    if number is None and value is not None:
        _check(value, fmt.DURATION_RANGE, what, notes, where)
    return number


def measure(entry, block, low_key, high_key, what, notes, where):
    """(low, high, note): a statistic and its tail in seconds, or the note saying why there is none."""
    if not isinstance(entry, dict) or not entry:
        return None, None, fmt.NOT_MEASURED
    if entry.get("status") == "failed":
        return None, None, "failed: %s" % fmt.host_text(entry.get("error") or "no error text", 300)
    if entry.get("status") == "planned":
        return None, None, fmt.NOT_MEASURED + " (planned only)"
    low = _stat(entry, block, low_key, "%s %s" % (what, low_key), notes, where)
    high = _stat(entry, block, high_key, "%s %s" % (what, high_key), notes, where)
    if low is None:
        mean = fmt.number(dig(entry, (block, "mean")), fmt.DURATION_RANGE)
        if mean is not None:
            return None, None, "mean %s (no %s recorded)" % (fmt.duration(mean), low_key)
        return None, None, fmt.NOT_MEASURED
    return low, high, None


def _measure_text(low, high, note):
    return note if note else fmt.pair(low, high)


def runtime_row(host, runtime, probes, notes, refused=()):
    """One runtime on one host: every cell formatted, plus the figures the charts and CSV use."""
    where = "%s %s" % (host, runtime)
    isolation = probes.get("isolation")
    row = {"host": host, "runtime": fmt.host_text(runtime, 128)}
    row.update(view_cells(isolation, notes, where))
    witness = witness_view(isolation, refused)
    row["witness"] = dict((key, witness[key]) for key, _column in WITNESS_COLUMNS)
    row["image"], row["host_sees"] = witness["image"], witness["host_sees"]
    verdict, sandbox = verdict_of(isolation)
    row["verdict_kind"] = verdict or "none"
    row["sandbox"] = sandbox
    row["verdict_label"] = verdict_label(verdict, sandbox)
    row["reason"] = None
    if verdict == "failed":
        row["reason"] = fmt.host_text(as_dict(isolation).get("error") or "no error text", 300)
        row["verdict"] = "FAILED: %s" % row["reason"]
    elif verdict is None:
        row["verdict"] = fmt.NOT_MEASURED
    else:
        reason = as_dict(isolation).get("verdict_reason")
        row["reason"] = fmt.host_text(reason, 300) if reason else None
        row["verdict"] = row["verdict_label"] + (" (%s)" % row["reason"] if row["reason"] else "")
    startup = measure(probes.get("startup"), "total", "median", "p95", "startup", notes, where)
    http = measure(probes.get("http"), "latency", "p50", "p99", "HTTP latency", notes, where)
    row["startup"], row["http"] = _measure_text(*startup), _measure_text(*http)
    network = as_dict(probes.get("http")).get("network")
    if isinstance(network, dict) and network.get("mode") == "host" and http[2] is None:
        # gVisor on runsc --network=host: the requests crossed the host kernel's stack of the
        # probe's own namespace, not gVisor's netstack, and the cell must not pass for the latter.
        row["http"] += " (host netstack)"
    row["figures"] = {"startup": startup, "http": http}
    kib = dig(probes, ("http", "memory", "total_pss_kib"))
    _check(kib, fmt.KIB_RANGE, "memory (KiB)", notes, where)
    row["memory"] = "-" if kib is None else fmt.mib(kib)
    row["numbers"] = dict((key, fmt.number(dig(probes, path), bounds)) for key, path, bounds in NUMBERS)
    return row


def host_rows(name, entry, notes, refused=None):
    """The host's own row, one row per runtime, and a row with the error of a host that is not ok.

    ``refused``: {runtime: witness fields conform refused} (``refused_fields``)."""
    refused = refused or {}
    rows = []
    blank = dict((key, "") for key, _title in COLUMNS)
    host = fmt.host_text(name, 256)
    if entry.get("host"):
        rows.append(dict(blank, host=host, runtime=HOST_ROW, verdict="-", verdict_kind="none", sandbox=None, host_sees="-",
                         startup="-", http="-", memory="-", kind="host-view",
                         **view_cells(entry["host"], notes, "%s host view" % name)))
    runtimes = as_dict(entry.get("runtimes"))
    for runtime in sorted(runtimes):
        row = runtime_row(host, runtime, as_dict(runtimes[runtime]), notes, refused.get(runtime, ()))
        row["kind"] = "runtime"
        rows.append(row)
    status = entry.get("status") or "ok"
    if status != "ok" or not rows:
        rows.append(dict(blank, host=host, runtime="-", kind="error", status=status, verdict_kind="none", sandbox=None,
                         verdict="%s: %s" % (status.upper(), fmt.host_text(entry.get("error") or "no probe results", 2000))))
    return rows


def _sentence_item(host, item):
    """One element of a policy's detail as words: "runc on node-1: shared-kernel"."""
    if isinstance(item, dict) and "handler" in item:
        rest = dict((key, value) for key, value in item.items() if key != "handler")
        words = []
        verdict = rest.pop("verdict", None)
        reason = rest.pop("reason", None)
        if verdict is not None:
            words.append(str(verdict) + (" (%s)" % reason if reason else ""))
        for key, value in rest.items():
            words.append("%s %s" % (key, fmt.duration(value) if isinstance(value, (int, float)) and not
                                    isinstance(value, bool) else value))
        return "%s on %s: %s" % (item.get("handler") or "?", host, ", ".join(words) or "no data")
    if isinstance(item, dict):
        parts = []
        for key, value in item.items():
            if isinstance(value, list):
                value = ", ".join(str(v) for v in value) or "none"
            parts.append("%s %s" % (key.replace("_", " "), "unknown" if value is None else
                                    str(value).lower() if isinstance(value, bool) else value))
        return "%s: %s" % (host, "; ".join(parts))
    return "%s: %s" % (host, "none" if item is None else item)


def policy_sentence(host, detail):
    """A policy result's detail (JSON text from _policy) as a sentence a reader can take in."""
    try:
        value = json.loads(detail) if isinstance(detail, str) else detail
    except ValueError:
        return fmt.host_text("%s: %s" % (host, detail), 2000)
    if isinstance(value, list):
        text = "; ".join(_sentence_item(host, item) for item in value) or "%s: nothing to check" % host
    else:
        text = _sentence_item(host, value)
    return fmt.host_text(text, 2000)


def policies_view(policies, shown=None):
    """Each policy with its counts over every host, and as sentences the results of the hosts in ``shown``
    (None: every host) plus every failed or erroneous one (a sentence per result costs time at fleet size)."""
    out = []
    for policy in policies or []:
        counts = dict((status, 0) for status in _policy.STATUSES)
        results = []
        for result in as_list(policy.get("results")):
            status = result.get("status") if result.get("status") in _policy.STATUSES else "error"
            counts[status] += 1
            if shown is not None and status in ("pass", "skip") and result.get("host") not in shown:
                continue
            host = fmt.host_text(result.get("host"), 256)
            results.append({"host": host, "status": status, "sentence": policy_sentence(host, result.get("detail"))})
        out.append({"name": fmt.host_text(policy.get("name"), 256), "severity": policy.get("severity"),
                    "description": fmt.host_text(policy.get("description"), 1000), "counts": counts,
                    "results": results})
    return out


def failures(report):
    """Every failure, refused value and broken policy with its reason, one line each."""
    lines = []
    for name, entry in sorted(report["hosts"].items()):
        host = fmt.host_text(name, 256)
        for runtime, probes in sorted(as_dict(entry.get("runtimes")).items()):
            for probe in contract.PROBES:
                result = as_dict(as_dict(probes).get(probe))
                if result.get("status") == "failed":
                    lines.append("%s %s %s failed: %s" % (host, fmt.host_text(runtime, 128), probe,
                                                          fmt.host_text(result.get("error"), 500)))
        if entry["status"] != "ok":
            lines.append("%s %s: %s" % (host, entry["status"], fmt.host_text(entry.get("error") or "no reason given", 2000)))
    for policy in report.get("policies") or []:
        for result in as_list(policy.get("results")):
            detail = result.get("detail") or ""
            # A host that was never evaluated is already listed above with its reason.
            if result.get("status") in ("fail", "error") and not str(detail).startswith(_policy.NOT_EVALUATED):
                lines.append("%s breaks policy %s (%s): %s" % (
                    fmt.host_text(result.get("host"), 256), fmt.host_text(policy.get("name"), 256),
                    policy.get("severity"), policy_sentence(result.get("host"), detail)))
    return lines


def answer(report):
    """Per runtime: the verdict across the fleet and which hosts disagree with it."""
    per_runtime = {}
    for name, entry in report["hosts"].items():
        for runtime, probes in as_dict(entry.get("runtimes")).items():
            verdict, sandbox = verdict_of(as_dict(probes).get("isolation"))
            info = per_runtime.setdefault(runtime, {"counts": {}, "hosts": {}})
            label = verdict_label(verdict or "not probed", sandbox)
            info["counts"][label] = info["counts"].get(label, 0) + 1
            info["hosts"][name] = (label, verdict or "none")
    out = []
    for runtime in sorted(per_runtime):
        info = per_runtime[runtime]
        common = max(sorted(info["counts"]), key=lambda label: info["counts"][label])
        kind = next(kind for label, kind in info["hosts"].values() if label == common)
        disagree = sorted((fmt.host_text(host, 256), label) for host, (label, _kind) in info["hosts"].items()
                          if label != common)
        out.append({"runtime": fmt.host_text(runtime, 128), "verdict": common, "kind": kind,
                    "hosts": len(info["hosts"]), "agree": info["counts"][common], "disagree": disagree})
    return out


def evidence(name, entry, notes, refused=None):
    """What report.html lists per host: facts of the host's view and each runtime's evidence."""
    view = as_dict(entry.get("host"))
    refused = refused or {}
    runtimes = []
    for runtime, probes in sorted(as_dict(entry.get("runtimes")).items()):
        probes = as_dict(probes)
        isolation = as_dict(probes.get("isolation"))
        verdict, sandbox = verdict_of(probes.get("isolation"))
        lines = [fmt.host_text(line, 1000) for line in as_list(isolation.get("evidence"))]
        witness = witness_view(isolation, refused.get(runtime, ()))
        problems = ["contradicted by the host: %s" % witness["contradiction"]] if witness["contradiction"] else []
        for probe in contract.PROBES:
            result = as_dict(probes.get(probe))
            if result.get("error"):
                problems.append("%s: %s" % (probe, fmt.host_text(result["error"], 1000)))
            for key in as_list(result.get("fact_errors")) if isinstance(result.get("fact_errors"), list) else \
                    sorted(as_dict(result.get("fact_errors")).items()):
                problems.append("%s fact: %s" % (probe, fmt.host_text(key, 500)))
        runtimes.append({
            "runtime": fmt.host_text(runtime, 128), "verdict": verdict_label(verdict, sandbox), "kind": verdict or "none",
            "evidence": lines, "problems": problems, "host_evidence": witness["host_evidence"],
            "host_sees": witness["host_sees"], "witness": witness["witness"],
            "facts": _facts([("client", isolation.get("client")), ("runtime type", isolation.get("runtime_type")),
                             ("probe image", witness["image"]), ("image digest", witness["image_digest"]),
                             ("host sees", witness["host_sees"]), ("the two witnesses", witness["witness"]),
                             ("kernel", isolation.get("kernel_release")), ("uname", isolation.get("uname")),
                             ("boot id", isolation.get("boot_id")), ("kernel command line", isolation.get("kernel_cmdline"))]),
            "log": _log(isolation.get("dmesg")),
        })
    containerd = as_dict(view.get("containerd"))
    facts = _facts([
        ("kernel", view.get("kernel_release")), ("uname", view.get("uname")), ("boot id", view.get("boot_id")),
        ("kernel command line", view.get("kernel_cmdline")),
        ("CPU", "%s x %s" % (view.get("cpus"), view.get("cpu_model")) if view.get("cpus") else view.get("cpu_model")),
        ("memory", fmt.mib(view.get("mem_total_kib")) if view.get("mem_total_kib") is not None else None),
        ("KVM", _kvm(as_dict(view.get("kvm")))),
        ("containerd", containerd and "%s at %s" % (containerd.get("version"), containerd.get("address"))),
        ("interfaces", "; ".join("%s %s" % (as_dict(i).get("name", fmt.MISSING), " ".join(str(a) for a in as_list(as_dict(i).get("addresses"))))
                                 for i in as_list(view.get("interfaces")))),
    ])
    return {"host": fmt.host_text(name, 256), "status": entry.get("status"), "error": fmt.host_text(entry.get("error"), 4000)
            if entry.get("error") else None, "facts": facts, "log": _log(view.get("dmesg")), "runtimes": runtimes,
            "notes": notes}


def _facts(pairs):
    return [(title, fmt.host_text(value, 2000)) for title, value in pairs if value not in (None, "", [], {})]


def _kvm(kvm):
    # What was checked, in host_facts' own words ("the KVM device answers, API 12; no vmx/svm...");
    # "usable" only ever meant that the device answers, which is not that a guest can run.
    if isinstance(kvm.get("summary"), str) and kvm["summary"]:
        return kvm["summary"]
    if kvm.get("usable"):
        return "the KVM device answers (%s); no guest was started" % kvm.get("device")
    if kvm.get("error"):
        return "not usable: %s" % kvm["error"]
    return "present, not usable" if kvm.get("present") else None


def _log(dmesg):
    dmesg = as_dict(dmesg)
    head = as_list(dmesg.get("head"))
    if head:
        return {"lines": [fmt.host_text(line, 1000) for line in head[:200]], "error": None}
    if dmesg.get("error"):
        return {"lines": [], "error": fmt.host_text(dmesg["error"], 500)}
    return None


def build_view(report, listed_hosts=None):
    """Everything the outputs show, decided once from report.json.

    ``listed_hosts``: at most this many hosts get their rows in the console
    and their rows and evidence in report.html (hosts that failed, disagree
    with the fleet or sent values the controller refused come first); None
    for all.  A page of 10,000 hosts' evidence is tens of MiB no browser
    shows well, and 20,000 table rows scroll past any terminal; report.md,
    report.csv, junit.xml and report.json always hold every host.
    """
    errors = ["%s: %s" % (item["host"], item["error"]) if item.get("host") else item["error"]
              for item in report.get("errors") or []]
    rows, per_host, noted = [], {}, set()
    refused = refused_fields(report)
    for name in sorted(report["hosts"]):
        entry = report["hosts"][name]
        notes = []
        try:
            host_rows_ = host_rows(name, entry, notes, refused.get(name))
        except Exception as error:  # pylint: disable=broad-except  # one host's nonsense costs its rows only
            notes.append("%s: this host's results could not be shown: %s: %s" % (
                fmt.host_text(name, 256), type(error).__name__, fmt.host_text(error, 300)))
            host_rows_ = [dict(dict((key, "") for key, _title in COLUMNS), host=fmt.host_text(name, 256), runtime="-",
                               kind="error", verdict_kind="none", sandbox=None, verdict="ERROR: " + notes[-1])]
        if name in refused:
            noted.add(name)
        if notes:
            noted.add(name)
            errors.extend(notes)
        rows.extend(host_rows_)
        per_host[name] = (host_rows_, notes)
    answers = answer(report)
    disagreeing = set(host for item in answers for host, _label in item["disagree"])
    names = sorted(report["hosts"])
    if listed_hosts is not None and len(names) > listed_hosts:
        urgent = [name for name in names if report["hosts"][name]["status"] != "ok" or name in noted
                  or fmt.host_text(name, 256) in disagreeing]
        first = set(urgent)
        chosen = set((urgent + [name for name in names if name not in first])[:listed_hosts])
        names = [name for name in names if name in chosen]
    cards = []
    for name in names:
        try:
            cards.append(evidence(name, report["hosts"][name], per_host[name][1], refused.get(name)))
        except Exception as error:  # pylint: disable=broad-except
            why = "%s: this host's evidence could not be shown: %s: %s" % (
                fmt.host_text(name, 256), type(error).__name__, fmt.host_text(error, 300))
            errors.append(why)
            cards.append({"host": fmt.host_text(name, 256), "status": "failed", "error": why, "facts": [], "log": None,
                          "runtimes": [], "notes": per_host[name][1]})
    summary_ = report["summary"]
    shown = set(names)
    shown_text = set(fmt.host_text(name, 256) for name in names)
    policies = policies_view(report.get("policies"), None if len(names) == len(per_host) else shown)
    view = {
        "report": report,
        "result": "pass" if report.get("result") == "pass" else "fail",
        "summary": summary_,
        "reasons": ["%s %s" % (fmt.plural(summary_[status], "host"), status)
                    for status in ("failed", "unreachable", "skipped") if summary_.get(status)]
        + ["error policy failed: %s" % name for name in error_policies(report.get("policies"))],
        "answer": answers,
        "rows": rows,
        "performance_rows": [row for row in rows if row["runtime"] != HOST_ROW],
        "listed_rows": rows if len(names) == len(per_host) else [row for name in names for row in per_host[name][0]],
        "image_lines": image_lines(rows),
        "policies": policies,
        "listed_policies": policies if len(names) == len(per_host) else [
            dict(policy, results=[result for result in policy["results"] if result["host"] in shown_text])
            for policy in policies],
        "failures": failures(report),
        "errors": errors,
        "findings": narrative.sections(report),
        "evidence": cards,
        "hosts_left_out": len(per_host) - len(names),
    }
    view.update(workload_audit.view(report))  # workload cost and audit (issues 21, 24)
    view["listed_image_lines"] = view["image_lines"] if len(names) == len(per_host) else image_lines(view["listed_rows"])
    return view
