# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/plugin_utils/_html.py: the report as one self-contained HTML page.

The page is parsed back with the standard library's HTMLParser into a small
tree, so the assertions look at elements and text as a browser would see
them, not at substrings of the markup.
"""

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _html

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample_report.json"
HOSTILE = "<script>alert(1)</script>"
# Elements HTML closes by itself; everything else must be closed explicitly.
VOID = {"meta", "br", "hr", "img", "input", "link", "wbr"}
URL = re.compile(r"https?://[^\s<>\"']+")


class Node(object):
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent = tag, dict(attrs), parent
        self.children = []

    def text(self):
        return "".join(child if isinstance(child, str) else child.text() for child in self.children)

    def iter(self):
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def texts(self):
        for child in self.children:
            if isinstance(child, str):
                yield child
            else:
                yield from child.texts()

    def find_all(self, tag, css=None, **attrs):
        return [node for node in self.iter() if node.tag == tag
                and (css is None or css in node.attrs.get("class", "").split())
                and all(node.attrs.get(name.replace("_", "-")) == value for name, value in attrs.items())]

    def find(self, tag, css=None, **attrs):
        found = self.find_all(tag, css, **attrs)
        assert found, "no <%s class=%s %s>" % (tag, css, attrs)
        return found[0]


class Tree(HTMLParser):
    """Builds a Node tree and records every end tag that does not close the innermost open element."""

    def __init__(self, text):
        HTMLParser.__init__(self, convert_charrefs=True)
        self.root = Node("#document", [], None)
        self.current = self.root
        self.errors = []
        self.doctype = None
        self.feed(text)
        self.close()
        if self.current is not self.root:
            self.errors.append("unclosed at the end: <%s>" % self.current.tag)

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, attrs, self.current))

    def handle_endtag(self, tag):
        if tag != self.current.tag:
            self.errors.append("</%s> closes <%s>" % (tag, self.current.tag))
            return
        self.current = self.current.parent

    def handle_data(self, data):
        self.current.children.append(data)


def _sample():
    return json.loads(SAMPLE.read_text())


def _parse(report):
    page = _html.render(report)
    tree = Tree(page)
    assert tree.errors == []
    assert tree.doctype == "DOCTYPE html"
    return page, tree.root


def _report(hosts, **extra):
    """A minimal valid report around ``hosts``."""
    report = {
        "schema": "kata_fleet.report/v1", "run_id": "20261201T050000-test",
        "started": "2026-12-01T05:00:00Z", "finished": "2026-12-01T05:00:30Z",
        "controller": {"hostname": "ctl", "user": "ci", "python": "3.11.7"},
        "versions": {"ansible_core": "2.19.14", "collection": "0.1.0"},
        "summary": {"hosts": len(hosts), "ok": 0, "failed": 0, "unreachable": 0, "skipped": 0, "runtimes": {}},
        "hosts": hosts, "policies": [], "result": "pass",
    }
    report.update(extra)
    return report


def _rows(root):
    """The comparison table as a list of cell texts per row."""
    table = root.find("table", id="comparison")
    return [[" ".join(cell.text().split()) for cell in row.children if isinstance(cell, Node)]
            for body in table.find_all("tbody") for row in body.find_all("tr")]


def _strings(value):
    """Every string anywhere in the report data."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def _assert_offline(page, root, report):
    """Nothing in the page can make a browser fetch anything."""
    lowered = page.lower()
    for needle in ("<script", "<link", "<img", "<iframe", "<object", "<embed", "@import", "url("):
        assert needle not in lowered
    for node in root.iter():
        assert node.tag not in ("script", "link", "img", "iframe", "object", "embed", "base")
        for name, value in node.attrs.items():
            assert name not in ("src", "srcset", "xlink:href", "action", "xmlns", "style") and not name.startswith("on")
            if name == "href":
                assert value.startswith("#")
    styles = root.find_all("style")
    assert len(styles) == 1 and "://" not in styles[0].text()
    data = list(_strings(report))
    for text in root.texts():
        for url in URL.findall(text):
            assert any(url in item for item in data), url


def test_sample_is_well_formed_and_offline():
    report = _sample()
    page, root = _parse(report)
    assert [node.tag for node in root.children if isinstance(node, Node)] == ["html"]
    assert root.find("meta").attrs == {"charset": "utf-8"}
    assert len(root.find_all("svg")) == 2
    # The sample's HTTP result names its probe server's URL: text from the data is allowed.
    assert "http://169.254.77.2:80/" in root.text()
    _assert_offline(page, root, report)
    # Light and dark colour schemes, and a print stylesheet.
    css = root.find("style").text()
    assert "prefers-color-scheme: dark" in css and "@media print" in css
    assert root.find("meta", name="color-scheme").attrs["content"] == "light dark"


def test_header():
    _page, root = _parse(_sample())
    result = root.find("div", id="result")
    assert result.find("strong").text() == "FAIL"
    assert "k-failed" in result.attrs["class"]
    assert "1 host unreachable" in result.text()
    header = " ".join(root.find("header").text().split())
    for text in ("20261201T040000-0a1b", "2026-12-01T04:00:00Z", "2026-12-01T04:00:12Z (12 s)",
                 "root@controller.example, Python 3.11.7", "ansible-core 2.19.14", "kata_fleet.runtimes 0.1.0",
                 "playbooks/verify.yml", "inventories/example"):
        assert text in header
    counts = [" ".join(item.text().split()) for item in root.find("ul", id="counts").find_all("li")]
    assert counts == ["hosts 3", "ok 2", "failed 0", "unreachable 1", "skipped 0"]
    runtimes = [" ".join(item.text().split()) for item in root.find("ul", id="runtime-counts").find_all("li")]
    assert runtimes == ["kata on 1 host", "runc on 2 hosts"]


def test_comparison_table():
    _page, root = _parse(_sample())
    rows = _rows(root)
    assert [th.text() for th in root.find("table", id="comparison").find("thead").find_all("th")] == list(_html.TABLE_COLUMNS)
    assert [row[:2] for row in rows] == [
        ["dev-vm", "(host)"], ["dev-vm", "runc"],
        ["lab-laptop", "(host)"], ["lab-laptop", "kata"], ["lab-laptop", "runc"],
        ["node-unreachable", "-"],
    ]
    assert rows[0] == ["dev-vm", "(host)", "6.18.44-fc-v1045", "AMD EPYC", "139", "n/a", "eth0, ifb0, ifb1, lo",
                       "-", "-", "-", "-"]
    assert rows[1] == ["dev-vm", "runc", "6.18.44-fc-v1045", "AMD EPYC", "56", "n/a", "lo", "shared-kernel",
                       "0.168 s / 0.177 s", "0.803 ms / 1.86 ms", "13.3 MiB"]
    assert rows[3] == ["lab-laptop", "kata", "6.12.47", "Intel(R) Xeon(R) Processor", "53", "72", "eth0, lo",
                       "vm-isolated", "6.6 s / 6.6 s", "not measured", "not measured"]
    # The lab's runc HTTP result has n, min, mean and max but no percentiles: say so, drop nothing.
    assert rows[4][9] == "not measured (no p50 recorded; n=50; min 0.1 ms, mean 0.3 ms, max 0.5 ms)"
    assert rows[5] == ["node-unreachable", "-", "unreachable Failed to connect to the host via ssh: "
                       "ssh: connect to host 192.0.2.10 port 22: Connection timed out"]
    error_row = root.find("tr", "host-error")
    assert error_row.find("span", "badge").attrs["class"] == "badge k-failed"
    assert error_row.find("td", colspan="9")
    badges = dict((badge.text(), badge.attrs["class"]) for badge in root.find("table", id="comparison").find_all("span", "badge"))
    assert badges == {"shared-kernel": "badge k-shared", "vm-isolated": "badge k-vm", "unreachable": "badge k-failed"}
    # Host names link to their evidence.
    assert [a.attrs["href"] for a in root.find("table", id="comparison").find_all("a")] == ["#host-0"] * 2 + ["#host-1"] * 3 + ["#host-2"]


def _bars(root, chart_id):
    chart = root.find("svg", id=chart_id)
    return dict(((rect.attrs["data-host"], rect.attrs["data-runtime"]), rect) for rect in chart.find_all("rect", "bar"))


def _missing(root, chart_id):
    chart = root.find("svg", id=chart_id)
    return dict(((text.attrs["data-host"], text.attrs["data-runtime"]), text.text()) for text in chart.find_all("text", "missing"))


def test_charts_are_accessible():
    _page, root = _parse(_sample())
    for chart_id, title in (("chart-startup", "Startup time"), ("chart-http", "HTTP latency")):
        chart = root.find("svg", id=chart_id)
        assert chart.attrs["role"] == "img"
        assert chart.parent.tag == "figure"
        title_node = root.find("title", id=chart.attrs["aria-labelledby"])
        assert title_node.parent is chart and title_node.text().startswith(title)
        assert root.find("desc", id=chart.attrs["aria-describedby"]).parent is chart


def test_startup_chart():
    report = _sample()
    _page, root = _parse(report)
    bars = _bars(root, "chart-startup")
    expected = dict(((host, runtime), probes["startup"]["total"]["median"])
                    for host, entry in report["hosts"].items() for runtime, probes in entry["runtimes"].items()
                    if probes["startup"])
    assert set(bars) == set(expected) == {("dev-vm", "runc"), ("lab-laptop", "kata"), ("lab-laptop", "runc")}
    for key, median in expected.items():
        assert float(bars[key].attrs["data-value"]) == median
    assert bars["lab-laptop", "kata"].find("title").text() == "lab-laptop / kata: median 6.6 s, p95 6.6 s"
    assert bars["dev-vm", "runc"].find("title").text() == "dev-vm / runc: median 0.168 s, p95 0.177 s"
    chart = root.find("svg", id="chart-startup")
    labels = [text.text() for text in chart.find_all("text", "label")]
    assert labels == ["dev-vm / runc", "lab-laptop / kata", "lab-laptop / runc", "node-unreachable / -"]
    values = [text.text() for text in chart.find_all("text", "value")]
    assert values == ["median 0.168 s, p95 0.177 s", "median 6.6 s, p95 6.6 s", "median 0.6 s, p95 0.6 s"]
    assert _missing(root, "chart-startup") == {("node-unreachable", "-"): "not measured: host unreachable"}
    # 6.6 s next to 0.17 s: a logarithmic axis, so runc's bar is still well visible.
    axis = chart.find("text", "axis").text()
    assert "logarithmic scale" in axis and "seconds" in axis
    assert [tick.text() for tick in chart.find_all("text", "tick")] == ["0.1 s", "0.2 s", "0.5 s", "1 s", "2 s", "5 s", "10 s"]
    widths = dict((key, float(rect.attrs["width"])) for key, rect in bars.items())
    assert widths["dev-vm", "runc"] < widths["lab-laptop", "runc"] < widths["lab-laptop", "kata"]
    assert widths["dev-vm", "runc"] > 0.1 * widths["lab-laptop", "kata"]
    # One whisker (line + cap) per bar.
    assert len(chart.find_all("line", "whisker")) == 2 * len(bars)


def test_http_chart():
    _page, root = _parse(_sample())
    bars = _bars(root, "chart-http")
    assert list(bars) == [("dev-vm", "runc")]
    assert float(bars["dev-vm", "runc"].attrs["data-value"]) == 0.000803
    assert bars["dev-vm", "runc"].find("title").text() == "dev-vm / runc: p50 0.803 ms, p99 1.86 ms"
    assert "k-shared" in bars["dev-vm", "runc"].attrs["class"]
    assert _missing(root, "chart-http") == {
        ("lab-laptop", "kata"): "not measured",
        ("lab-laptop", "runc"): "not measured (no p50 recorded; n=50; min 0.1 ms, mean 0.3 ms, max 0.5 ms)",
        ("node-unreachable", "-"): "not measured: host unreachable",
    }
    chart = root.find("svg", id="chart-http")
    axis = chart.find("text", "axis").text()
    assert "milliseconds" in axis and "linear scale" in axis
    assert [tick.text() for tick in chart.find_all("text", "tick")] == ["0 ms", "0.5 ms", "1 ms", "1.5 ms", "2 ms"]


def test_scale():
    name, position, ticks = _html._scale([0.17, 6.6])
    assert name == "logarithmic" and ticks[0] == pytest.approx(0.1) and ticks[-1] == pytest.approx(10)
    assert position(0.1) == 0 and position(10) == pytest.approx(1) and position(1) == pytest.approx(0.5)
    name, position, ticks = _html._scale([0.2, 0.6])
    assert name == "linear" and ticks[0] == 0 and ticks[-1] == pytest.approx(0.6)
    assert position(0.6) == pytest.approx(1)
    assert _html._scale([]) is None and _html._scale([0.0]) is None


def test_evidence():
    _page, root = _parse(_sample())
    details = root.find_all("details")
    assert [d.find("summary").text().split()[0] for d in details] == ["dev-vm", "lab-laptop", "node-unreachable"]
    assert [d.attrs["id"] for d in details] == ["host-0", "host-1", "host-2"]
    # A host that is not ok opens by itself.
    assert ["open" in d.attrs for d in details] == [False, False, True]
    lab = details[1]
    evidence = [item.text() for item in lab.find_all("li")]
    assert "guest kernel 6.12.47, host 6.15.4" in evidence
    assert "guest CPU model 'Intel(R) Xeon(R) Processor', host '12th Gen Intel(R) Core(TM) i5-12450H'" in evidence
    assert "boot id 7c1e2d9a-3b4f-4e8a-8f60-2a9d5e1c7b44 equals the host's: the container runs on the host kernel" in evidence
    assert "Linux version 6.12.47" in lab.find("pre").text()
    assert "not readable: dmesg: read kernel buffer failed: Operation not permitted" in lab.text()
    dev = details[0]
    assert "Hypervisor detected: KVM" in dev.find("pre").text()
    assert "50 of 50 requests to http://169.254.77.2:80/ succeeded" in dev.text()
    assert "Failed to connect to the host via ssh" in details[2].find("p", "error").text()


def test_policies():
    report = _sample()
    _page, root = _parse(report)
    assert "No policies were evaluated in this run." in root.text()
    report["policies"] = [
        {"name": "kata-is-vm-isolated", "severity": "error", "description": "Kata must run in its own VM",
         "results": [{"host": "lab-laptop", "status": "pass", "detail": "vm-isolated"},
                     {"host": "dev-vm", "status": "fail", "detail": "no kata handler"}]},
        {"name": "startup-under-10s", "severity": "warning", "description": "startup median < 10 s", "results": []},
    ]
    _page, root = _parse(report)
    table = root.find("table", "policies")
    rows = [[" ".join(" ".join(cell.texts()).split()) for cell in row.children if isinstance(cell, Node)]
            for row in table.find_all("tr")[1:]]
    assert rows == [
        ["kata-is-vm-isolated Kata must run in its own VM", "error", "lab-laptop", "pass", "vm-isolated"],
        ["dev-vm", "fail", "no kata handler"],
        ["startup-under-10s startup median < 10 s", "warning", "-", "no results", ""],
    ]
    assert table.find("th", scope="rowgroup").attrs["rowspan"] == "2"
    assert "error policy failed: kata-is-vm-isolated" in root.find("div", id="result").text()


def test_hostile_values_are_escaped():
    report = _sample()
    entry = copy.deepcopy(report["hosts"]["lab-laptop"])
    entry["runtimes"]['"><img src=x onerror=alert(2)>'] = entry["runtimes"].pop("kata")
    entry["runtimes"]["runc"]["isolation"]["evidence"].append("a & b <b>bold</b> 'quoted'")
    report["hosts"] = {HOSTILE: entry, "node-unreachable": report["hosts"]["node-unreachable"]}
    report["hosts"]["node-unreachable"]["error"] = "</td></tr></table><script>alert(3)</script>"
    report["run_id"] = "<b>run</b>"
    report["controller"]["hostname"] = '" onmouseover="alert(4)'
    page, root = _parse(report)
    _assert_offline(page, root, report)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert "a &amp; b &lt;b&gt;bold&lt;/b&gt; &#x27;quoted&#x27;" in page
    assert root.find_all("script") == [] and root.find_all("img") == []
    # The only <b> elements are the page's own, around the counts.
    assert all(node.parent.parent.attrs.get("class") == "counts" for node in root.find_all("b"))
    # Attribute values round-trip: the parsed data-host is the original hostile name.
    assert _bars(root, "chart-startup")[HOSTILE, "runc"].attrs["data-host"] == HOSTILE
    assert [row[0] for row in _rows(root)][:1] == [HOSTILE]
    assert "</td></tr></table><script>alert(3)</script>" in root.find("tr", "host-error").text()
    assert root.find("title").text().startswith("kata-fleet report <b>run</b>")


def test_empty_report():
    report = _report({})
    page, root = _parse(report)
    _assert_offline(page, root, report)
    assert root.find("div", id="result").find("strong").text() == "PASS"
    assert _rows(root) == [["No hosts in this report."]]
    for chart_id in ("chart-startup", "chart-http"):
        chart = root.find("svg", id=chart_id)
        assert chart.find_all("rect") == []
        assert "No hosts in this report." in chart.text()
    assert "no runtime handlers" in root.find("ul", id="runtime-counts").text()


def test_hosts_without_measurements():
    hosts = {
        "idle": {"status": "ok", "error": None,
                 "host": {"kernel_release": "6.1.0", "cpu_model": "Some CPU", "proc_entries": 200, "modules": 90},
                 "runtimes": {"runc": {"isolation": None, "startup": None, "http": None},
                              "kata": {"isolation": {"status": "failed", "error": "kata: timed out after 60s"},
                                       "startup": {"status": "failed", "error": "shim exited"},
                                       "http": {"status": "planned"}}}},
        "quiet": {"status": "skipped", "error": "no probe results: the host ran none of the probe tasks",
                  "host": None, "runtimes": {}},
    }
    report = _report(hosts, result="fail")
    page, root = _parse(report)
    _assert_offline(page, root, report)
    for chart_id in ("chart-startup", "chart-http"):
        assert root.find("svg", id=chart_id).find_all("rect") == []
        assert "no measurements" in root.find("svg", id=chart_id).find("text", "axis").text()
    assert _missing(root, "chart-startup") == {
        ("idle", "kata"): "failed: shim exited",
        ("idle", "runc"): "not measured",
        ("quiet", "-"): "not measured: host skipped",
    }
    assert _missing(root, "chart-http")["idle", "kata"] == "not measured (planned only)"
    rows = _rows(root)
    assert rows == [
        ["idle", "(host)", "6.1.0", "Some CPU", "200", "90", "-", "-", "-", "-", "-"],
        ["idle", "kata", "?", "?", "?", "?", "-", "failed kata: timed out after 60s", "failed: shim exited",
         "not measured (planned only)", "not measured"],
        ["idle", "runc", "?", "?", "?", "?", "-", "not measured", "not measured", "not measured", "not measured"],
        ["quiet", "-", "skipped no probe results: the host ran none of the probe tasks"],
    ]


def test_long_values_are_kept_whole():
    report = _sample()
    name = "very-long-host-name-" * 4 + "x" * 120
    report["hosts"] = {name: report["hosts"]["lab-laptop"]}
    report["hosts"][name]["runtimes"]["kata"]["isolation"]["cpu_model"] = "Q" * 150
    _page, root = _parse(report)
    rows = _rows(root)
    assert [row[0] for row in rows] == [name] * 3 and rows[1][3] == "Q" * 150
    # SVG text cannot wrap: the label is cut with an ellipsis and keeps the whole name in its <title>.
    label = root.find("svg", id="chart-startup").find_all("text", "label")[0]
    assert label.children[0] == (name + " / kata")[:_html.SVG_TEXT_CHARS - 1] + "\u2026"
    assert label.find("title").text() == name + " / kata"
    assert _bars(root, "chart-startup")[name, "kata"].find("title").text() == name + " / kata: median 6.6 s, p95 6.6 s"
