# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tiny TOML writer and systemd value checks: template values are written as data, never as text.

Every value the roles put into a TOML file (containerd's config.toml and
hosts.toml, nerdctl.toml) goes through ``value``/``key``/``document``, so a
string is always one quoted TOML string: a registry mirror URL such as
``https://m"]\\nskip_verify = true\\n["x`` stays a string and never becomes a
key.  Strings are TOML basic strings with every control character (and DEL,
which TOML forbids raw) escaped.  Values a systemd unit gets (``ExecStart=``
paths) are checked against an anchored pattern instead of being escaped:
a path with a space, a quote, a ``%`` specifier or a newline is refused.
Standard library only (the controller may lack a TOML writer; tomllib reads only).
"""

import math
import re

BARE_KEY = re.compile(r"\A[A-Za-z0-9_-]+\Z")
# An absolute path systemd takes verbatim in ExecStart= (no quoting, no specifier, no whitespace).
SYSTEMD_PATH = re.compile(r"\A/[A-Za-z0-9._+@=,:/-]*\Z")
INT64 = (-(2 ** 63), 2 ** 63 - 1)
_SHORT = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


class TomlError(ValueError):
    """A value that cannot be written as TOML; the message says which and why."""


def string(text):
    if not isinstance(text, str):
        raise TomlError("expected a string, got %r" % (text,))
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _SHORT:
            out.append(_SHORT[char])
        elif code < 0x20 or code == 0x7F:
            out.append("\\u%04X" % code)
        elif 0xD800 <= code <= 0xDFFF:
            raise TomlError("%r holds a lone surrogate (not Unicode text)" % (text,))
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def key(name):
    if not isinstance(name, str):
        name = str(name)
    return name if BARE_KEY.match(name) else string(name)


def value(data, where="value"):
    """One TOML value: a string, integer, float, boolean, array or inline table."""
    if isinstance(data, bool):
        return "true" if data else "false"
    if isinstance(data, int):
        if not INT64[0] <= data <= INT64[1]:
            raise TomlError("%s %d does not fit a TOML integer (64 bits)" % (where, data))
        return str(data)
    if isinstance(data, float):
        if math.isnan(data):
            return "nan"
        if math.isinf(data):
            return "inf" if data > 0 else "-inf"
        return repr(data)
    if isinstance(data, str):
        return string(data)
    if isinstance(data, dict):
        return "{" + ", ".join("%s = %s" % (key(k), value(v, "%s.%s" % (where, k)))
                               for k, v in data.items() if v is not None) + "}"
    if isinstance(data, (list, tuple)):
        return "[" + ", ".join(value(v, where) for v in data if v is not None) + "]"
    raise TomlError("%s: %r (%s) cannot be written as TOML" % (where, data, type(data).__name__))


def _table(path, table, lines):
    scalars = [(k, v) for k, v in table.items() if v is not None and not isinstance(v, dict)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, dict)]
    if path and (scalars or not tables):
        lines.append("")
        lines.append("%s[%s]" % ("  " * (len(path) - 1), ".".join(path)))
    for name, item in scalars:
        lines.append("%s%s = %s" % ("  " * len(path), key(name), value(item, ".".join(path + [key(name)]))))
    for name, item in tables:
        _table(path + [key(name)], item, lines)


def document(data):
    """A whole TOML document from a mapping: scalars first, then one [table] per nested mapping.

    Keys whose value is None are left out (a way to remove a default).
    """
    if not isinstance(data, dict):
        raise TomlError("a TOML document is a mapping, got %r" % (data,))
    lines = []
    _table([], data, lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def systemd_path(path, where="path"):
    if not isinstance(path, str) or not SYSTEMD_PATH.match(path):
        raise TomlError("%s must be an absolute path of letters, digits and ._+@=,:/- only (it is written "
                        "into a systemd unit, where spaces, quotes, %% and newlines change its meaning), got %r"
                        % (where, path))
    return path
