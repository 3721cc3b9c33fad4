# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Units and number formats, decided once: every output shows a value the same way.

The model formats each cell with these functions; the renderers only place
the text.  None (not measured, or refused as absurd) prints as ``MISSING``.
"""

import functools
import math
import re
import unicodedata

MISSING = "?"
NOT_MEASURED = "not measured"

# What a plausible measurement looks like; outside this a value is that fact's error, not a figure.
# Durations: 1 ns to 30 days.  Counts (/proc entries, modules, CPUs): 0 to 10^9.  Memory: up to 1 PiB in KiB.
DURATION_RANGE = (1e-9, 30 * 86400.0)
COUNT_RANGE = (0, 10 ** 9)
KIB_RANGE = (0, 2.0 ** 40)

# What a host may not put in front of a reader, by Unicode category: controls (Cc: ESC starts every
# colour, cursor and title sequence), format characters (Cf: the bidi marks and overrides that reorder
# what a reader sees, U+061C among them, zero-width joiners), line and paragraph separators (Zl, Zp:
# U+2028 breaks a line where the text shows none) and lone surrogates (Cs: no UTF-8 file can hold one).
# Decided per character by category, never a list of code points: a list misses the next mark.
HIDDEN_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))
REPLACEMENT = "\ufffd"
# OWASP's CSV-injection rule: a cell a spreadsheet would read as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# The escapers below see the same short values over and over (a kernel, a CPU model, a verdict on every row:
# about 1.3 million calls for the outputs of 10,000 hosts): short texts are remembered, bounded in count and
# size, so a report costs one look-up per repeated cell (bench/README.md, 9.6).
MEMO_TEXT = 256
MEMO_ENTRIES = 1 << 15


def memo(function):
    """``function(text)`` remembered for texts of at most MEMO_TEXT characters (exact str only; a subclass, such
    as Markdown that is already text, and longer texts go straight to ``function``)."""
    remembered = functools.lru_cache(maxsize=MEMO_ENTRIES)(function)

    def call(text):
        if type(text) is str and len(text) <= MEMO_TEXT:  # pylint: disable=unidiomatic-typecheck
            return remembered(text)
        return function(text)
    call.__doc__ = function.__doc__
    call.cache_clear = remembered.cache_clear
    call.remembered = remembered  # for a caller that has already checked the text (one Python call less per cell)
    return call


def number(value, bounds):
    """``value`` as a float when it is a real number within ``bounds``, else None."""
    if type(value) is float:  # pylint: disable=unidiomatic-typecheck  # most figures: one test, then the bounds
        return value if math.isfinite(value) and bounds[0] <= value <= bounds[1] else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:  # an int of 400 digits
        return None
    if not math.isfinite(value) or not bounds[0] <= value <= bounds[1]:
        return None
    return value


def problem(value, bounds, what):
    """Why ``value`` is not a plausible ``what`` (None when it is, or when it is absent)."""
    if value is None or number(value, bounds) is not None:
        return None
    text = repr(value)
    if len(text) > 40:
        text = "%s... (%d characters)" % (text[:20], len(text))
    return "%s %s is not a number between %g and %g: left out" % (what, text, bounds[0], bounds[1])


def duration(seconds):
    """One duration, three significant figures: "168 ms", "6.6 s"."""
    seconds = number(seconds, (0.0, DURATION_RANGE[1]))
    if seconds is None:
        return MISSING
    if seconds < 1:
        return "%.3g ms" % (seconds * 1000)
    return "%.3g s" % seconds


def pair(low, high):
    """A statistic and its tail, e.g. "168 ms / 177 ms"."""
    return "%s / %s" % (duration(low), duration(high))


def mib(kib):
    kib = number(kib, KIB_RANGE)
    return MISSING if kib is None else "%.1f MiB" % (kib / 1024.0)


def count(value):
    value = number(value, COUNT_RANGE)
    return MISSING if value is None else "%d" % value


def ratio(high, low):
    """"11x" for how many times ``high`` is ``low``; None when it cannot be said."""
    if not high or not low:
        return None
    value = high / low
    return "%.2gx" % value if value < 100 else "%dx" % round(value)


def plural(number_, word):
    return "%d %s%s" % (number_, word, "" if number_ == 1 else "s")


def hidden(text, keep=""):
    """``text`` with every character of HIDDEN_CATEGORIES (except those in ``keep``) as U+FFFD.

    Only the distinct characters of the text are looked up, so a long text of
    ordinary characters costs one pass in C.
    """
    found = [char for char in set(text) if char not in keep and unicodedata.category(char) in HIDDEN_CATEGORIES]
    if not found:
        return text
    return re.sub("[%s]" % "".join(re.escape(char) for char in found), REPLACEMENT, text)


def host_text(value, limit=4096):
    """A value that came from a host, as one line of plain text: no control or format characters, bounded."""
    text = value if isinstance(value, str) else "%s" % ("" if value is None else value)
    if not text.isprintable():  # the common case (printable text) skips the substitution
        text = hidden(text.replace("\n", " "))
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def terminal(text):
    """Text for the terminal: everything but newlines that could steer it is replaced."""
    return hidden(text, "\n")


def csv_cell(value):
    """A CSV cell a spreadsheet shows as text, never runs (OWASP: prefix a formula start with ')."""
    if type(value) is str and len(value) <= MEMO_TEXT:  # pylint: disable=unidiomatic-typecheck  # most cells
        return _csv_text.remembered(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return _csv_text("" if value is None else str(value))


@memo
def _csv_text(text):
    if not text.isprintable():  # every hidden character is unprintable: the common case skips the look-up
        text = hidden(text)
    return "'" + text if text.startswith(_FORMULA_START) else text
