"""Regenerate docs/sample-bundle/ from recorded real output (make sample).

Hosts: the lab report's laptop (runc + Kata, tests/fixtures/recorded/lab_report_laptop.json),
this development machine's real verify run (runc, tests/fixtures/recorded/this_machine_verify.json)
and an unreachable host, so a reader sees every kind of row without a Kata host.
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "collections"))

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _policy  # noqa: E402
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import bundle, contract, model  # noqa: E402
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report.view import build_view  # noqa: E402

RECORDED = os.path.join(ROOT, "tests", "fixtures", "recorded")
RUN_ID = "20261201T040000-0a1b"
RUN = {
    "started": "2026-12-01T04:00:00Z",
    "finished": "2026-12-01T04:00:12Z",
    "controller": {"hostname": "controller.example", "user": "root", "python": "3.11.7"},
    "versions": {"ansible_core": "2.19.14", "collection": "0.1.0"},
    "playbooks": ["playbooks/verify.yml"],
    "inventory": ["inventories/example"],
}


def machine_record():
    """The record of this machine, from the module results of a real verify run, as the contract reads them."""
    with open(os.path.join(RECORDED, "this_machine_verify.json")) as handle:
        results = json.load(handle)
    record = contract.record_from_results({
        "host_facts": results["host_facts"], "isolation": results["isolation_probe"],
        "startup": results["startup_bench"], "http": results["http_latency"]})
    record["run_ids"] = [RUN_ID]  # recorded under another run: this sample names it
    return record


def records():
    with open(os.path.join(RECORDED, "lab_report_laptop.json")) as handle:
        lab = json.load(handle)
    lab.pop("_provenance")
    unreachable = contract.new_record()
    contract.unreachable(unreachable, "Failed to connect to the host via ssh: ssh: connect to host 192.0.2.10 port 22: "
                                      "Connection timed out")
    return {"lab-laptop": dict(contract.new_record(), **lab), "dev-vm": machine_record(), "node-unreachable": unreachable}


def sample_report():
    """The report the callback would build, default policies checked as policy_check checks them."""
    hosts = records()
    policies = _policy.policy_set()
    per_host = dict((name, _policy.evaluate(policies, name, model.host_entry(record)))
                    for name, record in hosts.items() if record["status"] == "ok")
    return model.build_report(hosts, dict(RUN), RUN_ID, per_host)


def main(destination):
    """Write the bundle as the callback does, then drop the run folder's link: the sample is the folder."""
    report = sample_report()
    json_text = model.to_json(report)
    view = build_view(report)
    folder, written, warnings = bundle.write_bundle(report["run_id"], destination, bundle.outputs(report, json_text, view))
    os.unlink(os.path.join(destination, bundle.LATEST))
    for warning in warnings:
        print(warning, file=sys.stderr)
    print("wrote %s: %s" % (folder, ", ".join(written)))
    return 1 if warnings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "docs", "sample-bundle")))
