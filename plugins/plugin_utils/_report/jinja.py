# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Jinja2 environments report.md and report.html are rendered with.

Templates are looked up in the user's template directory first (the
callback's ``template_dir`` option), then in ours, which stay reachable as
``default/<name>``: a user's ``report.html.j2`` can ``{% extends
"default/report.html.j2" %}`` and replace one block (say ``header``) to brand
the report, and a user's ``report.css`` replaces ours.  report.html is
autoescaped; report.md escapes every value it prints with ``md``: the
environment's ``finalize`` runs it on each ``{{ ... }}`` (so a user's template
cannot forget it), and the ``md`` filter in our template says so where it
matters.  Text already escaped (``MarkdownText``) is not escaped twice.
"""

import os
import re

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, StrictUndefined

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import formatting as fmt

OURS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
_CACHE = {}

# Markdown's inline syntax, backslash-escaped (CommonMark: any ASCII punctuation may be):
# links and images ([ ] and the ! before them), emphasis and strike-through (* _ ~), code spans (`),
# tables (|) and the backslash itself.  HTML (< > &) becomes entities.
_MD_INLINE = re.compile(r"([\\`*_\[\]|~!])")
# GitHub turns bare URLs, www. names and e-mail addresses into links: break their triggers.
_MD_AUTOLINK = re.compile(r"(?i)(?<=[a-z0-9])(:)(?=//)|(?<=\bwww)(\.)|(@)")
# At the start of a value that may begin a line (a list item, a paragraph): headings, list markers,
# thematic breaks (quotes are entities already; leading blanks, which would make indented code, go).
_MD_BLOCK = re.compile(r"\A(#{1,6}(?=\s|\Z)|[-+](?=\s)|(?:-[ \t]*){3,}\Z|\d{1,9}(?=[.)](?:\s|\Z)))")


# Whether a value needs any of the above (most cells need none: "6.1.0-13-amd64", "168 ms / 177 ms").
_MD_SPECIAL = re.compile(r"[\\`*_\[\]|~!&<>@]|://|www\.", re.I)
_MD_START = re.compile(r"\s|#|[-+]\s|-[ \t]*-|\d{1,9}[.)](?:\s|\Z)")


class MarkdownText(str):
    """Text that is Markdown already (escaped, or written by the template's own code)."""


def md(value):
    """A value as Markdown text that shows as the characters it holds: no link, no image, no emphasis,
    no HTML, no table break, no line break."""
    if isinstance(value, MarkdownText):
        return value
    return _md_text("" if value is None else str(value))


@fmt.memo
def _md_text(text):
    if not text.isprintable():
        text = fmt.hidden(text.replace("\r\n", " ").replace("\r", " ").replace("\n", " "))
    if _MD_SPECIAL.search(text) is None and not _MD_START.match(text):
        return MarkdownText(text)
    text = text.lstrip()
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_INLINE.sub(r"\\\1", text)
    text = _MD_AUTOLINK.sub(lambda match: "\\" + match.group(0), text)
    text = _MD_BLOCK.sub(lambda match: match.group(0) + "\\" if match.group(0)[0].isdigit() else "\\" + match.group(0),
                         text)
    return MarkdownText(text)


def environment(html, template_dir=None):
    """The (cached) environment for report.html (``html`` true, autoescaped) or report.md."""
    key = (bool(html), template_dir or None)
    if key not in _CACHE:
        ours = FileSystemLoader(OURS)
        loaders = ([FileSystemLoader(template_dir)] if template_dir else []) + [PrefixLoader({"default": ours}), ours]
        env = Environment(loader=ChoiceLoader(loaders), autoescape=bool(html), undefined=StrictUndefined,
                          keep_trailing_newline=True, trim_blocks=False, lstrip_blocks=False,
                          finalize=None if html else md)
        env.filters["md"] = md
        _CACHE[key] = env
    return _CACHE[key]


def source(name, template_dir=None):
    """A non-template file (CSS, script) from the user's directory or ours."""
    env = environment(True, template_dir)
    text, _filename, _uptodate = env.loader.get_source(env, name)
    return text
