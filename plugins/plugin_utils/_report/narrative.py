# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab report's comparison, written from this fleet's measurements instead of pasted prose.

Every sentence comes from report.json.  Costs are compared between runtimes
on the same host (a Kata host's startup against that host's runc, never
against another machine's), then summarised across the hosts that ran both.
Three boundaries are told apart: the host kernel (runc), a user-space kernel
(gVisor) and a VM with its own kernel (Kata).

A section is a dict: ``title`` and any of ``table`` (head, rows),
``paragraphs`` ([(lead, text)], lead is a runtime name shown bold) and
``bullets`` (list lines), each present (None or empty when unused); the renderers only lay it out.
"""

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _stats
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import formatting as fmt
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report.model import (
    VERDICTS, as_dict, dig, verdict_of, verdict_label)

LIST_HOSTS = 3


def median(values):
    """The median of the values that are not None (None when there is none): ``_stats``' one definition."""
    return _stats.percentile(sorted(v for v in values if v is not None), 0.5)


def _add(counts, key):
    counts[key] = counts.get(key, 0) + 1


def _figures(probes):
    """The figures one runtime on one host has, each checked (None: absent or absurd)."""
    http = as_dict(probes.get("http"))
    latency = dig(http, ("latency", "p50"))
    if latency is None:
        latency = dig(http, ("latency", "mean"))
    return {
        "startup": fmt.number(dig(probes, ("startup", "total", "median")), fmt.DURATION_RANGE),
        "http": fmt.number(latency, fmt.DURATION_RANGE),
        "memory": fmt.number(dig(http, ("memory", "total_pss_kib")), fmt.KIB_RANGE),
    }


def handler_summary(report):
    """Per runtime: verdicts, kernels, what the guests saw, and each host's figures."""
    handlers = {}
    for name, entry in sorted(report["hosts"].items()):
        host = as_dict(entry.get("host"))
        for handler, probes in sorted(as_dict(entry.get("runtimes")).items()):
            probes = as_dict(probes)
            info = handlers.get(handler)
            if info is None:  # not setdefault: that builds eleven containers per host and runtime to throw away
                info = handlers[handler] = {"hosts": 0, "verdicts": {}, "pairs": {}, "cpu": {}, "proc": [], "host_proc": [],
                                            "modules": [], "host_modules": [], "dmesg": {}, "interfaces": {}, "figures": {}}
            info["hosts"] += 1
            isolation = as_dict(probes.get("isolation"))
            verdict, sandbox = verdict_of(isolation)
            if verdict and verdict != "failed":
                _add(info["verdicts"], verdict_label(verdict, sandbox))
                pair = (fmt.host_text(isolation.get("kernel_release"), 80), fmt.host_text(host.get("kernel_release"), 80))
                _add(info["pairs"], ("host's own kernel", None) if verdict == "shared-kernel" else pair)
                _add(info["cpu"], fmt.host_text(isolation.get("cpu_model") or fmt.MISSING, 120))
                info["proc"].append(fmt.number(isolation.get("proc_entries"), fmt.COUNT_RANGE))
                info["host_proc"].append(fmt.number(host.get("proc_entries"), fmt.COUNT_RANGE))
                info["modules"].append(fmt.number(isolation.get("modules"), fmt.COUNT_RANGE))
                info["host_modules"].append(fmt.number(host.get("modules"), fmt.COUNT_RANGE))
                _add(info["dmesg"], "readable" if as_dict(isolation.get("dmesg")).get("readable") else "refused")
                names = ", ".join(fmt.host_text(as_dict(i).get("name") or fmt.MISSING, 64)
                                  for i in isolation.get("interfaces") or [] if isinstance(isolation.get("interfaces"), list))
                _add(info["interfaces"], names or "none")
            info["figures"][name] = dict(_figures(probes), verdict=verdict)
        _add_workload_figures(handlers, name, entry)
    return handlers


# ---- measured workload cost (issue 21): workload_bench's ratios to the host, per host and handler ----
WORKLOAD_WORDS = (("cpu", "CPU"), ("syscall", "syscalls"), ("rootfs_io", "rootfs I/O"), ("tmpfs_io", "tmpfs I/O"))


def _add_workload_figures(handlers, name, entry):
    """Each handler's measured ratios on host ``name`` (report.json's workload, validated by model.conform)."""
    workload = as_dict(entry.get("workload"))
    for handler, result in sorted(as_dict(workload.get("runtimes")).items()):
        if handler not in handlers or name not in handlers[handler]["figures"]:
            continue
        ratios = {}
        for key, _word in WORKLOAD_WORDS:
            item = as_dict(as_dict(as_dict(result).get("workloads")).get(key))
            value = fmt.number(item.get("ratio"), (1e-6, 1e6))
            if value is not None:
                ratios[key] = (value, bool(item.get("within_noise")))
        handlers[handler]["figures"][name]["workload"] = ratios


def _workload_text(ratios):
    return ", ".join("%s %s" % (word, "~1.0x (inside the noise)" if ratios[key][1] else fmt.ratio(ratios[key][0], 1.0))
                     for key, word in WORKLOAD_WORDS if key in ratios)


def _workload_line(strong, weak, hosts):
    """The measured workload cost of ``strong`` against ``weak`` on the hosts that ran both under workload_bench."""
    measured = sorted((host, figures[0].get("workload"), figures[1].get("workload")) for host, figures in hosts.items()
                      if figures[0].get("workload") and figures[1].get("workload"))
    if not measured:
        return None
    items = []
    for host, high, low in measured[:LIST_HOSTS]:
        items.append("%s %s: %s; %s: %s" % (host, strong, _workload_text(high), weak, _workload_text(low)))
    more = " and %d more hosts (report.md's Workload cost)" % (len(measured) - LIST_HOSTS) if len(measured) > LIST_HOSTS else ""
    return "Workload cost (time per unit over the host's own), %s vs %s on the same host: %s%s." % (
        strong, weak, "; ".join(items), more)


def _median_ratio(measured):
    """The median of (ratio, inside the noise) pairs as text: "~1.0x" when at least half the hosts saw only noise,
    as the per-host lines say it (a median of noise is no cost)."""
    if 2 * sum(1 for _value, inside in measured if inside) >= len(measured):
        return "~1.0x"
    return fmt.ratio(median(value for value, inside in measured if not inside), 1.0)


def _measured_use(names, handlers):
    """The measured ratios of ``names`` across the hosts, for the advice (None without workload results)."""
    texts = []
    for name in names:
        per_key = {}
        for figures in handlers[name]["figures"].values():
            for key, (value, inside) in (figures.get("workload") or {}).items():
                per_key.setdefault(key, []).append((value, inside))
        if per_key:
            texts.append("%s %s" % (name, ", ".join("%s %s" % (word, _median_ratio(per_key[key]))
                                                    for key, word in WORKLOAD_WORDS if key in per_key)))
    return "; ".join(texts) or None
# ---- end measured workload cost ----


def _most(counts):
    return max(sorted(counts), key=lambda key: counts[key]) if counts else None


def _count_text(counts, total):
    return "; ".join("%s on %d of %d hosts" % (key, count, total)
                     for key, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _number(value):
    return fmt.NOT_MEASURED if value is None else ("%g" % value)


def _figure_text(key, value):
    if value is None:
        return fmt.NOT_MEASURED
    return fmt.mib(value) if key == "memory" else fmt.duration(value)


def feature_table(handlers):
    """One column per runtime, every cell measured; figures are medians over the hosts that ran it."""
    names = sorted(handlers)

    def fleet_median(info, key):
        return _figure_text(key, median(figures[key] for figures in info["figures"].values()))

    rows = [
        ("Isolation verdict", lambda h: _count_text(h["verdicts"], h["hosts"]) or "not probed"),
        ("Kernel (guest vs host)", lambda h: _count_text(dict(
            (pair[0] if pair[1] is None else "%s vs host %s" % pair, n) for pair, n in h["pairs"].items()),
            h["hosts"]) or "not probed"),
        ("CPU model seen", lambda h: _most(h["cpu"]) or "not probed"),
        ("/proc entries (median; host)", lambda h: "%s; host %s" % (_number(median(h["proc"])), _number(median(h["host_proc"])))),
        ("Kernel modules (median; host)", lambda h: "%s; host %s" % (
            _number(median(h["modules"])), _number(median(h["host_modules"])))),
        ("Kernel log (dmesg)", lambda h: _count_text(h["dmesg"], h["hosts"]) or "not probed"),
        ("Network interfaces", lambda h: _most(h["interfaces"]) or "not probed"),
        ("Startup median (median over its hosts)", lambda h: fleet_median(h, "startup")),
        ("HTTP latency p50 (median over its hosts)", lambda h: fleet_median(h, "http")),
        ("Host memory per idle container", lambda h: fleet_median(h, "memory")),
    ]
    return {"head": ["Feature"] + names, "rows": [[title] + [cell(handlers[name]) for name in names] for title, cell in rows]}


def boundary(handlers):
    """What each boundary means, for the runtimes as they were measured: (runtime, sentence)."""
    paragraphs = []
    for name in sorted(handlers):
        info = handlers[name]
        counted = dict((verdict, sum(n for label, n in info["verdicts"].items() if label.split(" ")[0] == verdict))
                       for verdict in VERDICTS)
        sandboxes = sorted(set(label.split(" ", 1)[1].strip("()") for label in info["verdicts"] if " " in label))
        sandbox = " (%s)" % ", ".join(sandboxes) if sandboxes else ""
        if counted["shared-kernel"]:
            modules = median(info["modules"])
            paragraphs.append((name, (
                "shares the host kernel on %d of %d hosts (the container reports the host's boot id): a kernel "
                "exploit or crash in a container reaches the whole node, and isolation rests on namespaces and "
                "cgroups. %s The kernel log is %s to its containers." % (
                    counted["shared-kernel"], info["hosts"],
                    "Its containers see the host's %g loaded kernel modules." % modules if modules is not None else
                    "The kernel exposes no module list (no /proc/modules), to the host or its containers.",
                    _most(info["dmesg"]) or "not probed"))))
        if counted["user-space-kernel"]:
            paragraphs.append((name, (
                "runs its containers on a user-space kernel%s on %d of %d hosts: the container's system calls are "
                "served by that kernel, which reports its own release and boot, and only a narrow set of host system "
                "calls is used. An escape must break the user-space kernel and then the host kernel through that "
                "narrowed surface; it is no VM, so the host's CPU and memory are shared directly." % (
                    sandbox, counted["user-space-kernel"], info["hosts"]))))
        if counted["vm-isolated"]:
            kernels = ", ".join("%s (host %s)" % pair for pair in sorted(info["pairs"], key=str) if pair[1] is not None)
            paragraphs.append((name, (
                "runs each container in a VM with its own kernel%s on %d of %d hosts: guest kernel %s, a virtual "
                "CPU (%s), %s /proc entries and %s modules against the host's %s and %s. An escape must break the "
                "guest kernel and then the hypervisor." % (
                    sandbox, counted["vm-isolated"], info["hosts"], kernels or fmt.MISSING, _most(info["cpu"]) or fmt.MISSING,
                    _number(median(info["proc"])), _number(median(info["modules"])),
                    _number(median(info["host_proc"])), _number(median(info["host_modules"]))))))
        unknown = info["hosts"] - sum(counted.values())
        if unknown:
            paragraphs.append((name, "%d of %d hosts gave no verdict (unknown or failed probes); see the per-host "
                                     "evidence." % (unknown, info["hosts"])))
    return paragraphs or [(None, "No runtime was probed.")]


def _strength(verdict):
    return VERDICTS.index(verdict) if verdict in VERDICTS else None


def same_host_pairs(handlers):
    """{(stronger, weaker): {host: (stronger figures, weaker figures)}} for runtimes measured on one host."""
    per_host = {}
    for runtime, info in handlers.items():
        for host, figures in info["figures"].items():
            per_host.setdefault(host, {})[runtime] = figures
    pairs = {}
    for host, runtimes in per_host.items():
        for strong, strong_figures in runtimes.items():
            for weak, weak_figures in runtimes.items():
                low, high = _strength(weak_figures["verdict"]), _strength(strong_figures["verdict"])
                if low is None or high is None or high <= low:
                    continue
                pairs.setdefault((strong, weak), {})[host] = (strong_figures, weak_figures)
    return pairs


def _cost_line(label, key, strong, weak, hosts):
    measured = sorted((host, figures[0][key], figures[1][key]) for host, figures in hosts.items()
                      if figures[0][key] is not None and figures[1][key] is not None)
    if not measured:
        return "%s: %s vs %s not measured on one host." % (label, strong, weak)
    if len(measured) <= LIST_HOSTS:
        return "%s, %s vs %s on the same host: %s." % (label, strong, weak, "; ".join(
            "%s %s vs %s%s" % (host, _figure_text(key, high), _figure_text(key, low),
                               " (%s)" % fmt.ratio(high, low) if fmt.ratio(high, low) else "")
            for host, high, low in measured))
    ratios = sorted((high / low, host) for host, high, low in measured if low)
    text = "%s, %s vs %s on the same host, %d hosts: median %s vs %s" % (
        label, strong, weak, len(measured), _figure_text(key, median(m[1] for m in measured)),
        _figure_text(key, median(m[2] for m in measured)))
    if ratios:
        text += ", %s slower at the median (from %s on %s to %s on %s)" % (
            fmt.ratio(median(r for r, _h in ratios), 1.0), fmt.ratio(ratios[0][0], 1.0), ratios[0][1],
            fmt.ratio(ratios[-1][0], 1.0), ratios[-1][1]) if label != "Memory per idle container" else \
            ", %s the memory at the median" % fmt.ratio(median(r for r, _h in ratios), 1.0)
    return text + "."


def tradeoffs(handlers):
    """What the stronger boundary costs on the hosts that ran both, and when to choose each runtime."""
    pairs = same_host_pairs(handlers)
    by_verdict = {}
    for name, info in handlers.items():
        for label in info["verdicts"]:
            by_verdict.setdefault(label.split(" ")[0], set()).add(name)
    if not pairs:
        kinds = [verdict for verdict in VERDICTS if by_verdict.get(verdict)]
        return {"bullets": [], "paragraphs": [(None, (
            "No host ran two runtimes with different boundaries (%s), so no cost can be compared on one host." % (
                "; ".join("%s: %s" % (verdict, ", ".join(sorted(by_verdict[verdict]))) for verdict in kinds)
                or "no probed runtime")))]}
    items = []
    for strong, weak in sorted(pairs):
        hosts = pairs[(strong, weak)]
        for label, key in (("Startup", "startup"), ("HTTP p50", "http"), ("Memory per idle container", "memory")):
            items.append(_cost_line(label, key, strong, weak, hosts))
        workload_line = _workload_line(strong, weak, hosts)
        if workload_line:
            items.append(workload_line)
    advice = []
    for verdict, use in (("shared-kernel", "dense, fast-starting workloads of trusted code"),
                         ("user-space-kernel", "untrusted code that must not reach the host kernel directly, "
                                               "where a VM per container is too heavy"),
                         ("vm-isolated", "untrusted workloads where a kernel exploit must not reach the node, "
                                         "when the costs above are acceptable")):
        if by_verdict.get(verdict):
            names = sorted(by_verdict[verdict])
            measured = _measured_use(names, handlers)
            if measured and verdict != "shared-kernel":
                # The measured cost replaces the lab report's claim ("too heavy", "acceptable").
                use = use.split(", where", 1)[0].split(", when", 1)[0] + " (measured cost, median over the hosts: %s)" % measured
            advice.append("%s for %s" % (" or ".join(names), use))
    return {"bullets": items, "paragraphs": [(None, "Choose " + "; ".join(advice) + ".")]}


def sections(report):
    """The findings for report.md, report.html and the console (see the module's docstring)."""
    handlers = handler_summary(report)
    trade = tradeoffs(handlers)
    return [
        {"title": "Isolation, as measured", "table": feature_table(handlers), "bullets": [], "paragraphs": []},
        {"title": "What the boundary means", "table": None, "bullets": [], "paragraphs": boundary(handlers)},
        {"title": "Trade-offs", "table": None, "bullets": trade["bullets"], "paragraphs": trade["paragraphs"]},
    ]
