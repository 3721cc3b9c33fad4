"""What a scripted ctr is asked and answers, shared by the module tests (see conftest.FakeModule)."""

import json

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _owner

CTR = "/usr/bin/ctr"
NAMESPACE = "kf-unit-ns"
IMAGE = "localhost/kata-fleet/probe:090a4352f97b"
# A real `ctr images ls` digest of the probe image (recorded when its layer was still gzip; tests that need the
# digest this code builds compute it with _oci.expected_image).
DIGEST = "sha256:5995aaa3770e923f1c76f567c3f1124c62904553cb2cd713b50404ec362bb3f4"
IMAGES_HEADER = ("REF                                     TYPE                                       DIGEST"
                 "                                                                  SIZE       PLATFORMS   LABELS \n")
RUN_ID = "unit-1"
# The instance tag the module tests pin (conftest.patched_ansible_module): kf-<TAG>-<run id>-<handler>-<role>.
TAG = "5ca1ab1e"
KATA_CONFIG = "/opt/kata/share/defaults/kata-containers/runtime-rs/configuration-dragonball.toml"
KATA_TABLES = '''
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata]
  runtime_type = "io.containerd.kata.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata-dragonball]
  runtime_type = "io.containerd.kata.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata-dragonball.options]
    ConfigPath = "%s"
''' % KATA_CONFIG


def images_ls(ref, digest=DIGEST):
    """``ctr images ls name==<ref>`` when the image is there."""
    return IMAGES_HEADER + "%s application/vnd.oci.image.manifest.v1+json %s 1004.6 KiB linux/amd64 -      \n" % (
        ref, digest)


def ctr(address, *args):
    return [CTR, "--address", address, "--namespace", NAMESPACE] + list(args)


def cleanup(address, name):
    """The argv the client's remove() issues, in order: it reads the container's owner label first."""
    return [ctr(address, "containers", "info", name),
            ctr(address, "tasks", "kill", "--signal", "SIGKILL", name),
            ctr(address, "tasks", "delete", "--force", name),
            ctr(address, "containers", "delete", name),
            ctr(address, "snapshots", "delete", name)]


def script_containerd(fake, fixture_text, address, kata_tables=KATA_TABLES):
    """Make ``fake`` a containerd 1.6 with runc and the Kata handlers, the probe image present, nothing to sweep."""
    fake.on("--namespace", NAMESPACE, "version", out=fixture_text("ctr_1.6_version.txt"))
    fake.on("config", "dump", out=fixture_text("containerd_1.6_config_dump.toml") + kata_tables)
    fake.on("images", "ls", out=images_ls(IMAGE))
    fake.on("containers", "list", "--quiet", out="")
    fake.on("snapshots", "list", out="KEY PARENT KIND\n")
    # Any container asked about is one this module run made (its own owner token), so remove() may remove it.
    fake.on("containers", "info", out=json.dumps({"Labels": {
        "io.kata-fleet.run-id": RUN_ID, "io.kata-fleet.owner": _owner.owner_token(),
        "io.kata-fleet.expires": str(_owner.expires_at(3600))}}))
    fake.address = address
    return fake
