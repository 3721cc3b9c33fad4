# -*- coding: utf-8 -*-
"""plugins/module_utils/_capabilities.py: the one capability-to-module map, and who takes it from there."""

import ast

import pytest
import yaml

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _capabilities
from ansible_collections.kata_fleet.runtimes.plugins.modules import verify_host
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _settings
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import contract
from conftest import REPO_ROOT


def _returns(module):
    """The top-level keys of plugins/modules/<module>.py's RETURN documentation."""
    tree = ast.parse((REPO_ROOT / "plugins" / "modules" / ("%s.py" % module)).read_text())
    found = [node.value.value for node in tree.body if isinstance(node, ast.Assign)
             and any(isinstance(target, ast.Name) and target.id == "RETURN" for target in node.targets)]
    assert len(found) == 1, module
    return set(yaml.safe_load(found[0]))


@pytest.mark.parametrize("capability,module", _capabilities.MODULES)
def test_each_module_returns_its_capability_under_the_capabilitys_name(capability, module):
    assert capability in _returns(module)


def test_the_probes_come_first_and_every_capability_once():
    assert _capabilities.MODULES[:len(_capabilities.PROBE_MODULES)] == _capabilities.PROBE_MODULES
    assert _capabilities.CAPABILITIES == ("isolation", "startup", "http", "workload", "audit")
    modules = [module for capability, module in _capabilities.MODULES] + list(_capabilities.HOST_MODULES)
    assert len(set(modules)) == len(modules)
    assert set(_capabilities.PER_HANDLER) <= set(_capabilities.CAPABILITIES)


def test_the_module_the_action_and_the_contract_use_the_same_map():
    assert verify_host.MODULES is _capabilities.MODULES and verify_host.PROBE_MODULES is _capabilities.PROBE_MODULES
    assert verify_host.argument_spec()["capabilities"]["choices"] == list(_capabilities.CAPABILITIES)
    assert _settings.CAPABILITIES is _capabilities.CAPABILITIES
    assert contract.CARRIED_RESULTS[:2] == _capabilities.HOST_MODULES
    assert [contract.PROBE_RESULTS.get(module) or contract.CAPABILITY_RESULTS[module]
            for capability, module in _capabilities.MODULES] == list(_capabilities.CAPABILITIES)
