# -*- coding: utf-8 -*-
"""plugins/module_utils/_runid.py: the one run id rule (pattern, length, message) and generator.

The rule is containerd's: every run id ends up in container names, so one the
controller accepts must work on every host (ids such as ``job-12--x``,
``run-`` or one of 50 characters used to pass the callback and then fail every
host).
"""

import json
import re

import jsonschema
import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _containerd, _runid
from conftest import REPO_ROOT, FakeModule

RUN_ID_SCHEMA = json.loads((REPO_ROOT / "docs" / "report.schema.json").read_text())["properties"]["run_id"]

GOOD = ["20261201T040000-0a1b", "awx-job-4711", "a", "A.b_c-d", "fleet-20261206", "x" * 40, "1.2.3", "R_1"]
# (value, the reason the message gives)
BAD = [
    ("job-12--x", "it has '--' at character 7"),
    ("run-", "it ends with '-'"),
    ("x" * 50, "it has 50 characters"),
    ("x" * 41, "it has 41 characters"),
    ("run\n", "character 4, '\\n', is not an ASCII letter"),
    ("abc\n\n", "character 4, '\\n', is not an ASCII letter"),
    ("\nabc", "character 1, '\\n', is not an ASCII letter"),
    ("ünïcode", "character 1, '\\xfc', is not an ASCII letter"),
    ("run\u0661", "character 4, '\\u0661', is not an ASCII letter"),  # an Arabic-Indic digit: str.isdigit() says yes
    ("", "it is empty"),
    ("../x", "character 3, '/', is not"),
    ("a/b", "character 2, '/', is not"),
    ("a..b", "it has '..' at character 2"),
    (".hidden", "it starts with '.'"),
    ("-dash", "it starts with '-'"),
    ("x_", "it ends with '_'"),
    ("run id", "character 4, ' ', is not"),
    ("run;rm -rf /", "character 4, ';', is not"),
]


@pytest.mark.parametrize("run_id", GOOD)
def test_good_run_ids(run_id):
    assert _runid.valid(run_id) is True
    assert _runid.problem(run_id) is None


@pytest.mark.parametrize("run_id,reason", BAD)
def test_bad_run_ids_are_named_with_the_reason_and_the_rule(run_id, reason):
    assert _runid.valid(run_id) is False
    message = _runid.problem(run_id)
    assert reason in message, message
    # the fix: the rule, with examples, and why it is the rule
    assert message.endswith(_runid.RULE) and "1 to 40 ASCII letters and digits" in message
    # the message is one line of ASCII, whatever the value held
    assert message.isascii() and "\n" not in message


@pytest.mark.parametrize("value", [None, 42, b"run-1", ["run-1"]])
def test_a_run_id_that_is_not_a_string(value):
    assert _runid.valid(value) is False
    assert _runid.problem(value) == "the run id must be a string, not %s; %s" % (type(value).__name__, _runid.RULE)


def test_a_long_value_is_cut_in_the_message():
    message = _runid.problem("y" * 5000)
    assert "y" * 60 + "'..." in message and "y" * 61 not in message and len(message) < 400


def test_the_pattern_is_anchored_and_ascii():
    assert _runid.PATTERN.pattern.startswith("\\A") and _runid.PATTERN.pattern.endswith("\\Z")
    assert _runid.PATTERN.match("run\n") is None and _runid.PATTERN.match("r\u0661") is None


def test_new_run_ids_follow_the_rule_sort_by_time_and_differ():
    ids = [_runid.new_run_id() for dummy in range(50)]
    assert all(_runid.problem(run_id) is None for run_id in ids)
    assert all(re.match(r"\A\d{8}T\d{6}-[0-9a-f]{4}\Z", run_id) for run_id in ids)
    assert len(set(ids)) > 1


@pytest.mark.parametrize("handler", ["runc", "kata-qemu", "k" * 60])
@pytest.mark.parametrize("role,suffix", [("iso", ""), ("s", "w12"), ("http", ""), ("w", "")])
def test_the_longest_run_id_still_makes_valid_container_names(handler, role, suffix):
    """Why 40: kf-<tag>-<run id>-<handler>-<role><index> must stay a containerd id of at most 76 characters."""
    client = _containerd.ContainerdClient(FakeModule(bins={"ctr": "/usr/bin/ctr"}), "/run/containerd/containerd.sock",
                                          "kata-fleet", "/etc/containerd/config.toml")
    run_id = "r" * _runid.MAX_LENGTH
    name = client.container_name(run_id, handler, role) + suffix
    assert len(name) <= _containerd.ID_MAX_LENGTH and _containerd.ID_PATTERN.match(name), name
    assert "-%s-" % run_id in name


@pytest.mark.parametrize("run_id", GOOD + [value for value, reason in BAD])
def test_report_schema_states_the_same_rule(run_id):
    """docs/report.schema.json's run_id accepts exactly what _runid does (a JSON Schema has no \\Z)."""
    try:
        jsonschema.validate(run_id, RUN_ID_SCHEMA)
    except jsonschema.ValidationError:
        assert not _runid.valid(run_id)
    else:
        assert _runid.valid(run_id)
