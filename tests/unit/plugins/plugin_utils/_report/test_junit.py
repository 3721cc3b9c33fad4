# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/plugin_utils/_report/junit.py: JUnit XML from report.json, checked element by element."""

import json
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import junit as _junit
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _policy
from conftest import REPO_ROOT  # noqa: E402  pylint: disable=wrong-import-position

SAMPLE = REPO_ROOT / "tests" / "fixtures" / "sample_report.json"
COUNTS = ("tests", "failures", "errors", "skipped")
UNREACHABLE = ("host unreachable: Failed to connect to the host via ssh: "
               "ssh: connect to host 192.0.2.10 port 22: Connection timed out")


@pytest.fixture
def report():
    """The sample report with the default policies and a startup ceiling evaluated on its reachable hosts."""
    data = json.loads(SAMPLE.read_text())
    policies = _policy.policy_set(startup_p95_seconds=1.0)
    per_host = dict((name, _policy.evaluate(policies, name, host))
                    for name, host in data["hosts"].items() if host["status"] == "ok")
    data["policies"] = _policy.merge_results(per_host)
    return data


def parse(text):
    assert text.startswith("<?xml version='1.0' encoding='utf-8'?>\n")
    return ET.fromstring(text)


def outcome(case):
    """passed, or the tag of the testcase's one failure, error or skipped child."""
    children = [child for child in case if child.tag in ("failure", "error", "skipped")]
    assert len(children) <= 1
    return children[0].tag if children else "passed"


def counted(cases):
    tags = [outcome(case) for case in cases]
    return {"tests": len(tags), "failures": tags.count("failure"), "errors": tags.count("error"),
            "skipped": tags.count("skipped")}


def suites(root):
    return dict((suite.get("name"), suite) for suite in root.findall("testsuite"))


def case(root, policy, host):
    (found,) = [item for item in suites(root)[policy].findall("testcase") if item.get("name") == host]
    return found


def test_root_and_one_suite_per_policy(report):
    root = parse(_junit.render(report))
    assert root.tag == "testsuites"
    assert root.get("name") == "kata-fleet"
    assert root.get("timestamp") == report["finished"] == "2026-12-01T04:00:12Z"
    assert root.get("time") == "12.000"
    assert list(suites(root)) == ["kata-vm-isolated", "gvisor-user-space-kernel", "runc-shared-kernel", "kata-preflight",
                                  "startup-p95"]
    for name, suite in suites(root).items():
        assert suite.get("timestamp") == report["finished"]
        assert [item.get("name") for item in suite.findall("testcase")] == ["dev-vm", "lab-laptop", "node-unreachable"]
        assert set(item.get("classname") for item in suite.findall("testcase")) == {name}


def test_counts_match_the_testcases(report):
    root = parse(_junit.render(report))
    totals = dict((key, 0) for key in COUNTS)
    for suite in root.findall("testsuite"):
        expected = counted(suite.findall("testcase"))
        assert dict((key, int(suite.get(key))) for key in COUNTS) == expected
        for key in COUNTS:
            totals[key] += expected[key]
    assert dict((key, int(root.get(key))) for key in COUNTS) == totals
    # 5 policies x 3 hosts: lab-laptop fails kata-preflight and startup-p95, node-unreachable errors in each,
    # dev-vm skips the two Kata policies, and neither reachable host has a gVisor handler.
    assert totals == {"tests": 15, "failures": 2, "errors": 5, "skipped": 4}


def test_pass_fail_and_skip(report):
    root = parse(_junit.render(report))
    passed = case(root, "kata-vm-isolated", "lab-laptop")
    assert outcome(passed) == "passed"
    assert json.loads(passed.find("system-out").text) == [{"handler": "kata", "verdict": "vm-isolated", "reason": None}]

    skipped = case(root, "kata-vm-isolated", "dev-vm").find("skipped")
    assert skipped.get("message") == "does not apply: applies_to gave false"

    failure = case(root, "kata-preflight", "lab-laptop").find("failure")
    assert failure.get("type") == "error"
    assert failure.get("message").startswith("kata-preflight: A host with a Kata handler")
    assert failure.text.startswith('seen: {"kvm_usable": true, "vhost_vsock_loaded": null')
    assert '"missing": ["host.vhost"]' in failure.text
    assert "expect: host.kvm.usable == `true` && " in failure.text

    warning = case(root, "startup-p95", "lab-laptop").find("failure")
    assert warning.get("type") == "warning"
    assert '{"handler": "kata", "p95": 6.6}' in warning.text


def test_unreachable_host_is_an_error_in_every_suite(report):
    root = parse(_junit.render(report))
    for name in suites(root):
        error = case(root, name, "node-unreachable").find("error")
        assert error is not None
        assert error.get("type") == "not-evaluated"
        assert error.get("message") == "not evaluated: " + UNREACHABLE
        assert error.text == "not evaluated: " + UNREACHABLE


def test_not_evaluated_results_from_merge_results_render_the_same(report):
    """The callback merges with report.hosts, so the unreachable host already has an error result."""
    per_host = dict((name, _policy.evaluate(_policy.DEFAULT_POLICIES, name, host))
                    for name, host in report["hosts"].items() if host["status"] == "ok")
    report["policies"] = _policy.merge_results(per_host, report["hosts"])
    root = parse(_junit.render(report))
    error = case(root, "kata-vm-isolated", "node-unreachable").find("error")
    assert (error.get("type"), error.get("message")) == ("not-evaluated", "not evaluated: " + UNREACHABLE)
    assert int(root.get("tests")) == 12 and int(root.get("errors")) == 4


def test_evaluation_errors_carry_the_message_and_severity():
    report = {"finished": "2026-12-01T04:00:12Z", "hosts": {"node-a": {"status": "ok", "error": None}},
              "policies": [{"name": "p", "severity": "warning", "description": "d", "expect": "length(host.x) > `0`",
                            "results": [{"host": "node-a", "status": "error",
                                         "detail": "expect could not be evaluated: In function length(), invalid type"}]}]}
    error = parse(_junit.render(report)).find("testsuite/testcase/error")
    assert error.get("type") == "warning"
    assert error.get("message") == "expect could not be evaluated: In function length(), invalid type"
    assert error.text.endswith("expect: length(host.x) > `0`")


def test_properties_describe_the_policy(report):
    root = parse(_junit.render(report))
    properties = dict((item.get("name"), item.get("value"))
                      for item in suites(root)["runc-shared-kernel"].findall("properties/property"))
    assert properties["severity"] == "warning"
    assert properties["description"].startswith("runc shares the host kernel")
    [runc] = [policy for policy in _policy.DEFAULT_POLICIES if policy["name"] == "runc-shared-kernel"]
    assert properties["expect"] == runc["expect"]
    assert properties["applies_to"] == runc["applies_to"]


def test_without_policy_results_each_host_is_a_case_so_a_broken_run_is_not_green(report):
    report["policies"] = []
    root = parse(_junit.render(report))
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "hosts"
    assert [(item.get("name"), outcome(item)) for item in suite.findall("testcase")] == [
        ("dev-vm", "passed"), ("lab-laptop", "passed"), ("node-unreachable", "error")]
    assert suite.find("testcase/error").get("type") == "unreachable"
    assert dict((key, root.get(key)) for key in COUNTS) == {"tests": "3", "failures": "0", "errors": "1", "skipped": "0"}


def test_skipped_and_failed_hosts_in_the_hosts_suite():
    report = {"hosts": {"a": {"status": "skipped", "error": "no probe results"},
                        "b": {"status": "failed", "error": "Gather the host's view: boom"}}, "policies": []}
    root = parse(_junit.render(report))
    assert counted(root.findall("testsuite/testcase")) == {"tests": 2, "failures": 0, "errors": 1, "skipped": 1}
    assert root.find("testsuite/testcase/error").get("message") == "not evaluated: host failed: Gather the host's view: boom"
    assert root.get("timestamp") is None and root.get("time") is None


def test_empty_report():
    root = parse(_junit.render({"hosts": {}, "policies": []}))
    assert root.findall("testsuite") == []
    assert dict((key, root.get(key)) for key in COUNTS) == {"tests": "0", "failures": "0", "errors": "0", "skipped": "0"}


def test_control_characters_and_markup_in_details_stay_well_formed():
    detail = 'seen <b>&"quotes"\x1b[31m\x00 and ]]>'
    report = {"finished": "2026-12-01T04:00:12Z", "hosts": {"n<1>": {"status": "ok", "error": None}},
              "policies": [{"name": "p&q", "severity": "error", "description": "<d>", "expect": "a < b",
                            "results": [{"host": "n<1>", "status": "fail", "detail": detail}]}]}
    root = parse(_junit.render(report))
    failure = root.find("testsuite/testcase/failure")
    assert root.find("testsuite").get("name") == "p&q"
    assert root.find("testsuite/testcase").get("name") == "n<1>"
    assert failure.text.startswith('seen: seen <b>&"quotes"\ufffd[31m\ufffd and ]]>')


def test_cross_check_with_junitparser(report, tmp_path):
    import junitparser  # pylint: disable=import-outside-toplevel  # a real JUnit reader, from requirements.txt
    path = tmp_path / "junit.xml"
    path.write_text(_junit.render(report))
    xml = junitparser.JUnitXml.fromfile(str(path))
    assert sum(suite.tests for suite in xml) == 15


def test_a_contradicted_probe_is_a_failure_and_hostile_witness_text_stays_xml():
    """Issue 18: the isolation-probe suite, from a hand-built report; every value passes XML escaping."""
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import view as report_view
    story = {"container": "vm-isolated (kata/qemu)", "host": "host-process </failure><x>"}
    report = {"finished": "2026-12-01T04:00:12Z", "policies": [], "errors": [], "hosts": {
        "n<1>": {"status": "ok", "runtimes": {
            "kata": {"isolation": {"status": "failed", "verdict": None, "witness": "contradicted",
                                   "error": "contradicted by the host: a & b \ud800", "contradiction": story,
                                   "host_witness": {"class": "host-process", "evidence": ["pid 9 ]]> <y/>"]},
                                   "image_source": "registry", "image_digest": None}},
            "runc": {"isolation": {"status": "ok", "verdict": "shared-kernel", "witness": "agrees",
                                   "image_digest": "sha256:" + "a" * 63, "host_witness": {"class": "bogus"}}},
            "old": {"isolation": {"status": "ok", "verdict": "shared-kernel"}}}}}}
    root = parse(_junit.render(report))
    suite = suites(root)["isolation-probe"]
    assert [item.get("name") for item in suite.findall("testcase")] == ["n<1> kata", "n<1> runc"]
    failure = suite.find("testcase[@name='n<1> kata']/failure")
    assert failure.get("type") == "contradicted" and failure.get("message") == "contradicted by the host: a & b \ufffd"
    assert "the host sees host-process </failure><x>" in failure.text and "pid 9 ]]> <y/>" in failure.text
    out = suite.find("testcase[@name='n<1> runc']/system-out").text
    assert "digest %s" % report_view.INVALID in out and "host sees: %s" % report_view.INVALID in out
    assert counted(suite.findall("testcase")) == {"tests": 2, "failures": 1, "errors": 0, "skipped": 0}
