"""tests/node on two Debian suites: the selection (node_selection.py), one cached image per suite
(node_image.py), and the test summary naming every scenario a suite leaves out (tools/test_summary.py)."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "node"))
import node_image  # noqa: E402  pylint: disable=wrong-import-position
import node_selection  # noqa: E402  pylint: disable=wrong-import-position

SUITES = ("bookworm", "trixie")


def test_the_node_test_knows_bookworm_and_trixie():
    assert node_image.SUITES == SUITES
    assert node_image.DEFAULT_SUITE == "bookworm"


def test_unset_selects_every_suite_with_every_scenario():
    assert dict(node_selection.parse(None, None, SUITES)) == {"bookworm": "full", "trixie": "full"}
    assert dict(node_selection.parse("  ", "lean", SUITES)) == {"bookworm": "lean", "trixie": "lean"}


def test_a_set_per_suite_and_the_default_for_the_rest():
    assert list(node_selection.parse("bookworm:lean,trixie:core", None, SUITES).items()) == [
        ("bookworm", "lean"), ("trixie", "core")]
    parsed = node_selection.parse("trixie, bookworm:core", "lean", SUITES)
    assert dict(parsed) == {"trixie": "lean", "bookworm": "core"}


@pytest.mark.parametrize("text, default, message", [
    ("buster", None, "unknown suite 'buster'"),
    ("trixie:fast", None, "unknown scenario set 'fast'"),
    ("trixie", "quick", "KF_NODE_SCENARIO: unknown scenario set 'quick'"),
    ("trixie,trixie:core", None, "trixie named twice"),
    ("trixie;rm -rf /", None, "is not SUITE or SUITE:SET"),
    ("bookworm:", None, "is not SUITE or SUITE:SET"),
    ("trixie," * 40, None, "longer than 200 characters"),
])
def test_a_bad_selection_is_a_named_error(text, default, message):
    with pytest.raises(node_selection.BadSelection, match=message):
        node_selection.parse(text, default, SUITES)


def test_the_sets_nest_and_every_skip_names_its_suite():
    selected = node_selection.parse("bookworm:lean,trixie:core", None, ("bookworm", "trixie", "forky"))
    setting = "bookworm:lean,trixie:core"
    assert node_selection.skip_reason("bookworm", "core", selected, setting) is None
    assert node_selection.skip_reason("bookworm", "lean", selected, setting) is None
    full = node_selection.skip_reason("bookworm", "full", selected, setting)
    assert full.startswith("bookworm: left out of the 'lean' scenario set (KF_NODE_SUITES=bookworm:lean,trixie:core)")
    assert node_selection.skip_reason("trixie", "core", selected, setting) is None
    assert node_selection.skip_reason("trixie", "lean", selected, setting).startswith("trixie: left out of the 'core'")
    assert node_selection.skip_reason("forky", "core", selected, setting).startswith("forky: suite not selected")


@pytest.fixture
def archives(monkeypatch):
    monkeypatch.setenv("KATA_FLEET_DEBIAN_MIRROR", "http://mirror.example/debian")
    monkeypatch.setenv("KATA_FLEET_DEBIAN_SECURITY_MIRROR", "http://mirror.example/debian-security")


def test_each_suite_has_its_recipe_and_archives(archives):
    for suite in SUITES:
        spec = node_image.recipe(suite)
        assert spec["suite"] == suite
        assert spec["mirrors"] == ["deb http://mirror.example/debian %s main" % suite,
                                   "deb http://mirror.example/debian %s-updates main" % suite,
                                   "deb http://mirror.example/debian-security %s-security main" % suite]
    # trixie's kernel keeps its modules under /usr/lib/modules: the hardware the VM lacks is left out there too.
    excluded = node_image.recipe("trixie")["path_exclude"]
    assert "/usr/lib/modules/*/kernel/sound/*" in excluded and "/lib/modules/*/kernel/sound/*" in excluded
    with pytest.raises(node_image.UnknownSuite, match="no node image recipe for Debian suite 'sid'"):
        node_image.recipe("sid")


def test_the_cache_key_holds_the_suite(archives):
    keys = {suite: node_image.recipe_key(suite) for suite in SUITES}
    assert len(set(keys.values())) == 2
    assert keys == {suite: node_image.recipe_key(suite) for suite in SUITES}  # stable


def test_one_cached_image_per_suite(archives, monkeypatch, tmp_path):
    monkeypatch.setenv("KF_NODE_CACHE", str(tmp_path))
    built = []

    def fake_build(work, spec, key, log):
        built.append(spec["suite"])
        with open(os.path.join(work, "build.json"), "w") as handle:
            json.dump({"suite": spec["suite"], "key": key, "kernel_release": "k-" + spec["suite"]}, handle)

    monkeypatch.setattr(node_image, "_build", fake_build)
    (tmp_path / "trixie-0000000000000000").mkdir()  # an image of an earlier trixie recipe
    bookworm = node_image.build_image("bookworm", log=lambda _line: None)
    trixie = node_image.build_image("trixie", log=lambda _line: None)
    assert (bookworm.suite, trixie.suite) == SUITES
    assert os.path.basename(bookworm.directory) == "bookworm-" + node_image.recipe_key("bookworm")
    assert os.path.basename(trixie.directory) == "trixie-" + node_image.recipe_key("trixie")
    assert trixie.kernel_release == "k-trixie"
    # The second call of each finds its image; the stale trixie image is gone, bookworm's stays.
    assert node_image.build_image("bookworm").directory == bookworm.directory
    assert node_image.build_image("trixie").directory == trixie.directory
    assert built == ["bookworm", "trixie"]
    assert sorted(name for name in os.listdir(tmp_path) if not name.startswith(".")) == sorted(
        os.path.basename(image.directory) for image in (bookworm, trixie))


def _junit(cases):
    body = "".join('<testcase classname="tests.node.test_node_systemd" name="%s">'
                   '<skipped type="pytest.skip" message="%s">skip</skipped></testcase>' % case for case in cases)
    return ('<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="0" '
            'skipped="%d" tests="%d">%s</testsuite></testsuites>' % (len(cases), len(cases), body))


def _summary(tmp_path):
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", "test_summary.py"), str(tmp_path)],
                          capture_output=True, text=True, check=True).stdout


def test_the_summary_names_every_scenario_a_suite_leaves_out(tmp_path):
    trixie = "trixie: left out of the 'core' scenario set (KF_NODE_SUITES=bookworm:lean,trixie:core)"
    bookworm = "bookworm: left out of the 'lean' scenario set (KF_NODE_SUITES=bookworm:lean,trixie:core)"
    names = ["test_%d[trixie]" % number for number in range(6)]
    (tmp_path / "node.xml").write_text(_junit([(name, trixie) for name in names]
                                              + [("test_check[bookworm]", bookworm)]))
    out = _summary(tmp_path)
    assert "SKIPPED 6: " + trixie in out and "SKIPPED 1: " + bookworm in out
    for name in names + ["test_check[bookworm]"]:
        assert "tests.node.test_node_systemd::%s\n" % name in out
    assert "more" not in out


def test_a_long_list_of_skips_is_cut(tmp_path):
    (tmp_path / "node.xml").write_text(_junit([("test_%d" % number, "no chromium") for number in range(12)]))
    out = _summary(tmp_path)
    assert "tests.node.test_node_systemd::test_4\n" in out and "test_5\n" not in out
    assert "... and 7 more" in out
