"""A local mirror of release archives in the upstream layouts, for the role tests.

GitHub release downloads are not reachable here, so the tests serve their own
mirror, from a directory (file:// URLs and controller-side files) and over HTTP
on loopback.  What is in it, plainly:

* containerd: the REAL containerd 2.x binaries (containerd, ctr,
  containerd-shim-runc-v2) from Debian sid's package, repackaged into the
  upstream archive layout (``containerd-<v>-linux-<arch>.tar.gz`` with
  ``bin/``).  They run here, so the archive method and configuration schema 3
  are tested against a real containerd 2.x.  ``fetch_sid_containerd`` gets the
  .deb with apt-get download (.ci/run calls it before the tests).
* runc: the host's real runc binary, published as ``runc.<arch>``.
* CNI plugins: the host's real plugins (/usr/lib/cni) as
  ``cni-plugins-linux-<arch>-v<v>.tgz``.
* nerdctl and Kata: STAND-INS.  Archives in the upstream layouts (nerdctl
  minimal and full; Kata 3.x ``.tar.xz`` up to 3.20, 3.x ``.tar.zst`` from
  3.21, 4.x split into kata-static and kata-go-static) whose executables are
  small shell scripts printing what the real ones print for ``--version``.
  They exercise download, checksum refusal, unpack, configuration, upgrade and
  removal; they cannot run a container.
"""

import functools
import glob
import hashlib
import http.server
import io
import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
import threading

import apt_sources  # pylint: disable=wrong-import-order  # tests/integration, beside this file

ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
SID_CACHE = os.environ.get("KATA_FLEET_SID_CACHE", "/var/cache/kata-fleet-tests/sid")


def sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _apt_options(root):
    return ["-o", "Dir::Etc::sourcelist=%s" % os.path.join(root, "sources.list"),
            "-o", "Dir::Etc::sourceparts=/dev/null",
            "-o", "Dir::State::Lists=%s" % os.path.join(root, "lists"),
            "-o", "Dir::Cache=%s" % os.path.join(root, "cache"),
            "-o", "APT::Sandbox::User=root"]


def fetch_sid_containerd(cache=SID_CACHE):
    """Debian sid's containerd package (a real containerd 2.x), unpacked; returns its usr/bin."""
    bin_dir = os.path.join(cache, "root", "usr", "bin")
    if os.path.exists(os.path.join(bin_dir, "containerd")):
        return bin_dir
    os.makedirs(os.path.join(cache, "lists", "partial"), exist_ok=True)
    os.makedirs(os.path.join(cache, "cache", "archives", "partial"), exist_ok=True)
    with open(os.path.join(cache, "sources.list"), "w") as handle:
        # sid from the Debian archive this machine's apt already uses (tests name no mirror)
        handle.write("deb %s sid main\n" % apt_sources.debian_archives()[0])
    options = _apt_options(cache)
    subprocess.run(["apt-get"] + options + ["update", "-qq"], check=True, capture_output=True, timeout=600)
    subprocess.run(["apt-get"] + options + ["download", "-qq", "containerd"], check=True, cwd=cache,
                   capture_output=True, timeout=600)
    deb = sorted(glob.glob(os.path.join(cache, "containerd_*.deb")))[-1]
    subprocess.run(["dpkg-deb", "-x", deb, os.path.join(cache, "root")], check=True)
    return bin_dir


def _add(archive, name, data, mode=0o755):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    archive.addfile(info, io.BytesIO(data))


def _add_file(archive, name, path):
    with open(path, "rb") as handle:
        _add(archive, name, handle.read(), 0o755)


def _write_tar(path, members):
    """members: [(name, bytes)]; compression by suffix (.tar.gz/.tgz, .tar.xz, .tar.zst)."""
    if path.endswith(".tar.zst"):
        plain = path[:-4]
        _write_tar(plain, members)
        subprocess.run(["zstd", "-q", "--rm", "-f", plain, "-o", path], check=True)
        return path
    if path.endswith(".tar"):
        mode = "w"
    elif path.endswith(".tar.xz"):
        mode = "w:xz"
    else:
        mode = "w:gz"
    with tarfile.open(path, mode) as archive:
        for name, data in members:
            _add(archive, name, data)
    return path


def script(text):
    return ("#!/bin/sh\n# kata-fleet test STAND-IN, not the real program\n%s\n" % text).encode()


class Mirror:
    """The mirror directory, its checksums, and an HTTP server on loopback."""

    def __init__(self, root):
        self.root = root
        self.sums = {}
        self.server = None
        self.url = None

    def path(self, *parts):
        full = os.path.join(self.root, *parts)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        return full

    def _record(self, path):
        self.sums[os.path.relpath(path, self.root)] = "sha256:" + sha256(path)
        return path

    # -- containerd, runc, CNI: real binaries in the upstream layouts ---------

    def containerd(self, version, sid_bin_dir):
        path = self.path("containerd", "v%s" % version, "containerd-%s-linux-%s.tar.gz" % (version, ARCH))
        with tarfile.open(path, "w:gz") as archive:
            for name in ("containerd", "ctr", "containerd-shim-runc-v2"):
                _add_file(archive, "bin/" + name, os.path.join(sid_bin_dir, name))
        return self._record(path)

    def runc(self, version, binary="/usr/sbin/runc"):
        path = self.path("runc", "v%s" % version, "runc.%s" % ARCH)
        shutil.copyfile(binary, path)
        return self._record(path)

    def cni(self, version, plugins_dir="/usr/lib/cni"):
        path = self.path("cni", "v%s" % version, "cni-plugins-linux-%s-v%s.tgz" % (ARCH, version))
        with tarfile.open(path, "w:gz") as archive:
            for name in sorted(os.listdir(plugins_dir)):
                _add_file(archive, "./" + name, os.path.join(plugins_dir, name))
        return self._record(path)

    # -- nerdctl and Kata: stand-ins in the upstream layouts -----------------

    def nerdctl(self, version, flavour="minimal"):
        version_script = script('echo "nerdctl version %s"' % version)
        if flavour == "minimal":
            name = "nerdctl-%s-linux-%s.tar.gz" % (version, ARCH)
            members = [("nerdctl", version_script),
                       ("containerd-rootless.sh", script("exit 0")),
                       ("containerd-rootless-setuptool.sh", script("exit 0"))]
        else:
            name = "nerdctl-full-%s-linux-%s.tar.gz" % (version, ARCH)
            members = [("bin/nerdctl", version_script), ("bin/buildkitd", script("exit 0")),
                       ("bin/containerd", script("exit 0")), ("libexec/cni/bridge", script("exit 0")),
                       ("share/doc/nerdctl-full/README.md", b"stand-in\n")]
        return self._record(_write_tar(self.path("nerdctl", "v%s" % version, name), members))

    def kata(self, version):
        """kata-static in the layout of ``version``; for 4.x also kata-go-static. Returns the paths."""
        major, minor = [int(part) for part in version.split(".")[:2]]
        suffix = "tar.zst" if (major, minor) >= (3, 21) else "tar.xz"
        rust = script('echo "Kata Containers containerd shim (Rust): id: \\"io.containerd.kata.v2\\", '
                      'version: %s, commit: 0000000"' % version)
        go = script('echo "Kata Containers containerd shim (Golang): id: \\"io.containerd.kata.v2\\", '
                    'version: %s, commit: 0000000"' % version)
        defaults = "./opt/kata/share/defaults/kata-containers/"
        rust_configs = [(defaults + "runtime-rs/configuration-%s.toml" % name,
                         ("# stand-in runtime-rs configuration (%s) of Kata %s\n" % (name, version)).encode())
                        for name in ("dragonball", "qemu-runtime-rs", "cloud-hypervisor", "rs-fc")]
        go_configs = [(defaults + "configuration-%s.toml" % name,
                       ("# stand-in Go runtime configuration (%s) of Kata %s\n" % (name, version)).encode())
                      for name in ("qemu", "clh", "fc")]
        common = [("./opt/kata/share/kata-containers/vmlinux-%s.container" % version, b"stand-in kernel\n"),
                  ("./opt/kata/share/kata-containers/kata-containers.img", b"stand-in image\n"),
                  ("./opt/kata/bin/version-%s-only" % version, b"stale-file probe\n")]
        folder = self.path("kata", version, "x")[:-2]
        paths = []
        if major >= 4:
            paths.append(_write_tar(os.path.join(folder, "kata-static-%s-%s.%s" % (version, ARCH, suffix)),
                                    [("./opt/kata/runtime-rs/bin/containerd-shim-kata-v2", rust)]
                                    + rust_configs + common))
            paths.append(_write_tar(os.path.join(folder, "kata-go-static-%s-%s.%s" % (version, ARCH, suffix)),
                                    [("./opt/kata/bin/containerd-shim-kata-v2", go)] + go_configs))
        else:
            paths.append(_write_tar(os.path.join(folder, "kata-static-%s-%s.%s" % (version, ARCH, suffix)),
                                    [("./opt/kata/runtime-rs/bin/containerd-shim-kata-v2", rust),
                                     ("./opt/kata/bin/containerd-shim-kata-v2", go)]
                                    + rust_configs + go_configs + common))
        return [self._record(path) for path in paths]

    def checksum(self, path):
        return self.sums[os.path.relpath(path, self.root)]

    # -- serving -----------------------------------------------------------

    def serve(self):
        handler = functools.partial(_QuietHandler, directory=self.root)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        return self.url

    def close(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests = []

    def log_message(self, *args):
        _QuietHandler.requests.append(self.path)


def new_mirror():
    return Mirror(tempfile.mkdtemp(prefix="kf-mirror-"))


if __name__ == "__main__":
    print(fetch_sid_containerd())
