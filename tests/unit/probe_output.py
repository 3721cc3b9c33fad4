# -*- coding: utf-8 -*-
"""Test plumbing: recorded probe outputs in their section layout, framed as a live run prints them.

The recorded files (runc_probe_output.txt, lab_kata_probe_output.txt) keep the
layout they were recorded in: ``@@kata-fleet@@ <section>`` lines, an optional
header before the first one.  A live run frames the same sections with a
per-run nonce; ``framed`` renders them that way with the fixed test NONCE, and
``use_nonce`` makes the module draw that NONCE.
"""

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _probe

NONCE = "0123456789abcdef0123456789abcdef"
RECORDED_MARKER = "@@kata-fleet@@ "


def sections(text):
    """The section texts of a recorded file (its header is ignored)."""
    found, current = {}, None
    for line in text.splitlines():
        if line.startswith(RECORDED_MARKER):
            current = line[len(RECORDED_MARKER):].strip()
            found[current] = []
        elif current is not None:
            found[current].append(line)
    found.pop(_probe.END_SECTION, None)
    return dict((name, "\n".join(lines)) for name, lines in found.items())


def framed(text, nonce=NONCE):
    """The recorded file as ``_probe.script(nonce)`` prints it."""
    return _probe.render(sections(text), nonce)


def facts(text):
    """The facts of a recorded file, through the same framing and parser as a live run."""
    return _probe.parse_output(framed(text), NONCE)


def use_nonce(monkeypatch, nonce=NONCE):
    """Make the module under test draw ``nonce``, so recorded output can carry it."""
    monkeypatch.setattr(_probe, "new_nonce", lambda: nonce)


def recorded_host(monkeypatch, fixture_text):
    """The host's own sections as this machine recorded them with the runc fixture (same boot), not the live /proc;
    the module draws the test NONCE. Patch ``host_sections`` where the module under test looks it up."""
    use_nonce(monkeypatch)
    found = sections(fixture_text("runc_probe_output.txt"))
    found.update(proc_entries="136", net_names="eth0\nifb0\nifb1\nlo", dmesg="rc=0\n[    0.000000] Linux version")
    return found
