# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/plugin_utils/_report/svg.py: report.html's charts, from the view's figures, every text escaped."""

import re
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import svg, view as report_view

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert(1)</script>&\"'"


def _svg(markup):
    """The chart's <svg> element, parsed as XML (so the markup is well-formed)."""
    figure = ET.fromstring(str(markup).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))
    assert figure.tag == "figure"
    return figure.find(SVG + "svg")


def _row(host, runtime, verdict, startup=(0.168, 0.177, None)):
    return {"kind": "runtime", "host": host, "runtime": runtime, "verdict_kind": verdict,
            "figures": {"startup": startup, "http": (None, None, "not measured")}}


def test_scale():
    name, position, ticks = svg.scale([0.17, 6.6])
    assert name == "logarithmic" and ticks[0] == pytest.approx(0.1) and ticks[-1] == pytest.approx(10)
    assert position(0.1) == 0 and position(10) == pytest.approx(1) and position(1) == pytest.approx(0.5)
    name, position, ticks = svg.scale([0.2, 0.6])
    assert name == "linear" and ticks[0] == 0 and ticks[-1] == pytest.approx(0.6)
    assert svg.scale([]) is None and svg.scale([0.0]) is None
    name, position, ticks = svg.scale([1e-9, 2592000.0])  # the widest span the model lets through
    assert name == "logarithmic" and len(ticks) <= 12


@pytest.mark.parametrize("verdict, css", [("shared-kernel", "shared"), ("user-space-kernel", "user"),
                                          ("vm-isolated", "vm"), ("failed", "failed"), ("unknown", "unknown"),
                                          ("none", "unknown"), ('x" onload="alert(1)', "unknown"), (None, "unknown")])
def test_a_verdict_becomes_one_of_the_known_classes(verdict, css):
    assert svg.kind(verdict) == css


def test_the_sample_charts_carry_each_measured_row(sample_report):
    view = report_view.build_view(sample_report)
    chart = _svg(svg.chart("chart-startup", "Startup", "seconds", view["rows"], "startup", "median", "p95"))
    bars = chart.findall(SVG + "rect")
    assert [(rect.get("data-host"), rect.get("data-runtime"), rect.get("class")) for rect in bars] == [
        ("dev-vm", "runc", "bar k-shared"), ("lab-laptop", "kata", "bar k-vm"), ("lab-laptop", "runc", "bar k-shared")]
    assert [float(rect.get("data-value")) for rect in bars] == [0.167615, 6.6, 0.6]
    assert "seconds, logarithmic scale; bar: median, whisker: p95" in chart.find(SVG + "title").text
    description = chart.find(SVG + "desc").text
    assert "dev-vm / runc: median 168 ms, p95 177 ms" in description and "lab-laptop / kata: median 6.6 s" in description
    http = _svg(svg.chart("chart-http", "HTTP", "seconds", view["rows"], "http", "p50", "p99"))
    # lab-laptop's kata has no HTTP figures and its runc only a mean: both say so instead of a bar.
    assert [rect.get("data-runtime") for rect in http.findall(SVG + "rect")] == ["runc"]
    assert "lab-laptop / kata: not measured" in http.find(SVG + "desc").text


def test_hostile_names_are_text_in_every_label_title_and_attribute():
    markup = str(svg.chart("c", HOSTILE, HOSTILE, [_row(HOSTILE, HOSTILE, HOSTILE)], "startup", "median", "p95"))
    assert "<script" not in markup and "alert(1)</script>" not in markup
    chart = _svg(markup)
    rect = chart.find(SVG + "rect")
    assert rect.get("data-host") == HOSTILE and rect.get("data-runtime") == HOSTILE and rect.get("class") == "bar k-unknown"
    label = [text for text in chart.iter(SVG + "text") if text.get("class") == "label"][0]
    assert label.text == "%s / %s" % (HOSTILE, HOSTILE)


def test_a_long_label_is_cut_and_keeps_the_whole_text_in_its_title():
    host = "h" * 300
    chart = _svg(svg.chart("c", "Startup", "seconds", [_row(host, "runc", "shared-kernel")], "startup", "median", "p95"))
    label = [text for text in chart.iter(SVG + "text") if text.get("class") == "label"][0]
    assert len(label.text) == svg.TEXT_CHARS and label.text.endswith("\u2026")
    assert label.find(SVG + "title").text == host + " / runc"


def test_no_measurement_and_too_many_rows():
    empty = _svg(svg.chart("c", "Startup", "seconds", [], "startup", "median", "p95"))
    assert "seconds: no measurements" in empty.find(SVG + "title").text
    assert [text.text for text in empty.iter(SVG + "text") if text.get("class") == "missing"] == [
        "No measured runtime in this report."]
    rows = [_row("node-%04d" % number, "runc", "shared-kernel") for number in range(svg.MAX_ROWS + 7)]
    markup = str(svg.chart("c", "Startup", "seconds", rows, "startup", "median", "p95"))
    assert "(the first %d rows; 7 more are in the table and report.csv)" % svg.MAX_ROWS in markup
    chart = _svg(markup)
    assert len(chart.findall(SVG + "rect")) == svg.MAX_ROWS
    height = int(chart.get("height"))
    assert height == 8 + svg.ROW_HEIGHT * svg.MAX_ROWS + svg.AXIS_HEIGHT


def test_every_coordinate_is_finite_for_the_widest_span():
    rows = [_row("a", "runc", "shared-kernel", (1e-9, 2e-9, None)),
            _row("b", "kata", "vm-isolated", (2592000.0, 2592000.0, None))]
    markup = str(svg.chart("c", "Startup", "seconds", rows, "startup", "median", "p95"))
    numbers = re.findall(r' (?:x|x1|x2|width)="([^"]+)"', markup)
    assert numbers and all(float(value) == float(value) and abs(float(value)) <= svg.WIDTH for value in numbers)


def test_workload_chart_only_with_workload_rows(sample_report):
    assert svg.workload_chart(report_view.build_view(sample_report)) == ""
    view = {"listed_rows": [dict(_row("h", "kata", "vm-isolated"))],
            "workload_columns": [("host", "Host"), ("runtime", "Runtime"), ("cpu", "CPU"), ("syscall", "Syscalls")],
            "workload_rows": [{"host": "h", "runtime": "kata", "ratios": {"cpu": 1.02, "syscall": float("inf")},
                               "cpu": "~1.0x", "syscall": ">=" + HOSTILE},
                              {"host": "not-listed", "runtime": "kata", "ratios": {"cpu": 3.0}, "cpu": "3.0x"}]}
    chart = _svg(svg.workload_chart(view))
    bars = chart.findall(SVG + "rect")
    assert [(rect.get("class"), float(rect.get("data-value"))) for rect in bars] == [("bar k-vm", 1.02)]
    missing = [text.text for text in chart.iter(SVG + "text") if text.get("class") == "missing"]
    assert missing == [">=" + HOSTILE]  # an infinite ratio draws no bar; its words are text
