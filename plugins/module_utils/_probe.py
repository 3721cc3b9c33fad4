# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The isolation probe: one script run inside the container and its parser (the verdict: _verdict).

One container run per runtime gathers every fact at once.  The script uses only
busybox applets, so it runs in the probe image and in alpine alike.

The output is framed so that it cannot be forged by what it carries: every
section starts with a marker line holding a nonce the module draws fresh for
each run, the sections come exactly once and in a fixed order, and anything
else fails the probe (``ProbeOutputError``) instead of giving a verdict.
Every value is bounded and checked; a bad value becomes that fact's error in
``fact_errors``, never an exception.  _verdict gives the verdict from these
facts and the host's witness; docs/verdicts.md explains both.
"""

import math
import re
import secrets
import unicodedata

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _linux

# -- limits: everything parsed from a container is bounded --------------------------
MAX_OUTPUT_CHARS = 1024 * 1024
MAX_SECTION_CHARS = 256 * 1024
# A kernel command line is at most 4096 bytes on every architecture; a printk record ~1 KiB.
MAX_LINE_CHARS = 8192
MAX_VALUE_CHARS = 4096
DMESG_HEAD_LINES = 20
DMESG_SIGNAL_LINES = 40
MAX_INTERFACES = 256
NOT_RECORDED = "not recorded"

NONCE_BYTES = 16
NONCE_PATTERN = re.compile(r"\A[0-9a-f]{32}\Z")
MARKER_PREFIX = "@@kata-fleet"
MARKER_PATTERN = re.compile(r"\A@@kata-fleet:([0-9a-f]{32})@@ ([a-z_]{1,32})\Z")
END_SECTION = "end"

# ASCII digits only: str.isdigit() accepts superscripts and Arabic-Indic digits.
COUNT_PATTERN = re.compile(r"\A[0-9]{1,9}\Z")
EPOCH_PATTERN = re.compile(r"\A[0-9]{1,10}\Z")
SECONDS_PATTERN = re.compile(r"\A[0-9]{1,10}(\.[0-9]{1,9})?\Z")
UUID_PATTERN = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
RELEASE_PATTERN = re.compile(r"\A[\x21-\x7e]{1,128}\Z")
DMI_KEYS = ("sys_vendor", "product_name", "bios_vendor")
# Ten years: no uptime or kernel boot is longer; anything above is garbage.
MAX_SECONDS = 10 * 365 * 24 * 3600

# The kernel log lines that carry a signal, searched over the WHOLE log in the
# container (busybox grep -E -i) and again here (Python re, same text), so a
# signal far down a long log is not lost behind the head.
DMESG_SIGNAL_PATTERNS = (
    "Hypervisor detected",
    "Booting paravirtualized kernel",
    "DMI: ",
    "DMI not present",
    "virtio[-_]mmio",
    "kvm-clock",
    "Starting gVisor",
    "ACPI: (RSDP|XSDT) ",
    "Command line: ",
    "Detected virtualization",
    "kata-containers.target",
)
DMESG_SIGNAL_RE = re.compile("|".join(DMESG_SIGNAL_PATTERNS), re.IGNORECASE)

# Each section prints one fact, in this order, exactly once.
SECTIONS = (
    ("uname_r", "uname -r"),
    ("uname_a", "uname -a"),
    ("boot_id", "cat /proc/sys/kernel/random/boot_id"),
    ("btime", "grep '^btime' /proc/stat"),
    ("uptime", "cat /proc/uptime"),
    # Only the lines the parser reads: a full /proc/cpuinfo of a 512-CPU host is megabytes.
    ("cpuinfo", "for key in 'model name' 'flags' 'Features' 'CPU implementer' 'CPU part'; do "
                "grep -m 1 \"^$key\" /proc/cpuinfo; done; true"),
    ("nproc", "nproc"),
    ("meminfo", "grep '^MemTotal:' /proc/meminfo"),
    ("proc_entries", "ls /proc | wc -l"),
    ("modules", "if [ -r /proc/modules ]; then wc -l < /proc/modules; else echo absent; fi"),
    ("net_names", "ls /sys/class/net | head -n %d" % MAX_INTERFACES),
    ("ip_addr", "ip -o addr | head -n %d" % MAX_INTERFACES),
    ("cmdline", "cat /proc/cmdline"),
    ("dmi", "if [ -d /sys/class/dmi/id ]; then for key in %s; do "
            "if [ -r /sys/class/dmi/id/$key ]; then echo \"$key=$(head -c 256 /sys/class/dmi/id/$key)\"; fi; "
            "done; else echo absent; fi" % " ".join(DMI_KEYS)),
    ("dmesg", "out=$(dmesg 2>&1); echo \"rc=$?\"; printf '%%s\\n' \"$out\" | head -n %d | head -c 65536"
              % DMESG_HEAD_LINES),
    # What a kernel says about the machine it boots on, wherever it sits in the log.
    ("dmesg_signals", "dmesg 2>/dev/null | grep -i -E '%s' | head -n %d | head -c 65536; true"
                      % ("|".join(DMESG_SIGNAL_PATTERNS), DMESG_SIGNAL_LINES)),
)
SECTION_NAMES = tuple(name for name, _command in SECTIONS)

# Vendor strings of DMI tables (sys_vendor/product_name or the boot log's "DMI:" line) and
# ACPI OEM ids that only virtual machines carry, with the hypervisor they name.
HYPERVISOR_VENDORS = (
    ("Cloud Hypervisor", "clh"), ("CLOUDH", "clh"),
    ("Firecracker", "firecracker"), ("FIRECK", "firecracker"),
    ("Dragonball", "dragonball"),
    ("QEMU", "qemu"), ("BOCHS", "qemu"), ("SeaBIOS", "qemu"),
    ("KVM", "kvm"), ("VMware", "vmware"), ("VirtualBox", "virtualbox"), ("innotek", "virtualbox"),
    ("Microsoft Corporation Virtual Machine", "hyperv"), ("Hyper-V", "hyperv"), ("Xen", "xen"),
    ("Amazon EC2", "ec2"), ("Google Compute Engine", "gce"), ("Alibaba Cloud", "alibaba"),
)
# A kernel that runs on bare metal says so in this same line: no sign of a hypervisor.
BARE_METAL = "bare hardware"


class ProbeOutputError(Exception):
    """The output is garbled or forged: the probe failed, no verdict can rest on it."""


def new_nonce():
    """A fresh per-run nonce: content recorded before the run cannot carry it."""
    return secrets.token_hex(NONCE_BYTES)


def marker(nonce, name):
    return "%s:%s@@ %s" % (MARKER_PREFIX, nonce, name)


def _check_nonce(nonce):
    if not isinstance(nonce, str) or not NONCE_PATTERN.match(nonce):
        raise ValueError("the probe nonce must be 32 lowercase hex digits (use _probe.new_nonce())")


def script(nonce):
    """The /bin/sh script the probe container runs, its markers carrying ``nonce``."""
    _check_nonce(nonce)
    lines = []
    for name, command in SECTIONS:
        lines.append("echo '%s'" % marker(nonce, name))
        lines.append(command if name.startswith("dmesg") else "%s 2>&1" % command)
    # The end marker proves the output is whole, and makes the script's exit status 0.
    lines.append("echo '%s'" % marker(nonce, END_SECTION))
    return "\n".join(lines) + "\n"


def render(sections, nonce):
    """The output ``script(nonce)`` prints for these section texts (recorded fixtures, stand-ins)."""
    _check_nonce(nonce)
    out = []
    for name in SECTION_NAMES:
        out.append(marker(nonce, name))
        text = sections.get(name, "")
        if text:
            out.extend(text.splitlines())
    out.append(marker(nonce, END_SECTION))
    return "\n".join(out) + "\n"


def _garbled(why):
    return ProbeOutputError("the probe output was garbled or forged (%s): no verdict rests on it" % why)


def sections_from_output(output, nonce):
    """The section texts of one probe run; ``ProbeOutputError`` unless the framing is exact.

    Exactly the sections of SECTION_NAMES, each once, in that order, each
    opened by a marker with this run's nonce, then the end marker and nothing
    after it.  A line that merely starts like a marker (another nonce, none,
    an unknown name) is a forgery attempt, not content.
    """
    _check_nonce(nonce)
    if not isinstance(output, str):
        raise _garbled("the output is not text")
    if len(output) > MAX_OUTPUT_CHARS:
        raise _garbled("%d characters, more than the %d a probe prints" % (len(output), MAX_OUTPUT_CHARS))
    expected = list(SECTION_NAMES) + [END_SECTION]
    sections, current, lines, size = {}, None, [], 0
    for number, line in enumerate(output.split("\n"), 1):
        line = line[:-1] if line.endswith("\r") else line
        if len(line) > MAX_LINE_CHARS:
            raise _garbled("line %d is %d characters long, more than %d" % (number, len(line), MAX_LINE_CHARS))
        if line.startswith(MARKER_PREFIX):
            match = MARKER_PATTERN.match(line)
            if not match or match.group(1) != nonce:
                raise _garbled("line %d looks like a section marker without this run's nonce" % number)
            name = match.group(2)
            if not expected:
                raise _garbled("section %r after the end marker" % name)
            if name != expected[0]:
                seen = name in sections or name == current
                raise _garbled("section %r %s where %r was due" % (
                    name, "repeated" if seen else ("out of order" if name in expected else "unknown"), expected[0]))
            if current is not None:
                sections[current] = "\n".join(lines)
            expected.pop(0)
            current, lines, size = name, [], 0
            continue
        if current is None:
            if line.strip():
                raise _garbled("text before the first section marker")
            continue
        if current == END_SECTION:
            if line.strip():
                raise _garbled("text after the end marker")
            continue
        size += len(line) + 1
        if size > MAX_SECTION_CHARS:
            raise _garbled("section %r is longer than %d characters" % (current, MAX_SECTION_CHARS))
        lines.append(line)
    if expected:
        raise _garbled("it ends before section %r%s" % (
            expected[0], "" if expected[0] == END_SECTION else " (and the end marker)"))
    return sections


def is_complete(output, nonce):
    """True when the output is whole and correctly framed for this nonce."""
    try:
        sections_from_output(output, nonce)
    except (ProbeOutputError, ValueError):
        return False
    return True


def parse_output(output, nonce):
    """Facts from the probe script's stdout; ``ProbeOutputError`` when garbled or forged."""
    return facts_from_sections(sections_from_output(output, nonce))


# -- bounded value readers: each returns (value, error) ---------------------------------

def _clean(text, limit=MAX_VALUE_CHARS, keep="\t"):
    """Printable text: control and format characters (ESC, bidi overrides...) removed, length bounded.

    ``keep`` names the control characters that stay (a tab; a newline in multi-line text).
    Returns (text, removed) where ``removed`` tells whether anything was dropped.
    """
    text = text if isinstance(text, str) else ""
    kept = "".join(ch for ch in text if ch in keep or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))
    removed = kept != text
    if len(kept) > limit:
        kept, removed = kept[:limit], True
    return kept, removed


def printable(text, limit=512):
    """``text`` safe to show in a report or a log: no control sequences, at most ``limit`` characters."""
    return _clean(text, limit)[0]


class _Facts:
    """Collects one side's facts and the errors of the values that were refused."""

    def __init__(self, sections):
        self.sections = sections if isinstance(sections, dict) else {}
        self.errors = []

    def raw(self, name):
        value = self.sections.get(name)
        return value if isinstance(value, str) else None

    def error(self, fact, message):
        self.errors.append("%s: %s" % (fact, message))

    def text(self, fact, name, limit=MAX_VALUE_CHARS, single_line=True):
        raw = self.raw(name)
        if raw is None:
            return None
        raw = raw.strip()
        if single_line and "\n" in raw:
            self.error(fact, "expected one line, got %d" % (raw.count("\n") + 1))
            raw = raw.split("\n", 1)[0]
        value, removed = _clean(raw, limit)
        if removed:
            self.error(fact, "control characters or excess length removed")
        return value.strip() or None

    def number(self, fact, text, pattern=COUNT_PATTERN):
        if text is None:
            return None
        text = text.strip()
        if not text:
            return None
        if pattern.match(text):
            return int(text)
        self.error(fact, "not a plain number of at most %d ASCII digits: %s" % (
            10 if pattern is EPOCH_PATTERN else 9, _show(text)))
        return None

    def seconds(self, fact, text):
        if not SECONDS_PATTERN.match(text or ""):
            self.error(fact, "not a number of seconds: %s" % _show(text))
            return None
        value = float(text)
        if not math.isfinite(value) or value > MAX_SECONDS:
            self.error(fact, "out of range: %s" % _show(text))
            return None
        return value


def _show(text, limit=40):
    """A refused value, safe to print: cleaned and cut."""
    value = _clean(text or "", limit)[0]
    return repr(value + ("..." if len(text or "") > limit else ""))


def _boot_id(facts):
    raw = facts.raw("boot_id")
    if raw is None:
        return None, NOT_RECORDED
    text = raw.strip()
    if UUID_PATTERN.match(text):
        return text, "ok"
    if "No such file" in text or "can't open" in text and "No such" in text:
        return None, "absent"
    if not text:
        return None, "empty"
    facts.error("boot_id", "not a boot id: %s" % _show(text))
    return None, "unreadable"


def _uptime(facts):
    raw = facts.raw("uptime")
    if raw is None or not raw.strip():
        return None, None
    fields = raw.strip().split()
    if len(fields) != 2:
        facts.error("uptime", "expected two numbers, got %s" % _show(raw))
        return None, None
    return facts.seconds("uptime", fields[0]), facts.seconds("uptime idle", fields[1])


def _dmi(facts):
    raw = facts.raw("dmi")
    if raw is None or not raw.strip():
        return None, None
    if raw.strip() == "absent":
        return False, {}
    values = {}
    for line in raw.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in DMI_KEYS and key not in values:
            cleaned, removed = _clean(value.strip(), 256)
            if removed:
                facts.error("dmi %s" % key, "control characters or excess length removed")
            values[key] = cleaned or None
        elif line.strip():
            facts.error("dmi", "unexpected line %s" % _show(line))
    return True, values


def parse_dmesg(section):
    """(readable, head lines, the refusal message when it was refused), all bounded."""
    lines = (section or "").splitlines()
    rc = lines[0][3:] if lines and lines[0].startswith("rc=") else None
    body = [_clean(line, 1024)[0] for line in (lines[1:] if rc is not None else lines)]
    if rc == "0":
        return {"readable": True, "head": body[:DMESG_HEAD_LINES], "error": None}
    message = " ".join(body).strip()[:512]
    if rc is None:
        return {"readable": False, "head": [], "error": message or "dmesg produced no output"}
    return {"readable": False, "head": [], "error": message or "dmesg exited %s" % _clean(rc, 16)[0]}


def _dmesg_signal_lines(facts):
    """The signal lines of the whole log (the grep section) and of the head, once each, bounded."""
    raw = facts.raw("dmesg") or ""
    candidates = raw.splitlines()[1:] if raw.startswith("rc=0") else []
    candidates += (facts.raw("dmesg_signals") or "").splitlines()
    found = []
    for line in candidates:
        line = _clean(line, 1024)[0].strip()
        if line and DMESG_SIGNAL_RE.search(line) and line not in found:
            found.append(line)
        if len(found) >= DMESG_SIGNAL_LINES:
            break
    return found


def facts_from_sections(sections):
    """The fact dictionary shared by the host view and each container view.

    ``sections`` maps section names to the text each printed; a missing
    section is a fact not recorded (None).  Never raises on bad values.
    """
    facts = _Facts(sections)
    cpu = _linux.parse_cpuinfo(_clean(facts.raw("cpuinfo") or "", MAX_SECTION_CHARS, "\t\n")[0])
    cpu_model = _clean(cpu["model"] or "", 256)[0].strip() or None
    modules_raw = (facts.raw("modules") or "").strip()
    btime_fields = (facts.raw("btime") or "").split()
    boot_time = None
    if btime_fields:
        if len(btime_fields) == 2 and btime_fields[0] == "btime":
            boot_time = facts.number("boot_time", btime_fields[1], EPOCH_PATTERN)
        else:
            facts.error("boot_time", "not a btime line: %s" % _show(facts.raw("btime")))
    boot_id, boot_id_status = _boot_id(facts)
    uptime, idle = _uptime(facts)
    dmi_present, dmi = _dmi(facts)
    dmesg = parse_dmesg(facts.raw("dmesg")) if facts.raw("dmesg") is not None else {
        "readable": None, "head": [], "error": NOT_RECORDED}
    names = [name for name in (facts.raw("net_names") or "").split()[:MAX_INTERFACES]
             if RELEASE_PATTERN.match(name) and len(name) <= 64]
    addresses = _linux.parse_ip_addr_oneline(_clean(facts.raw("ip_addr") or "", MAX_SECTION_CHARS, "\t\n")[0])
    addresses = dict((name[:64], [a[:64] for a in addrs[:16]]) for name, addrs in list(addresses.items())[:MAX_INTERFACES])
    errors_before = len(facts.errors)
    release = facts.text("kernel_release", "uname_r", 128)
    if len(facts.errors) > errors_before:
        # A release is compared with the host's and names gVisor: one that needed cleaning is refused.
        release = None
    elif release is not None and not RELEASE_PATTERN.match(release):
        facts.error("kernel_release", "not a kernel release: %s" % _show(release))
        release = None
    nproc = facts.number("cpus", facts.raw("nproc"))
    signals = _dmesg_signal_lines(facts)
    cmdline = facts.text("kernel_cmdline", "cmdline", MAX_VALUE_CHARS)
    if cmdline is None and facts.raw("cmdline") is None:
        # Where /proc/cmdline was not recorded, the kernel's own log line holds the same text.
        logged = [line.partition("Command line: ")[2].strip() for line in signals if "] Command line: " in line]
        cmdline = logged[0] if logged and logged[0] else None
    result = {
        "kernel_release": release,
        "uname": facts.text("uname", "uname_a", 512),
        "boot_id": boot_id,
        "boot_id_status": boot_id_status,
        "boot_time": boot_time,
        "uptime_seconds": uptime,
        "idle_seconds": idle,
        "cpu_model": cpu_model,
        "hypervisor_flag": cpu["hypervisor_flag"] if facts.raw("cpuinfo") is not None else None,
        "cpus": nproc or (cpu["processors"] if 0 < cpu["processors"] < 100000 else None),
        "mem_total_kib": _mem_total(facts),
        "proc_entries": facts.number("proc_entries", facts.raw("proc_entries")),
        "modules": None if modules_raw == "absent" else facts.number("modules", modules_raw),
        "modules_available": (modules_raw != "absent") if facts.raw("modules") is not None else None,
        "interfaces": _linux.interfaces_from(names, addresses),
        "kernel_cmdline": cmdline,
        "dmi_present": dmi_present,
        "dmi": dmi,
        "dmesg": dmesg,
        "dmesg_signals": signals,
        # The lines a hypervisor leaves in the log (kept under its old name for the report).
        "hypervisor_log": [line for line in signals if _hypervisor_line(line)],
    }
    result["fact_errors"] = facts.errors
    return result


def _mem_total(facts):
    raw = facts.raw("meminfo")
    if raw is None or not raw.strip():
        return None
    for line in raw.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "MemTotal:":
            return facts.number("mem_total_kib", fields[1], EPOCH_PATTERN)
    facts.error("mem_total_kib", "no MemTotal line")
    return None


def _hypervisor_line(line):
    lowered = line.lower()
    if "booting paravirtualized kernel" in lowered:
        return BARE_METAL not in lowered
    if "hypervisor detected" in lowered or "kvm-clock" in lowered:
        return True
    return _log_text(line).lower().startswith("dmi: ") and _vendor_in(line) is not None


def _vendor_in(text):
    for needle, name in HYPERVISOR_VENDORS:
        if needle.lower() in (text or "").lower():
            return name
    return None


def _log_text(line):
    """A kernel log line without its [timestamp] prefix."""
    return (line.partition("] ")[2] if line.startswith("[") else line).strip()


# -- startup_bench's guest boot time --------------------------------------------------

# The warm-up run of startup_bench prints the boot id and the guest kernel's
# "Freeing unused kernel" line: its timestamp is the kernel's own boot time, as
# Kata's launch-time metrics measure it.
BOOT_TIME_SCRIPT = ("cat /proc/sys/kernel/random/boot_id; "
                    "dmesg 2>/dev/null | grep -m 1 'Freeing unused kernel'; true")
# No kernel takes ten minutes from start to freeing its init memory; a larger stamp is not a boot time.
MAX_KERNEL_BOOT_SECONDS = 600.0
_STAMP_PATTERN = re.compile(r"\A\[ *([0-9]{1,6}\.[0-9]{1,9})\]")


def guest_kernel_boot_seconds(output, host_boot_id):
    """Seconds from the guest kernel's start to freeing its init memory, or None.

    Only for a kernel of its own: a container on the host kernel that may read
    dmesg would otherwise report the host's boot.  The stamp must be a plain
    ASCII decimal within MAX_KERNEL_BOOT_SECONDS (no NaN, inf, exponent).
    """
    if not isinstance(output, str) or len(output) > 65536:
        return None
    lines = output.splitlines()
    if not lines or lines[0].strip() == host_boot_id:
        return None
    for line in lines[1:64]:
        match = _STAMP_PATTERN.match(line.strip())
        if not match:
            continue
        value = float(match.group(1))
        if math.isfinite(value) and 0.0 <= value <= MAX_KERNEL_BOOT_SECONDS:
            return value
        return None
    return None
