# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host memory one running container costs, by role, as Kata's density metrics count it.

Everything below the container's shim is the container's cost on the host:
the shim itself, for Kata the VMM (QEMU, Cloud Hypervisor, Firecracker; the
Dragonball VMM lives inside the Rust shim) and virtiofsd, and for runc the
workload's own processes.  PSS splits shared pages among their users.
"""

from ansible_collections.kata_fleet.runtimes.plugins.module_utils._linux import descendants, process_name, pss_kib

ROLES = (
    ("shim", ("containerd-shim",)),
    ("vmm", ("qemu", "cloud-hyperviso", "firecracker")),  # comm is cut at 15 characters
    ("virtiofsd", ("virtiofsd",)),
)


def role_of(name):
    for role, prefixes in ROLES:
        if name and name.startswith(prefixes):
            return role
    return "workload"


def footprint(shim_pids):
    """PSS in KiB per role and in total over every process below the shims, with the processes seen.

    ``shim_pids`` are this container's shims of this containerd instance
    (ContainerdClient.shim_pids matches namespace, id and address), so a
    same-named container of another instance is never counted, and only
    trusted shims (_owner.is_trusted_shim: root's, running a root-owned shim
    binary), so a look-alike process tree of a local user is never counted.
    """
    by_role = dict((role, 0) for role, _prefixes in ROLES)
    by_role["workload"] = 0
    processes = []
    seen = set()
    for shim in shim_pids:
        for pid in descendants(shim):
            # A process below two of the given shims (or a shim given twice) is counted once.
            if pid in seen:
                continue
            seen.add(pid)
            name, pss = process_name(pid), pss_kib(pid)
            if name is None or pss is None:
                continue
            role = role_of(name)
            by_role[role] += pss
            processes.append({"pid": pid, "name": name, "role": role, "pss_kib": pss})
    return {"pss_kib": by_role, "total_pss_kib": sum(by_role.values()), "processes": processes}
