# -*- coding: utf-8 -*-
"""plugins/module_utils/_probe.py: the probe script and its parser (the verdict: test_verdict.py).

Fixtures: runc_probe_output.txt is the real output of the probe script in a
runc container on the development machine, runc_host_facts.json that
machine's host_facts; lab_kata_probe_output.txt / lab_host_facts.json are the
lab report's Kata guest and host (see the headers of those files).
"""

import re
import shlex

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _oci, _probe
from probe_output import facts as recorded_facts, framed, sections

RUNC_BOOT_ID = "dee579d3-d37d-4053-9fd6-3b6066b8b5df"

# Reserved words of the shell and what busybox ash implements as builtins (no applet symlink needed).
SHELL_WORDS = {"if", "then", "else", "elif", "fi", "[", "test", ":", "for", "do", "done"}


# -- script() and the framing ---------------------------------------------------

NONCE = "0123456789abcdef0123456789abcdef"


def test_script_has_one_marker_line_per_section_in_order():
    text = _probe.script(NONCE)
    markers = [line for line in text.splitlines() if _probe.MARKER_PREFIX in line]
    names = list(_probe.SECTION_NAMES) + [_probe.END_SECTION]
    assert markers == ["echo '@@kata-fleet:%s@@ %s'" % (NONCE, name) for name in names]
    assert text.endswith("\n")


@pytest.mark.parametrize("nonce", [None, "", "abc", NONCE.upper(), NONCE + "0", "'; rm -rf /; '" + NONCE[:20]])
def test_script_refuses_a_bad_nonce(nonce):
    with pytest.raises(ValueError):
        _probe.script(nonce)


def test_new_nonce_is_fresh_hex():
    first, second = _probe.new_nonce(), _probe.new_nonce()
    assert _probe.NONCE_PATTERN.match(first) and first != second


def test_output_is_complete_only_with_its_end_marker(fixture_text):
    whole = framed(fixture_text("runc_probe_output.txt"))
    assert _probe.is_complete(whole, NONCE)
    # A container killed half-way through prints part of the sections and no end marker.
    assert not _probe.is_complete(whole[:len(whole) // 2], NONCE)
    # Another run's nonce does not frame this output.
    assert not _probe.is_complete(whole, "f" * 32)


def test_render_and_parse_round_trip(fixture_text):
    recorded = sections(fixture_text("runc_probe_output.txt"))
    parsed = _probe.sections_from_output(_probe.render(recorded, NONCE), NONCE)
    assert set(parsed) == set(_probe.SECTION_NAMES)
    assert all(parsed[name] == recorded.get(name, "").rstrip("\n") for name in _probe.SECTION_NAMES)


def test_real_sh_runs_the_script_and_its_output_parses(tmp_path):
    """The script under this machine's sh and tools: framing and facts as a container would print them."""
    import subprocess
    run = subprocess.run(["sh", "-c", _probe.script(NONCE)], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    facts = _probe.parse_output(run.stdout, NONCE)
    with open("/proc/sys/kernel/random/boot_id") as handle:
        assert facts["boot_id"] == handle.read().strip()
    assert facts["uptime_seconds"] > 0 and facts["cpus"] >= 1
    assert facts["fact_errors"] == []


# -- forgery: the framing refuses what a container could print itself ----------------------

def _runc(fixture_text):
    return framed(fixture_text("runc_probe_output.txt"))


def _forged_kata_sections(nonce_or_legacy):
    lab = sections(_read_fixture("lab_kata_probe_output.txt"))
    if nonce_or_legacy is None:
        return "".join("@@kata-fleet@@ %s\n%s\n" % (name, text) for name, text in lab.items()) + "@@kata-fleet@@ end\n"
    return "".join("%s\n%s\n" % (_probe.marker(nonce_or_legacy, name), text) for name, text in lab.items())


def _read_fixture(name):
    from conftest import FIXTURES
    return (FIXTURES / name).read_text()


def _refused(output, why):
    with pytest.raises(_probe.ProbeOutputError) as caught:
        _probe.parse_output(output, NONCE)
    message = str(caught.value)
    assert message.startswith("the probe output was garbled or forged (") and "no verdict" in message
    assert why in message, message
    return message


def test_forged_legacy_sections_after_runc_output_fail_the_probe(fixture_text):
    # The old parser let the last section of a name win: runc + these gave vm-isolated.
    _refused(_runc(fixture_text) + _forged_kata_sections(None), "without this run's nonce")


def test_forged_sections_with_a_guessed_nonce_fail_the_probe(fixture_text):
    _refused(_runc(fixture_text) + _forged_kata_sections("f" * 32), "without this run's nonce")


def test_sections_appended_after_the_end_fail_even_with_the_nonce(fixture_text):
    # A hostile image that learned the nonce still cannot add a second copy of a section.
    _refused(_runc(fixture_text) + _forged_kata_sections(NONCE), "after the end marker")


def test_duplicated_section_fails(fixture_text):
    text = _runc(fixture_text).replace(_probe.marker(NONCE, "uptime"),
                                       _probe.marker(NONCE, "boot_id") + "\nx\n" + _probe.marker(NONCE, "uptime"))
    _refused(text, "'boot_id' repeated where 'uptime' was due")


def test_reordered_sections_fail(fixture_text):
    lines = _runc(fixture_text).splitlines()
    first, second = lines.index(_probe.marker(NONCE, "uname_r")), lines.index(_probe.marker(NONCE, "uname_a"))
    lines[first], lines[second] = lines[second], lines[first]
    _refused("\n".join(lines), "'uname_a' out of order where 'uname_r' was due")


def test_unknown_section_fails(fixture_text):
    text = _runc(fixture_text).replace(_probe.marker(NONCE, "uptime"),
                                       _probe.marker(NONCE, "verdict") + "\nvm-isolated\n" + _probe.marker(NONCE, "uptime"))
    _refused(text, "'verdict' unknown")


def test_missing_section_fails(fixture_text):
    text = _runc(fixture_text).replace(_probe.marker(NONCE, "uptime") + "\n", "")
    _refused(text, "'cpuinfo' out of order where 'uptime' was due")


def test_missing_end_marker_fails(fixture_text):
    text = _runc(fixture_text).replace(_probe.marker(NONCE, "end"), "")
    _refused(text, "it ends before section 'end'")


@pytest.mark.parametrize("section", ["cmdline", "dmesg", "uname_a", "net_names", "dmi"])
def test_a_marker_line_inside_content_fails_the_probe(fixture_text, section):
    # A line of content that starts like a marker (hostname, kernel log, DMI string...) is a forgery attempt.
    recorded = sections(fixture_text("runc_probe_output.txt"))
    recorded[section] = (recorded.get(section) or "rc=0") + "\n@@kata-fleet@@ boot_id\n00000000-0000-4000-8000-000000000000"
    _refused(_probe.render(recorded, NONCE), "looks like a section marker without this run's nonce")


def test_a_marker_in_the_middle_of_a_line_is_content(fixture_text):
    recorded = sections(fixture_text("runc_probe_output.txt"))
    recorded["cmdline"] = "quiet note=@@kata-fleet@@ boot_id"
    facts = _probe.parse_output(_probe.render(recorded, NONCE), NONCE)
    assert facts["kernel_cmdline"] == "quiet note=@@kata-fleet@@ boot_id"


def test_text_before_the_first_marker_fails(fixture_text):
    _refused("hello\n" + _runc(fixture_text), "text before the first section marker")


def test_ten_megabytes_of_output_fail(fixture_text):
    _refused(_runc(fixture_text) + "x" * (10 * 1024 * 1024), "more than the")


def test_oversized_section_fails(fixture_text):
    recorded = sections(fixture_text("runc_probe_output.txt"))
    recorded["net_names"] = "\n".join("veth%d" % i for i in range(60000))
    _refused(_probe.render(recorded, NONCE), "section 'net_names' is longer than")


def test_huge_line_fails(fixture_text):
    recorded = sections(fixture_text("runc_probe_output.txt"))
    recorded["cmdline"] = "a" * (_probe.MAX_LINE_CHARS + 1)
    _refused(_probe.render(recorded, NONCE), "characters long, more than")


def test_module_reports_forged_output_as_a_failed_probe(fixture_text, tmp_path, monkeypatch):
    """_isolation.probe_handler: forged output is the handler's error, not a verdict; the container still goes."""
    from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _exec, _isolation
    import probe_output

    removed = []

    class Client:
        def _bounded(self, argv, timeout, max_bytes=None):
            with open(argv[argv.index("--log-uri") + 1][len("file://"):], "w") as handle:
                handle.write(_runc(fixture_text) + _forged_kata_sections(None))
            return _exec.Result(0, "", "", 0.1)

        def container_name(self, run_id, name, role):
            return "kf-%s-%s-%s" % (run_id, name, role)

        def ctr_argv(self, *args):
            return ["ctr"] + list(args)

        ctr_runtime_args = staticmethod(lambda handler: ["--runtime", handler["runtime_type"]])
        label_args = staticmethod(lambda labels, flag="--label": [])
        owner_labels = staticmethod(lambda run_id, timeout: {})
        task_status = staticmethod(lambda name: "RUNNING")

        def remove(self, name, handler=None):
            removed.append(name)

    monkeypatch.setattr(_isolation, "LOG_DIR", str(tmp_path))
    monkeypatch.setattr(_isolation._witness, "witness", lambda client, name, reader=None: {"class": "host-process"})
    monkeypatch.setattr(_probe, "new_nonce", lambda: probe_output.NONCE)
    entry = _isolation.probe_handler(Client(), "runc", {"runtime_type": "io.containerd.runc.v2"},
                                     "docker.io/library/alpine:3.19", "r1", 30, {})
    assert entry["status"] == "failed" and "verdict" not in entry
    assert entry["error"].startswith("the probe output was garbled or forged")
    assert entry["image_source"] == "registry"
    assert removed == ["kf-r1-runc-iso"] and list(tmp_path.iterdir()) == []


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
    words = _command_words(_probe.script(NONCE))
    # the parser found the commands it should (sanity check of the check)
    for expected in ("uname", "cat", "grep", "nproc", "ls", "wc", "ip", "dmesg", "printf", "head", "echo"):
        assert expected in words
    unknown = sorted(set(words) - set(_oci.APPLETS) - SHELL_WORDS)
    assert unknown == [], "the probe script calls %s, which the probe image does not provide" % unknown


def test_script_parses_with_sh(tmp_path):
    import subprocess
    script = tmp_path / "probe.sh"
    script.write_text(_probe.script(NONCE))
    assert subprocess.run(["sh", "-n", str(script)], check=False).returncode == 0


# -- parse_output on recorded output ----------------------------------------------

def test_parse_runc_fixture(fixture_text):
    facts = recorded_facts(fixture_text("runc_probe_output.txt"))
    assert facts["kernel_release"] == "6.18.44-fc-v1045"
    assert facts["uname"] == "Linux vm 6.18.44-fc-v1045 #1 SMP PREEMPT_DYNAMIC @0 x86_64 GNU/Linux"
    assert facts["boot_id"] == RUNC_BOOT_ID and facts["boot_id_status"] == "ok"
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
    # recorded before the uptime and dmi sections existed: not recorded, not zero
    assert facts["uptime_seconds"] is None and facts["dmi_present"] is None
    assert facts["fact_errors"] == []


def test_parse_lab_kata_fixture_ignores_the_header(fixture_text):
    facts = recorded_facts(fixture_text("lab_kata_probe_output.txt"))
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
    assert facts["dmesg_signals"] == ["[    0.000000] Command line: reboot=k panic=1 systemd.unit=kata-containers.target ..."]


def test_parse_all_sections_empty():
    facts = _probe.parse_output(_probe.render({}, NONCE), NONCE)
    assert facts["kernel_release"] is None and facts["boot_id"] is None
    assert facts["interfaces"] == []
    assert facts["dmesg"]["readable"] is False
    assert facts["fact_errors"] == []


def test_missing_sections_are_not_recorded():
    facts = _probe.facts_from_sections({})
    assert facts["boot_id_status"] == "not recorded"
    assert facts["dmesg"] == {"readable": None, "head": [], "error": "not recorded"}
    assert facts["hypervisor_flag"] is None and facts["modules_available"] is None


def test_parse_modules_error_text_is_no_count():
    facts = _probe.facts_from_sections({"modules": "wc: /proc/modules: Permission denied"})
    assert facts["modules"] is None and facts["modules_available"] is True
    assert facts["fact_errors"] and facts["fact_errors"][0].startswith("modules: not a plain number")


def test_parse_busybox_padded_counts():
    facts = _probe.facts_from_sections({"proc_entries": "     53", "modules": "  72 "})
    assert (facts["proc_entries"], facts["modules"]) == (53, 72)


def test_signal_lines_are_found_far_down_the_log():
    log = "\n".join("[    0.%06d] line %d" % (i, i) for i in range(20))
    facts = _probe.facts_from_sections({"dmesg": "rc=0\n" + log,
                                        "dmesg_signals": "[    0.098000] Booting paravirtualized kernel on KVM"})
    assert facts["dmesg_signals"] == ["[    0.098000] Booting paravirtualized kernel on KVM"]
    assert facts["hypervisor_log"] == facts["dmesg_signals"]


def test_bare_metal_paravirt_line_is_no_hypervisor_sign():
    facts = _probe.facts_from_sections({"dmesg_signals": "[    0.1] Booting paravirtualized kernel on bare hardware"})
    assert facts["hypervisor_log"] == []


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


# -- image provenance --------------------------------------------------------------------

def test_image_evidence_names_a_registry_image_and_its_digest():
    from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _verdict
    assert _verdict.image_evidence("localhost/kata-fleet/probe:090a4352f97b", "built", "sha256:" + "a" * 64) is None
    sentence = _verdict.image_evidence("localhost/kata-fleet/probe:090a4352f97b", "registry", "sha256:" + "b" * 64)
    assert "localhost/kata-fleet/probe:090a4352f97b" in sentence and "sha256:" + "b" * 64 in sentence
    assert "not its name" in sentence
