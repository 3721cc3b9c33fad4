# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that write template values as data: TOML values and documents, systemd paths.

Documented in the sidecar files toml_value.yml, toml_key.yml, toml_document.yml and systemd_path.yml.
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _toml


def _plain(data):
    """Ansible's tagged/lazy containers as plain dicts, lists and scalars."""
    if isinstance(data, dict):
        return dict((str(k), _plain(v)) for k, v in data.items())
    if isinstance(data, (list, tuple)):
        return [_plain(v) for v in data]
    if isinstance(data, bool):
        return bool(data)
    if isinstance(data, int):
        return int(data)
    if isinstance(data, float):
        return float(data)
    if isinstance(data, str):
        return str(data)
    return data


def _wrap(function):
    def call(data, *args):
        try:
            return function(_plain(data), *args)
        except _toml.TomlError as error:
            raise AnsibleFilterError(str(error))
    call.__name__ = function.__name__
    return call


class FilterModule:

    def filters(self):
        return {
            "toml_value": _wrap(_toml.value),
            "toml_key": _wrap(_toml.key),
            "toml_document": _wrap(_toml.document),
            "systemd_path": _wrap(_toml.systemd_path),
        }
