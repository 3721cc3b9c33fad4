# -*- coding: utf-8 -*-
"""Every recorded sandbox output in fixtures/sandboxes/ gives its expected verdict and sandbox.

The format is written down in fixtures/sandboxes/README.md.  Each fixture
goes through the same path as a live run: its guest sections are framed with
a nonce and parsed back (so a recorded output must survive the framing
checks), its host sections through ``facts_from_sections`` (as
``_hostinfo.host_sections`` output does), then ``_probe.verdict``.
"""

import json
import re

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _probe, _verdict
from conftest import FIXTURES
from probe_output import NONCE, facts as recorded_facts

SANDBOXES = FIXTURES / "sandboxes"
FILES = sorted(SANDBOXES.glob("*.json"))
VERDICTS = ("shared-kernel", "vm-isolated", "user-space-kernel", "unknown")
SANDBOX_NAMES = (None, "kata", "kata/qemu", "kata/dragonball", "kata/firecracker", "kata/clh", "firecracker",
                 "gvisor", "qemu", "clh", "dragonball")
SOURCE = re.compile(r"\A(https://\S+|this machine, [0-9]{4}-[0-9]{2}-[0-9]{2}\b.*)\Z")


def _load(path):
    with open(str(path)) as handle:
        return json.load(handle)


def test_there_are_enough_fixtures():
    assert len(FILES) >= 12, [path.name for path in FILES]


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_fixture_is_well_formed(path):
    fixture = _load(path)
    assert set(fixture) <= {"source", "description", "expected", "host", "guest", "notes"}
    assert SOURCE.match(fixture["source"]), fixture["source"]
    assert fixture["description"].strip()
    assert fixture["expected"]["verdict"] in VERDICTS
    assert fixture["expected"]["sandbox"] in SANDBOX_NAMES
    for side in ("host", "guest"):
        assert set(fixture[side]) <= set(_probe.SECTION_NAMES), (side, set(fixture[side]) - set(_probe.SECTION_NAMES))
        assert all(isinstance(text, str) for text in fixture[side].values())
    assert fixture["guest"], "a fixture without any guest line says nothing"


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_fixture_gives_its_expected_verdict(path):
    fixture = _load(path)
    host = _probe.facts_from_sections(fixture["host"])
    # The guest goes through the framing exactly as a live run's output does.
    guest = _probe.parse_output(_probe.render(fixture["guest"], NONCE), NONCE)
    assert guest["fact_errors"] == [] and host["fact_errors"] == []
    result = _verdict.verdict(host, guest)
    got = {"verdict": result["verdict"], "sandbox": result["sandbox"]}
    assert got == fixture["expected"], "%s: %s (reason: %s; signals: %s)" % (
        path.name, got, result["verdict_reason"], result["signals"])
    # Every outcome explains itself, and never prints a missing value as "None".
    assert result["evidence"] or result["verdict_reason"]
    assert (result["verdict_reason"] is None) == (result["verdict"] != "unknown")
    assert "None" not in " ".join(result["evidence"] + [result["verdict_reason"] or ""])
    if result["sandbox"]:
        assert result["signals"], "a named sandbox needs the signals that named it"


def test_lab_kata_fixture_is_vm_isolated(fixture_text, fixture_json):
    """The lab report's Kata laptop (the older fixture pair) stays vm-isolated."""
    result = _verdict.verdict(fixture_json("lab_host_facts.json"), recorded_facts(fixture_text("lab_kata_probe_output.txt")))
    assert result["verdict"] == "vm-isolated" and result["sandbox"] == "kata"
