"""tests/integration/apt_sources.py: the tests fetch from the Debian archive apt already uses."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
import apt_sources  # noqa: E402  pylint: disable=wrong-import-position

DEB822 = """Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


@pytest.fixture(autouse=True)
def no_overrides(monkeypatch):
    monkeypatch.delenv("KATA_FLEET_DEBIAN_MIRROR", raising=False)
    monkeypatch.delenv("KATA_FLEET_DEBIAN_SECURITY_MIRROR", raising=False)


def test_deb822_sources(tmp_path):
    path = tmp_path / "debian.sources"
    path.write_text(DEB822)
    assert apt_sources.debian_archives([str(path)]) == ("http://mirror.example/debian",
                                                        "http://mirror.example/debian-security")


def test_one_line_sources_with_options_and_comments(tmp_path):
    path = tmp_path / "sources.list"
    path.write_text("# deb http://commented.example/debian bookworm main\n"
                    "deb-src http://src.example/debian bookworm main\n"
                    "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main # note\n"
                    "deb http://one.example/debian-security bookworm-security main\n")
    assert apt_sources.debian_archives([str(path)]) == ("http://one.example/debian",
                                                        "http://one.example/debian-security")


def test_the_first_archive_wins_and_a_disabled_stanza_is_skipped(tmp_path):
    first = tmp_path / "a.sources"
    first.write_text("Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n")
    second = tmp_path / "b.list"
    second.write_text("deb http://on.example/debian bookworm main\ndeb http://later.example/debian sid main\n")
    assert apt_sources.debian_archives([str(first), str(second)]) == ("http://on.example/debian", None)


def test_the_environment_overrides(tmp_path, monkeypatch):
    path = tmp_path / "sources.list"
    path.write_text("deb http://one.example/debian bookworm main\n")
    monkeypatch.setenv("KATA_FLEET_DEBIAN_MIRROR", "http://local.example/debian/")
    assert apt_sources.debian_archives([str(path)]) == ("http://local.example/debian", None)


def test_a_hostile_uri_is_not_taken(tmp_path):
    path = tmp_path / "a.sources"
    path.write_text("Types: deb\nURIs: ftp://old.example/debian\nSuites: bookworm\n")
    with pytest.raises(apt_sources.NoDebianArchive, match="KATA_FLEET_DEBIAN_MIRROR"):
        apt_sources.debian_archives([str(path), str(tmp_path / "missing.list")])
