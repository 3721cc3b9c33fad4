# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_report/html.py (templates/report.html.j2, svg.py): the report as one self-contained HTML page.

The page is parsed back with the standard library's HTMLParser into a small
tree, so the assertions look at elements and text as a browser would see
them, not at substrings of the markup.
"""

import base64
import copy
import hashlib
import re
import sys
from html.parser import HTMLParser

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import html as report_html
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import model, view as report_view

from conftest import REPO_ROOT

ROOT = REPO_ROOT
sys.path.insert(0, str(ROOT / "tools"))
import sample_bundle  # noqa: E402  pylint: disable=wrong-import-position
HOSTILE = "<script>alert(1)</script>"
# Elements HTML closes by itself; everything else must be closed explicitly.
VOID = {"meta", "br", "hr", "img", "input", "link", "wbr"}
URL = re.compile(r"https?://[^\s<>\"']+")


class Node:
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
    report = sample_bundle.sample_report()
    model.to_json(report)
    return report


def _parse(report, template_dir=None):
    page = report_html.render(report_view.build_view(report), template_dir)
    tree = Tree(page)
    assert tree.errors == []
    assert tree.doctype == "DOCTYPE html"
    return page, tree.root


def _rows(root):
    """The comparison table as a list of cell texts per row."""
    table = root.find("table", id="comparison")
    return [[" ".join(cell.text().split()) for cell in row.children if isinstance(cell, Node)]
            for body in table.find_all("tbody") for row in body.find_all("tr")]


def _hash(text):
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def test_sample_is_well_formed_self_contained_and_locked_down():
    page, root = _parse(_sample())
    assert [node.tag for node in root.children if isinstance(node, Node)] == ["html"]
    assert root.find("meta").attrs == {"charset": "utf-8"}
    lowered = page.lower()
    for needle in ("<link", "<img", "<iframe", "<object", "<embed", "@import", "url("):
        assert needle not in lowered
    for node in root.iter():
        assert node.tag not in ("link", "img", "iframe", "object", "embed", "base")
        for name, value in node.attrs.items():
            assert name not in ("src", "srcset", "xlink:href", "action", "style") and not name.startswith("on")
            if name == "href":
                assert value.startswith("#")
    [style], [script] = root.find_all("style"), root.find_all("script")
    policy = root.find("meta", http_equiv="Content-Security-Policy").attrs["content"]
    assert policy == "default-src 'none'; style-src '%s'; script-src '%s'" % (_hash(style.text()), _hash(script.text()))
    assert "prefers-color-scheme: dark" in style.text() and "@media print" in style.text()


def test_the_page_opens_with_the_answer_then_charts_then_evidence():
    _page, root = _parse(_sample())
    order = [node.attrs.get("id") for node in root.iter() if node.tag == "h2"]
    assert order[:4] == ["answer", "charts", "table", "policies"] and order[-1] == "evidence"
    cards = dict((section.attrs["data-runtime"],
                  " ".join(" ".join(node.text().split()) for node in section.children if isinstance(node, Node)))
                 for section in root.find("div", "answer").find_all("section"))
    assert cards == {"kata": "kata vm-isolated on 1 of 1 host every host agrees",
                     "runc": "runc shared-kernel on 2 of 2 hosts every host agrees"}
    result = root.find("div", id="result")
    assert result.find("strong").text() == "FAIL" and "1 host unreachable" in result.text()


def test_comparison_table_shows_the_views_cells():
    report = _sample()
    _page, root = _parse(report)
    rows = _rows(root)
    assert [th.text() for th in root.find("table", id="comparison").find("thead").find_all("th")] == \
        [title for _key, title in report_view.COLUMNS]
    assert [row[:2] for row in rows] == [
        ["dev-vm", "(host)"], ["dev-vm", "runc"], ["lab-laptop", "(host)"], ["lab-laptop", "kata"],
        ["lab-laptop", "runc"], ["node-unreachable", "-"]]
    assert rows[1] == ["dev-vm", "runc", "6.18.44-fc-v1045", "AMD EPYC", "56", "n/a", "lo",
                       "shared-kernel", "not recorded", "168 ms / 177 ms", "0.803 ms / 1.86 ms", "13.3 MiB"]
    assert rows[5][2].startswith("UNREACHABLE: Failed to connect")


def test_host_names_never_break_and_wide_tables_scroll():
    _page, root = _parse(_sample())
    css = root.find("style").text()
    assert re.search(r"th\[scope=row\][^{]*\{ white-space: nowrap; overflow-wrap: normal; word-break: keep-all; \}", css)
    assert root.find("table", id="comparison").parent.attrs["class"] == "scroll"


def test_charts_carry_the_figures():
    report = _sample()
    _page, root = _parse(report)
    chart = root.find("svg", id="chart-startup")
    assert chart.attrs["role"] == "img" and chart.parent.tag == "figure"
    bars = dict(((rect.attrs["data-host"], rect.attrs["data-runtime"]), rect) for rect in chart.find_all("rect", "bar"))
    assert set(bars) == {("dev-vm", "runc"), ("lab-laptop", "kata"), ("lab-laptop", "runc")}
    for (host, runtime), rect in bars.items():
        assert float(rect.attrs["data-value"]) == report["hosts"][host]["runtimes"][runtime]["startup"]["total"]["median"]
    assert bars["dev-vm", "runc"].find("title").text() == "dev-vm / runc: median 168 ms, p95 177 ms"
    assert "logarithmic scale" in chart.find("text", "axis").text()


def test_evidence_is_searchable_per_host():
    _page, root = _parse(_sample())
    box = root.find("input", id="filter")
    assert box.attrs["type"] == "search" and "hidden" in box.attrs
    details = root.find_all("details")
    assert [" ".join(d.find("summary").text().split())[:16] for d in details] == \
        ["dev-vm ok runc: ", "lab-laptop ok ka", "node-unreachable"]
    assert "open" in details[2].attrs and "open" not in details[0].attrs
    assert "boot id dee579d3-d37d-4053-9fd6-3b6066b8b5df equals the host's" in details[0].text()


def test_policy_details_are_sentences():
    _page, root = _parse(_sample())
    text = " ".join(root.find("table", "policies").text().split())
    assert "runc on dev-vm: shared-kernel" in text and '{"handler"' not in text


def test_hostile_values_are_text():
    report = _sample()
    hostile = "<script>alert(1)</script>"
    runc = report["hosts"]["dev-vm"]["runtimes"]["runc"]
    runc["isolation"].update(verdict_reason=hostile, sandbox=hostile, kernel_release=hostile)
    report["hosts"][hostile] = copy.deepcopy(report["hosts"]["dev-vm"])
    page, root = _parse(report)
    assert hostile not in page and len(root.find_all("script")) == 1
    assert hostile in root.text()


def test_a_user_template_directory_brands_the_report(tmp_path):
    (tmp_path / "report.html.j2").write_text(
        '{% extends "default/report.html.j2" %}{% block header %}<header><h1>ACME audit</h1>'
        '<p>{{ report.run_id }}</p></header>{% endblock %}')
    (tmp_path / "report.css").write_text("body { color: rebeccapurple; }")
    page, root = _parse(_sample(), str(tmp_path))
    assert root.find("h1").text() == "ACME audit" and root.find("style").text() == "body { color: rebeccapurple; }"
    assert _hash("body { color: rebeccapurple; }") in page
    assert root.find("svg", id="chart-startup")  # the rest of our page is kept


def test_empty_report():
    report = model.build_report({}, dict(sample_bundle.RUN), "run-1", {})
    _page, root = _parse(report)
    assert "No hosts in this report." in root.text()


def test_a_large_fleet_shows_failed_and_differing_hosts_first():
    report = _sample()
    for number in range(30):
        report["hosts"]["zz-node-%02d" % number] = copy.deepcopy(report["hosts"]["dev-vm"])
    view = report_view.build_view(report, listed_hosts=5)
    shown = [card["host"] for card in view["evidence"]]
    assert len(shown) == 5 and "node-unreachable" in shown and view["hosts_left_out"] == 28
    page = report_html.render(view)
    root = Tree(page).root
    assert "28 more hosts passed and agree with the fleet" in root.find("p", id="left-out").text()
    assert {row[0] for row in _rows(root)} == set(shown)
    assert len(view["rows"]) == 2 * 31 + 4  # every host still in the view for report.md, report.csv and the console


def test_the_host_witness_in_the_table_and_the_host_card():
    """Issue 18: a hand-built isolation result with the probe image and the host's witness."""
    report = _sample()
    kata = report["hosts"]["lab-laptop"]["runtimes"]["kata"]["isolation"]
    kata.update(image_source="built", image_digest="sha256:" + "c" * 64, witness="agrees",
                host_witness={"class": "vmm", "vmm": "qemu", "task_pid": 7,
                              "evidence": ["seen from the host: " + HOSTILE + " qemu-system-x86_64, pid 7"]})
    _page, root = _parse(report)
    row = [cells for cells in _rows(root) if cells[:2] == ["lab-laptop", "kata"]][0]
    assert row[report_view.COLUMNS.index(("host_sees", "Host sees"))] == "vmm (qemu)"
    assert _rows(root)[1][8] == "not recorded"  # dev-vm runc: an older record
    card = [node for node in root.find_all("details") if "lab-laptop" in node.find("summary").text()][0]
    text = card.text()
    assert "seen from the host: " + HOSTILE + " qemu-system-x86_64, pid 7" in text  # as text, never markup
    assert not [node for node in root.iter() if node.tag == "script" and "alert" in node.text()]
    facts = list(zip([dt.text() for dt in card.find_all("dt")], [dd.text() for dd in card.find_all("dd")]))
    for pair in (("image digest", "sha256:" + "c" * 64), ("host sees", "vmm (qemu)"), ("the two witnesses", "agrees"),
                 ("host sees", "not recorded")):  # kata's, then runc's (an older record)
        assert pair in facts, pair
    assert "Probe image: built sha256:cccccccccccc\u2026 (kata-fleet's own), on lab-laptop" in \
        root.find("ul", id="probe-image").text()
