# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/plugin_utils/_report/view.py: build_view, what every output shows, decided once from report.json."""

import ast
import builtins
import copy
import json
import sys

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import contract, model, view as report_view
from conftest import REPO_ROOT  # noqa: E402  pylint: disable=wrong-import-position

REPORT_PACKAGE = REPO_ROOT / "plugins" / "plugin_utils" / "_report"
PACKAGE = "ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report"


def test_the_sample_view(sample_report):
    view = report_view.build_view(sample_report)
    assert view["report"] is sample_report and view["result"] == "fail" and view["reasons"] == ["1 host unreachable"]
    assert view["answer"] == [
        {"runtime": "kata", "verdict": "vm-isolated", "kind": "vm-isolated", "hosts": 1, "agree": 1, "disagree": []},
        {"runtime": "runc", "verdict": "shared-kernel", "kind": "shared-kernel", "hosts": 2, "agree": 2, "disagree": []}]
    assert [(row["host"], row["runtime"], row["kind"]) for row in view["rows"]] == [
        ("dev-vm", report_view.HOST_ROW, "host-view"), ("dev-vm", "runc", "runtime"),
        ("lab-laptop", report_view.HOST_ROW, "host-view"), ("lab-laptop", "kata", "runtime"), ("lab-laptop", "runc", "runtime"),
        ("node-unreachable", "-", "error")]
    assert view["listed_rows"] == view["rows"] and view["hosts_left_out"] == 0
    assert [row["runtime"] for row in view["performance_rows"]] == ["runc", "kata", "runc", "-"]
    assert view["image_lines"] == view["listed_image_lines"] == ["Probe image: not recorded, on every host"]
    assert view["failures"] == ["node-unreachable unreachable: Failed to connect to the host via ssh: ssh: connect to host "
                                "192.0.2.10 port 22: Connection timed out"]
    assert view["errors"] == [] and view["policies"] == []
    assert [section["title"] for section in view["findings"]] == [
        "Isolation, as measured", "What the boundary means", "Trade-offs"]
    assert [card["host"] for card in view["evidence"]] == ["dev-vm", "lab-laptop", "node-unreachable"]


def test_rows_carry_every_column_and_the_figures(sample_report):
    view = report_view.build_view(sample_report)
    for row in view["rows"]:
        assert set(key for key, _title in report_view.COLUMNS) <= set(row), row
    kata = [row for row in view["rows"] if row["runtime"] == "kata"][0]
    assert (kata["kernel"], kata["cpu_model"], kata["proc_entries"], kata["modules"], kata["interfaces"]) == (
        "6.12.47", "Intel(R) Xeon(R) Processor", "53", "72", "eth0, lo")
    assert (kata["verdict"], kata["verdict_kind"], kata["host_sees"], kata["startup"]) == (
        "vm-isolated", "vm-isolated", report_view.NOT_RECORDED, "6.6 s / 6.6 s")
    assert kata["figures"] == {"startup": (6.6, 6.6, None), "http": (None, None, "not measured")}
    runc = [row for row in view["rows"] if row["host"] == "lab-laptop" and row["runtime"] == "runc"][0]
    assert runc["http"] == "mean 0.3 ms (no p50 recorded)" and runc["proc_entries"] == "?"


def test_the_host_card_holds_the_hosts_facts(sample_report):
    cards = dict((card["host"], card) for card in report_view.build_view(sample_report)["evidence"])
    facts = dict(cards["dev-vm"]["facts"])
    assert (facts["kernel"], facts["CPU"], facts["memory"]) == ("6.18.44-fc-v1045", "2 x AMD EPYC", "24105.1 MiB")
    assert facts["KVM"] == "the KVM device answers (/dev/kvm); no guest was started"  # an older record: no summary
    assert [runtime["runtime"] for runtime in cards["lab-laptop"]["runtimes"]] == ["kata", "runc"]
    kata = cards["lab-laptop"]["runtimes"][0]
    assert (kata["verdict"], kata["kind"], kata["host_sees"], kata["problems"]) == (
        "vm-isolated", "vm-isolated", report_view.NOT_RECORDED, [])
    assert ("runtime type", "io.containerd.kata.v2") in kata["facts"]
    unreachable = cards["node-unreachable"]
    assert unreachable["status"] == "unreachable" and unreachable["error"].startswith("Failed to connect")
    assert unreachable["runtimes"] == [] and unreachable["facts"] == []


def test_listed_hosts_puts_failed_refused_and_differing_hosts_first(sample_report):
    for number in range(10):
        sample_report["hosts"]["a-%02d" % number] = copy.deepcopy(sample_report["hosts"]["dev-vm"])
    odd = copy.deepcopy(sample_report["hosts"]["dev-vm"])
    odd["runtimes"]["runc"]["isolation"]["verdict"] = "vm-isolated"
    sample_report["hosts"]["z-odd"] = odd
    view = report_view.build_view(sample_report, listed_hosts=3)
    shown = [card["host"] for card in view["evidence"]]
    assert shown == ["a-00", "node-unreachable", "z-odd"]  # the two that need a look, then in name order
    assert view["hosts_left_out"] == 11 and len(view["rows"]) == 2 * 12 + 3 + 1
    assert set(row["host"] for row in view["listed_rows"]) == set(shown)
    [runc] = [item for item in view["answer"] if item["runtime"] == "runc"]
    assert runc["disagree"] == [("z-odd", "vm-isolated")] and (runc["agree"], runc["hosts"]) == (12, 13)


def test_one_hosts_nonsense_costs_that_hosts_rows_only(sample_report):
    sample_report["hosts"]["broken"] = {"status": 5, "error": None, "host": None, "runtimes": {}}
    view = report_view.build_view(sample_report)
    [row] = [row for row in view["rows"] if row["host"] == "broken"]
    assert row["kind"] == "error" and row["verdict"].startswith("ERROR: broken: this host's results could not be shown")
    assert any(error.startswith("broken: this host's results could not be shown: AttributeError") for error in view["errors"])
    assert len([row for row in view["rows"] if row["host"] != "broken"]) == 6  # every other host whole


def test_hostile_text_is_one_bounded_line_in_every_cell(sample_report):
    isolation = sample_report["hosts"]["dev-vm"]["runtimes"]["runc"]["isolation"]
    isolation.update(kernel_release="6.1\x1b[2J\n\u202e" + "k" * 5000, cpu_model=["not", "text"],
                     interfaces=[{"name": 7}, "eth0", {"name": "lo\u2028"}], proc_entries=int("9" * 400))
    sample_report["hosts"]["dev-vm"]["host"]["modules"] = -1
    view = report_view.build_view(sample_report)
    [runc] = [row for row in view["rows"] if row["host"] == "dev-vm" and row["runtime"] == "runc"]
    assert runc["kernel"].startswith("6.1\ufffd[2J \ufffd") and len(runc["kernel"]) == 256
    assert runc["cpu_model"] == "['not', 'text']" and runc["interfaces"] == "?, ?, lo\ufffd"
    assert runc["proc_entries"] == "?"
    text = " ".join(view["errors"])
    assert "dev-vm runc: an interface without a name" in text and "/proc count 9999" in text
    assert "dev-vm host view: module count -1 is not a number between 0 and 1e+09: left out" in text


def test_policies_are_counted_over_every_host_and_told_as_sentences(sample_report):
    sample_report["policies"] = [{"name": "no-shared-kernel", "severity": "error", "description": "no runc\x1b[31m",
                                  "results": [
                                      {"host": "dev-vm", "status": "fail", "detail": json.dumps(
                                          [{"handler": "runc", "verdict": "shared-kernel", "reason": None}])},
                                      {"host": "lab-laptop", "status": "pass", "detail": "[]"},
                                      {"host": "node-unreachable", "status": "surprise", "detail": None}]}]
    view = report_view.build_view(sample_report)
    [policy] = view["policies"]
    assert policy["counts"] == {"pass": 1, "fail": 1, "skip": 0, "error": 1}
    assert policy["description"] == "no runc\ufffd[31m"
    assert [(result["host"], result["status"], result["sentence"]) for result in policy["results"]] == [
        ("dev-vm", "fail", "runc on dev-vm: shared-kernel"), ("lab-laptop", "pass", "lab-laptop: nothing to check"),
        ("node-unreachable", "error", "node-unreachable: none")]
    assert "error policy failed: no-shared-kernel" in view["reasons"]
    assert "dev-vm breaks policy no-shared-kernel (error): runc on dev-vm: shared-kernel" in view["failures"]


def test_policy_details_read_as_sentences():
    assert report_view.policy_sentence("localhost", '[{"handler": "runc", "verdict": "shared-kernel", "reason": null}]') == \
        "runc on localhost: shared-kernel"
    assert report_view.policy_sentence("h", '{"kvm_usable": true, "missing": ["host.vhost"]}') == \
        "h: kvm usable true; missing host.vhost"
    assert report_view.policy_sentence("h", '[{"handler": "runc", "p95": 0.231}]') == "runc on h: p95 231 ms"
    assert report_view.policy_sentence("h", "does not apply: applies_to gave false") == "h: does not apply: applies_to gave false"


def test_refused_witness_fields_are_found_by_host_and_runtime():
    report = {"errors": [
        {"host": "h", "error": "runtimes/kata/qemu/isolation/image_digest: 'x' is not sha256:<64 hex digits>: invalid"},
        {"host": "h", "error": "runtimes/kata/qemu/isolation/witness: 'maybe' is not ...: invalid, left out"},
        {"host": "h", "error": "runtimes/runc/startup/total: 'x' are not statistics"},
        {"host": None, "error": "runtimes/runc/isolation/witness: from no host"}, "not a mapping"]}
    assert report_view.refused_fields(report) == {"h": {"kata/qemu": {"image_digest", "witness"}}}


def test_the_view_of_a_report_json_read_back_is_the_same(sample_report):
    text = model.to_json(copy.deepcopy(sample_report))
    again = report_view.build_view(json.loads(text))
    first = report_view.build_view(sample_report)
    for key in ("rows", "answer", "failures", "errors", "findings", "evidence", "policies", "image_lines"):
        assert json.loads(json.dumps(again[key])) == json.loads(json.dumps(first[key])), key


# ---------------------------------------------------------------- no import cycle in the report package


def _imports(path):
    """The _report modules ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == PACKAGE:
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE + "."):
            found.add(node.module[len(PACKAGE) + 1:])
        elif isinstance(node, ast.Import):
            found.update(alias.name[len(PACKAGE) + 1:] for alias in node.names if alias.name.startswith(PACKAGE + "."))
    return found


def _graph():
    return dict((path.stem, _imports(path)) for path in REPORT_PACKAGE.glob("*.py") if path.stem != "__init__")


def test_the_report_package_has_no_import_cycle():
    graph = _graph()
    assert {"model", "view", "narrative", "formatting", "csv_table"} <= set(graph)
    for start in graph:
        seen, stack = set(), list(graph[start])
        while stack:
            name = stack.pop()
            assert name != start, "%s imports itself through %s" % (start, sorted(seen))
            if name not in seen:
                seen.add(name)
                stack.extend(graph.get(name, ()))


@pytest.mark.parametrize("module", ["model", "narrative", "formatting", "contract", "workload_audit"])
def test_the_layers_below_the_view_never_import_it(module):
    graph = _graph()
    below, stack = set(), [module]
    while stack:
        for name in graph[stack.pop()]:
            if name not in below:
                below.add(name)
                stack.append(name)
    assert "view" not in below and not below & {"console", "csv_table", "html", "markdown", "svg", "junit"}


def test_no_module_of_the_package_is_named_after_a_builtin_or_a_standard_module():
    """csv.py and format.py were (issue 23); html.py is the one standard name left: report.html's renderer."""
    named = set(sys.stdlib_module_names) | set(dir(builtins))
    assert sorted(name for name in _graph() if name in named) == ["html"]


def test_a_probe_result_is_read_through_the_models_verdict():
    """The view, the narrative and junit read a verdict one way: model.verdict_of."""
    assert model.verdict_of({"status": "ok", "verdict": "vm-isolated", "sandbox": "kata/qemu"}) == ("vm-isolated", "kata/qemu")
    assert model.verdict_of({"status": "ok", "verdict": "a lie"}) == ("unknown", None)
    assert model.verdict_of({"status": "failed", "verdict": "vm-isolated"}) == ("failed", None)
    assert model.verdict_of({"status": "planned"}) == (None, None) and model.verdict_of("text") == (None, None)
    assert model.verdict_label("user-space-kernel", "gvisor") == "user-space-kernel (gvisor)"
    assert model.verdict_label(None, None) == "-"
    assert set(contract.PROBES) == {"isolation", "startup", "http"}
