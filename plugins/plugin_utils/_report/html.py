# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.html: the view through templates/report.html.j2, one self-contained page.

The page is evidence that gets archived, mailed and opened offline, so its
CSS (templates/report.css), its charts (``svg``) and its one small script
(templates/filter.js, the evidence filter) are inline, and its own
Content-Security-Policy allows exactly those two blocks by hash: nothing is
fetched, and markup a host smuggled past the escaping could not run.
"""

import base64
import datetime
import hashlib

from markupsafe import Markup

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import formatting as fmt
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import jinja, svg
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report.view import COLUMNS

TEMPLATE = "report.html.j2"
# Every CSS class derived from data goes through one of these tables.
STATUS_KINDS = {"ok": "ok", "pass": "ok", "failed": "failed", "fail": "failed", "error": "failed",
                "unreachable": "failed", "skipped": "unknown", "skip": "unknown"}
LEGEND = (("shared-kernel", "shared"), ("user-space-kernel", "user"), ("vm-isolated", "vm"), ("unknown", "unknown"),
          ("isolation probe failed", "failed"))


def _hash(text):
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _duration(report):
    try:
        started = datetime.datetime.fromisoformat(str(report.get("started")).replace("Z", "+00:00"))
        finished = datetime.datetime.fromisoformat(str(report.get("finished")).replace("Z", "+00:00"))
        return " (%s)" % fmt.duration((finished - started).total_seconds())
    except (TypeError, ValueError):
        return ""


def render(view, template_dir=None):
    css = jinja.source("report.css", template_dir)
    script = jinja.source("filter.js", template_dir)
    template = jinja.environment(True, template_dir).get_template(TEMPLATE)
    return template.render(dict(
        view, css=Markup(css), script=Markup(script), style_hash=_hash(css), script_hash=_hash(script),
        columns=COLUMNS, duration=_duration(view["report"]), legend=LEGEND,
        kind=svg.kind, status_kind=lambda status: STATUS_KINDS.get(status, "unknown"),
        startup_chart=svg.chart("chart-startup", "Startup time per host and runtime (median, p95 whisker)", "seconds",
                                view["listed_rows"], "startup", "median", "p95"),
        workload_chart=svg.workload_chart(view),  # issue 21
        http_chart=svg.chart("chart-http", "HTTP latency per host and runtime (p50, p99 whisker)", "seconds",
                             view["listed_rows"], "http", "p50", "p99")))
