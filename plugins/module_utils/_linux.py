# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Linux /proc readers and parsers that both sides of a comparison share.

The host side reads these files directly and the probe container prints them,
so one parser per format keeps the two views comparable field for field.
"""

import os
import signal

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _owner

# The CPU flags that show hardware virtualization support on the host, and the
# flag a guest kernel sets when it runs under a hypervisor.
VIRT_FLAGS = ("vmx", "svm")
HYPERVISOR_FLAG = "hypervisor"


def parse_cpuinfo(text):
    """Return the CPU model, the logical CPU count and the flags of CPU 0.

    x86 calls the model "model name"; arm64 has no model line, so its
    "CPU implementer"/"CPU part" pair is kept instead of inventing a name.
    """
    model = None
    implementer = part = None
    flags = []
    processors = 0
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip()
        value = value.strip()
        if key == "processor":
            processors += 1
        elif key == "model name" and model is None:
            model = value
        elif key in ("flags", "Features") and not flags:
            flags = value.split()
        elif key == "CPU implementer" and implementer is None:
            implementer = value
        elif key == "CPU part" and part is None:
            part = value
    if model is None and implementer is not None:
        model = "implementer %s part %s" % (implementer, part)
    return {
        "model": model,
        "processors": processors,
        "flags": flags,
        "hypervisor_flag": HYPERVISOR_FLAG in flags,
        "virtualization_flags": sorted(set(flags) & set(VIRT_FLAGS)),
    }


def parse_meminfo_total_kib(text):
    """Return MemTotal in KiB, or None when the line is missing."""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                return int(fields[1])
    return None


def count_lines(text):
    """Count the non-empty lines: one loaded module per line of /proc/modules."""
    return sum(1 for line in text.splitlines() if line.strip())


def parse_ip_addr_oneline(text):
    """Map interface name to its addresses from ``ip -o addr`` output.

    Both iproute2 and busybox print ``<idx>: <name> <family> <cidr> ...``.
    """
    addresses = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[2] not in ("inet", "inet6"):
            continue
        name = fields[1].split("@", 1)[0]
        addresses.setdefault(name, []).append(fields[3])
    return addresses


def interfaces_from(names, addresses):
    """Combine interface names with their addresses, sorted by name."""
    return [
        {"name": name, "addresses": addresses.get(name, [])}
        for name in sorted(set(names) | set(addresses))
    ]


def process_start_ticks(pid):
    """The start time of ``pid`` in clock ticks since boot, or None if it is gone (_owner.start_ticks).

    A pid alone can be reused; pid plus start time names one process.
    """
    return _owner.start_ticks(pid)


def process_table():
    """{pid: (ppid, argv)} of every process readable now (gone ones are skipped)."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as handle:
                    argv = handle.read().split(b"\0")
                with open("/proc/%s/stat" % entry) as handle:
                    ppid = int(handle.read().rpartition(")")[2].split()[1])
            except (IOError, OSError, ValueError, IndexError):
                continue
            table[int(entry)] = (ppid, [arg.decode("utf-8", "replace") for arg in argv if arg])
    return table


def find_processes(*required_args):
    """Pids whose argv contains every one of ``required_args``."""
    return [pid for pid, (_ppid, argv) in process_table().items() if all(arg in argv for arg in required_args)]


def descendants(root, table=None):
    """``root`` and every process below it, parents before children (from ``table``, else a fresh one)."""
    children = {}
    for pid, (ppid, _argv) in (process_table() if table is None else table).items():
        children.setdefault(ppid, []).append(pid)
    order, stack = [], [root]
    while stack:
        pid = stack.pop()
        order.append(pid)
        stack.extend(children.get(pid, []))
    return order


def kill_tree(root):
    """SIGKILL ``root`` and all its descendants, children first; returns the pids signalled."""
    killed = []
    for pid in reversed(descendants(root)):
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except OSError:
            pass
    return killed


def process_name(pid):
    """The kernel's short name of ``pid`` (/proc/<pid>/comm), or None if it is gone."""
    try:
        with open("/proc/%d/comm" % pid) as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return None


def pss_kib(pid):
    """Proportional set size of ``pid`` in KiB: shared pages split among their users.

    PSS, not RSS, is what Kata's density metrics use: summing RSS over a shim,
    a VMM and virtiofsd counts shared libraries several times.
    """
    for path in ("/proc/%d/smaps_rollup" % pid, "/proc/%d/smaps" % pid):
        try:
            with open(path) as handle:
                text = handle.read()
        except (IOError, OSError):
            continue
        return sum(int(line.split()[1]) for line in text.splitlines() if line.startswith("Pss:"))
    return None
