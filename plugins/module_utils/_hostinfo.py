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


def kvm_status(device=KVM_DEVICE):
    """Whether KVM is usable: open the device and ask its API version.

    cpuinfo flags are not enough: a nested guest can have a working /dev/kvm
    without vmx/svm in /proc/cpuinfo (``kata-runtime check`` gets that wrong).
    """
    status = {"device": device, "present": os.path.exists(device), "usable": False,
              "api_version": None, "error": None}
    if not status["present"]:
        status["error"] = "%s does not exist: load kvm_intel or kvm_amd, or enable nested virtualization" % device
        return status
    try:
        fd = os.open(device, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        status["error"] = "cannot open %s: %s" % (device, os.strerror(error.errno))
        return status
    try:
        status["api_version"] = fcntl.ioctl(fd, KVM_GET_API_VERSION)
        # Every KVM since Linux 2.6.22 answers 12; anything else is not a KVM we can use.
        status["usable"] = status["api_version"] == 12
        if not status["usable"]:
            status["error"] = "unexpected KVM API version %s" % status["api_version"]
    except (IOError, OSError) as error:
        status["error"] = "KVM_GET_API_VERSION failed: %s" % os.strerror(error.errno or errno.EINVAL)
    finally:
        os.close(fd)
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


def host_sections(module):
    """The probe's sections, read from the host itself."""
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
    hypervisor_pattern = re.compile("|".join(_probe.HYPERVISOR_LOG_PATTERNS), re.IGNORECASE)
    modules = _read("/proc/modules")
    return {
        "uname_r": uname.release,
        "uname_a": " ".join([uname.sysname, uname.nodename, uname.release, uname.version, uname.machine]),
        "boot_id": read_boot_id(),
        "btime": "\n".join(line for line in _read("/proc/stat").splitlines() if line.startswith("btime")),
        "cpuinfo": _read("/proc/cpuinfo"),
        "nproc": str(len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else "",
        "meminfo": _read("/proc/meminfo"),
        "proc_entries": str(len(os.listdir("/proc"))),
        "modules": str(_linux.count_lines(modules)) if os.path.exists("/proc/modules") else "absent",
        "net_names": "\n".join(os.listdir("/sys/class/net")) if os.path.isdir("/sys/class/net") else "",
        "ip_addr": ip_out if ip_rc == 0 else "",
        "cmdline": _read("/proc/cmdline"),
        "dmesg": dmesg_section,
        "dmesg_hypervisor": "\n".join([line for line in log if hypervisor_pattern.search(line)][:3]),
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
