# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller side of kata-fleet: module results -> one report model -> every output.

The modules read in the order of the data flow:

* ``contract``: which module results make a host record (``record_from_results``), the run id rule;
* ``model``: ``build_report`` (report.json) and ``build_view`` (what every renderer shows);
* ``format``: units and number formats, decided once;
* ``narrative``: the answer per runtime and the trade-offs, in sentences;
* ``console``, ``markdown``, ``html`` (+ ``svg``, ``templates/``), ``csv``, ``junit``: pure renderings;
* ``bundle``: the evidence folder, written file by file.
"""
