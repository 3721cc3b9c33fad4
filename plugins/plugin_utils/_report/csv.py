# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.csv: the comparison table's cells in full, plus plain numbers (seconds, KiB) for spreadsheets.

A data writer, not a template: cells come from the view, text cells that a
spreadsheet would run as a formula are neutralised (``format.csv_cell``).
"""

from __future__ import absolute_import

import csv
import io

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import format as fmt
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report.model import COLUMNS, NUMBERS


def render(view):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([title for _key, title in COLUMNS] + [key for key, _path, _bounds in NUMBERS])
    blank = dict((key, None) for key, _path, _bounds in NUMBERS)
    for row in view["rows"]:
        numbers = row.get("numbers") or blank
        writer.writerow([fmt.csv_cell(row.get(key, "")) for key, _title in COLUMNS]
                        + ["" if numbers.get(key) is None else repr(numbers[key]) for key, _path, _bounds in NUMBERS])
    return out.getvalue()
