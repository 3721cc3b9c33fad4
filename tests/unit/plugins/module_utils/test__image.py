# -*- coding: utf-8 -*-
"""_image: probe_image's work, which verify_host shares: the image decided by its content, never by its name.

containerd is scripted (conftest.FakeModule, ctr_answers); the busybox is a
small static-ELF stand-in, so the reproducible image is built for real (_oci)
without the busybox-static package.  probe_image's main() (reuse of the built
image, the build and import, pulls, a missing busybox) is tested in
plugins/modules/test_modules.py.
"""

import io
import os
import struct
import tarfile

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _image, _oci
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import ContainerdClient, ContainerdError
from conftest import CTR, FakeModule
from ctr_answers import DIGEST, IMAGES_HEADER, NAMESPACE, images_ls

OTHER_DIGEST = "sha256:" + "e" * 64


def _static_elf():
    """The smallest file _oci.is_static_elf accepts: an ELF64 header and one PT_LOAD program header."""
    header = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    return header + struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, 0, 0, 0) + b"kata-fleet unit stand-in"


@pytest.fixture
def busybox(tmp_path):
    path = tmp_path / "busybox"
    path.write_bytes(_static_elf())
    reference, digest = _oci.expected_image(str(path), os.uname().machine)
    return str(path), reference, digest


def _module(busybox_path, check_mode=False, **params):
    module = FakeModule(bins={"ctr": CTR}, check_mode=check_mode)
    module.params = dict({"image": None, "busybox_path": busybox_path, "pull_timeout": 300}, **params)
    return module


def _client(module, socket_path):
    return ContainerdClient(module, socket_path, NAMESPACE, "/nonexistent/kf-unit/config.toml", "ctr")


def test_the_stand_in_is_a_static_elf(busybox):
    with open(busybox[0], "rb") as handle:
        assert _oci.is_static_elf(handle.read())


@pytest.mark.parametrize("recorded, expected", [
    (DIGEST, DIGEST),
    ("sha256:abc", None),                      # not a whole sha256 digest
    ("sha512:" + "a" * 128, None),
    ("SHA256:" + "A" * 64, None),
])
def test_checked_digest_takes_only_a_whole_sha256_digest(socket_path, recorded, expected):
    module = _module("/bin/busybox").on("images", "ls", out=images_ls("ref:1", recorded))
    assert _image.checked_digest(_client(module, socket_path), "ref:1") == expected


def test_checked_digest_of_an_absent_image_is_none(socket_path):
    module = _module("/bin/busybox").on("images", "ls", out=IMAGES_HEADER)
    assert _image.checked_digest(_client(module, socket_path), "ref:1") is None


def test_identify_says_built_only_for_the_digest_built_from_this_busybox(socket_path, busybox):
    path, reference, digest = busybox
    module = _module(path).on("images", "ls", out=images_ls(reference, digest))
    assert _image.identify(_client(module, socket_path), reference, path) == {
        "image_source": "built", "image_digest": digest}
    # the same name with any other content is a registry image, its digest recorded
    module = _module(path).on("images", "ls", out=images_ls(reference, OTHER_DIGEST))
    assert _image.identify(_client(module, socket_path), reference, path) == {
        "image_source": "registry", "image_digest": OTHER_DIGEST}


def test_identify_without_the_busybox_or_an_answer_is_registry(socket_path, busybox, tmp_path):
    path, reference, digest = busybox
    module = _module(path).on("images", "ls", out=images_ls(reference, digest))
    missing = str(tmp_path / "no-busybox")
    assert _image.identify(_client(module, socket_path), reference, missing) == {
        "image_source": "registry", "image_digest": digest}
    assert _image.identify(_client(module, socket_path), reference, None)["image_source"] == "registry"

    class Silent:
        def image_digest(self, reference):
            raise ContainerdError("ctr images ls failed")

    assert _image.identify(Silent(), reference, path) == {"image_source": "registry", "image_digest": None}


def test_run_replaces_an_image_under_our_name_with_other_content(socket_path, busybox):
    path, reference, digest = busybox
    module = _module(path).on("images", "ls", out=[images_ls(reference, OTHER_DIGEST), images_ls(reference, digest)])
    imported = []
    answer = module.run_command

    def run_command(args, **kwargs):
        if "import" in args:  # the archive exists while ctr reads it
            with open(args[-1], "rb") as handle:
                imported.append(handle.read())
        return answer(args, **kwargs)

    module.run_command = run_command
    result = _image.run(module, _client(module, socket_path))
    assert result == {"changed": True, "image": reference, "digest": digest, "source": "built"}
    [archive] = imported
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:  # an OCI archive holding the manifest it was to have
        assert "blobs/sha256/" + digest[len("sha256:"):] in tar.getnames() and "index.json" in tar.getnames()
    [argv] = module.calls_with("images", "import")
    assert not os.path.exists(argv[-1])  # the work folder is gone


def test_run_fails_when_the_name_still_holds_other_content_after_the_import(socket_path, busybox):
    path, reference, digest = busybox
    module = _module(path).on("images", "ls", out=images_ls(reference, OTHER_DIGEST))
    result = _image.run(module, _client(module, socket_path))
    assert result["failed"] is True and result["changed"] is False
    assert "something else keeps writing that name" in result["msg"]
    assert reference in result["msg"] and digest in result["msg"] and OTHER_DIGEST in result["msg"]


def test_check_mode_imports_nothing_and_says_it_would(socket_path, busybox):
    path, reference, digest = busybox
    module = _module(path, check_mode=True).on("images", "ls", out=images_ls(reference, OTHER_DIGEST))
    result = _image.run(module, _client(module, socket_path))
    assert result["changed"] is True and result["image"] == reference and result["source"] == "built"
    assert module.calls_with("import") == []


def test_a_pulled_image_already_there_is_not_pulled_again(socket_path):
    ref = "docker.io/library/alpine:3.19"
    module = _module("/bin/busybox", image=ref).on("images", "ls", out=images_ls(ref))
    result = _image.run(module, _client(module, socket_path))
    assert result == {"changed": False, "image": ref, "digest": DIGEST, "source": "registry"}
    assert module.calls_with("pull") == []


def test_check_mode_pulls_nothing(socket_path):
    ref = "docker.io/library/alpine:3.19"
    module = _module("/bin/busybox", check_mode=True, image=ref).on("images", "ls", out=IMAGES_HEADER)
    result = _image.run(module, _client(module, socket_path))
    assert result == {"changed": True, "image": ref, "digest": None, "source": "registry"}
    assert module.calls_with("pull") == []


@pytest.mark.parametrize("pull_timeout, message", [
    (300, None),
    (0, "pull_timeout must be a positive number of seconds, got 0"),
    (-1, "pull_timeout must be a positive number of seconds, got -1"),
])
def test_problem(pull_timeout, message):
    assert _image.problem({"pull_timeout": pull_timeout}) == message
