# -*- coding: utf-8 -*-
"""Issue 18 part 3: the probe image and the host's witness, from a hand-built record through every output."""

import csv
import io
import json
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import (
    console, contract, csv_table as report_csv, html as report_html, junit, markdown, model, view as report_view)
from conftest import REPO_ROOT  # noqa: E402  pylint: disable=wrong-import-position

SCHEMA = json.loads((REPO_ROOT / "docs" / "report.schema.json").read_text())
RUN = {"started": "2026-12-01T04:00:00Z", "finished": "2026-12-01T04:00:12Z",
       "controller": {"hostname": "ctl", "user": "root", "python": "3.11"},
       "versions": {"ansible_core": "2.19", "collection": "0.1.0"}, "playbooks": [], "inventory": []}
DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "0123456789abcdef" * 4
HOST_VIEW = {"kernel_release": "6.1.0-13-amd64", "boot_id": "b-host", "cpu_model": "AMD EPYC"}


def _kata(**changes):
    result = {"status": "ok", "error": None, "verdict": "vm-isolated", "sandbox": "kata/qemu", "kernel_release": "6.12.47",
              "image_source": "built", "image_digest": DIGEST, "witness": "agrees",
              "host_witness": {"class": "vmm", "reason": None, "task_pid": 4242, "vmm": "qemu",
                               "binary": "/usr/bin/qemu-system-x86_64",
                               "shim": {"pid": 4200, "binary": "/usr/local/bin/containerd-shim-kata-v2"},
                               "evidence": ["seen from the host: qemu-system-x86_64 (binary /usr/bin/qemu-system-x86_64), "
                                            "pid 4242, below containerd-shim-kata-v2 pid 4200"]}}
    result.update(changes)
    return result


def _contradicted():
    return _kata(status="failed", verdict=None, witness="contradicted",
                 error="contradicted by the host: the container says vm-isolated (kata/qemu), the host sees a host-process",
                 contradiction={"container": "vm-isolated (kata/qemu)", "host": "host-process"},
                 host_witness={"class": "host-process", "reason": None, "task_pid": 99, "vmm": None, "binary": "/bin/sh",
                               "shim": {"pid": 90, "binary": "/usr/bin/containerd-shim-runc-v2"},
                               "evidence": ["seen from the host: sh (binary /bin/sh), pid 99"]})


def _record(runtimes):
    return dict(contract.new_record(), host_facts=HOST_VIEW, isolation={"host": HOST_VIEW, "runtimes": runtimes})


def _build(records):
    report = model.build_report(records, dict(RUN), "run-1", {})
    text = model.to_json(report)
    jsonschema.validate(json.loads(text), SCHEMA)
    return report, report_view.build_view(report)


def _row(view, host, runtime):
    (row,) = [row for row in view["rows"] if row["host"] == host and row["runtime"] == runtime]
    return row


def _csv(view):
    return dict(((row["Host"], row["Runtime"]), row) for row in csv.DictReader(io.StringIO(report_csv.render(view))))


def test_built_image_and_an_agreeing_host_in_every_output():
    report, view = _build({"node-1": _record({"kata": _kata()})})
    kept = report["hosts"]["node-1"]["runtimes"]["kata"]["isolation"]
    assert kept["image_digest"] == DIGEST and kept["host_witness"]["class"] == "vmm" and report["errors"] == []
    row = _row(view, "node-1", "kata")
    assert row["host_sees"] == "vmm (qemu)"
    assert row["witness"] == {"image_source": "built", "image_digest": DIGEST, "host_witness": "vmm", "witness": "agrees"}
    assert view["image_lines"] == ["Probe image: built sha256:abababababab\u2026 (kata-fleet's own), on every host"]
    text = console.render(view, 140)
    assert "Host sees" in text and "vmm (qemu)" in text and "Probe image: built sha256:abababababab" in text
    md = markdown.render(view)
    assert "| Host sees |" in md and "vmm (qemu) |" in md and "- Probe image: built sha256:abababababab" in md
    cells = _csv(view)[("node-1", "kata")]
    assert (cells["image_source"], cells["image_digest"], cells["host_witness"], cells["witness"]) == \
        ("built", DIGEST, "vmm", "agrees")
    page = report_html.render(view)
    assert "<td>vmm (qemu)</td>" in page and "seen from the host: qemu-system-x86_64" in page and DIGEST in page
    root = ET.fromstring(junit.render(report).split("\n", 1)[1])
    (case,) = root.findall("testsuite[@name='isolation-probe']/testcase")
    assert case.get("name") == "node-1 kata" and list(case) == [case.find("system-out")]
    out = case.find("system-out").text
    assert "verdict: vm-isolated (kata/qemu)" in out and DIGEST in out and "host sees: vmm (qemu)" in out
    assert "the two witnesses: agrees" in out


def test_registry_image_says_its_tools_print_the_facts():
    _report, view = _build({"node-1": _record({"runc": _kata(image_source="registry", image_digest=OTHER,
                                                             verdict="shared-kernel", sandbox=None,
                                                             host_witness={"class": "host-process"})})})
    assert view["image_lines"] == ["Probe image: registry sha256:0123456789ab\u2026: its tools print the facts, on every host"]
    assert _row(view, "node-1", "runc")["host_sees"] == "host-process"


def test_a_contradicted_probe_fails_with_both_stories():
    report, view = _build({"node-1": _record({"kata": _contradicted(), "runc": _kata(image_source="registry")})})
    kept = report["hosts"]["node-1"]["runtimes"]["kata"]["isolation"]
    assert kept["status"] == "failed" and kept["verdict"] is None and report["errors"] == []
    row = _row(view, "node-1", "kata")
    assert row["verdict"].startswith("FAILED: contradicted by the host: ") and row["host_sees"] == "host-process"
    assert "node-1 kata isolation failed: contradicted by the host" in " ".join(view["failures"])
    (card,) = view["evidence"]
    assert "contradicted by the host: the container says vm-isolated (kata/qemu); the host sees host-process" in \
        card["runtimes"][0]["problems"]
    assert len(view["image_lines"]) == 2  # built on kata, registry (no digest) on runc: both named
    root = ET.fromstring(junit.render(report).split("\n", 1)[1])
    suite = root.find("testsuite[@name='isolation-probe']")
    failure = suite.find("testcase[@name='node-1 kata']/failure")
    assert failure.get("type") == "contradicted" and failure.get("message").startswith("contradicted by the host: ")
    assert "the container says vm-isolated (kata/qemu); the host sees host-process" in failure.text
    assert "seen from the host: sh (binary /bin/sh), pid 99" in failure.text
    assert suite.get("failures") == "1" and suite.get("tests") == "2"


def test_contradicted_yet_ok_is_read_as_failed():
    report, _view = _build({"node-1": _record({"kata": _kata(witness="contradicted")})})
    kept = report["hosts"]["node-1"]["runtimes"]["kata"]["isolation"]
    assert kept["status"] == "failed" and kept["verdict"] is None
    assert "yet the probe says ok: read as failed" in report["errors"][0]["error"]


@pytest.mark.parametrize("field, value", [
    ("image_source", "kata-fleet-but-longer"), ("image_source", {"x": 1}),
    ("image_digest", "sha256:" + "AB" * 32), ("image_digest", "sha256:" + "ab" * 32 + "\n"), ("image_digest", 7),
    ("image_digest", "md5:" + "ab" * 16),
    ("host_witness", {"class": "vm"}), ("host_witness", "vmm"), ("host_witness", {"class": "vmm", "task_pid": True}),
    ("host_witness", {"class": "vmm", "vmm": "bochs"}), ("host_witness", {"class": "vmm", "evidence": ["\x1b[2J"]}),
    ("host_witness", {"class": "vmm", "evidence": ["x"] * 51}), ("host_witness", {"class": "vmm", "binary": "x" * 5000}),
    ("host_witness", {"class": "vmm", "shim": {"pid": 1}}),
    ("witness", "sure"), ("witness", ["agrees"]), ("contradiction", "both"),
])
def test_every_witness_value_is_validated_shown_invalid_and_named(field, value):
    report, view = _build({"node-1": _record({"kata": _kata(**{field: value})})})
    kept = report["hosts"]["node-1"]["runtimes"]["kata"]["isolation"]
    assert kept[field] is None
    (error,) = report["errors"]
    assert error["host"] == "node-1" and error["error"].startswith("runtimes/kata/isolation/%s: " % field)
    assert "invalid" in error["error"]
    row = _row(view, "node-1", "kata")
    if field in ("image_source", "image_digest", "host_witness", "witness"):
        assert row["witness"][field] == report_view.INVALID
        assert _csv(view)[("node-1", "kata")][field] == report_view.INVALID
    if field == "host_witness":
        assert row["host_sees"] == report_view.INVALID
    if field in ("image_source", "image_digest"):
        assert "invalid" in row["image"]
    assert error["error"] in " ".join(view["errors"])


def test_a_report_json_from_elsewhere_is_validated_by_the_view_too():
    """witness_view trusts nothing: values conform never saw are checked again."""
    shown = report_view.witness_view({"image_source": "built", "image_digest": "sha256:xyz", "witness": "maybe",
                                      "host_witness": {"class": "vmm", "evidence": "not a list"}})
    assert (shown["image_source"], shown["image_digest"], shown["witness"], shown["host_witness"]) == \
        ("built", report_view.INVALID, report_view.INVALID, report_view.INVALID)
    assert shown["image"] == "built image, digest invalid (kata-fleet's own)"


def test_an_older_record_renders_not_recorded():
    old = {"status": "ok", "error": None, "verdict": "shared-kernel", "image_source": "kata-fleet"}
    report, view = _build({"node-1": _record({"runc": old}), "node-2": _record({"runc": {"status": "ok", "verdict": "shared-kernel"}})})
    assert report["errors"] == []
    assert _row(view, "node-2", "runc")["witness"] == dict.fromkeys(
        ("image_source", "image_digest", "host_witness", "witness"), report_view.NOT_RECORDED)
    assert _row(view, "node-1", "runc")["witness"]["image_source"] == "kata-fleet"
    assert sorted(view["image_lines"]) == [
        "Probe image: kata-fleet's own by its name (an older record: the digest was not recorded), on node-1",
        "Probe image: not recorded, on node-2"]
    text = console.render(view, 100)
    assert "Host sees: not recorded" in text and "| Host sees" not in text  # the console keeps its width
    assert "| Host sees |" in markdown.render(view) and "<td>not recorded</td>" in report_html.render(view)
    assert junit.render(report).count("isolation-probe") == 0  # no witness: no probe suite, as before


def test_console_says_what_the_host_saw_in_short_words():
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import console
    assert console._host_sees_short("host-process") == "process"
    assert console._host_sees_short("vmm (qemu)") == "vmm (qemu)"
    assert console._host_sees_short("user-space-kernel") == "sandbox"
    # Anything else stays as it is: unknown with its reason, not recorded, a host row's dash.
    assert console._host_sees_short("unknown: no shim") == "unknown: no shim"
    assert console._host_sees_short("host-processes") == "host-processes"
    assert console._host_sees_short(None) is None
