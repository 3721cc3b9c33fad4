# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin kata_fleet.runtimes.release_archive (documented in plugins/modules/release_archive.py).

An archive kept on the controller (``src``, or the file name of ``url`` in
``controller_dir``: air-gapped fleets) is copied into the task's remote
temporary directory first, the way ansible.builtin.unarchive does; the module
then checks its sha256 like any download.  Everything else goes to the module
unchanged.
"""

import os
from urllib.parse import urlsplit

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):

    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        module_args = dict(self._task.args)
        controller_dir = module_args.pop("controller_dir", None)
        if controller_dir and module_args.get("url"):
            url = module_args.pop("url")
            name = os.path.basename(urlsplit(url).path)
            # The URL's last path segment becomes a file name in controller_dir: one plain name only.
            if not name or name in (".", "..") or "\x00" in name or name.startswith("."):
                raise AnsibleActionFail("controller_dir: the URL %r names no archive file (its last path segment "
                                        "must be a file name such as nerdctl-2.2.1-linux-amd64.tar.gz)" % (url,))
            module_args["src"] = os.path.join(controller_dir, name)
        src = module_args.get("src")
        if src and not module_args.get("remote_src", False) and module_args.get("state", "present") == "present":
            try:
                local = self._find_needle("files", src)
            except AnsibleError as error:
                raise AnsibleActionFail("the archive %s is not on the controller: %s" % (src, to_text(error)))
            remote = self._connection._shell.join_path(self._connection._shell.tmpdir, os.path.basename(local))
            self._transfer_file(local, remote)
            self._fixup_perms2((self._connection._shell.tmpdir, remote))
            module_args["src"] = remote
            module_args["remote_src"] = True
        result.update(self._execute_module(module_name="kata_fleet.runtimes.release_archive",
                                           module_args=module_args, task_vars=task_vars))
        self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
