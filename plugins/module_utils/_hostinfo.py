# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's own view: the probe's facts read from the host, plus what only the host can tell.

The common facts go through the probe's own parser (``_probe.facts_from_sections``)
so that host and container are compared field for field.
"""

import errno
import fcntl
import os
import re

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _linux, _probe

KVM_DEVICE = "/dev/kvm"
KVM_GET_API_VERSION = 0xAE00  # _IO(KVMIO=0xAE, 0x00)
VHOST_MODULES = {"vhost": None, "vhost_net": "/dev/vhost-net", "vhost_vsock": "/dev/vhost-vsock"}
# Where the tools may live besides PATH; Kata's static tarball installs under /opt/kata.
TOOL_DIRS = ["/usr/local/bin", "/opt/kata/bin", "/opt/kata/runtime-rs/bin"]
TOOLS = ("containerd", "ctr", "runc", "nerdctl", "containerd-shim-kata-v2")
VERSION_PATTERN = re.compile(r"\bv?(\d+\.\d+[^\s,]*)")


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return ""


def read_boot_id():
    """The running kernel's boot id: equal inside a container only when the kernel is shared."""
    return _read("/proc/sys/kernel/random/boot_id").strip()


def kvm_status(device=KVM_DEVICE, cpuinfo_text=None):
    """What was checked about KVM, and only that.

    The device is opened and asked KVM_GET_API_VERSION: that proves the KVM
    module answers, not that a guest runs.  On a nested host without vmx/svm
    in /proc/cpuinfo the device answers while KVM guests hang at boot, so the
    result says what was checked (``summary``) and warns (``warning``) instead
    of claiming KVM works.  No guest is started here.

    ``usable`` is kept for the policies and reports that read it: it means
    exactly ``answers`` (the device answered API 12), nothing more.
    """
    flags = _linux.parse_cpuinfo(_read("/proc/cpuinfo") if cpuinfo_text is None else cpuinfo_text)
    status = {"device": device, "present": os.path.exists(device), "answers": False, "usable": False,
              "api_version": None, "cpu_virtualization_flags": flags["virtualization_flags"],
              "hypervisor_flag": flags["hypervisor_flag"], "guest_started": False,
              "checked": [], "summary": None, "warning": None, "error": None}
    if not status["present"]:
        status["error"] = "%s does not exist: load kvm_intel or kvm_amd, or enable nested virtualization" % device
        status["checked"].append("%s does not exist" % device)
        status["summary"] = status["checked"][0]
        return status
    try:
        fd = os.open(device, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        status["error"] = "cannot open %s: %s" % (device, os.strerror(error.errno))
        status["checked"].append(status["error"])
        status["summary"] = status["error"]
        return status
    try:
        status["api_version"] = fcntl.ioctl(fd, KVM_GET_API_VERSION)
        # Every KVM since Linux 2.6.22 answers 12; anything else is not a KVM we can use.
        status["answers"] = status["usable"] = status["api_version"] == 12
        if not status["answers"]:
            status["error"] = "unexpected KVM API version %s" % status["api_version"]
    except (IOError, OSError) as error:
        status["error"] = "KVM_GET_API_VERSION failed: %s" % os.strerror(error.errno or errno.EINVAL)
    finally:
        os.close(fd)
    status["checked"].append("the KVM device answers, API %s" % status["api_version"] if status["answers"]
                             else status["error"])
    if status["cpu_virtualization_flags"]:
        status["checked"].append("/proc/cpuinfo shows %s" % "/".join(status["cpu_virtualization_flags"]))
    else:
        status["checked"].append("no vmx/svm flag in /proc/cpuinfo%s" % (
            " (the CPU shows the hypervisor flag: this host is itself a VM)" if status["hypervisor_flag"] else ""))
        if status["answers"]:
            status["warning"] = ("nested virtualization without vmx/svm in /proc/cpuinfo: the KVM device "
                                 "answers, but KVM guests may not run (they may hang at boot); no guest was "
                                 "started to find out")
    status["summary"] = "; ".join(status["checked"]) + (
        ": nested, guests may not run" if status["warning"] else "")
    return status


def vhost_status():
    """Each vhost module: loaded (or built in) per /sys/module, and its device node."""
    return dict(
        (name, {"loaded": os.path.isdir("/sys/module/%s" % name),
                "device": device, "device_present": bool(device) and os.path.exists(device)})
        for name, device in VHOST_MODULES.items())


def cgroup_version(root="/sys/fs/cgroup"):
    if os.path.exists(os.path.join(root, "cgroup.controllers")):
        return "v2"
    if os.path.exists(os.path.join(root, "unified", "cgroup.controllers")):
        return "hybrid"
    return "v1" if os.path.isdir(root) else None


def tool_versions(module):
    """Version of each container tool found, with the line it printed."""
    versions = {}
    for tool in TOOLS:
        path = module.get_bin_path(tool, opt_dirs=TOOL_DIRS)
        if not path:
            versions[tool] = {"path": None, "version": None, "output": None}
            continue
        rc, out, err = module.run_command([path, "--version"])
        first = ((out or err).strip().splitlines() or [""])[0]
        match = VERSION_PATTERN.search(first)
        versions[tool] = {"path": path, "version": match.group(1) if match else None, "output": first}
    return versions


def cpuinfo_lines(text):
    """The /proc/cpuinfo lines the probe prints (the first of each key), so host and guest match."""
    wanted = ("model name", "flags", "Features", "CPU implementer", "CPU part")
    lines, seen = [], set()
    for line in text.splitlines():
        for key in wanted:
            if key not in seen and line.startswith(key):
                seen.add(key)
                lines.append(line)
    return "\n".join(lines)


def dmi_section(root="/sys/class/dmi/id"):
    """``key=value`` lines of the DMI vendor files present, or ``absent`` (as the probe prints them)."""
    if not os.path.isdir(root):
        return "absent"
    return "\n".join("%s=%s" % (key, _read(os.path.join(root, key))[:256].strip())
                     for key in _probe.DMI_KEYS if os.access(os.path.join(root, key), os.R_OK))


def host_sections(module):
    """The probe's sections, read from the host itself (parsed with the same parser and bounds)."""
    uname = os.uname()
    ip_rc, ip_out, ip_err = module.run_command(["ip", "-o", "addr"]) if module.get_bin_path("ip") else (1, "", "")
    dmesg = module.get_bin_path("dmesg")
    log = []
    if dmesg:
        rc, out, err = module.run_command([dmesg])
        log = out.splitlines() if rc == 0 else []
        dmesg_section = "rc=%d\n%s" % (rc, "\n".join(log[:_probe.DMESG_HEAD_LINES] if rc == 0 else err.splitlines()))
    else:
        dmesg_section = "rc=127\ndmesg is not installed"
    modules = _read("/proc/modules")
    return {
        "uname_r": uname.release,
        "uname_a": " ".join([uname.sysname, uname.nodename, uname.release, uname.version, uname.machine]),
        "boot_id": read_boot_id(),
        "btime": "\n".join(line for line in _read("/proc/stat").splitlines() if line.startswith("btime")),
        "uptime": _read("/proc/uptime"),
        "cpuinfo": cpuinfo_lines(_read("/proc/cpuinfo")),
        "nproc": str(len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else "",
        "meminfo": "\n".join(line for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal:")),
        "proc_entries": str(len(os.listdir("/proc"))),
        "modules": str(_linux.count_lines(modules)) if os.path.exists("/proc/modules") else "absent",
        "net_names": "\n".join(sorted(os.listdir("/sys/class/net"))[:_probe.MAX_INTERFACES])
        if os.path.isdir("/sys/class/net") else "",
        "ip_addr": "\n".join(ip_out.splitlines()[:_probe.MAX_INTERFACES]) if ip_rc == 0 else "",
        "cmdline": _read("/proc/cmdline"),
        "dmi": dmi_section(),
        "dmesg": dmesg_section,
        "dmesg_signals": "\n".join([line for line in log if _probe.DMESG_SIGNAL_RE.search(line)]
                                   [:_probe.DMESG_SIGNAL_LINES]),
    }


def host_facts(module):
    """Everything host_facts reports except the containerd handlers."""
    facts = _probe.facts_from_sections(host_sections(module))
    cpu = _linux.parse_cpuinfo(_read("/proc/cpuinfo"))
    facts.update({
        "architecture": os.uname().machine,
        "virtualization_flags": cpu["virtualization_flags"],
        "kvm": kvm_status(),
        "vhost": vhost_status(),
        "cgroup_version": cgroup_version(),
        "tools": tool_versions(module),
    })
    return facts
