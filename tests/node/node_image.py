"""A real systemd node for the tests: a Debian VM image (12 bookworm or 13 trixie) built from Debian's packages, booted under QEMU.

Why: every real fleet node runs systemd, and the development and CI machines
have none, so the roles' systemd path (the packaged containerd.service, the
drop-in, restart and rollback through systemctl) can only run in a VM.

``build_image(suite)`` makes the image of one Debian suite (``SUITES``) once per
recipe (``recipe(suite)`` below, hashed into the cache key with the suite)
under ``cache_dir()`` ($KF_NODE_CACHE, default /var/cache/kata-fleet-node), one
image per suite: mmdebstrap --variant=minbase <suite> with systemd, sshd,
Debian's kernel of that suite and an initramfs that holds only the virtio and
ext4 modules; the packages the roles install are NOT installed but placed in a
local apt repository inside the image (/var/local/kf-repo, the only apt
source), so a run needs no network and still goes through apt. A user ``kf``
with sudo NOPASSWD logs in with the build's own SSH key. The root file system
goes into a sparse raw disk with ``mkfs.ext4 -d``; the kernel and initrd are
copied out to boot with -kernel/-initrd (no boot loader to install or wait for).

``Node`` boots that image under TCG (KVM guests hang on these nested machines)
with -snapshot (the cached disk is never written), user-mode networking with
restrict=on (the guest reaches nothing; only the forwarded SSH port reaches it)
and ends QEMU, the SSH control masters and its temporary folder on success,
failure, timeout and Ctrl-C; QEMU also dies with its parent (PR_SET_PDEATHSIG).

Run as a script to build (or find) the image of a suite and boot it once:
    python3 tests/node/node_image.py [--suite bookworm|trixie] [--boot]
"""

import contextlib
import ctypes
import fcntl
import hashlib
import inspect
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
import apt_sources  # noqa: E402  pylint: disable=wrong-import-position

# The Debian releases the node test builds and boots: 12 and 13 (the current stable).
SUITES = ("bookworm", "trixie")
DEFAULT_SUITE = "bookworm"

# Everything that decides what an image holds, besides its suite and archives (recipe()).
# Any change here is a new cache key for every suite.
_RECIPE = {
    # Installed: what a fresh cloud node of the fleet has (systemd as init, sshd,
    # python3 + python3-apt for Ansible's apt module, sudo for become).
    "include": [
        "systemd-sysv", "dbus", "udev", "openssh-server", "linux-image-amd64", "iproute2",
        "python3", "python3-apt", "sudo", "ca-certificates", "kmod",
    ],
    # NOT installed, only in the image's local apt repository (with the dependencies
    # the image lacks): what bootstrap.yml and the containerd role install from packages.
    "repository": [
        "containerd", "runc", "containernetworking-plugins", "busybox-static", "xz-utils", "zstd", "tar",
        "iproute2",
    ],
    # The initramfs loads only what finding the root disk needs (MODULES=list).
    "initramfs_modules": ["virtio_pci", "virtio_blk", "virtio_net", "ext4"],
    # Not in a node that runs containers: documentation and hardware the VM does not have.
    # bookworm's kernel ships its modules under /lib/modules, trixie's under /usr/lib/modules.
    "path_exclude": [
        "/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*",
    ] + [
        prefix + "/modules/*/kernel/" + tree + "/*"
        for prefix in ("/lib", "/usr/lib")
        for tree in ("sound", "drivers/gpu", "drivers/media", "drivers/infiniband", "drivers/net/wireless",
                     "drivers/staging", "drivers/bluetooth", "drivers/iio")
    ] + ["/usr/lib/firmware/*", "/lib/firmware/*"],
    "path_include": ["/usr/share/doc/*/copyright"],
    "disk_size": "3G",
    "user": "kf",
    "repo_dir": "/var/local/kf-repo",
    "hostname": "kf-node",
    "revision": 2,
}


class UnknownSuite(ValueError):
    pass


def recipe(suite):
    """Everything that decides what the image of ``suite`` holds. Any change here is a new cache key."""
    if suite not in SUITES:
        raise UnknownSuite("no node image recipe for Debian suite %r (known: %s)" % (suite, ", ".join(SUITES)))
    # From the Debian archives this machine's apt already uses (tests name no mirror): the
    # suite, its -updates and, on the security archive, its -security (bookworm-security,
    # trixie-security: both are named so since Debian 11).
    archive, security = apt_sources.debian_archives()
    mirrors = ["deb %s %s main" % (archive, suite), "deb %s %s-updates main" % (archive, suite)]
    if security:
        mirrors.append("deb %s %s-security main" % (security, suite))
    return dict(_RECIPE, suite=suite, mirrors=mirrors)


GUEST_USER = _RECIPE["user"]
# Under TCG a boot takes 35-40 s; this leaves room for a loaded machine.
BOOT_TIMEOUT = 300
QEMU = "qemu-system-x86_64"
# The tools the build and the boot run: (binary, Debian package).
REQUIRED = (("mmdebstrap", "mmdebstrap"), ("apt-ftparchive", "apt-utils"), ("mkfs.ext4", "e2fsprogs"),
            (QEMU, "qemu-system-x86"), ("ssh", "openssh-client"), ("ssh-keygen", "openssh-client"))

# Run inside mmdebstrap with "$1" = the new root (root mode, so chroot works).
_CUSTOMIZE = r"""
set -eu
root="$1"
repo="$root{repo_dir}"
mkdir -p "$repo/partial"
# The repository packages and the dependencies the image lacks, downloaded only.
chroot "$root" apt-get install --download-only --no-install-recommends -y -q \
    -o Dir::Cache::Archives={repo_dir}/ {repository}
rm -rf "$repo/partial" "$repo/lock"
(cd "$repo" && apt-ftparchive packages . > Packages)
echo "deb [trusted=yes] file:{repo_dir} ./" > "$root/etc/apt/sources.list"
rm -f "$root"/etc/apt/sources.list.d/*
# A node that has run `apt-get update` once (cloud-init's package_update does): the index
# knows the repository (mmdebstrap is told to keep it). The test empties it where it wants
# a freshly built image.
chroot "$root" apt-get update -q
"""


def recipe_key(suite):
    """The cache key of ``suite``'s image: a hash of its recipe (the suite and its archives included) and of
    the build steps that turn it into an image."""
    blob = json.dumps(recipe(suite), sort_keys=True) + _CUSTOMIZE + inspect.getsource(_configure) + inspect.getsource(_build)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_dir():
    return os.environ.get("KF_NODE_CACHE") or "/var/cache/kata-fleet-node"


def missing_tools():
    """Debian packages to install for the build and the boot ([] when everything is there)."""
    return sorted(set(package for binary, package in REQUIRED if not shutil.which(binary)))


def _run(argv, check=True, **kwargs):
    return subprocess.run(argv, check=check, **kwargs)


def _write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)


def _configure(root, public_key, spec):
    """The node's configuration: user kf with sudo and the build's key, networkd DHCP on en*, sshd keys only, fstab."""
    user = spec["user"]
    _run(["chroot", root, "useradd", "--create-home", "--shell", "/bin/bash", user])
    _write(os.path.join(root, "etc/sudoers.d", user), "%s ALL=(ALL) NOPASSWD: ALL\n" % user, 0o440)
    ssh_dir = os.path.join(root, "home", user, ".ssh")
    _write(os.path.join(ssh_dir, "authorized_keys"), public_key, 0o600)
    os.chmod(ssh_dir, 0o700)
    _run(["chroot", root, "chown", "-R", "%s:%s" % (user, user), "/home/%s/.ssh" % user])
    _write(os.path.join(root, "etc/ssh/sshd_config.d/kf-node.conf"),
           "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin no\nUseDNS no\n")
    _write(os.path.join(root, "etc/systemd/network/20-en.network"),
           "[Match]\nName=en*\n\n[Network]\nDHCP=ipv4\n")
    _run(["chroot", root, "systemctl", "enable", "systemd-networkd.service"])
    # Nothing waits for "online": the only network is QEMU's user-mode one.
    _run(["chroot", root, "systemctl", "mask", "systemd-networkd-wait-online.service"])
    _write(os.path.join(root, "etc/hostname"), spec["hostname"] + "\n")
    _write(os.path.join(root, "etc/hosts"), "127.0.0.1 localhost\n127.0.1.1 %s\n" % spec["hostname"])
    _write(os.path.join(root, "etc/fstab"), "/dev/vda / ext4 defaults 0 1\n")
    # Every boot of the -snapshot disk is a first boot: systemd makes a machine id.
    _write(os.path.join(root, "etc/machine-id"), "")


@contextlib.contextmanager
def _locked(path):
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Image:
    """A built image in the cache: disk, kernel, initrd, the SSH client key, the host key, build figures."""

    def __init__(self, directory):
        self.directory = directory
        self.disk = os.path.join(directory, "disk.raw")
        self.kernel = os.path.join(directory, "vmlinuz")
        self.initrd = os.path.join(directory, "initrd.img")
        self.client_key = os.path.join(directory, "id_ed25519")
        self.host_key = os.path.join(directory, "ssh_host_ed25519_key.pub")
        with open(os.path.join(directory, "build.json")) as handle:
            self.build = json.load(handle)
        # The Debian suite and the kernel release the image was built with (what its /boot held).
        self.suite = self.build["suite"]
        self.kernel_release = self.build["kernel_release"]


def build_image(suite=DEFAULT_SUITE, log=print):
    """The cached image of ``suite``, built first if it is not in the cache (as root, 1-3 min with network)."""
    key = recipe_key(suite)
    base = cache_dir()
    os.makedirs(base, mode=0o700, exist_ok=True)
    final = os.path.join(base, "%s-%s" % (suite, key))
    with _locked(os.path.join(base, ".lock")):
        if os.path.exists(os.path.join(final, "build.json")):
            return Image(final)
        work = tempfile.mkdtemp(prefix="build-", dir=base)
        try:
            _build(work, recipe(suite), key, log)
            os.rename(work, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        # Images of earlier recipes of this suite are stale: only the current one is kept (one per suite).
        for entry in os.listdir(base):
            if entry.startswith(suite + "-") and entry != os.path.basename(final):
                shutil.rmtree(os.path.join(base, entry), ignore_errors=True)
    return Image(final)


def _build(work, spec, key, log):
    started = time.monotonic()
    root = os.path.join(work, "rootfs")
    client_key = os.path.join(work, "id_ed25519")
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kata-fleet-node-test", "-f", client_key])
    with open(client_key + ".pub") as handle:
        public_key = handle.read()
    setup = ("mkdir -p \"$1/etc/initramfs-tools/conf.d\" \"$1/usr/share/initramfs-tools/modules.d\" && "
             "echo MODULES=list > \"$1/etc/initramfs-tools/conf.d/kf-node.conf\" && "
             "printf '%s\\n' " + " ".join(spec["initramfs_modules"])
             + " > \"$1/usr/share/initramfs-tools/modules.d/kf-node\"")
    customize = _CUSTOMIZE.format(repo_dir=spec["repo_dir"], repository=" ".join(spec["repository"]))
    argv = ["mmdebstrap", "--mode=root", "--variant=minbase", "--format=directory", "--quiet",
            "--skip=cleanup/apt/lists",
            "--include=" + ",".join(spec["include"]), "--setup-hook=" + setup,
            "--customize-hook=" + customize]
    argv += ["--dpkgopt=path-exclude=" + pattern for pattern in spec["path_exclude"]]
    argv += ["--dpkgopt=path-include=" + pattern for pattern in spec["path_include"]]
    argv += [spec["suite"], root] + spec["mirrors"]
    log("node image: mmdebstrap %s into %s" % (spec["suite"], root))
    _run(argv, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C.UTF-8"))
    debootstrapped = time.monotonic()
    _configure(root, public_key, spec)
    shutil.copy(os.path.join(root, "etc/ssh/ssh_host_ed25519_key.pub"), work)
    boot = os.path.join(root, "boot")
    kernels = sorted(name for name in os.listdir(boot) if name.startswith("vmlinuz-"))
    if len(kernels) != 1:
        raise RuntimeError("expected one kernel in the image, found %s" % kernels)
    release = kernels[0][len("vmlinuz-"):]
    shutil.copy(os.path.join(boot, kernels[0]), os.path.join(work, "vmlinuz"))
    shutil.copy(os.path.join(boot, "initrd.img-" + release), os.path.join(work, "initrd.img"))
    rootfs_bytes = int(_run(["du", "-sb", root], capture_output=True, text=True).stdout.split()[0])
    disk = os.path.join(work, "disk.raw")
    _run(["mkfs.ext4", "-q", "-F", "-L", "kf-node", "-d", root, disk, spec["disk_size"]])
    shutil.rmtree(root)
    finished = time.monotonic()
    figures = {
        "suite": spec["suite"], "key": key, "kernel_release": release,
        "mmdebstrap_seconds": round(debootstrapped - started, 1),
        "total_seconds": round(finished - started, 1),
        "rootfs_bytes": rootfs_bytes,
        "disk_allocated_bytes": os.stat(disk).st_blocks * 512,
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _write(os.path.join(work, "build.json"), json.dumps(figures, indent=2) + "\n")
    log("node image: built in %.0f s (%s)" % (finished - started, figures))


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent():
    """QEMU gets SIGKILL when the process that started it dies, even by SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Node:
    """One boot of an Image; ``stop`` ends QEMU and the SSH masters and removes the temporary folder."""

    def __init__(self, image):
        self.image = image
        self.work = tempfile.mkdtemp(prefix="kf-node-", dir="/tmp")
        self.known_hosts = os.path.join(self.work, "known_hosts")
        self.control_path_dir = os.path.join(self.work, "cp")
        self.console = os.path.join(self.work, "console.log")
        os.makedirs(self.control_path_dir, 0o700)
        self.process = None
        self.port = None
        self.boot_seconds = None

    def start(self, timeout=BOOT_TIMEOUT):
        started = time.monotonic()
        with open(self.image.host_key) as handle:
            kind, blob = handle.read().split()[:2]
        with open(self.known_hosts, "w") as handle:
            handle.write("kf-node %s %s\n" % (kind, blob))
        for _attempt in range(3):
            self.port = _free_port()
            self.process = subprocess.Popen(self._qemu_argv(), stdin=subprocess.DEVNULL,
                                            stdout=open(os.path.join(self.work, "qemu.log"), "w"),
                                            stderr=subprocess.STDOUT, start_new_session=True,
                                            preexec_fn=_die_with_parent)
            time.sleep(1)
            if self.process.poll() is None:
                break
            # Another process took the port between the probe and QEMU's bind: another port.
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("QEMU exited with %s: %s\nconsole:\n%s"
                                   % (self.process.returncode, self._tail("qemu.log"), self._tail("console.log")))
            if self.ssh("true", timeout=20, check=False).returncode == 0:
                self.boot_seconds = round(time.monotonic() - started, 1)
                return self
            time.sleep(2)
        raise RuntimeError("no SSH on 127.0.0.1:%d within %d s; console:\n%s"
                           % (self.port, timeout, self._tail("console.log")))

    def _qemu_argv(self):
        return [
            QEMU, "-accel", "tcg", "-cpu", "max", "-m", "2048", "-smp", "2",
            "-nodefaults", "-display", "none", "-no-reboot", "-snapshot",
            "-drive", "file=%s,format=raw,if=virtio" % self.image.disk,
            "-kernel", self.image.kernel, "-initrd", self.image.initrd,
            "-append", "root=/dev/vda rw console=ttyS0 panic=-1",
            "-serial", "file:" + self.console,
            "-nic", "user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22" % self.port,
        ]

    def _tail(self, name, size=3000):
        try:
            with open(os.path.join(self.work, name), errors="replace") as handle:
                return handle.read()[-size:]
        except OSError:
            return ""

    def ssh_options(self):
        """The options every SSH connection to the node uses (Ansible's too): this node's key and host key only."""
        return ["-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", "UserKnownHostsFile=" + self.known_hosts, "-o", "GlobalKnownHostsFile=/dev/null",
                "-o", "HostKeyAlias=kf-node", "-o", "ConnectTimeout=10", "-o", "BatchMode=yes"]

    def ssh(self, *command, **kwargs):
        """Run ``command`` (argv, quoted for the remote shell) on the node as the user kf."""
        timeout = kwargs.pop("timeout", 120)
        check = kwargs.pop("check", False)
        argv = ["ssh"] + self.ssh_options() + ["-i", self.image.client_key, "-p", str(self.port),
                                               "%s@127.0.0.1" % GUEST_USER, "--"]
        argv.append(" ".join(_quote(part) for part in command))
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=check, **kwargs)
        except subprocess.TimeoutExpired as error:
            return subprocess.CompletedProcess(argv, 255, error.stdout or "", "timed out after %s s" % timeout)

    def hostvars(self):
        """Inventory variables that reach the node as kf, becoming root with sudo."""
        return {
            "ansible_connection": "ssh",
            "ansible_host": "127.0.0.1",
            "ansible_port": self.port,
            "ansible_user": GUEST_USER,
            "ansible_become": True,
            "ansible_ssh_private_key_file": self.image.client_key,
            "ansible_ssh_common_args": " ".join(
                option if option.startswith("-") else _quote(option) for option in self.ssh_options()),
            "ansible_python_interpreter": "/usr/bin/python3",
        }

    def envvars(self):
        """Pipelining on, and the SSH control masters (ControlPersist) in this node's folder, so stop() ends them."""
        return {"ANSIBLE_PIPELINING": "1", "ANSIBLE_SSH_CONTROL_PATH_DIR": self.control_path_dir,
                "ANSIBLE_TIMEOUT": "60"}

    def _control_masters(self):
        masters = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as handle:
                    argv = handle.read().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].startswith(b"ssh") and any(self.control_path_dir.encode() in arg for arg in argv):
                masters.append(int(entry))
        return masters

    def stop(self):
        """End QEMU, the control masters and remove the folder; safe to call twice and after a failed start."""
        for pid in self._control_masters():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.work, ignore_errors=True)


def _quote(text):
    return shlex.quote(str(text))


def main(argv):
    suite = DEFAULT_SUITE
    if "--suite" in argv:
        position = argv.index("--suite")
        if position + 1 >= len(argv) or argv[position + 1] not in SUITES:
            sys.exit("--suite takes one of: %s" % ", ".join(SUITES))
        suite = argv[position + 1]
    missing = missing_tools()
    if missing:
        sys.exit("not installed: %s (apt-get install %s)" % (", ".join(missing), " ".join(missing)))
    image = build_image(suite)
    print(json.dumps(image.build, indent=2))
    if "--boot" in argv:
        node = Node(image)
        try:
            node.start()
            print("boot to SSH: %.1f s" % node.boot_seconds)
            print(node.ssh("uname", "-r").stdout.strip(), node.ssh("systemctl", "is-system-running").stdout.strip())
        finally:
            node.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
