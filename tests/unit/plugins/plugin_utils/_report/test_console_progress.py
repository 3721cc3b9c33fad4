# -*- coding: utf-8 -*-
"""console.progress_line: the line the comparison callback prints as each host's verify result arrives."""

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import console

ISOLATION = {"runtimes": {"runsc": {"status": "ok", "verdict": "user-space-kernel"},
                          "runc": {"status": "ok", "verdict": "shared-kernel"}}}


def test_the_example_line():
    assert console.progress_line("node-a", ISOLATION, done=3, failed=1, total=12, seconds=14.23) == (
        "kata-fleet: [done 3/12, failed 1, left 8] node-a: runc shared-kernel, runsc user-space-kernel (14.2 s)")


def test_sandbox_failed_and_unknown_total():
    isolation = {"runtimes": {"kata": {"status": "ok", "verdict": "vm-isolated", "sandbox": "kata/qemu"},
                              "hang": {"status": "failed", "error": "did not finish"}}}
    assert console.progress_line("n2", isolation, done=1, failed=1) == (
        "kata-fleet: [done 1, failed 1] n2: hang failed, kata vm-isolated (kata/qemu)")


def test_more_done_than_known_never_says_a_negative_left():
    assert "left 0]" in console.progress_line("n", {}, done=4, failed=1, total=4)


@pytest.mark.parametrize("isolation", [None, "text", {"runtimes": "text"}, {"runtimes": {}}, {}])
def test_no_isolation_result(isolation):
    assert console.progress_line("n", isolation, 1, 0, 2) == "kata-fleet: [done 1/2, failed 0, left 1] n: no isolation result"


def test_hostile_names_cannot_steer_the_terminal_and_many_handlers_are_counted():
    runtimes = dict(("h%02d" % index, {"status": "ok", "verdict": "shared-kernel"}) for index in range(12))
    runtimes["\x1b]0;owned\x07evil"] = {"status": "ok", "verdict": "\x1b[2Jforged"}
    line = console.progress_line("host\x1b[31m\nnext", {"runtimes": runtimes}, 1, 0, 1)
    assert "\x1b" not in line and "\n" not in line and "\x07" not in line
    assert line.endswith("and 5 more") is False and line.endswith(", 5 more")
    assert "forged" not in line  # a verdict outside the known four is shown as unknown
