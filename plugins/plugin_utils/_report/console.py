# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the callback prints at the end of the play: the view, readable at a given width.

Only the console shortens values (to fit its width); the files keep them
whole.  Every value from a host already passed ``formatting.host_text``; the
finished text passes ``formatting.terminal`` once more, so nothing a host sent
can move the cursor, recolour or retitle the operator's terminal.
"""

import textwrap

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import formatting as fmt
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import model
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report.view import HOST_ROW, ISOLATION_COLUMNS, NOT_RECORDED, PERFORMANCE_COLUMNS

# Shorten the least telling columns first; a verdict keeps at least its longest word whole
# (plus the mark that says it was shortened: the sandbox name follows in the summary lines).
# A host keeps its name up to 20 characters (rows are found by it); the kernel, CPU model and interfaces,
# which report.md and report.csv carry whole, give way first.
SHRINK_ORDER = ("host_sees", "verdict", "interfaces", "cpu_model", "kernel", "host")
ELLIPSIS = "~"
SHRINK_FLOOR = {"verdict": len("user-space-kernel") + len(ELLIPSIS), "host_sees": len("Host sees"),
                "interfaces": 6, "cpu_model": 6, "kernel": 7, "host": 20}


# The console's short words for what the host saw run a container (report.md, .html and .csv say it whole):
# an ordinary host process, a hypervisor (named), gVisor's sandbox.
HOST_SEES_SHORT = (("host-process", "process"), ("vmm", "vmm"), ("user-space-kernel", "sandbox"))


def _host_sees_short(cell):
    """``process``, ``vmm (qemu)``, ``sandbox`` or the cell as it is (unknown with its reason, -, not recorded)."""
    if not isinstance(cell, str):
        return cell
    for word, short in HOST_SEES_SHORT:
        if cell == word or cell.startswith(word + " ("):
            return short + cell[len(word):]
    return cell


def _shorten(text, width):
    return text if len(text) <= width else text[:max(width - 1, 0)] + ELLIPSIS


def table(rows, columns, width=100):
    """An aligned table no wider than ``width`` (columns shortened in SHRINK_ORDER down to a floor)."""
    cells = [[str(row.get(key, "")) for key, _title in columns] for row in rows]
    keys = [key for key, _title in columns]
    titles = [title for _key, title in columns]
    widths = [max([len(title)] + [len(line[index]) for line in cells]) for index, title in enumerate(titles)]
    for key in [k for k in SHRINK_ORDER if k in keys] + keys:
        index = keys.index(key)
        excess = sum(widths) + 3 * (len(widths) - 1) - width
        if excess <= 0:
            break
        widths[index] = max(min(SHRINK_FLOOR.get(key, 8), widths[index]), widths[index] - excess)
    lines = [" | ".join(_shorten(title, w).ljust(w) for title, w in zip(titles, widths)).rstrip(),
             "-+-".join("-" * w for w in widths)]
    for line in cells:
        lines.append(" | ".join(_shorten(cell, w).ljust(w) for cell, w in zip(line, widths)).rstrip())
    return "\n".join(lines)


def _wrap(text, width, indent=""):
    return "\n".join(textwrap.wrap(text, width, subsequent_indent=indent) or [""])


def summary_lines(view):
    summary = view["summary"]
    lines = ["Hosts: %d (ok %d, failed %d, unreachable %d, skipped %d). Result: %s." % (
        summary["hosts"], summary["ok"], summary["failed"], summary["unreachable"], summary["skipped"],
        view["result"].upper())]
    for item in view["answer"]:
        lines.append("%s: %s on %d of %d hosts%s." % (
            item["runtime"], item["verdict"], item["agree"], item["hosts"],
            "; differs on " + ", ".join("%s (%s)" % pair for pair in item["disagree"][:10])
            + (" and %d more" % (len(item["disagree"]) - 10) if len(item["disagree"]) > 10 else "")
            if item["disagree"] else ""))
    return lines


def render(view, width=100):
    """The console text (a str)."""
    listed = [dict(row, host_sees=_host_sees_short(row.get("host_sees"))) for row in view["listed_rows"]]
    columns, image = ISOLATION_COLUMNS, list(view.get("listed_image_lines") or [])
    if all(row.get("host_sees") in (None, "", "-", NOT_RECORDED) for row in listed):
        # Older records: a column of "not recorded" would only cost the kernel and CPU their width.
        columns = tuple(column for column in ISOLATION_COLUMNS if column[0] != "host_sees")
        image.append("Host sees: %s (no host witness in these results)" % NOT_RECORDED)
    parts = [table(listed, columns, width) + "".join("\n" + _wrap(line, width, "  ") for line in image),
             table([row for row in listed if row["runtime"] != HOST_ROW], PERFORMANCE_COLUMNS, width)
             + ("\n(%d more hosts passed and agree with the fleet: every host is in report.md and report.csv)"
                % view["hosts_left_out"] if view["hosts_left_out"] else ""),
             "\n".join(_wrap(line, width) for line in summary_lines(view))
             + "".join("\n" + _wrap("- " + line, width, "  ") for line in view["failures"] + view["errors"])]
    parts[2:2] = workload_audit_parts(view, width)  # workload cost table, audit lines (issues 21, 24)
    changed = changes_part(view)  # what changed since the last run: changes_part
    if changed:
        parts.append(changed)
    for section in view["findings"][1:]:
        text = [section["title"].upper()]
        text += [_wrap("- " + item, width, "  ") for item in section["bullets"]]
        text += [_wrap(("%s %s" % (lead, body)) if lead else body, width) for lead, body in section["paragraphs"]]
        parts.append("\n".join(text))
    return fmt.terminal("\n\n".join(parts))


# ---- workload cost and audit (issues 21, 24) ----
def workload_audit_parts(view, width=100):
    """The workload cost table (only when a host has workload results) and one audit line per host
    (only when a host has audit results), each as a text; for the hosts listed in the console."""
    listed = set(row["host"] for row in view["listed_rows"])
    parts = []
    rows = [row for row in view.get("workload_rows") or [] if row["host"] in listed]
    if rows:
        parts.append(table(rows, view["workload_columns"], width)
                     + "\n" + _wrap("~1.0x: inside the noise band; >=: a lower bound (nothing finished within the "
                                    "budget); ratios are the runtime's time per unit of work over the host's.", width))
    lines = [line for line in view.get("audit_lines") or [] if line["host"] in listed]
    if lines:
        parts.append("\n".join(_wrap("Audit " + line["text"], width, "  ") for line in lines))
    return parts
# ---- end workload cost and audit ----


# ---------------------------------------------------------------- what changed since the last run (issue 22)


def changes_part(view):
    """The ``CHANGES SINCE <run id> (<date>)`` section (changes.render_text, CONSOLE_LISTED lines a list), or None."""
    # pylint: disable=import-outside-toplevel  # only a report with a changes section needs it
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import changes
    section = (view.get("report") or {}).get("changes")
    if not isinstance(section, dict):
        return None
    return changes.render_text(section, changes.CONSOLE_LISTED).rstrip("\n")


# ---------------------------------------------------------------- end of what changed since the last run


# At most this many handlers named in a progress line; the rest are counted.
PROGRESS_HANDLERS = 8


def progress_line(host, isolation, done, failed, total=None, seconds=None):
    """The line printed as one host's verify result arrives, e.g.
    ``kata-fleet: [done 3/12, failed 1, left 8] node-a: runc shared-kernel, runsc user-space-kernel (14.2 s)``.

    ``done`` counts the hosts that passed, ``failed`` those that failed; the rest of ``total`` are left.
    ``isolation`` is the host's isolation result as it came (any shape: a host's output is not trusted);
    ``total`` None when the number of hosts is not known (then nothing is said about those left).
    """
    counts = "done %d/%d, failed %d, left %d" % (done, total, failed, max(total - done - failed, 0)) if total \
        else "done %d, failed %d" % (done, failed)
    runtimes = isolation.get("runtimes") if isinstance(isolation, dict) else None
    runtimes = runtimes if isinstance(runtimes, dict) else {}
    names = sorted(runtimes, key=str)
    verdicts = []
    for name in names[:PROGRESS_HANDLERS]:
        verdict, sandbox = model.verdict_of(runtimes[name])
        verdicts.append("%s %s" % (fmt.host_text(name, 64), model.verdict_label(verdict, sandbox)))
    if len(names) > PROGRESS_HANDLERS:
        verdicts.append("%d more" % (len(names) - PROGRESS_HANDLERS))
    line = "kata-fleet: [%s] %s: %s" % (counts, fmt.host_text(host, 200), ", ".join(verdicts) or "no isolation result")
    if seconds is not None:
        line += " (%.1f s)" % seconds
    return fmt.terminal(line)
