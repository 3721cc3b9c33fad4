# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which module gives which capability: one map for the hosts and the controller.

A capability's name is the key its module's result comes back under
(``isolation_probe`` returns ``isolation``) and the key of the host's record
on the controller; the module's name keys its result in verify_host's
``module_results``.  The verify_host module runs the capabilities in this
order, the controller's contract (plugin_utils/_report/contract.py) keeps
their results by it, and kata_fleet_runner finds them through the contract.
"""

# (capability, module). The probes run the probe image, in this order; the audit (read-only, no image) runs
# last, once every probe container is gone.
PROBE_MODULES = (("isolation", "isolation_probe"), ("startup", "startup_bench"), ("http", "http_latency"),
                 ("workload", "workload_bench"))
MODULES = PROBE_MODULES + (("audit", "workload_audit"),)
CAPABILITIES = tuple(capability for capability, module in MODULES)
# The capabilities whose result holds one entry per runtime handler (``runtimes``), kept per probe in a host's
# record and its report; the others are kept whole.
PER_HANDLER = ("isolation", "startup", "http")
# What verify_host's ``module_results`` carries besides the capabilities: the host's view and the probe image
# (the modules every probe needs first).
HOST_MODULES = ("host_facts", "probe_image")
