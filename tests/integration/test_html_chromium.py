# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML report in a real browser: Debian's headless Chromium renders the sample report.

The unit tests check the markup; this checks that a browser parses it into the
same structure (both charts with their bars, the whole table), that the page's
own Content-Security-Policy lets its one script run (the evidence filter
shows itself), and paints it at a phone's (390 px) and a desktop's width.
The screenshots and the printed PDF are kept in tests/output/artifacts/ for a
human to look at.  Chromium gets its own profile, home and cache under the test's tmp
directory, and every background-network feature off: the page needs none.
"""

import os
import re
import shutil
import struct
import subprocess
import sys
from html.parser import HTMLParser

import pytest

# Not `from conftest import REPO`: with tests/unit in the same session,
# `conftest` may be the unit tests' module.
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "collections"))
sys.path.insert(0, os.path.join(REPO, "tools"))
# pylint: disable=wrong-import-position
import sample_bundle  # noqa: E402
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import html as report_html  # noqa: E402
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import model, view as report_view  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = os.path.join(REPO, "tests", "output", "artifacts")
# A phone (iPhone 12 to 15: 390 CSS px) and a desktop.
SIZES = {"phone": (390, 2400), "desktop": (1400, 2000)}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason="%s is missing: install Debian's chromium package (apt-get install chromium); .ci/run installs it" % CHROMIUM)


@pytest.fixture
def page(tmp_path):
    report = sample_bundle.sample_report()
    model.to_json(report)
    path = tmp_path / "report.html"
    path.write_text(report_html.render(report_view.build_view(report)), encoding="utf-8")
    return path


def _chromium(tmp_path, page, *args):
    """Run headless Chromium on ``page``; a first start may take a while, hence the long timeout."""
    home = tmp_path / "home"
    home.mkdir()
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--user-data-dir=%s" % (tmp_path / "profile")] + list(args) + ["file://%s" % page]
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"))
    result = subprocess.run(argv, check=False, timeout=120, capture_output=True, text=True, env=env)
    assert result.returncode == 0, "chromium exited %d: %s" % (result.returncode, result.stderr[-2000:])
    return result


@pytest.mark.parametrize("size", sorted(SIZES))
def test_screenshot(tmp_path, page, size):
    width, height = SIZES[size]
    png = tmp_path / "report.png"
    _chromium(tmp_path, page, "--screenshot=%s" % png, "--window-size=%d,%d" % (width, height),
              "--hide-scrollbars")
    assert png.is_file()
    data = png.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    # IHDR comes first: the image has the window's size.
    length, chunk, width, height = struct.unpack(">I4sII", data[8:24])
    assert (length, chunk) == (13, b"IHDR") and (width, height) == SIZES[size]
    # A blank page of this size compresses to a few KiB; the report with its
    # table, charts and text is well over 100 KiB.
    assert len(data) > 100 * 1024
    os.makedirs(ARTIFACTS, exist_ok=True)
    shutil.copyfile(str(png), os.path.join(ARTIFACTS, "report-%s.png" % size))


def test_print(tmp_path, page):
    """The print stylesheet gives a PDF on landscape A4 pages; kept next to the screenshot."""
    pdf = tmp_path / "report.pdf"
    _chromium(tmp_path, page, "--print-to-pdf=%s" % pdf, "--no-pdf-header-footer")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 20 * 1024
    # Every page A4 landscape (842 x 595 points), as the print stylesheet asks.
    boxes = re.findall(rb"/MediaBox \[0 0 ([0-9.]+) ([0-9.]+)\]", data)
    assert boxes and all(abs(float(w) - 841.9) < 1 and abs(float(h) - 595.3) < 1 for w, h in boxes)
    os.makedirs(ARTIFACTS, exist_ok=True)
    shutil.copyfile(str(pdf), os.path.join(ARTIFACTS, "report.pdf"))


class _Dom(HTMLParser):
    """What the browser built: bars per chart, body rows of the comparison table, text per element id."""

    def __init__(self):
        HTMLParser.__init__(self, convert_charrefs=True)
        self.open_ids = []
        self.bars = {}
        self.rows = []
        self.in_body_of_table = False
        self.missing = {}
        self.filter = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "input" and attrs.get("id") == "filter":
            self.filter = attrs
        if tag == "svg":
            self.open_ids.append(attrs.get("id"))
        elif tag == "rect" and "bar" in classes:
            self.bars.setdefault(self.open_ids[-1], []).append((attrs["data-host"], attrs["data-runtime"]))
        elif tag == "text" and "missing" in classes and "data-host" in attrs:
            self.missing.setdefault(self.open_ids[-1], []).append((attrs["data-host"], attrs["data-runtime"]))
        elif tag == "table":
            self.in_body_of_table = attrs.get("id") == "comparison"
        elif tag == "tr" and self.in_body_of_table:
            self.rows.append([])
        elif tag in ("th", "td") and self.in_body_of_table and self.rows:
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag == "svg":
            self.open_ids.pop()
        elif tag == "table":
            self.in_body_of_table = False

    def handle_data(self, data):
        if self.in_body_of_table and self.rows and self.rows[-1]:
            self.rows[-1][-1] += data


def test_dom(tmp_path, page):
    result = _chromium(tmp_path, page, "--dump-dom")
    dom = _Dom()
    dom.feed(result.stdout)
    dom.close()
    assert dom.bars == {
        "chart-startup": [("dev-vm", "runc"), ("lab-laptop", "kata"), ("lab-laptop", "runc")],
        "chart-http": [("dev-vm", "runc")],
    }
    # A host without a measured runtime (node-unreachable) has no chart row: the answer and the table say why.
    assert dom.missing == {"chart-http": [("lab-laptop", "kata"), ("lab-laptop", "runc")]}
    # Whitespace between the page's elements lands in the cell before it: compare the cells' text.
    cells = [[cell.strip() for cell in row] for row in dom.rows]
    header, rows = cells[0], cells[1:]
    assert header == [title for _key, title in report_view.COLUMNS]
    assert [row[:2] for row in rows] == [
        ["dev-vm", "(host)"], ["dev-vm", "runc"],
        ["lab-laptop", "(host)"], ["lab-laptop", "kata"], ["lab-laptop", "runc"],
        ["node-unreachable", "-"],
    ]
    columns = [key for key, _title in report_view.COLUMNS]
    kata = dict(zip(columns, rows[3]))
    # The recorded laptop predates the host's witness: its cell says so.
    assert kata["verdict"] == "vm-isolated" and kata["host_sees"] == report_view.NOT_RECORDED
    assert kata["startup"] == "6.6 s / 6.6 s", kata
    assert "Connection timed out" in rows[5][2]
    # The page's CSP allowed its own script by hash: the script showed the filter box.
    assert dom.filter is not None and "hidden" not in dom.filter
