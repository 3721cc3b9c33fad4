# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verdict: a container's view of its kernel against the host's, then against the host's witness.

``verdict(host, guest)`` reads what the probe container printed (the facts
``_probe`` parsed) and gives shared-kernel, vm-isolated, user-space-kernel or
unknown.  That is the container's own word: an image's /bin/sh sees the script
and can rewrite any value.  ``combine(entry, witness)`` sets it against what
the host saw of the same container (``_witness``): a verdict stands only
where both agree, never claims more isolation than the host's witness
shows, and a disagreement fails the probe.  docs/verdicts.md explains both.
"""

import re

from ansible_collections.kata_fleet.runtimes.plugins.module_utils._probe import (
    BARE_METAL,
    DMI_KEYS,
    NOT_RECORDED,
    _log_text,
    _vendor_in,
    printable,
)

# gVisor's application kernel reports a fixed build string and 4.4.0 (newer
# releases: <version>-gvisor) whatever the host runs; its log opens with this line.
GVISOR_BUILD = "#1 SMP Sun Jan 10 15:06:54 PST 2016"
GVISOR_DMESG = "Starting gVisor"
GVISOR_BOOT_IMAGE = re.compile(r"(\A|\s)BOOT_IMAGE=/vmlinuz-[^\s]*-gvisor(\s|\Z)")
# Kernel parameters only a Kata guest boots with: the agent's own options and its systemd target.
KATA_PARAM_RE = re.compile(r"(\A|\s)(agent\.[a-z_.]+(=[^\s]*)?|systemd\.unit=kata-containers\.target)(?=\s|\Z)")
KATA_HINT_PARAMS = ("console=hvc0", "pci=lastbus=0", "scsi_mod.scan=none")
NR_CPUS_RE = re.compile(r"(\A|\s)nr_cpus=[0-9]{1,4}(\s|\Z)")
VIRTIO_MMIO_PARAM_RE = re.compile(r"(\A|\s)virtio_mmio\.device=[0-9]+[KMG]?@0x[0-9a-fA-F]+")
MICROVM_PARAMS = ("pci=off", "acpi=off")
FIRECRACKER_MMIO_PARAM_RE = re.compile(r"(\A|\s)virtio_mmio\.device=4K@0xd0[0-9a-f]{2}[0-9a-f]000:[0-9]+")
FIRECRACKER_MMIO_LOG_RE = re.compile(r"virtio-mmio: Registering device virtio-mmio\.[0-9]+ at 0xd0[0-9a-f]{2}[0-9a-f]000-")
# btime is derived from the clock and the uptime and moves by a second or two between reads.
BOOT_TIME_TOLERANCE = 5


# -- the verdict ----------------------------------------------------------------------

def _shown(value):
    """A fact for an evidence sentence: a missing value says so, never 'None'."""
    return NOT_RECORDED if value is None or value == "" else str(value)


def _params(cmdline):
    return (cmdline or "").split()


class _Signals:
    def __init__(self):
        self.names = []
        self.evidence = []

    def add(self, name, sentence):
        if name not in self.names:
            self.names.append(name)
            self.evidence.append(sentence)

    def __bool__(self):
        return bool(self.names)


def _gvisor_signals(guest):
    strong, weak = _Signals(), _Signals()
    uname, release = guest.get("uname") or "", guest.get("kernel_release") or ""
    if GVISOR_BUILD in uname:
        strong.add("gvisor-build-string", "uname shows gVisor's fixed build string %r" % GVISOR_BUILD)
    if release.endswith("-gvisor"):
        strong.add("gvisor-release", "kernel release %s is a gVisor release" % release)
    if GVISOR_BOOT_IMAGE.search(guest.get("kernel_cmdline") or ""):
        strong.add("gvisor-cmdline", "the kernel command line names gVisor's boot image (BOOT_IMAGE=...-gvisor)")
    if any(GVISOR_DMESG in line for line in guest.get("dmesg_signals") or []):
        strong.add("gvisor-dmesg", "the kernel log says %r" % (GVISOR_DMESG + "..."))
    if release == "4.4.0":
        weak.add("release-4.4.0", "kernel release 4.4.0, the one gVisor reports")
    if guest.get("modules_available") is False:
        weak.add("no-proc-modules", "no /proc/modules: this kernel cannot load modules")
    if guest.get("boot_id_status") == "absent":
        weak.add("boot-id-absent", "no /proc/sys/kernel/random/boot_id")
    return strong, weak


def _own_kernel_signals(host, guest):
    """Signs that the container's kernel is not the host's running kernel."""
    own = _Signals()
    if host.get("boot_id") and guest.get("boot_id") and host["boot_id"] != guest["boot_id"]:
        own.add("boot-id-differs", "boot id %s differs from the host's %s" % (guest["boot_id"], host["boot_id"]))
    if host.get("kernel_release") and guest.get("kernel_release") and host["kernel_release"] != guest["kernel_release"]:
        own.add("release-differs", "guest kernel %s, host %s" % (guest["kernel_release"], host["kernel_release"]))
    if host.get("boot_time") and guest.get("boot_time") and abs(guest["boot_time"] - host["boot_time"]) > BOOT_TIME_TOLERANCE:
        own.add("boot-time-differs", "guest booted at %d, host at %d (epoch seconds)" % (guest["boot_time"], host["boot_time"]))
    if host.get("uptime_seconds") is not None and guest.get("uptime_seconds") is not None \
            and guest["uptime_seconds"] + BOOT_TIME_TOLERANCE < host["uptime_seconds"]:
        # The container is read after the host, so the host's kernel would show a longer uptime.
        own.add("uptime-shorter", "guest up %.0f s, host %.0f s: the guest's kernel started later"
                % (guest["uptime_seconds"], host["uptime_seconds"]))
    if host.get("kernel_cmdline") and guest.get("kernel_cmdline") and host["kernel_cmdline"] != guest["kernel_cmdline"]:
        own.add("cmdline-differs", "kernel command line differs from the host's")
    kata = [param for param in _params(guest.get("kernel_cmdline")) if KATA_PARAM_RE.match(param)]
    if kata and not KATA_PARAM_RE.search(host.get("kernel_cmdline") or ""):
        own.add("kata-agent-cmdline", "the kernel booted with the Kata agent's parameters (%s)" % " ".join(kata[:3]))
    host_lines = set(_log_text(line) for line in host.get("dmesg_signals") or [])
    target = [_log_text(line) for line in guest.get("dmesg_signals") or []
              if "kata-containers.target" in line and _log_text(line) not in host_lines]
    if target:
        own.add("kata-target-in-log", "the kernel's log shows the Kata guest's systemd target: %s" % target[0])
    return own


# Signs that a kernel is not the host's which /proc emulation (LXCFS, Sysbox's sysbox-fs) cannot
# produce on a shared kernel: uname and /proc/cmdline come from the kernel itself.
KERNEL_SIGNS = ("release-differs", "cmdline-differs", "kata-agent-cmdline", "kata-target-in-log")


def _idle_evidence(guest):
    """The idle column of /proc/uptime against the CPUs the container sees (evidence, never a decider)."""
    up, idle, cpus = guest.get("uptime_seconds"), guest.get("idle_seconds"), guest.get("cpus")
    if not up or idle is None or not cpus:
        return None
    if idle > up * cpus * 1.1 + 1:
        return ("the kernel idled %.0f s in %.0f s up: more than %d CPU(s) can, so it runs more CPUs than "
                "the container sees" % (idle, up, cpus))
    return "the kernel idled %.0f s in %.0f s up: consistent with its %d CPU(s)" % (idle, up, cpus)


def _hypervisor_signals(host, guest):
    """Signs, in the guest's own kernel, that it runs under a hypervisor; plus the hypervisor they name.

    A sign the host's own view shows too (the same log line, the same DMI
    vendor, the hypervisor flag) is the host's: on a cloud VM or WSL2 a
    container on the host kernel would show it as well, so it does not count.
    """
    signs, named = _Signals(), []
    params = _params(guest.get("kernel_cmdline"))
    host_lines = set(_log_text(line) for line in host.get("dmesg_signals") or [])
    host_dmi = host.get("dmi") or {}
    if guest.get("hypervisor_flag") and host.get("hypervisor_flag") is False:
        signs.add("hypervisor-flag", "guest CPU shows the hypervisor flag, the host's does not")
    if guest.get("cpu_model") and host.get("cpu_model") and guest["cpu_model"] != host["cpu_model"]:
        signs.add("cpu-model-differs", "guest CPU model %r, host %r" % (guest["cpu_model"], host["cpu_model"]))
    for line in guest.get("dmesg_signals") or []:
        text = _log_text(line)
        lowered = text.lower()
        if text in host_lines:
            continue
        if "kata-containers.target" in lowered:
            signs.add("kata-guest", "guest log: %s (the Kata guest's systemd target)" % text)
        elif "detected virtualization" in lowered:
            signs.add("systemd-virtualization", "guest log: %s" % text)
        elif lowered.startswith("hypervisor detected"):
            signs.add("hypervisor-detected", "guest kernel log: %s" % text.strip())
            vendor = text.partition(":")[2].strip()
            if vendor.upper() == "KVM":
                named.append("kvm")
        elif lowered.startswith("booting paravirtualized kernel") and BARE_METAL not in lowered:
            signs.add("paravirt-kernel", "guest kernel log: %s" % text.strip())
        elif lowered.startswith("kvm-clock"):
            signs.add("kvm-clock", "guest kernel log: the KVM paravirtual clock is in use")
        elif lowered.startswith("dmi: ") and _vendor_in(text[5:]):
            vendor = _vendor_in(text[5:])
            signs.add("dmi:%s" % vendor, "guest kernel log: %s" % text.strip())
            named.append(vendor)
        elif lowered.startswith("dmi not present"):
            named.append("no-dmi")
        elif lowered.startswith("acpi: rsdp") or lowered.startswith("acpi: xsdt"):
            vendor = _vendor_in(text)
            if vendor:
                signs.add("acpi-oem:%s" % vendor, "guest ACPI tables carry the OEM id of %s: %s" % (vendor, text.strip()))
                named.append(vendor)
        elif "virtio-mmio" in lowered or "virtio_mmio" in lowered:
            signs.add("virtio-mmio", "guest kernel log: %s" % text.strip())
    for key in DMI_KEYS:
        value = (guest.get("dmi") or {}).get(key)
        vendor = _vendor_in(value)
        if vendor and host_dmi.get(key) != value:
            signs.add("dmi:%s" % vendor, "guest DMI %s is %r" % (key, value))
            named.append(vendor)
    if guest.get("dmi_present") is False:
        named.append("no-dmi")
    mmio = [param for param in params if VIRTIO_MMIO_PARAM_RE.match(param)]
    if mmio:
        signs.add("virtio-mmio", "the kernel command line lays out virtio-mmio devices (%s)" % mmio[0])
    if any(KATA_PARAM_RE.match(param) for param in params):
        signs.add("kata-guest", "a Kata guest: Kata runs every sandbox in a virtual machine")
    return signs, named


def _firecracker_layout(guest):
    """Firecracker's x86 virtio-mmio window: its devices sit 4 KiB apart from 0xd0000000.

    Seen in Kata's Firecracker guests (kata-containers/runtime#1450, #1622:
    virtio-mmio.0 at 0xd0000000-0xd0000fff).  Dragonball's dbs-boot layout
    starts its low MMIO window at 3 GiB (0xc0000000) instead; reading the
    0xd0000000 window as Firecracker's is an inference, as no Dragonball guest
    log was at hand (docs/verdicts.md).
    """
    lines = guest.get("dmesg_signals") or []
    return bool(FIRECRACKER_MMIO_PARAM_RE.search(guest.get("kernel_cmdline") or "")
                or any(FIRECRACKER_MMIO_LOG_RE.search(line) for line in lines))


def _sandbox(guest, signs, named, own):
    """Name the sandbox from the signals, or None; with the signals that named it.

    Only signals a guest shows name a hypervisor: a DMI or ACPI vendor, or
    Firecracker's virtio-mmio layout.  Kata with none of them is plain ``kata``.
    """
    params = _params(guest.get("kernel_cmdline"))
    kata = [name for name in ("kata-agent-cmdline", "kata-target-in-log", "kata-guest")
            if name in own.names or name in signs.names]
    hints = ["cmdline:%s" % param for param in params if param in KATA_HINT_PARAMS or NR_CPUS_RE.match(param)]
    vendors = [name for name in named if name not in ("kvm", "no-dmi")]
    hypervisor, used = None, []
    for candidate in ("clh", "dragonball", "firecracker", "qemu"):
        if candidate in vendors:
            hypervisor = candidate
            used = [name for name in signs.names if name.endswith(":" + candidate)]
            break
    if hypervisor is None and "virtio-mmio" in signs.names and _firecracker_layout(guest):
        hypervisor = "firecracker"
        used = ["virtio-mmio", "firecracker-mmio-layout"] + [
            "cmdline:%s" % param for param in params if param in MICROVM_PARAMS]
    if kata:
        return ("kata/%s" % hypervisor if hypervisor else "kata"), kata[:1] + hints[:3] + used
    if hypervisor in ("firecracker", "qemu", "clh"):
        return hypervisor, used
    return None, []


def verdict(host, guest):
    """Compare a container's view with the host's.

    Returns a dict: ``verdict`` (shared-kernel, vm-isolated, user-space-kernel
    or unknown), ``verdict_reason`` (None unless unknown), ``evidence`` (human
    sentences), ``sandbox`` (kata/qemu, gvisor, ... or None) and ``signals``
    (short names of every sign that counted).

    The boot id decides shared-kernel where both sides can read it: the same
    running kernel reports the same boot id.  Version strings never decide it.
    A user-space kernel shows gVisor's own marks.  vm-isolated needs a kernel
    of its own AND a sign of a hypervisor in that kernel.
    """
    host = host if isinstance(host, dict) else {}
    guest = guest if isinstance(guest, dict) else {}
    result = {"verdict": "unknown", "verdict_reason": None, "evidence": [], "sandbox": None, "signals": []}

    def done(outcome, reason, evidence, signals, sandbox=None):
        result.update(verdict=outcome, verdict_reason=reason, evidence=evidence, signals=signals, sandbox=sandbox)
        return result

    if host.get("boot_id") and guest.get("boot_id") and guest["boot_id"] == host["boot_id"]:
        evidence = ["boot id %s equals the host's: the container runs on the host kernel" % guest["boot_id"]]
        if guest.get("kernel_release") == host.get("kernel_release"):
            evidence.append("kernel release %s equals the host's" % _shown(guest.get("kernel_release")))
        return done("shared-kernel", None, evidence, ["boot-id-equal"])

    strong, weak = _gvisor_signals(guest)
    host_strong, _host_weak = _gvisor_signals(host)
    own = _own_kernel_signals(host, guest)
    signs, named = _hypervisor_signals(host, guest)
    if strong and not host_strong:
        evidence = strong.evidence + weak.evidence + [e for e in own.evidence if e not in strong.evidence]
        if guest.get("boot_id"):
            evidence.append("boot id %s is the sandbox's own (gVisor invents one per sandbox)" % guest["boot_id"])
        return done("user-space-kernel", None, evidence, strong.names + weak.names + own.names, "gvisor")

    evidence = own.evidence + signs.evidence
    signals = own.names + signs.names
    if not host.get("boot_id") and not own:
        reason = "the host's boot id was %s, so whether the kernel is shared cannot be decided" % _status(host)
        return done("unknown", reason, evidence or ["no comparison with the host was possible"], signals)
    if not guest.get("boot_id") and not own:
        reason = ("the container's boot id was %s and nothing else shows a kernel of its own"
                  % _status(guest))
        return done("unknown", reason, evidence + weak.evidence, signals + weak.names)
    idle = _idle_evidence(guest)
    if idle:
        evidence.append(idle)
    if own and not any(name in KERNEL_SIGNS for name in own.names) \
            and host.get("kernel_release") and host.get("kernel_release") == guest.get("kernel_release") \
            and host.get("kernel_cmdline") and host.get("kernel_cmdline") == guest.get("kernel_cmdline"):
        evidence.append("kernel release %s and command line equal the host's" % host["kernel_release"])
        return done("unknown", "the kernel release and command line equal the host's; the differing %s may "
                    "come from /proc emulation (LXCFS, Sysbox) on the host kernel" % ", ".join(own.names),
                    evidence, signals)
    if own and signs:
        sandbox, used = _sandbox(guest, signs, named, own)
        if sandbox:
            evidence.append("named %s from: %s" % (sandbox, ", ".join(used)))
        return done("vm-isolated", None, evidence, signals, sandbox)
    if own:
        if weak:
            return done("unknown", "a kernel of its own with no sign of a hypervisor, and traits of a user-space "
                        "kernel (%s) without gVisor's own marks" % ", ".join(weak.names),
                        evidence + weak.evidence, signals + weak.names)
        return done("unknown", "the kernel is not the host's but shows no sign of a hypervisor (no hypervisor "
                    "line in its log, no hypervisor DMI or ACPI vendor, no virtio-mmio, no hypervisor CPU flag "
                    "the host lacks)", evidence, signals)
    return done("unknown", "nothing shows a kernel of its own, and the boot ids could not be compared",
                evidence, signals)


def _status(view):
    status = view.get("boot_id_status")
    return {"absent": "absent (no /proc/sys/kernel/random/boot_id)", "unreadable": "unreadable",
            "empty": "empty", None: NOT_RECORDED}.get(status, status if status != "ok" else "readable")


# -- the second witness: what the host saw of the same container -------------------------

# The container's verdict and the host's class that tell the same story.
AGREEING = {"shared-kernel": "host-process", "vm-isolated": "vmm", "user-space-kernel": "user-space-kernel"}
HOST_STORIES = {
    "host-process": "an ordinary process on the host's kernel",
    "vmm": "a hypervisor process",
    "user-space-kernel": "a gVisor sandbox (runsc)",
}
# Signs only a kernel other than the host's, or gVisor, can show (see KERNEL_SIGNS): an undecided view
# that carries one of them still claims a kernel of its own.
CLAIMS_OWN_KERNEL = KERNEL_SIGNS + ("gvisor-build-string", "gvisor-release", "gvisor-cmdline", "gvisor-dmesg")


def _container_claim(result):
    """The isolation the container's own view claims, as one of AGREEING's keys, or None for no claim."""
    outcome = result.get("verdict")
    if outcome in AGREEING:
        return outcome
    if any(name in CLAIMS_OWN_KERNEL for name in result.get("signals") or []):
        return "a kernel of its own"
    return None


def combine(result, witness):
    """Set the container's verdict ``result`` (verdict()'s dict) against the host's ``witness`` (_witness).

    Returns the fields to add to the probe entry: ``witness`` (agrees,
    contradicted, host-unknown), ``host_witness``, and where they disagree
    ``status: failed`` with ``error`` and ``contradiction`` and no verdict.  A
    verdict never claims more isolation than the host's witness shows: where
    the host saw an ordinary host process, nothing but shared-kernel (or
    unknown without a claim of its own kernel) stands.
    """
    result = dict(result)
    evidence = list(result.get("evidence") or [])
    if not isinstance(witness, dict) or witness.get("class") not in ("host-process", "vmm", "user-space-kernel"):
        reason = (witness or {}).get("reason") if isinstance(witness, dict) else None
        evidence.append("the host's witness is unknown (%s): this verdict rests on the container's word alone"
                        % printable(reason or "not taken", 300))
        result.update(evidence=evidence, witness="host-unknown", host_witness=witness)
        return result
    host_class = witness["class"]
    claim = _container_claim(result)
    seen = list(witness.get("evidence") or [])
    if claim is None or AGREEING.get(claim) == host_class:
        result.update(evidence=evidence + seen[:4], witness="agrees", host_witness=witness)
        return result
    sandbox = result.get("sandbox") or "none"
    container = "%s (%s)" % (claim if claim in AGREEING else "unknown, %s" % claim, sandbox)
    host_story = HOST_STORIES[host_class]
    if witness.get("binary"):
        host_story += " (%s)" % _shown(witness.get("binary"))
    error = ("contradicted by the host: the container's view shows %s but the host sees %s%s; "
             "a probe image that rewrites its own output can make the first, not the second, so no verdict "
             "is given" % (container, host_story, (" - " + seen[0]) if seen else ""))
    return {"status": "failed", "error": printable(error, 2000), "witness": "contradicted",
            "host_witness": witness, "contradiction": {"container": printable(container, 200), "host": host_class},
            "evidence": evidence + seen[:4], "signals": result.get("signals") or [],
            "verdict": None, "verdict_reason": None, "sandbox": None}


def image_evidence(image, source, digest):
    """The evidence sentence a registry image adds: the facts came from that image's tools."""
    if source == "built":
        return None
    return ("the facts were read with the tools of the registry image %s (digest %s), not kata-fleet's own probe "
            "image (decided by its digest, not its name): the verdict rests on that image's uname, cat, grep and "
            "dmesg telling the truth, and on the host's witness" % (printable(image or "", 200),
                                                                    printable(digest or "unknown", 80)))
