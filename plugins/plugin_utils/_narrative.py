# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab report's comparison, written from this fleet's measurements instead of pasted prose.

Every sentence is built from report.json: which handlers shared the host
kernel and on how many hosts, what the guests saw, how startup, latency and
memory compared.  Where the fleet has no measurement, the text says so.
"""

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import seconds


def _median(values):
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0


def _views(report):
    """(host name, host view, handler, probes) for every measured handler."""
    for name, entry in sorted(report["hosts"].items()):
        for handler, probes in sorted((entry.get("runtimes") or {}).items()):
            yield name, entry.get("host") or {}, handler, probes


def handler_summary(report):
    """Per handler: verdicts, kernels, what the guests saw and the measured medians."""
    handlers = {}
    for _name, host, handler, probes in _views(report):
        info = handlers.setdefault(handler, {"hosts": 0, "verdicts": {}, "pairs": {}, "cpu": {}, "proc": [],
                                             "host_proc": [], "modules": [], "host_modules": [], "dmesg": {},
                                             "interfaces": {}, "startup": [], "http": [], "memory": []})
        info["hosts"] += 1
        isolation = probes.get("isolation") or {}
        if isolation.get("status") == "ok":
            verdict = isolation.get("verdict")
            info["verdicts"][verdict] = info["verdicts"].get(verdict, 0) + 1
            pair = (isolation.get("kernel_release"), host.get("kernel_release"))
            if verdict == "shared-kernel":
                pair = ("host's own kernel", None)
            info["pairs"][pair] = info["pairs"].get(pair, 0) + 1
            info["cpu"][isolation.get("cpu_model")] = info["cpu"].get(isolation.get("cpu_model"), 0) + 1
            info["proc"].append(isolation.get("proc_entries"))
            info["host_proc"].append(host.get("proc_entries"))
            info["modules"].append(isolation.get("modules"))
            info["host_modules"].append(host.get("modules"))
            readable = "readable" if (isolation.get("dmesg") or {}).get("readable") else "refused"
            info["dmesg"][readable] = info["dmesg"].get(readable, 0) + 1
            names = ", ".join(i["name"] for i in isolation.get("interfaces") or []) or "none"
            info["interfaces"][names] = info["interfaces"].get(names, 0) + 1
        info["startup"].append(((probes.get("startup") or {}).get("total") or {}).get("median"))
        info["http"].append(((probes.get("http") or {}).get("latency") or {}).get("p50")
                            or ((probes.get("http") or {}).get("latency") or {}).get("mean"))
        memory = (probes.get("http") or {}).get("memory") or {}
        info["memory"].append(memory.get("total_pss_kib"))
    return handlers


def _most(counts):
    return max(counts.items(), key=lambda item: item[1])[0] if counts else None


def _count_text(counts, total):
    return "; ".join("%s on %d of %d hosts" % (key, count, total) for key, count in
                     sorted(counts.items(), key=lambda item: -item[1]))


def _number(value, unit=""):
    return "not measured" if value is None else ("%g%s" % (value, unit))


def feature_table(handlers):
    """Task 2's table, one column per handler, every cell measured."""
    names = sorted(handlers)
    rows = [
        ("Isolation verdict", lambda h: _count_text(h["verdicts"], h["hosts"]) or "not probed"),
        ("Kernel (guest vs host)", lambda h: _count_text(dict(
            (pair[0] if pair[1] is None else "%s vs host %s" % pair, n)
            for pair, n in h["pairs"].items()), h["hosts"]) or "not probed"),
        ("CPU model seen", lambda h: _most(h["cpu"]) or "not probed"),
        ("/proc entries (median; host)", lambda h: "%s; host %s" % (
            _number(_median(h["proc"])), _number(_median(h["host_proc"])))),
        ("Kernel modules (median; host)", lambda h: "%s; host %s" % (
            _number(_median(h["modules"])), _number(_median(h["host_modules"])))),
        ("Kernel log (dmesg)", lambda h: _count_text(h["dmesg"], h["hosts"]) or "not probed"),
        ("Network interfaces", lambda h: _most(h["interfaces"]) or "not probed"),
        ("Startup, median of host medians", lambda h: seconds(_median(h["startup"])) if _median(h["startup"])
         is not None else "not measured"),
        ("HTTP latency p50", lambda h: seconds(_median(h["http"])) if _median(h["http"]) is not None
         else "not measured"),
        ("Host memory per idle container", lambda h: "%.1f MiB" % (_median(h["memory"]) / 1024.0)
         if _median(h["memory"]) is not None else "not measured"),
    ]
    lines = ["| Feature | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for title, cell in rows:
        lines.append("| %s | %s |" % (title, " | ".join(cell(handlers[name]).replace("|", "\\|") for name in names)))
    return "\n".join(lines)


def boundary_text(handlers):
    """Task 3: what each boundary means, for the handlers as they were measured."""
    paragraphs = []
    for name in sorted(handlers):
        info = handlers[name]
        shared = info["verdicts"].get("shared-kernel", 0)
        isolated = info["verdicts"].get("vm-isolated", 0)
        if shared:
            modules = _median(info["modules"])
            paragraphs.append(
                "**%s** shares the host kernel on %d of %d hosts (the container reports the host's boot id): a kernel "
                "exploit or crash in a container reaches the whole node, and isolation rests on namespaces and cgroups. "
                "%s The kernel log is %s to its containers." % (
                    name, shared, info["hosts"],
                    "Its containers see the host's %g loaded kernel modules." % modules if modules is not None else
                    "The kernel exposes no module list (no /proc/modules), to the host or its containers.",
                    _most(info["dmesg"]) or "not probed"))
        if isolated:
            kernels = ", ".join("%s (host %s)" % pair for pair in info["pairs"] if pair[1] is not None)
            paragraphs.append(
                "**%s** runs each container in a VM with its own kernel on %d of %d hosts: guest kernel %s, a virtual "
                "CPU (%s), %s /proc entries and %s modules against the host's %s and %s. An escape must break the "
                "guest kernel and then the hypervisor." % (
                    name, isolated, info["hosts"], kernels or "?", _most(info["cpu"]) or "?",
                    _number(_median(info["proc"])), _number(_median(info["modules"])),
                    _number(_median(info["host_proc"])), _number(_median(info["host_modules"]))))
        unknown = info["hosts"] - shared - isolated
        if unknown:
            paragraphs.append("**%s**: %d of %d hosts gave no verdict (unknown or failed probes); see the per-host "
                              "evidence." % (name, unknown, info["hosts"]))
    return "\n\n".join(paragraphs) or "No runtime was probed."


def tradeoff_text(handlers):
    """Task 4: what the isolation costs here, and when to choose each runtime."""
    by_verdict = {}
    for name, info in handlers.items():
        by_verdict.setdefault(_most(info["verdicts"]), []).append(name)
    shared, isolated = sorted(by_verdict.get("shared-kernel", [])), sorted(by_verdict.get("vm-isolated", []))
    if not shared or not isolated:
        return ("This fleet has %s: no pair of a shared-kernel and a VM-isolated runtime to compare costs." % (
            "only shared-kernel runtimes (%s)" % ", ".join(shared) if shared else
            "only VM-isolated runtimes (%s)" % ", ".join(isolated) if isolated else "no probed runtime"))
    lines = []
    for fast in shared:
        for strong in isolated:
            for label, key, unit in (("Startup", "startup", None), ("HTTP p50", "http", None),
                                     ("Memory per idle container", "memory", "MiB")):
                low, high = _median(handlers[fast][key]), _median(handlers[strong][key])
                if low is None or high is None:
                    lines.append("- %s: %s vs %s not measured on both." % (label, strong, fast))
                    continue
                shown = (lambda v: "%.1f MiB" % (v / 1024.0)) if unit else seconds
                lines.append("- %s: %s %s vs %s %s (%.1fx)." % (label, strong, shown(high), fast, shown(low),
                                                                high / low if low else float("inf")))
    lines.append("")
    lines.append("Choose %s for dense, fast-starting workloads of trusted code; choose %s where workloads are "
                 "untrusted or a kernel exploit must not reach the node, and the costs above are acceptable."
                 % (" or ".join(shared), " or ".join(isolated)))
    return "\n".join(lines)


def sections(report):
    """[(title, markdown)] for report.md, report.html and the console."""
    handlers = handler_summary(report)
    return [
        ("Isolation, as measured", feature_table(handlers)),
        ("What the boundary means", boundary_text(handlers)),
        ("Trade-offs", tradeoff_text(handlers)),
    ]
