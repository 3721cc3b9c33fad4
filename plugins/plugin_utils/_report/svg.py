# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.html's bar charts as inline SVG: bar = a statistic, whisker = its tail, one row per host and runtime.

Values come from the view's figures, already checked to lie between 1 ns and
30 days, so every scale is finite.  Every text is escaped here (the template
includes the chart as markup).
"""

import math

from markupsafe import Markup, escape

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import formatting as fmt

# Geometry in SVG user units.  Labels sit above their bar so long host names never squeeze the plot.
WIDTH = 960
PLOT_LEFT = 28
PLOT_RIGHT = 700
ROW_HEIGHT = 46
BAR_HEIGHT = 16
AXIS_HEIGHT = 44
# SVG text does not wrap: longer labels are cut and carry the whole text in a <title>.
TEXT_CHARS = 125
# A bar per host and runtime is readable up to a few hundred rows; past that the chart says so.
MAX_ROWS = 400
# Bar colour classes per verdict; anything else is "unknown" (a hostile value never becomes a class name).
KINDS = {"shared-kernel": "shared", "user-space-kernel": "user", "vm-isolated": "vm", "failed": "failed"}


def kind(verdict):
    return KINDS.get(verdict, "unknown")


def _nice_step(raw):
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def scale(values):
    """(name, position, ticks) or None without data: logarithmic when the values span more than a decade."""
    values = [value for value in values if value is not None and value > 0]
    if not values:
        return None
    low, high = min(values), max(values)
    if high / low > 10:
        first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
        bottom, span = 10.0 ** first, last - first
        ticks = [m * 10.0 ** power for power in range(first, last + 1) for m in (1, 2, 5)
                 if m * 10.0 ** power <= 10.0 ** last]
        if len(ticks) > 12:  # a wide span: one tick per decade is enough
            ticks = [10.0 ** power for power in range(first, last + 1, -(-span // 10))]
        return "logarithmic", lambda value: math.log10(max(value, bottom) / bottom) / span, ticks
    step = _nice_step(high / 5)
    top = step * math.ceil(high / step - 1e-9)
    ticks = [step * i for i in range(int(round(top / step)) + 1)]
    return "linear", lambda value: max(value, 0.0) / top, ticks


def _text(css, x, y, text, attrs=""):
    shown = text if len(text) <= TEXT_CHARS else text[:TEXT_CHARS - 1] + "\u2026"
    return '<text class="%s"%s x="%d" y="%d">%s%s</text>' % (
        css, " " + attrs if attrs else "", x, y, escape(shown), "" if shown == text else "<title>%s</title>" % escape(text))


def chart_rows(rows, probe):
    """(host, runtime, kind, low, high, note) per measured row of the view."""
    out = []
    for row in rows:
        if row.get("kind") == "runtime":
            low, high, note = row["figures"][probe]
            out.append((row["host"], row["runtime"], kind(row["verdict_kind"]), low, high, note))
    return out


def chart(chart_id, title, unit, rows, probe, low_name, high_name):
    """One figure with its SVG (Markup)."""
    rows = chart_rows(rows, probe)
    left_out = max(len(rows) - MAX_ROWS, 0)
    rows = rows[:MAX_ROWS]
    found = scale([v for row in rows for v in row[3:5]])
    plot_top, plot_bottom = 8, 8 + ROW_HEIGHT * max(len(rows), 1)
    height = plot_bottom + AXIS_HEIGHT
    width = PLOT_RIGHT - PLOT_LEFT
    parts, described = [], []
    if found:
        scale_name, position, ticks = found
        for tick in ticks:
            x = PLOT_LEFT + width * position(tick)
            parts.append('<line class="grid" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/>' % (x, x, plot_top, plot_bottom))
            parts.append('<text class="tick" x="%.1f" y="%d" text-anchor="middle">%s</text>' % (
                x, plot_bottom + 16, escape(fmt.duration(tick))))
        axis = "%s, %s scale; bar: %s, whisker: %s" % (unit, scale_name, low_name, high_name)
    else:
        axis = "%s: no measurements" % unit
    parts.append('<line class="baseline" x1="%d" x2="%d" y1="%d" y2="%d"/>' % (PLOT_LEFT, PLOT_LEFT, plot_top, plot_bottom))
    parts.append('<text class="axis" x="%d" y="%d">%s</text>' % (PLOT_LEFT, plot_bottom + 36, escape(axis)))
    if not rows:
        parts.append('<text class="missing" x="%d" y="%d">No measured runtime in this report.</text>' % (PLOT_LEFT + 8, plot_top + 28))
    for number, (host, runtime, css, low, high, note) in enumerate(rows):
        top = plot_top + ROW_HEIGHT * number
        middle = top + 22 + BAR_HEIGHT // 2
        label = "%s / %s" % (host, runtime)
        data = 'data-host="%s" data-runtime="%s"' % (escape(host), escape(runtime))
        parts.append(_text("label", PLOT_LEFT + 4, top + 16, label))
        if note or low is None:
            described.append("%s: %s" % (label, note))
            parts.append(_text("missing", PLOT_LEFT + 8, middle + 4, note or fmt.NOT_MEASURED, data))
            continue
        value_text = "%s %s" % (low_name, fmt.duration(low)) + ("" if high is None else ", %s %s" % (high_name, fmt.duration(high)))
        described.append("%s: %s" % (label, value_text))
        end = PLOT_LEFT + width * found[1](low)
        parts.append('<rect class="bar k-%s" %s data-value="%r" x="%d" y="%d" width="%.1f" height="%d"><title>%s</title></rect>' % (
            css, data, low, PLOT_LEFT, top + 22, max(end - PLOT_LEFT, 1.0), BAR_HEIGHT, escape("%s: %s" % (label, value_text))))
        text_x = end
        if high is not None:
            whisker = PLOT_LEFT + width * found[1](high)
            parts.append('<line class="whisker" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/>' % (end, whisker, middle, middle))
            parts.append('<line class="whisker" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/>' % (whisker, whisker, middle - 6, middle + 6))
            text_x = max(end, whisker)
        parts.append('<text class="value" x="%.1f" y="%d">%s</text>' % (text_x + 8, middle + 4, escape(value_text)))
    caption = title + (" (the first %d rows; %d more are in the table and report.csv)" % (MAX_ROWS, left_out) if left_out else "")
    return _figure(chart_id, caption, title, axis, height,
                   "; ".join(described[:50]) or "No measured runtime in this report.", parts)


def _figure(chart_id, caption, title, axis, height, description, parts):
    """A chart's accessible SVG in its figure: every text escaped, ``parts`` already-built SVG elements."""
    return Markup(
        '<figure><figcaption>%(caption)s</figcaption>'
        '<svg id="%(id)s" class="chart" role="img" viewBox="0 0 %(w)d %(h)d" width="%(w)d" height="%(h)d" '
        'aria-labelledby="%(id)s-title" aria-describedby="%(id)s-desc">'
        '<title id="%(id)s-title">%(title)s (%(axis)s)</title><desc id="%(id)s-desc">%(desc)s</desc>%(parts)s</svg></figure>'
    ) % {"id": chart_id, "caption": escape(caption), "title": escape(title), "axis": escape(axis), "w": WIDTH, "h": height,
         "desc": escape(description), "parts": Markup("".join(parts))}


# ---- workload cost (issue 21): a bar per host, runtime and workload, the ratio to the host ----
def _ratio_label(value):
    return ("%.2f" % value if value < 10 else "%.1f" % value if value < 100 else "%d" % round(value)) + "x"


def workload_chart(view, chart_id="chart-workload"):
    """The workload cost chart (Markup), or "" when no host has workload results.

    One bar per host, runtime and workload: the runtime's time per unit of work over the host's (1x: the same),
    a bar's colour the runtime's verdict; ">=" marks a lower bound, "~" a ratio inside the noise band.
    """
    listed = set(row["host"] for row in view.get("listed_rows") or [])
    verdicts = dict(((row["host"], row["runtime"]), row.get("verdict_kind")) for row in view.get("listed_rows") or []
                    if row.get("kind") == "runtime")
    rows = []
    for row in view.get("workload_rows") or []:
        if row["host"] not in listed:
            continue
        for name, title in view["workload_columns"][2:]:
            value = row["ratios"].get(name)
            rows.append((row["host"], "%s %s" % (row["runtime"], title), kind(verdicts.get((row["host"], row["runtime"]))),
                         value if isinstance(value, (int, float)) and 0 < value < 1e7 else None, row[name]))
    if not rows:
        return ""
    left_out = max(len(rows) - MAX_ROWS, 0)
    rows = rows[:MAX_ROWS]
    found = scale([row[3] for row in rows] + [1.0])
    plot_top, plot_bottom = 8, 8 + ROW_HEIGHT * len(rows)
    width = PLOT_RIGHT - PLOT_LEFT
    scale_name, position, ticks = found
    parts, described = [], []
    for tick in ticks:
        x = PLOT_LEFT + width * position(tick)
        parts.append('<line class="grid" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/>' % (x, x, plot_top, plot_bottom))
        parts.append('<text class="tick" x="%.1f" y="%d" text-anchor="middle">%s</text>' % (
            x, plot_bottom + 16, escape(_ratio_label(tick) if tick else "0")))
    one = PLOT_LEFT + width * position(1.0)
    parts.append('<line class="whisker" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/>' % (one, one, plot_top, plot_bottom))
    axis = "time per unit over the host's, %s scale; the line at 1x is the host" % scale_name
    parts.append('<line class="baseline" x1="%d" x2="%d" y1="%d" y2="%d"/>' % (PLOT_LEFT, PLOT_LEFT, plot_top, plot_bottom))
    parts.append('<text class="axis" x="%d" y="%d">%s</text>' % (PLOT_LEFT, plot_bottom + 36, escape(axis)))
    for number, (host, label_tail, css, value, shown) in enumerate(rows):
        top = plot_top + ROW_HEIGHT * number
        middle = top + 22 + BAR_HEIGHT // 2
        label = "%s / %s" % (host, label_tail)
        described.append("%s: %s" % (label, shown))
        parts.append(_text("label", PLOT_LEFT + 4, top + 16, label))
        if value is None:
            parts.append(_text("missing", PLOT_LEFT + 8, middle + 4, shown))
            continue
        end = PLOT_LEFT + width * position(value)
        parts.append('<rect class="bar k-%s" data-value="%r" x="%d" y="%d" width="%.1f" height="%d"><title>%s</title></rect>' % (
            css, value, PLOT_LEFT, top + 22, max(end - PLOT_LEFT, 1.0), BAR_HEIGHT, escape("%s: %s" % (label, shown))))
        parts.append('<text class="value" x="%.1f" y="%d">%s</text>' % (end + 8, middle + 4, escape(shown)))
    title = "Workload cost per host and runtime (ratio to the host)"
    caption = title + (" (the first %d rows; %d more are in report.csv)" % (MAX_ROWS, left_out) if left_out else "")
    return _figure(chart_id, caption, title, axis, plot_bottom + AXIS_HEIGHT, "; ".join(described[:50]), parts)
# ---- end workload cost ----
