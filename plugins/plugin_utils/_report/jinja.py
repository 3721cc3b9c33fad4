# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Jinja2 environments report.md and report.html are rendered with.

Templates are looked up in the user's template directory first (the
callback's ``template_dir`` option), then in ours, which stay reachable as
``default/<name>``: a user's ``report.html.j2`` can ``{% extends
"default/report.html.j2" %}`` and replace one block (say ``header``) to brand
the report, and a user's ``report.css`` replaces ours.  report.html is
autoescaped; report.md escapes each value with the ``md`` filter.
"""

import os

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, StrictUndefined

OURS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
_CACHE = {}


def md(value):
    """A value as Markdown text: no table break, no HTML, no line break."""
    text = "" if value is None else str(value)
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", " ").replace("\n", " "))


def environment(html, template_dir=None):
    """The (cached) environment for report.html (``html`` true, autoescaped) or report.md."""
    key = (bool(html), template_dir or None)
    if key not in _CACHE:
        ours = FileSystemLoader(OURS)
        loaders = ([FileSystemLoader(template_dir)] if template_dir else []) + [PrefixLoader({"default": ours}), ours]
        env = Environment(loader=ChoiceLoader(loaders), autoescape=bool(html), undefined=StrictUndefined,
                          keep_trailing_newline=True, trim_blocks=False, lstrip_blocks=False)
        env.filters["md"] = md
        _CACHE[key] = env
    return _CACHE[key]


def source(name, template_dir=None):
    """A non-template file (CSS, script) from the user's directory or ours."""
    env = environment(True, template_dir)
    text, _filename, _uptodate = env.loader.get_source(env, name)
    return text
