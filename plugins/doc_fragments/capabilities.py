# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of each capability, shared by its own module and verify_host (which runs them all)."""


class ModuleDocFragment:

    # probe_image's options (O(image) is a registry image to pull instead of building one).
    IMAGE = r"""
options:
  image:
    description:
      - A registry image to pull instead of building the probe image. It must provide
        C(/bin/sh) and the busybox applets the probes use (alpine does).
    type: str
    required: false
  busybox_path:
    description: The static busybox binary laid into the built image.
    type: path
    default: /bin/busybox
  pull_timeout:
    description: Seconds a pull may take before it is abandoned.
    type: int
    default: 300
"""

    # startup_bench's options.
    STARTUP = r"""
options:
  runs:
    description: Counted runs per handler. At least 1.
    type: int
    default: 10
  warmup:
    description: Uncounted runs per handler before the counted ones (the first also reads the guest's boot time).
    type: int
    default: 2
  phase_runs:
    description: Extra runs per handler that time each phase separately; V(0) skips the phase split.
    type: int
    default: 3
"""

    # http_latency's options (its O(image) is the probe modules' own).
    HTTP = r"""
options:
  url:
    description: Measure this http:// or https:// URL instead of starting a server under each handler.
    type: str
  requests:
    description: Requests per handler (or to O(url)). At least 1.
    type: int
    default: 50
  concurrency:
    description: Requests in flight at once. At least 1, at most O(requests).
    type: int
    default: 1
  request_timeout:
    description: Seconds one request may take before it counts as a V(timeout).
    type: float
    default: 2.0
  network_cidr:
    description:
      - IPv4 network the probe networks are cut from, a /30 per handler (host side first address,
        container second). Link-local by default so it cannot collide with routed networks.
      - Each /30 is the first one that no address of the host and no live kata-fleet run on the host
        uses, so concurrent runs get different ones; check mode shows the first candidates.
    type: str
    default: 169.254.77.0/24
  port:
    description: Port the server listens on inside its network namespace.
    type: int
    default: 80
"""

    # workload_bench's options (its O(image) is the probe modules' own; the host run uses O(busybox_path)).
    WORKLOAD = r"""
options:
  workloads:
    description:
      - The workloads to measure, each in one container per handler and on the host.
      - V(cpu) is the shell's own arithmetic loop (no system call while it runs); V(syscall) copies bytes one at
        a time with C(dd bs=1) from C(/dev/zero) to C(/dev/null); V(rootfs_io) and V(tmpfs_io) write 1 MiB
        files with fsync, read them back and unlink them, in the container's own root file system (C(/tmp))
        and in its C(/dev/shm) tmpfs.
    type: list
    elements: str
    choices: [cpu, syscall, rootfs_io, tmpfs_io]
    default: [cpu, syscall, rootfs_io, tmpfs_io]
  workload_repeats:
    description: Counted repeats of each workload in its one container (after one uncounted warm-up). 1 to 50.
    type: int
    default: 7
  workload_repeat_seconds:
    description:
      - How long one repeat takes on the host. The counts are calibrated on the host to this, and every
        container runs the same counts. 0.01 to 5.
    type: float
    default: 0.1
  workload_budget:
    description:
      - Seconds of measurement each workload may take in one container (and on the host). A runtime that
        would exceed it stops after the repeats it completed and the workload is marked V(over_budget).
        Each container is killed after the smaller of O(timeout) and twice this plus 20 seconds.
    type: float
    default: 3.0
  workload_scratch:
    description:
      - Folder on the host where the host's V(rootfs_io) baseline writes its files (a fresh folder inside it,
        removed afterwards). For a like-for-like baseline, use the file system that holds containerd's
        snapshots (C(/var/lib/containerd)). The host's V(tmpfs_io) baseline uses C(/dev/shm).
    type: path
    default: /var/tmp
"""
