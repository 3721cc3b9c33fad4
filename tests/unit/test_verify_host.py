# -*- coding: utf-8 -*-
"""verify_host: every capability in one module run, with scripted ctr answers (no containerd needed).

What it must show: one ping, one handler read and one sweep serve all the
probes; each capability's result sits under its module's name, shaped like
that module's result; one failing capability never hides another.
"""

import os

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _hostinfo, _oci, _startup
from ansible_collections.kata_fleet.runtimes.plugins.modules import verify_host
from probe_output import framed, sections as recorded_sections, use_nonce
from detached_runs import script_detached_runs
from ctr_answers import DIGEST, IMAGES_HEADER, NAMESPACE, RUN_ID, TAG, images_ls, script_containerd


@pytest.fixture
def host(monkeypatch, fixture_text):
    """This machine as recorded with the runc fixture (same boot), not the live /proc."""
    use_nonce(monkeypatch)
    sections = recorded_sections(fixture_text("runc_probe_output.txt"))
    sections.update(proc_entries="136", net_names="eth0\nifb0\nifb1\nlo", dmesg="rc=0\n[    0.000000] Linux version")
    monkeypatch.setattr(_hostinfo, "host_sections", lambda module: dict(sections))
    monkeypatch.setattr(_startup, "read_boot_id", sections["boot_id"].strip)
    return sections


@pytest.fixture
def busybox(tmp_path):
    path = tmp_path / "busybox"
    path.write_bytes(b"\x7fELF stand-in: only hashed for the tag in these tests")
    return str(path), _oci.image_reference(path.read_bytes())


@pytest.fixture
def containerd(patched_ansible_module, fixture_text, socket_path, busybox, monkeypatch, tmp_path):
    fake = script_containerd(patched_ansible_module, fixture_text, socket_path)
    # The image under the built name has the digest built from this busybox: probe_image reuses it.
    fake.on("images", "ls", out=images_ls(busybox[1], _oci.expected_image(busybox[0], os.uname().machine)[1]))
    return script_detached_runs(fake, monkeypatch, tmp_path / "logs")


def _args(fake, busybox, **extra):
    args = {"address": fake.address, "namespace": NAMESPACE, "config_path": "/nonexistent/kf-unit/config.toml",
            "run_id": RUN_ID, "timeout": 30, "busybox_path": busybox[0], "runtimes": ["runc"],
            "runs": 2, "warmup": 1, "phase_runs": 0, "capabilities": ["isolation", "startup"]}
    args.update(extra)
    return args


def argv_label(fake):
    [labelled] = [argv for argv in fake.calls_with("containers", "list") if argv[-1] != "--quiet"]
    return labelled[-1]


def _iso_container(handler="runc"):
    return "kf-%s-%s-%s-iso" % (TAG, RUN_ID, handler)


def test_one_run_gives_every_result_with_one_ping_and_one_sweep(containerd, host, busybox, run_module, fixture_text):
    containerd.on(_iso_container(), out=framed(fixture_text("runc_probe_output.txt")))
    code, result = run_module(verify_host.main, _args(containerd, busybox))
    assert code == 0, result
    results = result["module_results"]
    assert sorted(results) == ["host_facts", "isolation_probe", "probe_image", "startup_bench"]
    assert result["ansible_facts"] == results["host_facts"]["ansible_facts"]
    assert result["ansible_facts"]["kata_fleet_host"]["containerd"]["answers"] is True
    assert (results["probe_image"]["image"], results["probe_image"]["digest"]) == (
        busybox[1], _oci.expected_image(busybox[0], os.uname().machine)[1])
    assert results["probe_image"]["changed"] is False and result["changed"] is False
    runc = results["isolation_probe"]["isolation"]["runtimes"]["runc"]
    assert (runc["status"], runc["verdict"]) == ("ok", "shared-kernel")
    assert results["isolation_probe"]["ansible_facts"]["kata_fleet_isolation"] == results["isolation_probe"]["isolation"]
    assert results["isolation_probe"]["isolation"]["image"] == busybox[1]
    startup = results["startup_bench"]["startup"]["runtimes"]["runc"]
    assert startup["status"] == "ok" and startup["total"]["n"] == 2
    assert not any(value.get("failed") for value in results.values())
    # One ping, one handler read, one sweep for every capability.
    assert len(containerd.calls_with("version")) == 1
    assert len(containerd.calls_with("config", "dump")) == 1
    # (a sweep lists every container once, then the ones with kata-fleet's owner label)
    assert [argv[-1] for argv in containerd.calls_with("containers", "list")] == ["--quiet", argv_label(containerd)]


def test_containerd_down_fails_each_probe_and_keeps_the_host_view(patched_ansible_module, host, busybox, run_module,
                                                                  tmp_path):
    patched_ansible_module.address = str(tmp_path / "absent.sock")
    code, result = run_module(verify_host.main, _args(patched_ansible_module, busybox))
    assert code == 1 and result["failed"] is True
    results = result["module_results"]
    assert result["ansible_facts"]["kata_fleet_host"]["containerd"]["answers"] is False
    for name in ("probe_image", "isolation_probe", "startup_bench"):
        assert results[name]["failed"] is True
        assert results[name]["msg"].startswith("containerd does not answer at %s" % tmp_path)
        assert "kata_fleet_containerd_address" in results[name]["msg"]
    assert result["msg"].startswith("probe_image: containerd does not answer")
    assert "; isolation_probe: containerd does not answer" in result["msg"]
    assert "; startup_bench: containerd does not answer" in result["msg"]


def test_a_failing_capability_does_not_hide_the_others(containerd, host, busybox, run_module, fixture_text):
    containerd.on(_iso_container(), out=framed(fixture_text("runc_probe_output.txt")))
    code, result = run_module(verify_host.main, _args(containerd, busybox, runs=0))
    assert code == 1
    results = result["module_results"]
    assert results["startup_bench"] == {"failed": True, "changed": False,
                                        "msg": "runs must be at least 1 (the number of counted samples), got 0"}
    assert results["isolation_probe"]["isolation"]["runtimes"]["runc"]["status"] == "ok"
    assert "failed" not in results["isolation_probe"]
    assert result["msg"] == "startup_bench: runs must be at least 1 (the number of counted samples), got 0"


def test_a_failing_handler_fails_only_its_capability(containerd, host, busybox, run_module):
    containerd.on(_iso_container(), rc=1, err="ctr: failed to create shim task\n")
    code, result = run_module(verify_host.main, _args(containerd, busybox))
    assert code == 1
    results = result["module_results"]
    assert results["isolation_probe"]["failed"] is True
    assert results["isolation_probe"]["msg"].startswith("runc: the probe container failed (rc=1)")
    assert results["startup_bench"]["startup"]["runtimes"]["runc"]["status"] == "ok"
    assert result["msg"] == "isolation_probe: " + results["isolation_probe"]["msg"]


def test_only_the_host_view(containerd, host, busybox, run_module):
    code, result = run_module(verify_host.main, _args(containerd, busybox, capabilities=[]))
    assert code == 0, result
    assert list(result["module_results"]) == ["host_facts"]
    assert containerd.calls_with("images", "ls") == [] and containerd.calls_with("containers", "list") == []


def test_check_mode_imports_nothing_and_plans_startup(containerd, host, busybox, run_module, fixture_text):
    containerd.on(_iso_container(), out=framed(fixture_text("runc_probe_output.txt")))
    code, result = run_module(verify_host.main, _args(containerd, busybox, _ansible_check_mode=True))
    assert code == 0, result
    results = result["module_results"]
    assert results["startup_bench"]["startup"]["runtimes"]["runc"] == {"status": "planned", "containers": 3}
    assert results["isolation_probe"]["isolation"]["runtimes"]["runc"]["status"] == "ok"
    assert containerd.calls_with("containers", "list") == [] and containerd.calls_with("import") == []


def test_check_mode_without_the_image_says_nothing_can_run(containerd, host, busybox, run_module):
    containerd.on("images", "ls", out=IMAGES_HEADER)
    code, result = run_module(verify_host.main, _args(containerd, busybox, _ansible_check_mode=True))
    assert code == 1
    results = result["module_results"]
    assert results["probe_image"]["changed"] is True and result["changed"] is True
    assert "is not in containerd yet" in results["isolation_probe"]["msg"]
    assert containerd.calls_with("import") == [] and containerd.calls_with("timeout") == []


def test_argument_spec_is_the_union_of_the_five():
    spec = verify_host.argument_spec()
    for option in ("address", "namespace", "config_path", "client", "image", "busybox_path", "pull_timeout",
                   "runtimes", "timeout", "run_id", "runs", "warmup", "phase_runs", "url", "requests",
                   "concurrency", "request_timeout", "network_cidr", "port", "capabilities"):
        assert option in spec, option
    assert spec["image"] == {"type": "str"}  # the registry image to pull, not required
