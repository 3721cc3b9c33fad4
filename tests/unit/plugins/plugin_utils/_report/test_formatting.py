# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/plugin_utils/_report/formatting.py: units, plausible ranges, and a host's text made harmless."""

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import formatting as fmt


def test_formats():
    assert [fmt.duration(v) for v in (6.6, 0.168, 0.000803, None, float("nan"), 10 ** 400)] == \
        ["6.6 s", "168 ms", "0.803 ms", "?", "?", "?"]
    assert fmt.mib(13517) == "13.2 MiB" and fmt.count(56) == "56" and fmt.count(True) == "?"
    assert fmt.ratio(6.6, 0.6) == "11x" and fmt.ratio(1.5, 1.0) == "1.5x" and fmt.ratio(1, 0) is None
    assert fmt.csv_cell("=1+1") == "'=1+1" and fmt.csv_cell(-1.5) == -1.5 and fmt.csv_cell("a-b") == "a-b"
    assert fmt.terminal("a\x1b[31mb\nc") == "a\ufffd[31mb\nc"
    assert fmt.host_text("x" * 10, 5) == "xxxx\u2026"


@pytest.mark.parametrize("value, bounds, expected", [
    (0.5, fmt.DURATION_RANGE, 0.5), (3, fmt.COUNT_RANGE, 3.0), (fmt.DURATION_RANGE[1], fmt.DURATION_RANGE, 2592000.0),
    (0.0, fmt.DURATION_RANGE, None),  # below a nanosecond: no duration
    (fmt.DURATION_RANGE[1] * 2, fmt.DURATION_RANGE, None), (-1, fmt.COUNT_RANGE, None),
    (True, fmt.COUNT_RANGE, None), ("5", fmt.COUNT_RANGE, None), (None, fmt.COUNT_RANGE, None),
    (float("inf"), fmt.KIB_RANGE, None), (float("nan"), fmt.KIB_RANGE, None), (10 ** 400, fmt.KIB_RANGE, None),
])
def test_number_takes_only_plausible_real_numbers(value, bounds, expected):
    assert fmt.number(value, bounds) == expected


def test_problem_names_the_value_and_the_range_and_bounds_a_long_value():
    assert fmt.problem(None, fmt.COUNT_RANGE, "/proc count") is None
    assert fmt.problem(56, fmt.COUNT_RANGE, "/proc count") is None
    assert fmt.problem(-3, fmt.COUNT_RANGE, "/proc count") == "/proc count -3 is not a number between 0 and 1e+09: left out"
    long = fmt.problem(int("9" * 400), fmt.COUNT_RANGE, "/proc count")
    assert long.startswith("/proc count 99999999999999999999... (400 characters) is not a number") and len(long) < 120


def test_units_for_every_output():
    assert fmt.duration(0.0) == "0 ms" and fmt.duration(-1) == fmt.MISSING  # zero is a duration, a negative is not
    assert fmt.pair(0.168, None) == "168 ms / ?" and fmt.pair(1.5, 30.25) == "1.5 s / 30.2 s"
    assert fmt.mib(None) == fmt.MISSING and fmt.mib(2.0 ** 41) == fmt.MISSING and fmt.mib(1024) == "1.0 MiB"
    assert fmt.count(10 ** 10) == fmt.MISSING and fmt.count(7.9) == "7"
    assert fmt.ratio(250, 2) == "125x" and fmt.ratio(None, 1) is None
    assert (fmt.plural(1, "host"), fmt.plural(0, "host"), fmt.plural(2, "host")) == ("1 host", "0 hosts", "2 hosts")


@pytest.mark.parametrize("char", ["\u061c", "\u2028", "\u2029", "\u200b", "\ufeff", "\u202e", "\u2066", "\x85", "\x1b",
                                  "\U000e0001", "\ud800", "\udfff"])
def test_console_and_csv_filters_cover_every_format_and_separator_character(char):
    assert fmt.host_text("a%sb" % char) == "a\ufffdb"
    assert fmt.terminal("a%sb\nc" % char) == "a\ufffdb\nc"
    assert fmt.csv_cell("a%sb" % char) == "a\ufffdb"


def test_the_filters_keep_ordinary_text():
    text = "Intel(R) Xeon(R) \u00e9t\u00e9 \u2026 \u4e2d\u6587 \U0001f600"
    assert fmt.host_text(text) == text and fmt.terminal(text) == text and fmt.csv_cell(text) == text


def test_host_text_is_one_bounded_line_of_any_value():
    assert fmt.host_text("two\nlines") == "two lines"
    assert fmt.host_text(None) == "" and fmt.host_text(42) == "42" and fmt.host_text(["a"]) == "['a']"
    assert fmt.host_text("\x1b[2J" * 100, 10) == "\ufffd[2J\ufffd[2J\ufffd\u2026"
    assert len(fmt.host_text("y" * 5000)) == 4096


@pytest.mark.parametrize("cell", ["=HYPERLINK(\"http://evil.invalid\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)"])
def test_csv_cell_never_starts_a_formula(cell):
    assert fmt.csv_cell(cell) == "'" + cell


def test_csv_cell_replaces_a_leading_tab_or_return_so_nothing_starts_a_formula():
    assert fmt.csv_cell("\t=1") == "\ufffd=1" and fmt.csv_cell("\r=1") == "\ufffd=1"


def test_csv_cell_keeps_numbers_and_empties():
    assert fmt.csv_cell(0) == 0 and fmt.csv_cell(None) == "" and fmt.csv_cell(True) == "True"


def test_memo_remembers_short_exact_strings_only():
    calls = []

    @fmt.memo
    def shout(text):
        calls.append(text)
        return text.upper()

    assert shout("runc") == "RUNC" and shout("runc") == "RUNC" and calls == ["runc"]
    long_text = "x" * (fmt.MEMO_TEXT + 1)
    assert shout(long_text) == long_text.upper() and shout(long_text) == long_text.upper()
    assert calls.count(long_text) == 2  # too long to remember: computed each time, memory stays bounded

    class Marked(str):
        pass
    assert shout(Marked("runc")) == "RUNC" and calls.count("runc") == 2  # a subclass is never served a plain str


def test_remembered_cells_equal_the_computed_ones():
    expected = {"=cmd|' /C calc'!A0": "'=cmd|' /C calc'!A0", "6.1.0-13-amd64": "6.1.0-13-amd64",
                "a\u202eb": "a\ufffdb", "": "", "+1": "'+1", "-" + "x" * 300: "'-" + "x" * 300}
    for _twice in range(2):  # the second round is served from memory for the short ones
        assert dict((value, fmt.csv_cell(value)) for value in expected) == expected
    assert fmt.csv_cell(True) == "True" and fmt.csv_cell(1) == 1 and fmt.csv_cell(1.5) == 1.5
