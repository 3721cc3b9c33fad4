# -*- coding: utf-8 -*-
"""plugins/module_utils/_oci.py: the probe image archive, built from this machine's busybox."""

import hashlib
import io
import json
import os
import sys
import tarfile

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _oci
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._oci import ImageBuildError

BUSYBOX = "/bin/busybox"


def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


@pytest.fixture(scope="module")
def busybox():
    if not os.path.exists(BUSYBOX):
        pytest.skip("%s is missing (install busybox-static)" % BUSYBOX)
    data = _read(BUSYBOX)
    if not _oci.is_static_elf(data):
        pytest.skip("%s is not statically linked (install busybox-static)" % BUSYBOX)
    return data


def _sha(blob):
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def _members(path):
    with tarfile.open(path) as archive:
        return dict((member.name, archive.extractfile(member).read()) for member in archive.getmembers()
                    if member.isfile())


def test_build_archive_is_deterministic(busybox, tmp_path):
    first = _oci.build_archive(BUSYBOX, "x86_64", str(tmp_path / "a.tar"))
    second = _oci.build_archive(BUSYBOX, "x86_64", str(tmp_path / "b.tar"))
    assert first == second
    assert _read(str(tmp_path / "a.tar")) == _read(str(tmp_path / "b.tar"))
    assert first["size"] == os.path.getsize(str(tmp_path / "a.tar"))


def test_build_archive_layout(busybox, tmp_path):
    destination = str(tmp_path / "probe.tar")
    result = _oci.build_archive(BUSYBOX, "x86_64", destination)
    assert result["reference"] == _oci.image_reference(busybox)
    assert result["reference"].startswith(_oci.REPOSITORY + ":")

    files = _members(destination)
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    # every blob is named by the digest of its content
    blobs = dict((name, blob) for name, blob in files.items() if name.startswith("blobs/sha256/"))
    assert len(blobs) == 3
    for name, blob in blobs.items():
        assert hashlib.sha256(blob).hexdigest() == name.rpartition("/")[2]

    index = json.loads(files["index.json"])
    assert index["schemaVersion"] == 2
    [entry] = index["manifests"]
    assert entry["annotations"]["io.containerd.image.name"] == result["reference"]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == result["reference"].rpartition(":")[2]
    assert entry["platform"] == {"architecture": "amd64", "os": "linux"}
    assert entry["digest"] == result["manifest_digest"]

    manifest_blob = files["blobs/sha256/" + entry["digest"][7:]]
    assert entry["size"] == len(manifest_blob)
    manifest = json.loads(manifest_blob)
    assert manifest["mediaType"] == _oci.MEDIA_MANIFEST
    config_blob = files["blobs/sha256/" + manifest["config"]["digest"][7:]]
    assert manifest["config"]["size"] == len(config_blob)
    [layer_desc] = manifest["layers"]
    assert layer_desc["mediaType"] == _oci.MEDIA_LAYER
    layer = files["blobs/sha256/" + layer_desc["digest"][7:]]
    assert layer_desc["size"] == len(layer)
    # Stored uncompressed: the layer's digest is its diff id, from busybox's bytes alone.
    assert layer_desc["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
    config = json.loads(config_blob)
    assert config["architecture"] == "amd64" and config["os"] == "linux"
    assert config["rootfs"] == {"type": "layers", "diff_ids": [_sha(layer)]}
    assert config["config"]["Cmd"] == ["/bin/sh"]

    with tarfile.open(fileobj=io.BytesIO(layer)) as rootfs:
        members = dict((member.name, member) for member in rootfs.getmembers())
        busybox_member = members["bin/busybox"]
        assert busybox_member.isfile() and busybox_member.mode == 0o755
        assert rootfs.extractfile(busybox_member).read() == busybox
        for applet in _oci.APPLETS:
            link = members["bin/" + applet]
            assert link.issym() and link.linkname == "busybox", applet
        for directory in _oci.DIRECTORIES:
            assert members[directory].isdir()
        assert all(member.mtime == 0 and member.uid == 0 and member.gid == 0 for member in members.values())


@pytest.mark.parametrize("machine,arch", [("aarch64", "arm64")])
def test_build_archive_other_architectures(busybox, tmp_path, machine, arch):
    destination = str(tmp_path / "probe.tar")
    _oci.build_archive(BUSYBOX, machine, destination)
    index = json.loads(_members(destination)["index.json"])
    assert index["manifests"][0]["platform"]["architecture"] == arch


def test_is_static_elf():
    python = _read(os.path.realpath(sys.executable))
    assert python[:4] == b"\x7fELF"
    assert _oci.is_static_elf(python) is False  # has a PT_INTERP: needs ld.so
    assert _oci.is_static_elf(b"#!/bin/sh\necho hi\n") is False
    assert _oci.is_static_elf(b"") is False
    assert _oci.is_static_elf(os.urandom(64).replace(b"\x7f", b"\x00")) is False


def test_is_static_elf_busybox(busybox):
    assert _oci.is_static_elf(busybox) is True


def test_build_archive_bad_path(tmp_path):
    missing = str(tmp_path / "no-busybox")
    with pytest.raises(ImageBuildError) as error:
        _oci.build_archive(missing, "x86_64", str(tmp_path / "out.tar"))
    assert missing in str(error.value)
    assert "busybox-static" in str(error.value)
    assert not (tmp_path / "out.tar").exists()


def test_build_archive_dynamic_binary(tmp_path):
    with pytest.raises(ImageBuildError) as error:
        _oci.build_archive(sys.executable, "x86_64", str(tmp_path / "out.tar"))
    assert "statically linked" in str(error.value)
    assert "busybox-static" in str(error.value)
    assert not (tmp_path / "out.tar").exists()


def test_build_archive_unknown_machine(busybox, tmp_path):
    with pytest.raises(ImageBuildError) as error:
        _oci.build_archive(BUSYBOX, "mips64", str(tmp_path / "out.tar"))
    assert "mips64" in str(error.value)
    assert "x86_64" in str(error.value)  # lists what is supported
    assert not (tmp_path / "out.tar").exists()


def test_image_reference_follows_content():
    first = _oci.image_reference(b"busybox one")
    assert first == _oci.image_reference(b"busybox one")
    assert first != _oci.image_reference(b"busybox two")
    repository, _sep, tag = first.rpartition(":")
    assert repository == _oci.REPOSITORY
    assert len(tag) == 12 and all(char in "0123456789abcdef" for char in tag)


def test_is_static_elf_truncated_header():
    assert _oci.is_static_elf(b"\x7fELF") is False


def test_is_static_elf_truncated_dynamic_binary():
    python = _read(os.path.realpath(sys.executable))
    assert _oci.is_static_elf(python) is False
    assert _oci.is_static_elf(python[:64]) is False
