# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/plugin_utils/_report/model.py against docs/report.schema.json: conform and the schema cannot drift apart.

``conform`` hand-codes the schema's words for a probe entry.  These tests walk
the schema's probe_entry and conform together: every word list and limit
conform uses is the schema's, every property the schema constrains is one
conform enforces (a value the schema refuses, sent by a host, becomes a
report.json the schema accepts and a note naming the property), and every
property conform names in a note is one the schema has.
"""

import json
import re

import jsonschema
import pytest

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import contract, model
from conftest import REPO_ROOT  # noqa: E402  pylint: disable=wrong-import-position

SCHEMA = json.loads((REPO_ROOT / "docs" / "report.schema.json").read_text())
DEFS = SCHEMA["$defs"]
ENTRY = DEFS["probe_entry"]["properties"]
WITNESS = DEFS["host_witness"]["anyOf"][1]["properties"]
RUN = {"started": "2026-12-01T04:00:00Z", "finished": "2026-12-01T04:00:12Z",
       "controller": {"hostname": "ctl", "user": "root", "python": "3.11"},
       "versions": {"ansible_core": "2.19", "collection": "0.1.0"}, "playbooks": [], "inventory": []}
# Checked once (validate() checks the schema itself on every call).
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
NOTE = re.compile(r"\Aruntimes/r/(isolation|startup|http)/([a-z_]+)(?:/([a-z0-9_]+))?: ")


def _words(spec):
    """An enum's words without null."""
    return [word for word in spec["enum"] if word is not None]


def _refs_stats(spec):
    return spec.get("$ref") == "#/$defs/stats" or any(item.get("$ref") == "#/$defs/stats" for item in spec.get("anyOf", ()))


def _refused(spec):
    """A JSON value the schema refuses for ``spec`` (a property of probe_entry): derived from the schema itself."""
    if "enum" in spec:
        return "not-one-of-the-words"
    if "type" in spec:
        types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        for value, kind in ((5, "integer"), ("text", "string"), ({"a": 1}, "object"), (["a"], "array")):
            if kind not in types and not (kind == "integer" and "number" in types):
                return value
        raise AssertionError("no refused value for %s" % spec)
    return "not-a-mapping-nor-a-pattern-match"  # $ref / anyOf: an object or a pattern, never this text


def _report(probe, result):
    record = dict(contract.new_record(), **{probe: {"runtimes": {"r": result}}})
    report = model.build_report({"h": record}, dict(RUN), "run-1", {})
    return json.loads(model.to_json(report)), report["errors"]


def _ok(probe):
    return {"status": "ok", "verdict": "shared-kernel"} if probe == "isolation" else {"status": "ok"}


def test_the_words_and_limits_are_the_schemas():
    assert list(model.PROBE_STATUSES) == _words(ENTRY["status"])
    assert sorted(model.VERDICT_VALUES) == sorted(_words(ENTRY["verdict"]))
    assert sorted(model.VERDICTS + ("unknown",)) == sorted(model.VERDICT_VALUES)
    assert list(model.IMAGE_SOURCES + model.LEGACY_IMAGE_SOURCES) == _words(ENTRY["image_source"])
    assert list(model.WITNESS_VALUES) == _words(ENTRY["witness"])
    assert model.DIGEST.pattern == "\\A%s\\Z" % ENTRY["image_digest"]["anyOf"][0]["pattern"].strip("^$")
    assert list(model.HOST_CLASSES) == WITNESS["class"]["enum"]
    assert list(model.VMMS) == _words(WITNESS["vmm"])
    assert model.WITNESS_TEXT_LIMIT == WITNESS["reason"]["maxLength"] == WITNESS["evidence"]["items"]["maxLength"]
    assert model.WITNESS_EVIDENCE_LINES == WITNESS["evidence"]["maxItems"]
    assert model.BINARY_LIMIT == WITNESS["binary"]["maxLength"] == WITNESS["shim"]["anyOf"][1]["properties"]["binary"]["maxLength"]
    story = ENTRY["contradiction"]["anyOf"][1]["properties"]
    assert model.STORY_LIMIT == story["container"]["maxLength"] == story["host"]["maxLength"]
    assert list(contract.STATUSES) == DEFS["host"]["properties"]["status"]["enum"]
    assert model.SCHEMA == SCHEMA["properties"]["schema"]["const"]


def test_every_field_conform_checks_is_a_property_of_the_schema_and_the_other_way_round():
    checked = set(model.WITNESS_FIELDS) | set(model.STATS_BLOCKS) | {key for key, _types, _words in model.TYPED_FIELDS} \
        | {"status", "verdict"}
    constrained = set(key for key, spec in ENTRY.items() if "type" in spec or "enum" in spec or "$ref" in spec or "anyOf" in spec)
    assert checked == constrained == set(ENTRY)
    assert set(model.STATS_BLOCKS) == set(key for key, spec in ENTRY.items() if _refs_stats(spec))
    for key, types, _words in model.TYPED_FIELDS:
        allowed = ENTRY[key]["type"]
        assert sorted(allowed) == sorted([{str: "string", list: "array", dict: "object"}[kind] for kind in types] + ["null"])


@pytest.mark.parametrize("probe", contract.PROBES)
@pytest.mark.parametrize("key", sorted(ENTRY))
def test_a_value_the_schema_refuses_is_conformed_and_named(probe, key):
    result = dict(_ok(probe), **{key: _refused(ENTRY[key])})
    report, errors = _report(probe, result)
    VALIDATOR.validate(report)
    named = [NOTE.match(item["error"]) for item in errors]
    assert [(match.group(1), match.group(2)) for match in named if match] == [(probe, key)], errors


@pytest.mark.parametrize("probe", contract.PROBES)
@pytest.mark.parametrize("block", model.STATS_BLOCKS)
def test_statistics_that_are_no_numbers_become_null_and_stay_valid(probe, block):
    stats = {"n": 3, "median": "fast", "p95": float("nan"), "max": True, "p99": 0.2}
    report, errors = _report(probe, dict(_ok(probe), **{block: stats}))
    VALIDATOR.validate(report)
    kept = report["hosts"]["h"]["runtimes"]["r"][probe][block]
    assert kept == {"n": 3, "median": None, "p95": None, "max": None, "p99": 0.2}
    for item in errors:
        match = NOTE.match(item["error"])
        assert match and match.group(2) == block and match.group(3) in DEFS["stats"]["properties"], item


@pytest.mark.parametrize("probe", contract.PROBES)
def test_a_good_entry_is_left_as_it_is(probe):
    good = dict(_ok(probe), error=None, verdict_reason=None, sandbox=None, evidence=["a sentence"], signals=["boot-id"],
                fact_errors={}, image_source="built", image_digest="sha256:" + "a" * 64, witness="agrees",
                host_witness={"class": "host-process", "task_pid": 9, "shim": {"pid": 8, "binary": "/usr/bin/shim"}},
                contradiction=None, total={"n": 1, "median": 0.1}, latency=None)
    report, errors = _report(probe, dict(good))
    VALIDATOR.validate(report)
    assert errors == [] and report["hosts"]["h"]["runtimes"]["r"][probe] == good
    assert model.conform({"runtimes": {"r": {probe: dict(good)}}}) == []


# ---- report.json's text in parts (one per host): the bytes json.dumps writes, without its text of every host


def test_the_parts_are_json_dumps_byte_for_byte_one_per_host(sample_report):
    parts = model.to_json_parts(sample_report)
    assert "".join(parts) == json.dumps(sample_report, separators=(",", ":"), allow_nan=False) + "\n"
    assert "".join(parts) == model.to_json(sample_report)
    hosts = [part for part in parts if any(part.lstrip(",").startswith(json.dumps(name) + ":")
                                           for name in sample_report["hosts"])]
    assert len(hosts) == len(sample_report["hosts"]) == 3
    assert json.loads("".join(parts)) == sample_report


@pytest.mark.parametrize("hosts", [{}, {"only": {"status": "ok"}}, {"a": {}, "b\u00e9": {"x": [1.5, None, True]}}])
def test_the_parts_of_small_and_empty_fleets_are_json_dumps_too(hosts):
    report = {"schema": "kata_fleet.report/v1", "hosts": hosts, "errors": []}
    assert "".join(model.to_json_parts(report)) == json.dumps(report, separators=(",", ":")) + "\n"


def test_a_host_name_that_is_not_text_is_cleaned_into_the_parts():
    # json.dumps would write 7 as "7" on its own; the parts name it, as clean names every key it changes.
    report = {"schema": "kata_fleet.report/v1", "hosts": {7: {"status": "ok"}, "b": {"v": float("nan")}}, "errors": []}
    text = "".join(model.to_json_parts(report))
    loaded = json.loads(text)
    assert list(loaded["hosts"]) == ["7", "b"] and loaded["hosts"]["b"]["v"] is None
    assert [error["host"] for error in loaded["errors"]] == ["b"]
