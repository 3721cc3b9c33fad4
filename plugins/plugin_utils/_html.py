# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: ``report.json`` v1 as one self-contained HTML page.

The page is evidence that gets archived, mailed and opened on machines
without network access, so everything is inline (CSS and SVG; no script, no
font, nothing fetched).  Host names, error texts and kernel logs come from
the fleet, so every value is escaped.  Pure standard library: it runs
wherever the callback runs, and tests need no Ansible run.
"""

import collections
import datetime
import html
import math

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _narrative

TABLE_COLUMNS = ("Host", "Runtime", "Kernel", "CPU model", "/proc", "Modules", "Interfaces",
                 "Verdict", "Startup med/p95", "HTTP p50/p99", "Memory (PSS)")
HOST_ROW = "(host)"
NOT_MEASURED = "not measured"

# Every CSS class derived from data goes through one of these tables, so a
# hostile verdict or status can never inject a class name.
VERDICT_KINDS = {"shared-kernel": "shared", "vm-isolated": "vm", "unknown": "unknown"}
STATUS_KINDS = {"ok": "ok", "pass": "ok", "failed": "failed", "fail": "failed", "error": "failed",
                "unreachable": "failed", "skipped": "unknown", "skip": "unknown"}

# Chart geometry (SVG user units).  Labels sit above their bar so long host
# names never squeeze the plot.
CHART_WIDTH = 960
PLOT_LEFT = 28
PLOT_RIGHT = 700
ROW_HEIGHT = 46
BAR_HEIGHT = 16
AXIS_HEIGHT = 44
# SVG text does not wrap: longer labels are cut with an ellipsis and carry the
# whole text in a <title> (the table and the evidence show it in full).
SVG_TEXT_CHARS = 125

CSS = """
:root { color-scheme: light dark;
  --bg: #ffffff; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --head: #f6f8fa; --grid: #e6eaef;
  --ok-bg: #dafbe1; --ok-fg: #116329; --failed-bg: #ffebe9; --failed-fg: #a40e26;
  --shared-bg: #fff8c5; --shared-fg: #7d4e00; --vm-bg: #ddf4ff; --vm-fg: #0a3069;
  --unknown-bg: #eff2f5; --unknown-fg: #424a53; --link: #0969da;
  --bar-vm: #0969da; --bar-shared: #bf8700; --bar-unknown: #818b98; --bar-failed: #cf222e; }
@media screen and (prefers-color-scheme: dark) { :root {
  --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --line: #3d444d; --head: #151b23; --grid: #262c36;
  --ok-bg: #0f3d1f; --ok-fg: #7ee787; --failed-bg: #4c1418; --failed-fg: #ffa198;
  --shared-bg: #3d2e00; --shared-fg: #f2cc60; --vm-bg: #0c2d6b; --vm-fg: #a5d6ff;
  --unknown-bg: #262c36; --unknown-fg: #c9d1d9; --link: #4493f8;
  --bar-vm: #4493f8; --bar-shared: #d29922; --bar-unknown: #9198a1; --bar-failed: #f85149; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1600px; padding: 16px 24px 40px; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "Liberation Sans", "DejaVu Sans", sans-serif;
  overflow-wrap: anywhere; }
h1 { font-size: 22px; margin: 0 0 8px; } h2 { font-size: 18px; margin: 28px 0 8px; }
h3 { font-size: 15px; margin: 14px 0 6px; } h3 code { font-size: 15px; }
h4 { font-size: 13px; margin: 10px 0 4px; }
code, pre { font-family: ui-monospace, "Liberation Mono", "DejaVu Sans Mono", monospace; font-size: 12.5px; }
pre { white-space: pre-wrap; background: var(--head); border: 1px solid var(--line);
  padding: 8px; margin: 4px 0 10px; }
.muted { color: var(--muted); }
a { color: var(--link); }
header { display: grid; grid-template-columns: auto 1fr; gap: 8px 24px; align-items: start;
  border-bottom: 1px solid var(--line); padding-bottom: 12px; }
header h1 { grid-column: 1 / -1; }
.result { border: 2px solid; border-radius: 8px; padding: 8px 18px; text-align: center; min-width: 150px; }
.result strong { display: block; font-size: 34px; letter-spacing: 2px; }
.result.k-ok { background: var(--ok-bg); color: var(--ok-fg); }
.result.k-failed { background: var(--failed-bg); color: var(--failed-fg); }
.result ul { margin: 4px 0 0; padding: 0; list-style: none; font-size: 13px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; }
.counts { display: flex; flex-wrap: wrap; gap: 8px; margin: 12px 0 0; padding: 0; list-style: none; }
.counts li { border: 1px solid var(--line); border-radius: 6px; padding: 4px 10px; background: var(--head); }
.counts b { font-size: 16px; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid var(--line); padding: 4px 6px; text-align: left; vertical-align: top; }
thead th, td.num { white-space: nowrap; }
th[scope=row] { min-width: 13em; }
#comparison td:nth-child(3) { min-width: 10em; } #comparison td:nth-child(4) { min-width: 10em; }
thead th { background: var(--head); position: sticky; top: 0; }
tbody + tbody { border-top: 3px solid var(--line); }
tr.host-view td, tr.host-view th { background: var(--head); }
td.num { font-variant-numeric: tabular-nums; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; font-weight: 600;
  white-space: nowrap; border: 1px solid currentColor; }
.k-ok { background: var(--ok-bg); color: var(--ok-fg); }
.k-failed { background: var(--failed-bg); color: var(--failed-fg); }
.k-shared { background: var(--shared-bg); color: var(--shared-fg); }
.k-vm { background: var(--vm-bg); color: var(--vm-fg); }
.k-unknown { background: var(--unknown-bg); color: var(--unknown-fg); }
.error { color: var(--failed-fg); }
figure { margin: 8px 0 20px; break-inside: avoid; }
figcaption { color: var(--muted); margin-bottom: 4px; }
svg.chart { width: 100%; max-width: 960px; height: auto; display: block; }
svg.chart text { fill: var(--fg); font-size: 13px; }
svg.chart text.tick, svg.chart text.axis, svg.chart text.missing { fill: var(--muted); }
svg.chart text.missing { font-style: italic; }
svg.chart line.grid { stroke: var(--grid); } svg.chart line.baseline { stroke: var(--muted); }
svg.chart line.whisker { stroke: var(--fg); stroke-width: 2; }
rect.bar.k-vm { fill: var(--bar-vm); } rect.bar.k-shared { fill: var(--bar-shared); }
rect.bar.k-unknown { fill: var(--bar-unknown); } rect.bar.k-failed { fill: var(--bar-failed); }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -1px; margin: 0 3px 0 10px; }
.swatch.k-vm { background: var(--bar-vm); } .swatch.k-shared { background: var(--bar-shared); }
.swatch.k-unknown { background: var(--bar-unknown); } .swatch.k-failed { background: var(--bar-failed); }
details { border: 1px solid var(--line); border-radius: 6px; margin: 6px 0; padding: 0 10px; }
details[open] { padding-bottom: 8px; }
summary { cursor: pointer; padding: 6px 0; font-weight: 600; }
summary .badge { margin-left: 6px; }
ul.evidence { margin: 4px 0 8px; padding-left: 20px; }
@media print {
  @page { size: A4 landscape; margin: 10mm; }
  body { max-width: none; padding: 0; font-size: 10.5px; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  thead th { position: static; }
  pre, code { font-size: 9px; }
  tr, figure, dl.meta { break-inside: avoid; }
  h2, h3, h4, .legend { break-after: avoid; }
  details::details-content { content-visibility: visible; display: block; }
  summary { list-style: none; }
}
"""


def _e(value):
    """Escape for element text and double-quoted attributes alike."""
    return html.escape("" if value is None else str(value), quote=True)


def _number(value):
    """A measurement or None: a partial or hand-edited report must still render."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _kind(table, key):
    return table.get(key, "unknown")


def _badge(text, kind):
    return '<span class="badge k-%s">%s</span>' % (kind, _e(text))


def _plural(count, word):
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


def _s(value):
    return "%.3g s" % value


def _ms(value):
    return "%.3g ms" % (value * 1000)


# One measurement as a column and a chart: which probe, which statistics
# block, the bar's and the whisker's statistic, and how to print a value.
Measure = collections.namedtuple("Measure", "probe block low high fmt")
STARTUP = Measure("startup", "total", "median", "p95", _s)
HTTP = Measure("http", "latency", "p50", "p99", _ms)


def _measure(entry, spec):
    """(low, high, note): the bar and whisker values, or a note on why there are none."""
    if not entry:
        return None, None, NOT_MEASURED
    status = entry.get("status")
    if status == "failed":
        return None, None, "failed: %s" % (entry.get("error") or "no error text")
    if status == "planned":
        return None, None, NOT_MEASURED + " (planned only)"
    stats = entry.get(spec.block) or {}
    low, high = _number(stats.get(spec.low)), _number(stats.get(spec.high))
    if low is None:
        known = ", ".join("%s %s" % (key, spec.fmt(stats[key])) for key in ("min", "mean", "max")
                          if _number(stats.get(key)) is not None)
        return None, None, "%s (no %s recorded%s%s)" % (
            NOT_MEASURED, spec.low, "; n=%s" % stats["n"] if stats.get("n") else "", "; " + known if known else "")
    return low, high, None


def _measure_text(low, high, note, fmt):
    if note:
        return note
    return "%s / %s" % (fmt(low), "?" if high is None else fmt(high))


def _modules(view):
    if view.get("modules") is not None:
        return str(view["modules"])
    return "n/a" if view.get("modules_available") is False else "?"


def _view_cells(view):
    """Kernel, CPU, /proc, modules, interfaces: the same columns for the host and each container."""
    proc = view.get("proc_entries")
    return [
        _e(view.get("kernel_release") or "?"),
        _e(view.get("cpu_model") or "?"),
        _e("?" if proc is None else proc),
        _e(_modules(view)),
        _e(", ".join(str(i.get("name")) for i in view.get("interfaces") or []) or "-"),
    ]


def _verdict_cell(isolation):
    if not isolation:
        return '<span class="muted">%s</span>' % NOT_MEASURED
    if isolation.get("status") == "failed":
        return "%s %s" % (_badge("failed", "failed"), _e(isolation.get("error") or "no error text"))
    if isolation.get("status") == "planned":
        return '<span class="muted">%s (planned only)</span>' % NOT_MEASURED
    verdict = isolation.get("verdict") or "unknown"
    cell = _badge(verdict, _kind(VERDICT_KINDS, verdict))
    if isolation.get("verdict_reason"):
        cell += " " + _e(isolation["verdict_reason"])
    return cell


def _memory_cell(http):
    total = _number(((http or {}).get("memory") or {}).get("total_pss_kib"))
    if total is None:
        return '<span class="muted">%s</span>' % NOT_MEASURED
    return "%.1f MiB" % (total / 1024.0)


def _row(cells, css=""):
    return "<tr%s>%s</tr>" % (' class="%s"' % css if css else "", "".join(cells))


def _measure_cell(entry, spec):
    low, high, note = _measure(entry, spec)
    text = _e(_measure_text(low, high, note, spec.fmt))
    if note:
        return '<td class="%s">%s</td>' % ("error" if note.startswith("failed") else "muted", text)
    return '<td class="num">%s</td>' % text


def _host_rows(index, name, entry):
    """The host's own view, one row per runtime, and a row with the error of a host that is not ok."""
    link = '<th scope="row"><a href="#host-%d">%s</a></th>' % (index, _e(name))
    rows = []
    if entry.get("host"):
        rows.append(_row([link, "<td>%s</td>" % HOST_ROW]
                         + ["<td>%s</td>" % cell for cell in _view_cells(entry["host"])]
                         + ['<td class="muted">-</td>'] * 4, "host-view"))
    runtimes = entry.get("runtimes") or {}
    for runtime in sorted(runtimes):
        probes = runtimes[runtime] or {}
        isolation = probes.get("isolation")
        rows.append(_row([link, "<td>%s</td>" % _e(runtime)]
                         + ["<td>%s</td>" % cell for cell in _view_cells(isolation or {})]
                         + ["<td>%s</td>" % _verdict_cell(isolation),
                            _measure_cell(probes.get("startup"), STARTUP),
                            _measure_cell(probes.get("http"), HTTP),
                            '<td class="num">%s</td>' % _memory_cell(probes.get("http"))]))
    status = entry.get("status") or "ok"
    if status != "ok" or not rows:
        rows.append(_row([link, "<td>-</td>", '<td colspan="%d">%s <span class="error">%s</span></td>' % (
            len(TABLE_COLUMNS) - 2, _badge(status, _kind(STATUS_KINDS, status)),
            _e(entry.get("error") or "no probe results"))], "host-error"))
    return "<tbody>%s</tbody>" % "".join(rows)


def _table(hosts):
    head = "".join('<th scope="col">%s</th>' % _e(title) for title in TABLE_COLUMNS)
    body = "".join(_host_rows(index, name, hosts[name]) for index, name in enumerate(sorted(hosts)))
    if not body:
        body = '<tbody><tr><td colspan="%d" class="muted">No hosts in this report.</td></tr></tbody>' % len(TABLE_COLUMNS)
    return '<table id="comparison"><thead><tr>%s</tr></thead>%s</table>' % (head, body)


def _nice_step(raw):
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def _scale(values):
    """(name, position, ticks) or None without data.

    Logarithmic when the values span more than a decade, so Kata's seconds and
    runc's tenths of a second are both readable; otherwise linear from zero,
    which reads more directly.
    """
    values = [value for value in values if value > 0]
    if not values:
        return None
    low, high = min(values), max(values)
    if high / low > 10:
        first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
        bottom, span = 10.0 ** first, last - first
        ticks = [m * 10.0 ** power for power in range(first, last + 1) for m in (1, 2, 5)
                 if m * 10.0 ** power <= 10.0 ** last]
        return "logarithmic", lambda value: math.log10(max(value, bottom) / bottom) / span, ticks
    step = _nice_step(high / 5)
    top = step * math.ceil(high / step - 1e-9)
    ticks = [step * i for i in range(int(round(top / step)) + 1)]
    return "linear", lambda value: max(value, 0.0) / top, ticks


def _svg_text(css, x, y, text, attrs=""):
    shown = text if len(text) <= SVG_TEXT_CHARS else text[:SVG_TEXT_CHARS - 1] + "\u2026"
    return '<text class="%s"%s x="%d" y="%d">%s%s</text>' % (
        css, " " + attrs if attrs else "", x, y, _e(shown), "" if shown == text else "<title>%s</title>" % _e(text))


def _chart_rows(hosts, spec):
    """(host, runtime, bar kind, low, high, note) per host and runtime; hosts without runtimes get a row too."""
    rows = []
    for name in sorted(hosts):
        entry = hosts[name]
        runtimes = entry.get("runtimes") or {}
        for runtime in sorted(runtimes):
            probes = runtimes[runtime] or {}
            isolation = probes.get("isolation") or {}
            kind = "failed" if isolation.get("status") == "failed" else _kind(VERDICT_KINDS, isolation.get("verdict"))
            rows.append((name, runtime, kind) + _measure(probes.get(spec.probe), spec))
        if not runtimes:
            status = entry.get("status") or "ok"
            rows.append((name, "-", "unknown", None, None, "%s: %s" % (
                NOT_MEASURED, "no runtime probed" if status == "ok" else "host " + status)))
    return rows


def _chart(chart_id, title, unit_text, hosts, spec):
    """A horizontal bar chart: bar = low statistic, whisker = high statistic, one row per host and runtime."""
    fmt = spec.fmt
    rows = _chart_rows(hosts, spec)
    scale = _scale([v for row in rows for v in row[3:5] if v is not None])
    plot_top, plot_bottom = 8, 8 + ROW_HEIGHT * max(len(rows), 1)
    height = plot_bottom + AXIS_HEIGHT
    width = PLOT_RIGHT - PLOT_LEFT
    parts, described = [], []
    if scale:
        scale_name, position, ticks = scale
        for tick in ticks:
            x = PLOT_LEFT + width * position(tick)
            parts.append('<line class="grid" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/>' % (x, x, plot_top, plot_bottom))
            parts.append('<text class="tick" x="%.1f" y="%d" text-anchor="middle">%s</text>' % (
                x, plot_bottom + 16, _e(fmt(tick))))
        axis = "%s, %s scale; bar: %s, whisker: %s" % (unit_text, scale_name, spec.low, spec.high)
    else:
        axis = "%s: no measurements" % unit_text
    parts.append('<line class="baseline" x1="%d" x2="%d" y1="%d" y2="%d"/>' % (
        PLOT_LEFT, PLOT_LEFT, plot_top, plot_bottom))
    parts.append('<text class="axis" x="%d" y="%d">%s</text>' % (PLOT_LEFT, plot_bottom + 36, _e(axis)))
    if not rows:
        parts.append('<text class="missing" x="%d" y="%d">No hosts in this report.</text>' % (PLOT_LEFT + 8, plot_top + 28))
    for number, (host, runtime, kind, low, high, note) in enumerate(rows):
        top = plot_top + ROW_HEIGHT * number
        middle = top + 22 + BAR_HEIGHT // 2
        label = "%s / %s" % (host, runtime)
        data = 'data-host="%s" data-runtime="%s"' % (_e(host), _e(runtime))
        parts.append(_svg_text("label", PLOT_LEFT + 4, top + 16, label))
        if note:
            described.append("%s: %s" % (label, note))
            parts.append(_svg_text("missing", PLOT_LEFT + 8, middle + 4, note, data))
            continue
        value_text = "%s %s" % (spec.low, fmt(low)) + ("" if high is None else ", %s %s" % (spec.high, fmt(high)))
        described.append("%s: %s" % (label, value_text))
        end = PLOT_LEFT + width * scale[1](low)
        parts.append('<rect class="bar k-%s" %s data-value="%r" x="%d" y="%d" width="%.1f" height="%d"><title>%s</title></rect>' % (
            kind, data, low, PLOT_LEFT, top + 22, max(end - PLOT_LEFT, 1.0), BAR_HEIGHT, _e("%s: %s" % (label, value_text))))
        text_x = end
        if high is not None:
            whisker = PLOT_LEFT + width * scale[1](high)
            parts.append('<line class="whisker" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/>' % (end, whisker, middle, middle))
            parts.append('<line class="whisker" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/>' % (whisker, whisker, middle - 6, middle + 6))
            text_x = max(end, whisker)
        parts.append('<text class="value" x="%.1f" y="%d">%s</text>' % (text_x + 8, middle + 4, _e(value_text)))
    return (
        '<figure><figcaption>%(title)s</figcaption>'
        '<svg id="%(id)s" class="chart" role="img" viewBox="0 0 %(w)d %(h)d" width="%(w)d" height="%(h)d" '
        'aria-labelledby="%(id)s-title" aria-describedby="%(id)s-desc">'
        '<title id="%(id)s-title">%(title)s (%(axis)s)</title><desc id="%(id)s-desc">%(desc)s</desc>%(parts)s</svg></figure>'
    ) % {"id": chart_id, "title": _e(title), "axis": _e(axis), "w": CHART_WIDTH, "h": height,
         "desc": _e("; ".join(described) or "No hosts in this report."), "parts": "".join(parts)}


def _legend():
    return '<p class="muted legend">Bar colour is the verdict:%s</p>' % "".join(
        '<span class="swatch k-%s"></span>%s' % (kind, _e(verdict))
        for verdict, kind in list(VERDICT_KINDS.items()) + [("isolation probe failed", "failed")])


def _duration(report):
    try:
        started = datetime.datetime.fromisoformat(str(report.get("started")))
        finished = datetime.datetime.fromisoformat(str(report.get("finished")))
        return " (%s)" % _s((finished - started).total_seconds())
    except (TypeError, ValueError):
        return ""


def _failing_policies(report):
    return [policy.get("name") for policy in report.get("policies") or []
            if policy.get("severity") == "error"
            and any(result.get("status") in ("fail", "error") for result in policy.get("results") or [])]


def _result(report):
    """pass or fail; a report without a result has not shown that it passed."""
    return "pass" if report.get("result") == "pass" else "fail"


def _header(report):
    summary = report.get("summary") or {}
    result = _result(report)
    reasons = ["%s %s" % (_plural(summary[status], "host"), status)
               for status in ("failed", "unreachable", "skipped") if summary.get(status)]
    reasons += ["error policy failed: %s" % name for name in _failing_policies(report)]
    controller = report.get("controller") or {}
    versions = report.get("versions") or {}
    meta = [
        ("Run id", '<code>%s</code>' % _e(report.get("run_id"))),
        ("Started", _e(report.get("started"))),
        ("Finished", _e(report.get("finished")) + _duration(report)),
        ("Controller", "%s@%s, Python %s" % (_e(controller.get("user")), _e(controller.get("hostname")),
                                             _e(controller.get("python")))),
        ("Versions", "ansible-core %s, kata_fleet.runtimes %s" % (_e(versions.get("ansible_core")),
                                                                  _e(versions.get("collection")))),
        ("Playbooks", _e(", ".join(report.get("playbooks") or []) or "-")),
        ("Inventory", _e(", ".join(report.get("inventory") or []) or "-")),
    ]
    counts = [("hosts", summary.get("hosts", 0))] + [
        (status, summary.get(status, 0)) for status in ("ok", "failed", "unreachable", "skipped")]
    runtimes = summary.get("runtimes") or {}
    return (
        '<header><h1>kata-fleet runtime isolation report</h1>'
        '<div class="result k-%s" id="result"><strong>%s</strong>%s</div>'
        '<div><dl class="meta">%s</dl>'
        '<ul class="counts" id="counts">%s</ul>'
        '<ul class="counts" id="runtime-counts">%s</ul></div></header>'
    ) % (
        "ok" if result == "pass" else "failed", _e(result.upper()),
        "<ul>%s</ul>" % "".join("<li>%s</li>" % _e(reason) for reason in reasons) if reasons else "",
        "".join("<dt>%s</dt><dd>%s</dd>" % (title, value) for title, value in meta),
        "".join("<li>%s <b>%s</b></li>" % (_e(name), _e(count)) for name, count in counts),
        "".join("<li>%s on <b>%s</b></li>" % ("<code>%s</code>" % _e(handler), _plural(count, "host"))
                for handler, count in sorted(runtimes.items())) or '<li class="muted">no runtime handlers</li>',
    )


def _policies(report):
    policies = report.get("policies") or []
    if not policies:
        return '<h2 id="policies">Policies</h2><p class="muted">No policies were evaluated in this run.</p>'
    body = []
    for policy in policies:
        results = policy.get("results") or [{}]
        severity = policy.get("severity")
        first = '<th scope="rowgroup" rowspan="%d">%s<div class="muted">%s</div></th><td rowspan="%d">%s</td>' % (
            len(results), _e(policy.get("name")), _e(policy.get("description")), len(results),
            _badge(severity, "failed" if severity == "error" else "shared"))
        rows = []
        for number, result in enumerate(results):
            status = result.get("status")
            rows.append(_row([first if number == 0 else "",
                              "<td>%s</td>" % _e(result.get("host", "-")),
                              "<td>%s</td>" % (_badge(status, _kind(STATUS_KINDS, status)) if status else "no results"),
                              "<td>%s</td>" % _e(result.get("detail", ""))]))
        body.append("<tbody>%s</tbody>" % "".join(rows))
    return ('<h2 id="policies">Policies</h2><table class="policies"><thead><tr><th scope="col">Policy</th>'
            '<th scope="col">Severity</th><th scope="col">Host</th><th scope="col">Status</th>'
            '<th scope="col">Detail</th></tr></thead>%s</table>') % "".join(body)


def _log(title, dmesg):
    """A kernel log head, or why it could not be read."""
    dmesg = dmesg or {}
    if dmesg.get("head"):
        return "<h4>%s</h4><pre>%s</pre>" % (_e(title), _e("\n".join(str(line) for line in dmesg["head"])))
    if dmesg.get("error"):
        return '<h4>%s</h4><p class="muted">not readable: %s</p>' % (_e(title), _e(dmesg["error"]))
    return ""


def _facts(pairs):
    shown = [(title, value) for title, value in pairs if value not in (None, "", [], {})]
    return '<dl class="meta">%s</dl>' % "".join("<dt>%s</dt><dd>%s</dd>" % (_e(title), _e(value)) for title, value in shown)


def _kvm(kvm):
    if kvm.get("usable"):
        return "usable (%s)" % kvm.get("device")
    if kvm.get("error"):
        return "not usable: %s" % kvm["error"]
    return "present, not usable" if kvm.get("present") else None


def _host_facts(view):
    containerd = view.get("containerd") or {}
    return _facts([
        ("kernel", view.get("kernel_release")),
        ("uname", view.get("uname")),
        ("boot id", view.get("boot_id")),
        ("booted at (epoch s)", view.get("boot_time")),
        ("kernel command line", view.get("kernel_cmdline")),
        ("CPU", "%s x %s" % (view.get("cpus"), view.get("cpu_model")) if view.get("cpus") else view.get("cpu_model")),
        ("memory (KiB)", view.get("mem_total_kib")),
        ("hypervisor CPU flag", view.get("hypervisor_flag")),
        ("hypervisor log", "; ".join(view.get("hypervisor_log") or [])),
        ("KVM", _kvm(view.get("kvm") or {})),
        ("containerd", containerd and "%s at %s%s" % (containerd.get("version"), containerd.get("address"),
                                                      ", error: %s" % containerd["error"] if containerd.get("error") else "")),
        ("interfaces", "; ".join("%s %s" % (i.get("name"), " ".join(i.get("addresses") or []))
                                 for i in view.get("interfaces") or [])),
        ("tools", "; ".join("%s %s" % (name, tool.get("version")) for name, tool in sorted((view.get("tools") or {}).items())
                            if (tool or {}).get("version"))),
    ])


def _failure_text(probe, entry):
    """Every failure text of one probe entry: the error and, for HTTP, each failure class with an example."""
    entry = entry or {}
    texts = []
    if entry.get("error"):
        texts.append("%s: %s" % (probe, entry["error"]))
    examples = entry.get("failure_examples") or {}
    for cls, count in sorted((entry.get("failures") or {}).items()):
        texts.append("%s: %s x %s%s" % (probe, count, cls, " (%s)" % examples[cls] if examples.get(cls) else ""))
    return texts


def _runtime_evidence(runtime, probes):
    isolation = probes.get("isolation") or {}
    http = probes.get("http") or {}
    out = ["<h3><code>%s</code> %s</h3>" % (_e(runtime), _verdict_cell(probes.get("isolation")))]
    if isolation.get("evidence"):
        out.append('<ul class="evidence">%s</ul>' % "".join("<li>%s</li>" % _e(line) for line in isolation["evidence"]))
    failures = [text for probe in ("isolation", "startup", "http") for text in _failure_text(probe, probes.get(probe))]
    if failures:
        out.append('<ul class="evidence error">%s</ul>' % "".join("<li>%s</li>" % _e(text) for text in failures))
    out.append(_facts([
        ("client", isolation.get("client")),
        ("runtime type", isolation.get("runtime_type")),
        ("kernel", isolation.get("kernel_release")),
        ("uname", isolation.get("uname")),
        ("boot id", isolation.get("boot_id")),
        ("kernel command line", isolation.get("kernel_cmdline")),
        ("startup median / p95", _measure_text(*_measure(probes.get("startup"), STARTUP), fmt=STARTUP.fmt)),
        ("HTTP", http and "%s of %s requests to %s succeeded" % (http.get("succeeded"), http.get("requests"),
                                                                 http.get("url") or "the probe server")),
    ]))
    out.append(_log("%s kernel log (head)" % runtime, isolation.get("dmesg")))
    return "".join(out)


def _evidence(hosts):
    sections = []
    for index, name in enumerate(sorted(hosts)):
        entry = hosts[name]
        status = entry.get("status") or "ok"
        runtimes = entry.get("runtimes") or {}
        verdicts = "".join(_verdict_cell((runtimes[runtime] or {}).get("isolation")) for runtime in sorted(runtimes)
                           if (runtimes[runtime] or {}).get("isolation"))
        body = []
        if entry.get("error"):
            body.append('<p class="error">%s</p>' % _e(entry["error"]))
        if entry.get("host"):
            body.append("<h3>host view</h3>" + _host_facts(entry["host"]) + _log("host kernel log (head)", entry["host"].get("dmesg")))
        body += [_runtime_evidence(runtime, runtimes[runtime] or {}) for runtime in sorted(runtimes)]
        sections.append('<details id="host-%d"%s><summary>%s %s%s</summary>%s</details>' % (
            index, "" if status == "ok" else " open", _e(name), _badge(status, _kind(STATUS_KINDS, status)),
            verdicts, "".join(body) or '<p class="muted">no evidence</p>'))
    return '<h2 id="evidence">Evidence per host</h2>%s' % ("".join(sections) or '<p class="muted">No hosts in this report.</p>')


def _inline(text):
    """Escape, then turn the narrative's **bold** into <strong>."""
    parts = _e(text).split("**")
    return "".join(("<strong>%s</strong>" if index % 2 else "%s") % part for index, part in enumerate(parts))


def _markdown_block(body):
    """The narrative's small Markdown: one table, list items and paragraphs."""
    lines = body.splitlines()
    if lines and lines[0].startswith("|"):
        rows = [[cell.strip().replace("\\|", "|") for cell in line.strip("|").split(" | ")]
                for line in lines if line.startswith("|") and not line.startswith("|---")]
        head = "".join('<th scope="col">%s</th>' % _e(cell) for cell in rows[0])
        body_rows = "".join("<tr>%s</tr>" % "".join(
            ('<th scope="row">%s</th>' if index == 0 else "<td>%s</td>") % _e(cell) for index, cell in enumerate(row))
            for row in rows[1:])
        return '<table class="findings"><thead><tr>%s</tr></thead><tbody>%s</tbody></table>' % (head, body_rows)
    html, items = [], []
    for line in lines + [""]:
        if line.startswith("- "):
            items.append("<li>%s</li>" % _inline(line[2:]))
            continue
        if items:
            html.append("<ul>%s</ul>" % "".join(items))
            items = []
        if line.strip():
            html.append("<p>%s</p>" % _inline(line))
    return "".join(html)


def _findings(report):
    """The lab report's comparison, written from this run's measurements (see _narrative)."""
    return "".join('<h2 id="findings-%d">%s</h2>%s' % (index, _e(title), _markdown_block(body))
                   for index, (title, body) in enumerate(_narrative.sections(report)))


def render(report):
    """The whole report as one HTML document (a str)."""
    hosts = report.get("hosts") or {}
    return "".join([
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        "<title>kata-fleet report %s: %s</title>" % (_e(report.get("run_id")), _result(report).upper()),
        "<style>%s</style></head><body>" % CSS,
        _header(report),
        '<h2 id="table">Runtime comparison</h2>',
        _table(hosts),
        '<h2 id="charts">Measurements</h2>',
        _legend(),
        _chart("chart-startup", "Startup time per host and runtime (median, p95 whisker)", "seconds", hosts, STARTUP),
        _chart("chart-http", "HTTP latency per host and runtime (p50, p99 whisker)", "milliseconds", hosts, HTTP),
        _policies(report),
        _findings(report),
        _evidence(hosts),
        "</body></html>\n",
    ])
