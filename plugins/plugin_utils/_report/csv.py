# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.csv: the comparison table's cells in full, plus plain numbers (seconds, KiB) for spreadsheets.

A data writer, not a template: cells come from the view, text cells that a
spreadsheet would run as a formula are neutralised (``format.csv_cell``).
The last columns name the probe image and the host's witness in plain words
(image_source, image_digest, host_witness class, witness), each validated by
the model: "not recorded" for an older record, "invalid" for a refused value.
"""

from __future__ import absolute_import

import csv
import io

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import format as fmt
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report.model import COLUMNS, NUMBERS, WITNESS_COLUMNS


def render(view):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([title for _key, title in COLUMNS] + [key for key, _path, _bounds in NUMBERS]
                    + [column for _key, column in WITNESS_COLUMNS])
    blank = dict((key, None) for key, _path, _bounds in NUMBERS)
    for row in view["rows"]:
        numbers = row.get("numbers") or blank
        witness = row.get("witness") or {}
        writer.writerow([fmt.csv_cell(row.get(key, "")) for key, _title in COLUMNS]
                        + ["" if numbers.get(key) is None else repr(numbers[key]) for key, _path, _bounds in NUMBERS]
                        + [fmt.csv_cell(witness.get(key, "")) for key, _column in WITNESS_COLUMNS])
    return out.getvalue()
