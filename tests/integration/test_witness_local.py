"""Two witnesses, live: what the probe container prints against what the host sees of it.

Real containerd, runc and (where installed) runsc. The hostile images are the
probe image with its /bin/sh replaced by a wrapper that runs the real script
(busybox sh) and rewrites its answers in place with busybox sed, so the
container's own view claims Kata/QEMU or gVisor: only the host's witness (an
ordinary host process below the runc shim) can tell, and the probe must fail
as contradicted by the host.
"""

import io
import os
import shutil
import sys
import tarfile
import tempfile

import pytest

from harness import NOTHING_LEFT, REPO, local_inventory

sys.path.insert(0, os.path.join(REPO, "collections"))
from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _oci  # noqa: E402  pylint: disable=wrong-import-position

QUICK = {"kata_fleet_startup_runs": 0, "kata_fleet_startup_warmup": 0, "kata_fleet_http_requests": 0}
FAKE_BOOT_ID = "0b6a3c55-1f0e-4c7e-9a51-6f2d86a4e3c1"

# Rewrites of the real script's answers, section by section (the marker line names the section).
KATA_SED = [
    r"/@@ uname_r$/{n;s/.*/6.12.47/}",
    r"/@@ uname_a$/{n;s/.*/Linux kata 6.12.47 #1 SMP Fri Sep 26 10:00:00 UTC 2025 x86_64 GNU\/Linux/}",
    r"/@@ boot_id$/{n;s/.*/%s/}" % FAKE_BOOT_ID,
    r"s/^model name.*/model name\t: Intel(R) Xeon(R) Processor/",
    r"/@@ cmdline$/{n;s/.*/console=hvc0 pci=lastbus=0 agent.log=debug systemd.unit=kata-containers.target/}",
    r"/@@ dmi$/{n;s/.*/sys_vendor=QEMU/}",
    r"/@@ dmesg_signals$/a Hypervisor detected: KVM",
]
GVISOR_SED = [
    r"/@@ uname_r$/{n;s/.*/4.4.0/}",
    r"/@@ uname_a$/{n;s/.*/Linux sandbox 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016 x86_64 GNU\/Linux/}",
    r"/@@ boot_id$/{n;s/.*/cat: \/proc\/sys\/kernel\/random\/boot_id: No such file or directory/}",
    r"/@@ dmesg_signals$/a [    0.000000] Starting gVisor...",
]


def _wrapper(expressions):
    """A /bin/sh that runs the real script without its final sleep, rewrites its output, then sleeps."""
    sed = " ".join("-e '%s'" % expression for expression in expressions)
    return ("#!/bin/busybox sh\n"
            "if [ \"$1\" != -c ]; then exec /bin/busybox sh \"$@\"; fi\n"
            "script=$(printf '%%s\\n' \"$2\" | /bin/busybox grep -v '^exec sleep')\n"
            "/bin/busybox sh -c \"$script\" | /bin/busybox sed %s\n"
            "exec /bin/busybox sleep 600\n" % sed).encode()


def _import(containerd, reference, layer):
    """Build the probe image with ``layer(busybox)`` as its root file system, named ``reference``; import it."""
    if not _oci.is_static_elf(open("/bin/busybox", "rb").read()):
        pytest.skip("/bin/busybox is not static: apt-get install busybox-static")
    patch = pytest.MonkeyPatch()
    patch.setattr(_oci, "layer_tar", layer)
    patch.setattr(_oci, "image_reference", lambda busybox: reference)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            archive = os.path.join(workdir, "image.tar")
            built = _oci.build_archive("/bin/busybox", os.uname().machine, archive)
            imported = containerd.ctr("images", "import", archive)
            assert imported.returncode == 0, imported.stderr
    finally:
        patch.undo()
    return built


def _layer_with(files, symlinks=None, replace=("bin/sh",)):
    """The probe image's layer, with ``files`` {path: bytes} and ``symlinks`` {path: target} instead of ``replace``."""
    original = _oci.layer_tar

    def layer(busybox):
        raw = io.BytesIO()
        with tarfile.open(fileobj=io.BytesIO(original(busybox))) as source, \
                tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for member in source.getmembers():
                if member.name in replace or member.name in files or member.name in (symlinks or {}):
                    continue
                tar.addfile(member, source.extractfile(member) if member.isfile() else None)
            for name in sorted({os.path.dirname(path) for path in list(files) + list(symlinks or {})} - {"bin", ""}):
                tar.addfile(_oci._entry(name, type=tarfile.DIRTYPE, mode=0o755))
            for name, data in sorted(files.items()):
                tar.addfile(_oci._entry(name, size=len(data), mode=0o755), io.BytesIO(data))
            for name, target in sorted((symlinks or {}).items()):
                tar.addfile(_oci._entry(name, type=tarfile.SYMTYPE, linkname=target, mode=0o777))
        return raw.getvalue()

    return layer


def _isolation(run):
    return run.results("isolation_probe")["localhost"]["isolation"]


def test_runc_and_runsc_show_their_witness(containerd, run_playbook):
    runtimes = ["runc", "runsc"] if shutil.which("runsc") else ["runc"]
    run = run_playbook("verify.yml", local_inventory(containerd, kata_fleet_runtimes=runtimes, **QUICK))
    assert run.status == "successful", run.stdout
    isolation = _isolation(run)
    assert isolation["image_source"] == "built" and isolation["image_digest"].startswith("sha256:")
    runc = isolation["runtimes"]["runc"]
    assert runc["status"] == "ok" and runc["verdict"] == "shared-kernel" and runc["witness"] == "agrees", runc
    assert runc["client"] == "ctr" and runc["image_source"] == "built"
    witness = runc["host_witness"]
    assert witness["class"] == "host-process" and witness["reason"] is None, witness
    assert witness["shim"]["binary"].endswith("containerd-shim-runc-v2") and witness["task_pid"] > 1
    assert witness["binary"] == "/bin/busybox", witness
    assert any(line.startswith("seen from the host: ") for line in runc["evidence"]), runc["evidence"]
    report = run.report()["hosts"]["localhost"]
    reported = report["isolation"]["runtimes"]["runc"] if "isolation" in report else None
    if reported is not None and "host_witness" in reported:
        assert reported["host_witness"]["class"] == "host-process"
    if "runsc" in runtimes:
        runsc = isolation["runtimes"]["runsc"]
        assert runsc["status"] == "ok" and runsc["verdict"] == "user-space-kernel", runsc
        assert runsc["witness"] == "agrees", runsc
        witness = runsc["host_witness"]
        assert witness["class"] == "user-space-kernel", witness
        assert witness["binary"] == os.path.realpath(shutil.which("runsc")), witness
        assert witness["shim"]["binary"].endswith("containerd-shim-runc-v2")
        # The sandbox itself is the witness; its gofer is named beside it when it still runs.
        assert witness["evidence"][0].startswith("seen from the host: ") and "/usr/bin/runsc" in witness["evidence"][0] \
            or os.path.realpath(shutil.which("runsc")) in witness["evidence"][0], witness["evidence"]
    assert containerd.leftovers() == NOTHING_LEFT


@pytest.mark.parametrize("claim, expressions, container_story", [
    ("kata", KATA_SED, "vm-isolated (kata/qemu)"),
    ("gvisor", GVISOR_SED, "user-space-kernel (gvisor)"),
])
def test_an_image_that_rewrites_its_answers_is_contradicted_by_the_host(containerd, run_playbook, claim,
                                                                        expressions, container_story):
    # Named like kata-fleet's own image: the name proves nothing, the digest decides.
    reference = "localhost/kata-fleet/probe:%s" % ("0123456789ab" if claim == "kata" else "ba9876543210")
    built = _import(containerd, reference, _layer_with({"bin/sh": _wrapper(expressions)}))
    try:
        run = run_playbook("verify.yml", local_inventory(containerd, kata_fleet_runtimes=["runc"],
                                                         kata_fleet_probe_image=reference, **QUICK))
        assert run.status == "failed", run.stdout
        isolation = _isolation(run)
        assert isolation["image_source"] == "registry"
        assert isolation["image_digest"] == built["manifest_digest"]
        runc = isolation["runtimes"]["runc"]
        assert runc["status"] == "failed" and runc.get("verdict") is None, runc
        assert runc["witness"] == "contradicted"
        assert runc["error"].startswith("contradicted by the host: "), runc["error"]
        assert runc["contradiction"] == {"container": container_story, "host": "host-process"}, runc
        assert runc["host_witness"]["class"] == "host-process"
        # The rewrite worked inside: the container's own view is the forged one.
        if claim == "kata":
            assert runc["kernel_release"] == "6.12.47" and runc["boot_id"] == FAKE_BOOT_ID
        else:
            assert runc["kernel_release"] == "4.4.0"
        assert run.report()["hosts"]["localhost"]["status"] == "failed"
    finally:
        containerd.ctr("images", "rm", reference)
    assert containerd.leftovers() == NOTHING_LEFT


def test_a_workload_named_like_a_hypervisor_stays_a_host_process(containerd, run_playbook):
    reference = "localhost/kata-fleet/qemu-named:1"
    applets = dict(("bin/" + applet, "/usr/bin/qemu-system-x86_64") for applet in _oci.APPLETS)
    applets["bin/busybox"] = "/usr/bin/qemu-system-x86_64"
    busybox = open("/bin/busybox", "rb").read()
    _import(containerd, reference, _layer_with({"usr/bin/qemu-system-x86_64": busybox}, applets,
                                               replace=tuple(applets)))
    try:
        run = run_playbook("verify.yml", local_inventory(containerd, kata_fleet_runtimes=["runc"],
                                                         kata_fleet_probe_image=reference, **QUICK))
        assert run.status == "successful", run.stdout
        runc = _isolation(run)["runtimes"]["runc"]
        assert runc["verdict"] == "shared-kernel" and runc["witness"] == "agrees", runc
        assert runc["host_witness"]["class"] == "host-process" and runc["host_witness"]["vmm"] is None
        assert runc["host_witness"]["binary"] == "/usr/bin/qemu-system-x86_64", runc["host_witness"]
    finally:
        containerd.ctr("images", "rm", reference)
    assert containerd.leftovers() == NOTHING_LEFT


def test_an_image_under_the_built_name_with_another_digest_is_replaced(containerd, run_playbook):
    reference, _digest = _oci.expected_image("/bin/busybox", os.uname().machine)
    _import(containerd, reference, _layer_with({"bin/sh": _wrapper(KATA_SED)}))
    try:
        run = run_playbook("verify.yml", local_inventory(containerd, kata_fleet_runtimes=["runc"], **QUICK))
        assert run.status == "successful", run.stdout
        assert run.results("probe_image")["localhost"]["changed"] is True
        isolation = _isolation(run)
        assert isolation["image_source"] == "built" and isolation["image_digest"] == _digest
        assert isolation["runtimes"]["runc"]["verdict"] == "shared-kernel"
    finally:
        containerd.ctr("images", "rm", reference)
    assert containerd.leftovers() == NOTHING_LEFT
