# -*- coding: utf-8 -*-
"""_hostview: host_facts' work, which verify_host shares (containerd's state as a fact, the view probes compare with).

containerd is scripted (conftest.FakeModule, ctr_answers); the host's own files
are the recorded ones of this machine (fixtures/runc_host_facts.json).
"""

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _hostview, _module, _verdict
from conftest import CONTAINERD, CTR, FakeModule
from ctr_answers import KATA_CONFIG, NAMESPACE, script_containerd
from probe_output import facts as recorded_facts


def _module_for(address, **params):
    module = FakeModule(bins={"ctr": CTR, "containerd": CONTAINERD})
    module.params = dict({"address": address, "namespace": NAMESPACE, "client": "ctr",
                          "config_path": "/nonexistent/kf-unit/config.toml"}, **params)
    return module


@pytest.fixture(autouse=True)
def keep_stdin(monkeypatch):
    monkeypatch.setattr(_module, "detach_stdin", lambda: None)


def test_containerd_view_of_an_answering_instance(socket_path, fixture_text):
    module = script_containerd(_module_for(socket_path), fixture_text, socket_path)
    view, client = _hostview.containerd_view(module)
    assert view == {"address": socket_path, "namespace": NAMESPACE, "config_path": "/nonexistent/kf-unit/config.toml",
                    "answers": True, "version": "1.6.20~ds1", "handlers": view["handlers"], "error": None}
    assert sorted(view["handlers"]) == ["kata", "kata-dragonball", "runc"]
    assert view["handlers"]["kata-dragonball"]["options"] == {"ConfigPath": KATA_CONFIG}
    # the client comes back pinged, with the handlers it read, for verify_host's probes to reuse
    assert client is not None and client.handlers == view["handlers"] and client.address == socket_path
    assert len(module.calls_with("version")) == 1 and len(module.calls_with("config", "dump")) == 1


def test_a_containerd_that_does_not_answer_is_a_fact_not_a_failure(tmp_path):
    address = str(tmp_path / "absent.sock")
    module = _module_for(address)
    view, client = _hostview.containerd_view(module)
    assert client is None
    assert (view["answers"], view["version"], view["handlers"]) == (False, None, {})
    assert view["error"].startswith("containerd does not answer at %s: there is no socket there" % address)
    assert "kata_fleet_containerd_address" in view["error"]  # the fix is named
    assert module.calls == []


def test_a_failing_handler_read_keeps_the_version_and_says_why(socket_path, fixture_text):
    module = script_containerd(_module_for(socket_path), fixture_text, socket_path)
    module.bins.pop("containerd")
    view, client = _hostview.containerd_view(module)
    assert client is None and view["answers"] is True and view["version"] == "1.6.20~ds1"
    assert view["handlers"] == {} and "containerd binary is not on the PATH" in view["error"]


def test_containerd_view_reuses_the_client_it_is_given(socket_path, fixture_text, monkeypatch):
    module = script_containerd(_module_for(socket_path), fixture_text, socket_path)
    given = _module.client_from_params(module)
    monkeypatch.setattr(_hostview, "client_from_params", lambda module: pytest.fail("made a second client"))
    view, client = _hostview.containerd_view(module, given)
    assert client is given and view["answers"] is True


def test_shared_view_leaves_out_exactly_the_host_only_keys(fixture_json):
    facts = fixture_json("runc_host_facts.json")
    shared = _hostview.shared_view(facts)
    assert set(facts) - set(shared) == set(_hostview.HOST_ONLY_KEYS) & set(facts)
    assert not set(_hostview.HOST_ONLY_KEYS) & set(shared)
    assert all(shared[key] == facts[key] for key in shared)
    assert shared is not facts and "containerd" in facts  # the caller's facts are not changed


def test_the_shared_view_is_what_a_verdict_needs(fixture_json, fixture_text):
    """A runc container of this machine against the shared view: shared-kernel, as against the whole facts."""
    facts = fixture_json("runc_host_facts.json")
    container = recorded_facts(fixture_text("runc_probe_output.txt"))
    from_shared = _verdict.verdict(_hostview.shared_view(facts), container)
    assert from_shared["verdict"] == "shared-kernel"
    assert from_shared == _verdict.verdict(facts, container)


def test_run_is_host_facts_result_with_containerd_in_it(socket_path, fixture_text, fixture_json, monkeypatch):
    module = script_containerd(_module_for(socket_path), fixture_text, socket_path)
    recorded = fixture_json("runc_host_facts.json")
    recorded.pop("containerd")
    monkeypatch.setattr(_hostview, "host_facts", lambda module: dict(recorded))
    result, client = _hostview.run(module)
    assert list(result) == ["changed", "ansible_facts"] and result["changed"] is False
    facts = result["ansible_facts"]["kata_fleet_host"]
    assert facts["containerd"]["answers"] is True and client is not None
    assert dict((key, value) for key, value in facts.items() if key != "containerd") == recorded
