# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side of kata-fleet: module results -> one report model -> every output.

The modules read in the order of the data flow:

* ``contract``: which module results make a host record (``record_from_results``; the run id rule is module_utils/_runid.py);
* ``model``: the report, ``build_report`` (report.json, ``conform`` to its schema) and ``to_json``;
* ``formatting``: units and number formats, plausible ranges, text a host sent made harmless, decided once;
* ``narrative``: the findings: the answer per runtime and the trade-offs, in sentences (reads the report);
* ``view``: ``build_view``, what every renderer shows, from the report (imports ``model`` and ``narrative``,
  neither imports it);
* ``console``, ``markdown``, ``html`` (+ ``svg``, ``templates/``), ``csv_table``, ``junit``: pure renderings;
* ``bundle``: the evidence folder, written file by file.
"""
