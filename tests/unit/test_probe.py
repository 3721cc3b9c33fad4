# -*- coding: utf-8 -*-
"""plugins/module_utils/_probe.py: the probe script, its parser and the verdict.

Fixtures: runc_probe_output.txt is the real output of the probe script in a
runc container on the development machine, runc_host_facts.json that
machine's host_facts; lab_kata_probe_output.txt / lab_host_facts.json are the
lab report's Kata guest and host (see the headers of those files).
"""

import copy
import re
import shlex

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _oci, _probe

RUNC_BOOT_ID = "dee579d3-d37d-4053-9fd6-3b6066b8b5df"

# Reserved words of the shell and what busybox ash implements as builtins (no applet symlink needed).
SHELL_WORDS = {"if", "then", "else", "elif", "fi", "[", "test", ":"}


# -- script() -----------------------------------------------------------------

def test_script_has_one_marker_line_per_section_in_order():
    text = _probe.script()
    markers = [line for line in text.splitlines() if _probe.MARKER in line]
    names = [name for name, _command in _probe.SECTIONS] + [_probe.END_SECTION]
    assert markers == ["echo '%s %s'" % (_probe.MARKER, name) for name in names]
    assert text.endswith("\n")


def test_output_is_complete_only_with_its_end_marker(fixture_text):
    whole = fixture_text("runc_probe_output.txt")
    assert _probe.is_complete(whole)
    # A container killed half-way through prints part of the sections and no end marker.
    assert not _probe.is_complete(whole[:len(whole) // 2])


def _command_words(script):
    """The first word of every simple command in ``script``, roughly parsed (good enough for it)."""
    words = []
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()<>")
        lexer.whitespace_split = True
        tokens = list(lexer)
        at_start, after_redirect = True, False
        for token in tokens:
            if after_redirect:  # the target of a redirection
                after_redirect = False
                continue
            if set(token) <= set(";&|()"):  # a separator (";", "|", ");", "(" ...): a command follows
                at_start = True
                continue
            if set(token) <= set("<>&"):  # a redirection operator
                after_redirect = True
                continue
            if at_start:
                if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", token):
                    continue  # an assignment such as out=$( ... ): not a command
                words.append(token)
                at_start = token in ("if", "then", "else", "elif")
    return words


def test_command_word_parser_itself():
    assert _command_words("out=$(dmesg 2>&1); echo \"rc=$?\"; printf '%s\\n' \"$out\" | head -n 20") == \
        ["dmesg", "echo", "printf", "head"]
    assert _command_words("if [ -r /x ]; then wc -l < /x; else echo absent; fi 2>&1") == \
        ["if", "[", "then", "wc", "else", "echo", "fi"]


def test_script_only_uses_applets_of_the_probe_image():
    words = _command_words(_probe.script())
    # the parser found the commands it should (sanity check of the check)
    for expected in ("uname", "cat", "grep", "nproc", "ls", "wc", "ip", "dmesg", "printf", "head", "echo"):
        assert expected in words
    unknown = sorted(set(words) - set(_oci.APPLETS) - SHELL_WORDS)
    assert unknown == [], "the probe script calls %s, which the probe image does not provide" % unknown


def test_script_parses_with_sh(tmp_path):
    import subprocess
    script = tmp_path / "probe.sh"
    script.write_text(_probe.script())
    assert subprocess.run(["sh", "-n", str(script)], check=False).returncode == 0


# -- parse_output on recorded output ----------------------------------------------

def test_parse_runc_fixture(fixture_text):
    facts = _probe.parse_output(fixture_text("runc_probe_output.txt"))
    assert facts["kernel_release"] == "6.18.44-fc-v1045"
    assert facts["uname"] == "Linux vm 6.18.44-fc-v1045 #1 SMP PREEMPT_DYNAMIC @0 x86_64 GNU/Linux"
    assert facts["boot_id"] == RUNC_BOOT_ID
    assert facts["boot_time"] == 1796097511
    assert facts["cpu_model"] == "AMD EPYC"
    assert facts["hypervisor_flag"] is True
    assert facts["cpus"] == 2
    assert facts["mem_total_kib"] == 24683584
    assert facts["proc_entries"] == 56
    # this kernel has no /proc/modules: "absent" is not a count of 0
    assert facts["modules"] is None
    assert facts["modules_available"] is False
    assert facts["interfaces"] == [{"name": "lo", "addresses": ["127.0.0.1/8", "::1/128"]}]
    assert facts["kernel_cmdline"].startswith("mitigations=auto,no_guest_host,no_guest_guest console=ttyS0")
    assert facts["dmesg"] == {"readable": False, "head": [],
                              "error": "dmesg: klogctl: Operation not permitted"}
    assert "Operation not permitted" in facts["dmesg"]["error"]


def test_parse_lab_kata_fixture_ignores_the_header(fixture_text):
    facts = _probe.parse_output(fixture_text("lab_kata_probe_output.txt"))
    assert facts["kernel_release"] == "6.12.47"
    assert facts["uname"] == "Linux 329d9f7433ab 6.12.47 #1 SMP Fri Nov 14 15:34:06 UTC 2025 x86_64 Linux"
    assert facts["cpu_model"] == "Intel(R) Xeon(R) Processor"
    assert facts["hypervisor_flag"] is False
    assert facts["cpus"] == 1
    assert facts["mem_total_kib"] == 2030000
    assert facts["proc_entries"] == 53
    assert facts["modules"] == 72
    assert facts["modules_available"] is True
    assert facts["interfaces"] == [{"name": "eth0", "addresses": []}, {"name": "lo", "addresses": []}]
    assert facts["kernel_cmdline"] == "reboot=k panic=1 systemd.unit=kata-containers.target"
    assert facts["dmesg"]["readable"] is True
    assert facts["dmesg"]["error"] is None
    assert facts["dmesg"]["head"][0].startswith("[    0.000000] Linux version 6.12.47")
    assert len(facts["dmesg"]["head"]) == 3


def test_parse_empty_output():
    facts = _probe.parse_output("")
    assert facts["kernel_release"] is None and facts["boot_id"] is None
    assert facts["interfaces"] == []
    assert facts["dmesg"]["readable"] is False


def test_split_sections_ignores_text_before_the_first_marker():
    output = "noise\n%s a\n1\n2\n%s b\n" % (_probe.MARKER, _probe.MARKER)
    assert _probe.split_sections(output) == {"a": "1\n2", "b": ""}


def test_parse_modules_error_text_is_no_count():
    output = "%s modules\nwc: /proc/modules: Permission denied\n" % _probe.MARKER
    facts = _probe.parse_output(output)
    assert facts["modules"] is None and facts["modules_available"] is True


def test_parse_busybox_padded_counts():
    output = "%s proc_entries\n     53\n%s modules\n  72 \n" % (_probe.MARKER, _probe.MARKER)
    facts = _probe.parse_output(output)
    assert (facts["proc_entries"], facts["modules"]) == (53, 72)


# -- parse_dmesg ---------------------------------------------------------------------

@pytest.mark.parametrize("section,expected", [
    ("rc=0\n[    0.000000] Linux version 6.12.47\n[    0.000000] Command line: x",
     {"readable": True, "head": ["[    0.000000] Linux version 6.12.47", "[    0.000000] Command line: x"],
      "error": None}),
    ("rc=0", {"readable": True, "head": [], "error": None}),
    ("rc=1\ndmesg: klogctl: Operation not permitted",
     {"readable": False, "head": [], "error": "dmesg: klogctl: Operation not permitted"}),
    ("rc=1\ndmesg: read kernel buffer failed:\nOperation not permitted",
     {"readable": False, "head": [], "error": "dmesg: read kernel buffer failed: Operation not permitted"}),
    ("rc=1", {"readable": False, "head": [], "error": "dmesg exited 1"}),
    ("rc=127\nsh: dmesg: not found", {"readable": False, "head": [], "error": "sh: dmesg: not found"}),
    ("something without an rc line", {"readable": False, "head": [], "error": "something without an rc line"}),
])
def test_parse_dmesg(section, expected):
    assert _probe.parse_dmesg(section) == expected


def test_parse_dmesg_missing_section_is_unreadable_with_a_reason():
    result = _probe.parse_dmesg("")
    assert result["readable"] is False and result["head"] == []
    assert result["error"]


# -- verdict ---------------------------------------------------------------------------

def test_verdict_runc_is_shared_kernel(fixture_text, fixture_json):
    host = fixture_json("runc_host_facts.json")
    guest = _probe.parse_output(fixture_text("runc_probe_output.txt"))
    verdict, reason, evidence = _probe.verdict(host, guest)
    assert verdict == "shared-kernel"
    assert reason is None
    assert RUNC_BOOT_ID in evidence[0]
    assert any("6.18.44-fc-v1045" in line for line in evidence)


def test_verdict_lab_kata_is_vm_isolated(fixture_text, fixture_json):
    host = fixture_json("lab_host_facts.json")
    guest = _probe.parse_output(fixture_text("lab_kata_probe_output.txt"))
    verdict, reason, evidence = _probe.verdict(host, guest)
    assert verdict == "vm-isolated"
    assert reason is None
    joined = "\n".join(evidence)
    assert "guest kernel 6.12.47, host 6.15.4" in joined
    assert "Intel(R) Xeon(R) Processor" in joined and "12th Gen Intel(R) Core(TM) i5-12450H" in joined


def test_verdict_shared_kernel_even_when_versions_differ(fixture_json):
    # the boot id decides, not the version string
    host = fixture_json("runc_host_facts.json")
    guest = dict(host, kernel_release="9.9.9")
    verdict, _reason, evidence = _probe.verdict(host, guest)
    assert verdict == "shared-kernel"
    assert len(evidence) == 1


def _gvisor_view(host):
    guest = copy.deepcopy(host)
    guest.update({"boot_id": "4f1c2a0e-0000-4000-8000-000000000001", "kernel_release": "4.4.0",
                  "hypervisor_flag": False, "boot_time": host["boot_time"] + 5})
    return guest


def test_verdict_gvisor_like_is_unknown(fixture_json):
    host = fixture_json("lab_host_facts.json")
    guest = _gvisor_view(host)  # same CPU model, no hypervisor flag
    verdict, reason, evidence = _probe.verdict(host, guest)
    assert verdict == "unknown"
    assert "gVisor" in reason
    assert any("4.4.0" in line for line in evidence)


def test_verdict_different_boot_id_but_nothing_else(fixture_json):
    host = fixture_json("lab_host_facts.json")
    guest = dict(host, boot_id="00000000-0000-4000-8000-000000000000")
    verdict, reason, _evidence = _probe.verdict(host, guest)
    assert verdict == "unknown"
    assert "boot id differs" in reason


@pytest.mark.parametrize("missing", ["host", "guest"])
def test_verdict_missing_boot_id_is_unknown(fixture_text, fixture_json, missing):
    host = fixture_json("runc_host_facts.json")
    guest = _probe.parse_output(fixture_text("runc_probe_output.txt"))
    (host if missing == "host" else guest)["boot_id"] = None
    verdict, reason, evidence = _probe.verdict(host, guest)
    assert verdict == "unknown"
    assert "boot id" in reason or "boot_id" in reason
    assert evidence == []


def test_verdict_missing_boot_id_key_entirely(fixture_json):
    host = fixture_json("lab_host_facts.json")
    assert _probe.verdict(host, {})[0] == "unknown"
    assert _probe.verdict({}, host)[0] == "unknown"
