# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run id: one rule and one generator, for the hosts and the controller alike.

A run id names every container and snapshot a module run makes
(``kf-<instance tag>-<run id>-<handler>-<role>``, _containerd.container_name),
the ``io.kata-fleet.run-id`` label on them, and the evidence bundle's folder on
the controller.  containerd takes an id only when it is ASCII letters and
digits joined by single '.', '_' or '-' (its identifiers.Validate) and at most
76 characters long; a run id of at most 40 leaves room for the rest of the
name.  Every entry point checks a run id here before anything runs on a host
(the comparison callback, the verify_host action, kata_fleet_runner, the
modules), with the same message; a folder name that follows this rule has no
'/', no '..' and no leading dot.
"""

import os
import re
import string
import time

# containerd's identifier grammar, anchored with \A...\Z so a trailing newline is refused.
PATTERN = re.compile(r"\A[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*\Z")
MAX_LENGTH = 40
SEPARATORS = "._-"
ALLOWED = frozenset(string.ascii_letters + string.digits + SEPARATORS)
# How the controller hands its run id to every host: the comparison callback sets it once per playbook, the
# forks inherit it, and the verify_host action reads it.
VARIABLE = "KATA_FLEET_RUN_ID"
RULE = ("a run id is 1 to %d ASCII letters and digits, joined by single '.', '_' or '-' (none first, last or "
        "twice in a row), e.g. 20261206T184800-1a2b or awx-job-4711: containerd names every probe container after "
        "it" % MAX_LENGTH)


def new_run_id():
    """UTC time and 4 hex digits (20 characters): sorts by time, and two runs in one second still differ."""
    return "%s-%s" % (time.strftime("%Y%m%dT%H%M%S", time.gmtime()), os.urandom(2).hex())


def valid(value):
    """True for a usable run id."""
    return isinstance(value, str) and len(value) <= MAX_LENGTH and PATTERN.match(value) is not None


def _shown(value):
    """``value`` for a message: ASCII only (control characters escaped), cut to 60 characters."""
    return ascii(value[:60]) + ("..." if len(value) > 60 else "")


def _why(value):
    """What is wrong with the string ``value`` (one reason, the first found)."""
    if not value:
        return "it is empty"
    if len(value) > MAX_LENGTH:
        return "it has %d characters" % len(value)
    for index, char in enumerate(value):
        if char not in ALLOWED:
            return "character %d, %s, is not an ASCII letter, digit, '.', '_' or '-'" % (index + 1, ascii(char))
    if value[0] in SEPARATORS:
        return "it starts with %r" % value[0]
    if value[-1] in SEPARATORS:
        return "it ends with %r" % value[-1]
    twice = re.search(r"[._-]{2,}", value)
    if twice:
        return "it has %r at character %d" % (twice.group(0), twice.start() + 1)
    return "it does not follow the rule"


def problem(value):
    """None for a usable run id, else one sentence: what is wrong with it and the rule to follow."""
    if not isinstance(value, str):
        return "the run id must be a string, not %s; %s" % (type(value).__name__, RULE)
    if valid(value):
        return None
    return "run id %s is not usable (%s); %s" % (_shown(value), _why(value), RULE)
