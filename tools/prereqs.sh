#!/usr/bin/env bash
# What `make test` needs on the machine besides the venv, checked (default) or
# installed (--install, as root; .ci/run does this on a fresh machine).
#
# The integration, role and fleet tests run a real containerd, runc, network
# namespaces, sshd and chromium; without them they would skip, and a green
# `make test` would have tested only sanity, lint and unit. So a missing piece
# fails here, naming it and the line that installs it, before anything runs.
#
#   tools/prereqs.sh             check; exit 1 naming what is missing
#   tools/prereqs.sh --install   apt-get install what is missing, fetch the sid containerd cache
#   ALLOW_SKIP=1 tools/prereqs.sh   report what is missing, exit 0 (the tests that need it skip,
#                                   and `make test` lists them at the end)
set -euo pipefail

root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd -- "$root"

# Debian packages, one fact in one place (.ci/run installs them through this script):
#   containerd runc containernetworking-plugins  the real containers (integration, role, fleet tests)
#   busybox-static        fills the probe image
#   iproute2 procps util-linux  network namespaces, veths, tc (fleet faults), unshare/nsenter
#   openssh-client        ssh to unreachable and simulated hosts; ssh-keygen signs the evidence bundle
#   openssh-server        the sshd each simulated fleet host runs (tests/fleet; no ssh service needed)
#   chromium fonts-liberation  renders report.html in the browser test
#   xz-utils zstd         unpack the Kata release archives (role tests)
#   runsc                 gVisor, the second real runtime make verify and the tests run live
#   qemu-system-x86       boots the real VM guest of the verdict test (TCG) and the systemd node test
#   cpio                  reads the VM guest's initramfs back (test_qemu_guest cross-checks our archive writer)
#   mmdebstrap apt-utils e2fsprogs  build the systemd node test's Debian 12 image (tests/node) and its
#                         local apt repository (apt-ftparchive), then the ext4 disk (mkfs.ext4 -d)
#   python3-venv make git ca-certificates shellcheck  the venv, the Makefile, sanity's file list
PACKAGES=(
    containerd runc containernetworking-plugins busybox-static
    iproute2 procps util-linux openssh-client openssh-server
    chromium fonts-liberation xz-utils zstd runsc qemu-system-x86 cpio mmdebstrap apt-utils e2fsprogs
    python3-venv make git ca-certificates shellcheck
)
# Debian sid's containerd 2.x, which the role tests repackage as an upstream
# release archive (tests/integration/release_mirror.py).
SID_CACHE="${KATA_FLEET_SID_CACHE:-/var/cache/kata-fleet-tests/sid}"

install=false
case "${1:-}" in
    --install) install=true ;;
    "") ;;
    *) printf 'usage: %s [--install]\n' "$0" >&2; exit 2 ;;
esac

missing_packages() {
    local package status
    for package in "${PACKAGES[@]}"; do
        status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$package" 2>/dev/null || true)"
        [[ "$status" == ii* ]] || printf '%s\n' "$package"
    done
}

# The kernel the real VM guest test boots (tests/integration/qemu_guest.py looks in
# build/guest-kernel first, then /boot): fetched from the distribution's package, no install hooks.
guest_kernel() {
    compgen -G "build/guest-kernel/vmlinuz-*" || compgen -G "/boot/vmlinuz-*"
}

problems=()
if [[ ! -r /etc/debian_version ]] || ! command -v dpkg-query >/dev/null; then
    problems+=("not a Debian or Ubuntu machine: the tests and the roles need apt and dpkg")
else
    if $install; then
        [[ $(id -u) -eq 0 ]] || { printf 'prereqs: --install needs root (sudo %s --install)\n' "$0" >&2; exit 1; }
        mapfile -t missing < <(missing_packages)
        if ((${#missing[@]})); then
            printf 'prereqs: apt-get install %s\n' "${missing[*]}"
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq
            apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        fi
        if [[ ! -x "$SID_CACHE/root/usr/bin/containerd" ]]; then
            printf 'prereqs: fetching Debian sid'"'"'s containerd into %s\n' "$SID_CACHE"
            python3 tests/integration/release_mirror.py >/dev/null
        fi
        if ! guest_kernel >/dev/null; then
            printf 'prereqs: fetching the real VM guest'"'"'s kernel into build/guest-kernel\n'
            python3 tests/integration/qemu_guest.py --fetch-kernel >/dev/null
        fi
    fi
    mapfile -t missing < <(missing_packages)
    if ((${#missing[@]})); then
        problems+=("Debian packages missing: ${missing[*]}
      install: apt-get install -y --no-install-recommends ${missing[*]}   (or, as root: make prereqs)")
    fi
    if [[ ! -x "$SID_CACHE/root/usr/bin/containerd" ]]; then
        problems+=("no Debian sid containerd 2.x cache in $SID_CACHE (the role tests' containerd 2.x)
      install: python3 tests/integration/release_mirror.py   (as root, needs Debian's package mirror; or: make prereqs)")
    fi
fi
if ! guest_kernel >/dev/null; then
    problems+=("no kernel for the real VM guest test (tests/integration/test_qemu_guest.py)
      install: python3 tests/integration/qemu_guest.py --fetch-kernel   (or: make prereqs)")
fi
if [[ $(id -u) -ne 0 ]]; then
    problems+=("not root: the integration, role and fleet tests run containerd, network namespaces and sshd
      run: sudo make test")
fi

if ((${#problems[@]} == 0)); then
    printf 'prereqs: everything make test needs is here\n'
    exit 0
fi
printf 'prereqs: make test cannot run every test on this machine:\n' >&2
printf '  - %s\n' "${problems[@]}" >&2
if [[ "${ALLOW_SKIP:-0}" == 1 ]]; then
    printf 'prereqs: ALLOW_SKIP=1: carrying on; the tests that need these skip and are listed at the end\n' >&2
    exit 0
fi
printf 'prereqs: fix the above, or run "make test ALLOW_SKIP=1" to skip what needs it (listed at the end)\n' >&2
exit 1
