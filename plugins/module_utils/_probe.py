# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The isolation probe: one script run inside the container, its parser, the verdict.

One container run per runtime gathers every fact at once (the lab report ran
six separate containers per runtime).  The script uses only busybox applets,
so it runs in the probe image and in alpine alike.
"""

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _linux

DMESG_HEAD_LINES = 20
MARKER = "@@kata-fleet@@"
END_SECTION = "end"
HYPERVISOR_LOG_PATTERNS = ("Hypervisor detected", "paravirtualized kernel on", "DMI: .*(QEMU|Cloud Hypervisor|Firecracker|Dragonball)")

# Each section prints one fact; the parser splits the output on the marker lines.
SECTIONS = (
    ("uname_r", "uname -r"),
    ("uname_a", "uname -a"),
    ("boot_id", "cat /proc/sys/kernel/random/boot_id"),
    ("btime", "grep '^btime' /proc/stat"),
    ("cpuinfo", "cat /proc/cpuinfo"),
    ("nproc", "nproc"),
    ("meminfo", "grep '^MemTotal:' /proc/meminfo"),
    ("proc_entries", "ls /proc | wc -l"),
    ("modules", "if [ -r /proc/modules ]; then wc -l < /proc/modules; else echo absent; fi"),
    ("net_names", "ls /sys/class/net"),
    ("ip_addr", "ip -o addr"),
    ("cmdline", "cat /proc/cmdline"),
    ("dmesg", "out=$(dmesg 2>&1); echo \"rc=$?\"; printf '%%s\\n' \"$out\" | head -n %d" % DMESG_HEAD_LINES),
    # What a kernel says when it boots under a hypervisor, wherever it sits in the log.
    ("dmesg_hypervisor", "dmesg 2>/dev/null | grep -m 3 -i -E '%s'" % "|".join(HYPERVISOR_LOG_PATTERNS)),
)


def script():
    """The /bin/sh script the probe container runs."""
    lines = []
    for name, command in SECTIONS:
        lines.append("echo '%s %s'" % (MARKER, name))
        lines.append(command if name.startswith("dmesg") else "%s 2>&1" % command)
    # The end marker proves the output is whole, and makes the script's exit status 0.
    lines.append("echo '%s %s'" % (MARKER, END_SECTION))
    return "\n".join(lines) + "\n"


def is_complete(output):
    """True when the probe's output reached its end marker."""
    return "%s %s" % (MARKER, END_SECTION) in output.splitlines()


def split_sections(output):
    sections, current = {}, None
    for line in output.splitlines():
        if line.startswith(MARKER + " "):
            current = line[len(MARKER) + 1:].strip()
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return dict((name, "\n".join(lines)) for name, lines in sections.items())


def _int_or_none(text):
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


def parse_dmesg(section):
    """(readable, head lines, the refusal message when it was refused)."""
    lines = section.splitlines()
    rc = lines[0][3:] if lines and lines[0].startswith("rc=") else None
    body = lines[1:] if rc is not None else lines
    if rc == "0":
        return {"readable": True, "head": body, "error": None}
    if rc is None:
        return {"readable": False, "head": [], "error": " ".join(body).strip() or "dmesg produced no output"}
    return {"readable": False, "head": [], "error": " ".join(body).strip() or "dmesg exited %s" % rc}


def facts_from_sections(sections):
    """The fact dictionary shared by the host view and each container view."""
    cpu = _linux.parse_cpuinfo(sections.get("cpuinfo", ""))
    modules = sections.get("modules", "").strip()
    btime = sections.get("btime", "").split()
    names = sections.get("net_names", "").split()
    return {
        "kernel_release": sections.get("uname_r", "").strip() or None,
        "uname": sections.get("uname_a", "").strip() or None,
        "boot_id": sections.get("boot_id", "").strip() or None,
        "boot_time": int(btime[1]) if len(btime) == 2 and btime[1].isdigit() else None,
        "cpu_model": cpu["model"],
        "hypervisor_flag": cpu["hypervisor_flag"],
        "cpus": _int_or_none(sections.get("nproc")) or cpu["processors"] or None,
        "mem_total_kib": _linux.parse_meminfo_total_kib(sections.get("meminfo", "")),
        "proc_entries": _int_or_none(sections.get("proc_entries")),
        "modules": _int_or_none(modules),
        "modules_available": modules != "absent",
        "interfaces": _linux.interfaces_from(names, _linux.parse_ip_addr_oneline(sections.get("ip_addr", ""))),
        "kernel_cmdline": sections.get("cmdline", "").strip() or None,
        "dmesg": parse_dmesg(sections.get("dmesg", "")),
        "hypervisor_log": [line for line in sections.get("dmesg_hypervisor", "").splitlines() if line.strip()],
    }


def parse_output(output):
    """Facts from the probe script's stdout."""
    return facts_from_sections(split_sections(output))


def verdict(host, guest):
    """Compare a container's view with the host's: shared-kernel, vm-isolated or unknown.

    The boot id decides whether the kernel is shared: the same running kernel
    reports the same boot id, even when versions match.  A different boot id
    alone does not prove a VM (a user-space kernel such as gVisor also
    invents one), so vm-isolated also needs a separately booted kernel and a
    sign of a hypervisor.  Version strings alone never decide.
    """
    if not host.get("boot_id"):
        return "unknown", "the host's boot id could not be read", []
    if not guest.get("boot_id"):
        return "unknown", "the container could not read /proc/sys/kernel/random/boot_id", []
    if guest["boot_id"] == host["boot_id"]:
        evidence = ["boot id %s equals the host's: the container runs on the host kernel" % guest["boot_id"]]
        if guest.get("kernel_release") == host.get("kernel_release"):
            evidence.append("kernel release %s equals the host's" % guest.get("kernel_release"))
        return "shared-kernel", None, evidence
    booted_separately = []
    if guest.get("kernel_release") and guest.get("kernel_release") != host.get("kernel_release"):
        booted_separately.append("guest kernel %s, host %s" % (guest["kernel_release"], host.get("kernel_release")))
    if guest.get("boot_time") and host.get("boot_time") and guest["boot_time"] != host["boot_time"]:
        booted_separately.append("guest booted at %d, host at %d (epoch seconds)" % (guest["boot_time"], host["boot_time"]))
    if guest.get("kernel_cmdline") and host.get("kernel_cmdline") and guest["kernel_cmdline"] != host["kernel_cmdline"]:
        booted_separately.append("kernel command line differs from the host's")
    hypervisor_signs = []
    # On a host that is itself a VM the guest inherits the flag, so it only counts where the host lacks it.
    if guest.get("hypervisor_flag") and not host.get("hypervisor_flag"):
        hypervisor_signs.append("guest CPU shows the hypervisor flag, the host's does not")
    if guest.get("cpu_model") and host.get("cpu_model") and guest["cpu_model"] != host["cpu_model"]:
        hypervisor_signs.append("guest CPU model %r, host %r" % (guest["cpu_model"], host["cpu_model"]))
    if guest.get("hypervisor_log"):
        hypervisor_signs.append("guest kernel log: %s" % guest["hypervisor_log"][0].strip())
    evidence = ["boot id %s differs from the host's %s" % (guest["boot_id"], host["boot_id"])]
    evidence += booted_separately + hypervisor_signs
    if booted_separately and hypervisor_signs:
        return "vm-isolated", None, evidence
    if booted_separately:
        return ("unknown", "the kernel booted separately but shows no sign of a hypervisor "
                "(no hypervisor CPU flag of its own, same CPU model, no hypervisor in its kernel log): "
                "a user-space kernel such as gVisor?", evidence)
    return "unknown", "the boot id differs but nothing else shows a separately booted kernel", evidence


# The warm-up run of startup_bench prints the boot id and the guest kernel's
# "Freeing unused kernel" line: its timestamp is the kernel's own boot time, as
# Kata's launch-time metrics measure it.
BOOT_TIME_SCRIPT = ("cat /proc/sys/kernel/random/boot_id; "
                    "dmesg 2>/dev/null | grep -m 1 'Freeing unused kernel'; true")


def guest_kernel_boot_seconds(output, host_boot_id):
    """Seconds from the guest kernel's start to freeing its init memory, or None.

    Only for a kernel of its own: a container on the host kernel that may read
    dmesg would otherwise report the host's boot.
    """
    lines = output.splitlines()
    if not lines or lines[0].strip() == host_boot_id:
        return None
    for line in lines[1:]:
        stamp = line.strip().lstrip("[").partition("]")[0].strip()
        try:
            return float(stamp)
        except ValueError:
            continue
    return None
