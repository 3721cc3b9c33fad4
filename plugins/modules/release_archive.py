#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: release_archive
short_description: Install files from a release archive whose sha256 is pinned, atomically and idempotently
version_added: 0.1.0
description:
  - Fetches an upstream release archive (C(.tar.gz), C(.tgz), C(.tar.xz), C(.tar.zst)) or a bare
    binary from an HTTP(S) or C(file://) URL, a file on the managed host, or (through the action
    plugin) a file on the controller, and checks its sha256 before anything else happens.
  - A checksum mismatch, a failed download or a missing member installs nothing and says which
    file and which sums. Files are replaced with a rename (never half-written); directory trees
    are moved beside their destination and swapped in.
  - A marker (C(<marker_dir>/<name>.json)) records the version, the archive's sha256, every
    installed file's sha256 and the trees. The same version again changes nothing; a file that was
    changed or removed is put back; an upgrade removes what the previous version installed and the
    new one does not; I(state=absent) removes exactly what the marker lists.
  - The archive is unpacked by Python's C(tarfile) under the rules of its C(data) filter (PEP 706),
    implemented in the module so they hold on every target Python. Regular files, directories and
    symlinks that stay inside the archive only; hard links become copies. A device, fifo or other
    special member, an absolute name, a C(..) component, or a link leaving the archive refuses the
    whole archive. Setuid, setgid, sticky and group/other write bits are dropped; nothing is chowned.
  - C(.tar.zst) archives are decompressed by the C(zstd) binary of the managed host (Python has no
    zstd module before 3.14); gzip and xz by Python.
  - The download, the unpacked size and the number of members are bounded (I(max_download_bytes),
    I(max_unpacked_bytes), I(max_members)); a refusal names the parameter to raise.
  - A destination that exists, differs from the release's file and is not in the marker belongs to
    someone else and is not replaced (nothing is installed) unless I(replace_foreign=true).
  - Temporary paths beside the destinations are written into C(<marker_dir>/<name>.json.pending)
    before they are created; the next run removes exactly those (an interrupted run leaves nothing
    behind for long). Trees are swapped with C(renameat2(RENAME_EXCHANGE)) where the kernel and libc
    have it.
  - The roles kata_fleet.runtimes.containerd, nerdctl, kata and gvisor install every download through it.
author:
  - kata-fleet developers (@kata-fleet)
attributes:
  action:
    support: full
    description: An action plugin transfers a controller-side I(src) to the host first.
  check_mode:
    support: full
    description: Reports what would be installed or removed without downloading.
  diff_mode:
    support: full
    description: Shows the installed version and paths before and after.
options:
  name:
    description:
      - What is installed (the marker's name), for example C(kata) or C(containerd).
      - 1 to 64 letters, digits, C(_), C(.), C(+) or C(-), starting with a letter or digit (it becomes
        the file name C(<marker_dir>/<name>.json)).
    type: str
    required: true
  version:
    description: The version being installed; recorded in the marker.
    type: str
  state:
    description: C(present) installs (or upgrades); C(absent) removes what the marker lists.
    type: str
    choices: [present, absent]
    default: present
  url:
    description:
      - Where to fetch the archive, C(https://), C(http://) or C(file://) (a path on the managed host).
      - Point it at a mirror for air-gapped hosts.
    type: str
  src:
    description:
      - A local archive instead of I(url). On the controller by default (transferred first);
        on the managed host with I(remote_src=true).
    type: path
  remote_src:
    description: I(src) is already on the managed host.
    type: bool
    default: false
  controller_dir:
    description:
      - A directory on the controller holding the archive under the file name of I(url)
        (air-gapped fleets); the action plugin transfers that file instead of downloading I(url).
    type: path
  checksum:
    description:
      - The pinned sha256 of the archive, C(sha256:<hex>) or the hex digits alone.
      - Or its sha512 as C(sha512:<hex>), for projects that publish only sha512 files (gVisor);
        the marker then records it with that prefix.
    type: str
  format:
    description: C(auto) decides by the file name (tar archives by suffix, anything else a bare binary).
    type: str
    choices: [auto, tar, binary]
    default: auto
  files:
    description: Single files to install.
    type: list
    elements: dict
    default: []
    suboptions:
      src:
        description: Path inside the archive (ignored for a bare binary).
        type: str
        default: ""
      dest:
        description: Absolute destination path.
        type: path
        required: true
      mode:
        description:
          - Mode of the installed file, as M(ansible.builtin.file) reads it. A string is octal
            (C("0755")); a number is taken as it is, so an unquoted YAML C(0644) (octal, 420) is
            C(0644), and an unquoted C(644) (decimal) is refused, since it is C(0o1204).
          - At most C(0755); setuid, setgid, sticky and group/other write bits are refused.
        type: raw
        default: "0755"
  file_sets:
    description:
      - Folders whose regular files are installed one by one into a shared directory (for example the
        CNI plugins into C(/opt/cni/bin), next to calico or cilium). The directory itself is not
        replaced; the marker lists each file, and only those are removed later.
      - Each file keeps the archive's mode, limited to C(0755).
    type: list
    elements: dict
    default: []
    suboptions:
      src:
        description: Folder inside the archive (C(.) for its root); only files directly inside it are installed.
        type: str
        default: "."
      dest:
        description: Absolute destination directory (shared; created when missing).
        type: path
        required: true
  replace_foreign:
    description:
      - Replace destinations that exist, differ from the release and are not in the marker (so
        kata-fleet cannot prove they are its own). Off by default, such a file or tree refuses the
        install and is named.
    type: bool
    default: false
  replace_foreign_hint:
    description: The setting the refusal tells the user to change (a role passes its own variable name).
    type: str
    default: "replace_foreign: true"
  max_download_bytes:
    description: Largest archive accepted; a bigger download is stopped and nothing is installed.
    type: int
    default: 2147483648
  max_unpacked_bytes:
    description: Largest total size of the archive's members once unpacked (zip-bomb guard).
    type: int
    default: 8589934592
  max_members:
    description: Most members an archive may have.
    type: int
    default: 100000
  trees:
    description: Directories installed as a whole; the previous tree at I(dest) is replaced, so no stale file survives.
    type: list
    elements: dict
    default: []
    suboptions:
      src:
        description: Directory inside the archive (C(.) for its root).
        type: str
        default: "."
      dest:
        description: Absolute destination directory.
        type: path
        required: true
  marker_dir:
    description: Where the install markers live.
    type: path
    default: /var/lib/kata-fleet/installed
  tmp_dir:
    description: Where the download and the unpacked copy are kept until they are checked (default the system's).
    type: path
  timeout:
    description: Seconds to wait for the download server.
    type: int
    default: 60
  validate_certs:
    description: Check the server's TLS certificate.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Install nerdctl from its pinned release archive
  kata_fleet.runtimes.release_archive:
    name: nerdctl
    version: 2.2.1
    url: https://github.com/containerd/nerdctl/releases/download/v2.2.1/nerdctl-2.2.1-linux-amd64.tar.gz
    checksum: sha256:34144de7f12756aa4b9dc42a907fd95b0c5eb82a63566a650ca10c8abe7a26a0
    files:
      - src: nerdctl
        dest: /usr/local/bin/nerdctl

- name: Install Kata Containers under /opt/kata from an archive on the controller
  kata_fleet.runtimes.release_archive:
    name: kata
    version: 3.7.0
    src: files/kata-static-3.7.0-amd64.tar.xz
    checksum: sha256:bebf218cafdc082476c7dabbcc5439aee6a41d6dda24dd3cfffbe0a6ae94e23d
    trees:
      - src: opt/kata
        dest: /opt/kata

- name: Remove it again
  kata_fleet.runtimes.release_archive:
    name: kata
    state: absent
"""

RETURN = r"""
version:
  description: The version now installed (null after I(state=absent)).
  returned: always
  type: str
previous_version:
  description: The version the marker recorded before this run.
  returned: always
  type: str
sha256:
  description: The archive's checked sha256.
  returned: when state is present
  type: str
source:
  description: The URL or path the archive came from.
  returned: when state is present
  type: str
reasons:
  description: Why something was (or would be) installed, empty when nothing changed.
  returned: when state is present
  type: list
  elements: str
swept:
  description: Leftovers of an interrupted earlier run (listed in its journal) removed by this run.
  returned: always
  type: list
  elements: str
removed:
  description: Files and trees removed (stale ones of a previous version, or all on I(state=absent)).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kata_fleet.runtimes.plugins.module_utils._archive import DEFAULT_LIMITS, ArchiveError, apply


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "version": {"type": "str"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "url": {"type": "str"},
            "src": {"type": "path"},
            "remote_src": {"type": "bool", "default": False},
            "controller_dir": {"type": "path"},
            "checksum": {"type": "str", "no_log": False},
            "format": {"type": "str", "choices": ["auto", "tar", "binary"], "default": "auto"},
            "files": {"type": "list", "elements": "dict", "default": [], "options": {
                "src": {"type": "str", "default": ""},
                "dest": {"type": "path", "required": True},
                "mode": {"type": "raw", "default": "0755"},
            }},
            "file_sets": {"type": "list", "elements": "dict", "default": [], "options": {
                "src": {"type": "str", "default": "."},
                "dest": {"type": "path", "required": True},
            }},
            "replace_foreign": {"type": "bool", "default": False},
            "replace_foreign_hint": {"type": "str", "default": "replace_foreign: true"},
            "max_download_bytes": {"type": "int", "default": DEFAULT_LIMITS["max_download_bytes"]},
            "max_unpacked_bytes": {"type": "int", "default": DEFAULT_LIMITS["max_unpacked_bytes"]},
            "max_members": {"type": "int", "default": DEFAULT_LIMITS["max_members"]},
            "trees": {"type": "list", "elements": "dict", "default": [], "options": {
                "src": {"type": "str", "default": "."},
                "dest": {"type": "path", "required": True},
            }},
            "marker_dir": {"type": "path", "default": "/var/lib/kata-fleet/installed"},
            "tmp_dir": {"type": "path"},
            "timeout": {"type": "int", "default": 60},
            "validate_certs": {"type": "bool", "default": True},
        },
        mutually_exclusive=[["url", "src"]],
        required_if=[["state", "present", ["version", "checksum"]]],
        supports_check_mode=True,
    )
    try:
        result = apply(module)
    except (ArchiveError, OSError) as error:
        module.fail_json(msg=str(error))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
