# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the probe image: one layer holding a static busybox, as an OCI archive.

Fleets are often air-gapped, so the image is made on the target from the
distribution's busybox-static package instead of being pulled.  The output is
byte-for-byte reproducible (fixed mtimes, owners and ordering), so the image
reference can carry a content hash, and the manifest digest containerd records
for the image is known before it is built (``expected_image``): an image is
kata-fleet's own when its digest is that one, never because of its name.
"""

import hashlib
import io
import json
import os
import tarfile

# Every applet the probe scripts call, in the probe image and in alpine alike.
APPLETS = (
    "cat", "date", "dmesg", "echo", "grep", "head", "httpd", "ip", "ls", "mkdir",
    "nproc", "printf", "sh", "sleep", "true", "uname", "wc",
)
DIRECTORIES = ("bin", "dev", "etc", "proc", "sys", "tmp", "www")
BUILDER_VERSION = "2"  # 2: the layer stored uncompressed (one image tag per layer format)
GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "ppc64le": "ppc64le", "s390x": "s390x"}
REPOSITORY = "localhost/kata-fleet/probe"

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
# The layer is stored uncompressed: its digest then depends on busybox's bytes alone (not on the zlib of
# the host that computes it), and expected_image costs a SHA-256 instead of a gzip -9 of about 2 MiB on
# every verify run (0.27 s of the module's 0.49 s of Python on this machine, bench/README.md 9.3).
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"


class ImageBuildError(Exception):
    """The image cannot be built; the message says why and what to install."""


def is_static_elf(data):
    """True when ``data`` is a whole ELF executable without a PT_INTERP (dynamic loader) header."""
    if len(data) < 0x40 or data[:4] != b"\x7fELF":
        return False
    is64 = data[4] == 2
    endian = "little" if data[5] == 1 else "big"

    def number(offset, size):
        return int.from_bytes(data[offset:offset + size], endian)

    phoff = number(0x20, 8) if is64 else number(0x1C, 4)
    phentsize = number(0x36, 2) if is64 else number(0x2A, 2)
    phnum = number(0x38, 2) if is64 else number(0x2C, 2)
    if phnum == 0 or phoff + phnum * phentsize > len(data):
        return False
    for index in range(phnum):
        if number(phoff + index * phentsize, 4) == 3:  # PT_INTERP
            return False
    return True


def _entry(name, **attributes):
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    for key, value in attributes.items():
        setattr(info, key, value)
    return info


def _digest(blob):
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def layer_tar(busybox):
    """The uncompressed root filesystem layer."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in DIRECTORIES:
            tar.addfile(_entry(directory, type=tarfile.DIRTYPE, mode=0o755))
        tar.addfile(_entry("bin/busybox", size=len(busybox), mode=0o755), io.BytesIO(busybox))
        for applet in APPLETS:
            tar.addfile(_entry("bin/" + applet, type=tarfile.SYMTYPE, linkname="busybox", mode=0o777))
    return raw.getvalue()


def image_reference(busybox):
    """A tag derived from the busybox binary and the builder, so changing either makes a new image."""
    tag = hashlib.sha256(busybox + BUILDER_VERSION.encode()).hexdigest()[:12]
    return "%s:%s" % (REPOSITORY, tag)


def read_busybox(busybox_path, static=True):
    """The bytes of the busybox at ``busybox_path`` (a static one unless ``static`` is false); ImageBuildError
    saying what to install otherwise."""
    try:
        with open(busybox_path, "rb") as handle:
            busybox = handle.read()
    except (IOError, OSError) as error:
        raise ImageBuildError("cannot read busybox at %s (%s): install the busybox-static package "
                              "or set busybox_path" % (busybox_path, error))
    if static and not is_static_elf(busybox):
        raise ImageBuildError("%s is not a statically linked executable, so it cannot run alone in the "
                              "probe image: install busybox-static (Debian/Ubuntu) or point busybox_path at a "
                              "static busybox" % busybox_path)
    return busybox


def image_blobs(busybox, machine):
    """Everything the image is made of, computed in memory and byte-for-byte reproducible.

    Returns {reference, manifest_digest, files}: ``files`` are the (name, bytes) of
    the OCI archive; ``manifest_digest`` is what containerd records as the
    image's digest after ``ctr images import``, so the same busybox on the
    same architecture always names the same digest, whatever the image is called.
    """
    architecture = GO_ARCH.get(machine)
    if architecture is None:
        raise ImageBuildError("unsupported architecture %s (supported: %s)" % (machine, ", ".join(sorted(GO_ARCH))))
    reference = image_reference(busybox)
    layer = layer_tar(busybox)
    config = json.dumps({
        "architecture": architecture,
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [_digest(layer)]},
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": _digest(config), "size": len(config)},
        "layers": [{"mediaType": MEDIA_LAYER, "digest": _digest(layer), "size": len(layer)}],
    }, sort_keys=True).encode()
    index = json.dumps({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": MEDIA_MANIFEST,
            "digest": _digest(manifest),
            "size": len(manifest),
            "platform": {"architecture": architecture, "os": "linux"},
            "annotations": {
                "io.containerd.image.name": reference,
                "org.opencontainers.image.ref.name": reference.rpartition(":")[2],
            },
        }],
    }, sort_keys=True).encode()
    files = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index)]
    files += [("blobs/sha256/" + _digest(blob)[7:], blob) for blob in (layer, config, manifest)]
    return {"reference": reference, "manifest_digest": _digest(manifest), "files": files}


_EXPECTED = {}


def expected_image(busybox_path, machine):
    """(reference, manifest digest) of the image build_archive makes from ``busybox_path`` on ``machine``.

    Computed without writing anything (and once per busybox content and
    machine in a process): what an image must be to count as kata-fleet's own.
    """
    busybox = read_busybox(busybox_path, static=False)
    key = (hashlib.sha256(busybox).hexdigest(), machine)
    if key not in _EXPECTED:
        blobs = image_blobs(busybox, machine)
        _EXPECTED[key] = (blobs["reference"], blobs["manifest_digest"])
    return _EXPECTED[key]


def build_archive(busybox_path, machine, destination):
    """Write the OCI archive to ``destination``; return its reference, manifest digest and size."""
    blobs = image_blobs(read_busybox(busybox_path), machine)
    with tarfile.open(destination, "w") as archive:
        for name, blob in blobs["files"]:
            archive.addfile(_entry(name, size=len(blob), mode=0o644), io.BytesIO(blob))
    return {"reference": blobs["reference"], "manifest_digest": blobs["manifest_digest"],
            "size": os.path.getsize(destination)}
