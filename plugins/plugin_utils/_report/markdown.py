# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.md: the view through templates/report.md.j2."""

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import jinja
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report.view import ISOLATION_COLUMNS, PERFORMANCE_COLUMNS

TEMPLATE = "report.md.j2"


def _columns(columns):
    """A table's head: our own Markdown, each title escaped."""
    return jinja.MarkdownText("| %s |\n|%s" % (" | ".join(jinja.md(title) for _key, title in columns), "---|" * len(columns)))


def render(view, template_dir=None):
    template = jinja.environment(False, template_dir).get_template(TEMPLATE)
    return template.render(dict(view, columns=_columns, isolation_columns=ISOLATION_COLUMNS,
                                performance_columns=PERFORMANCE_COLUMNS))
