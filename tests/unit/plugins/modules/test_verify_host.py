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
from probe_output import framed, recorded_host
from detached_runs import script_detached_runs
from ctr_answers import IMAGES_HEADER, NAMESPACE, RUN_ID, TAG, images_ls, script_containerd


@pytest.fixture
def host(monkeypatch, fixture_text):
    """This machine as recorded with the runc fixture (same boot), not the live /proc."""
    sections = recorded_host(monkeypatch, fixture_text)
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


def test_argument_spec_takes_workload_and_audit_options_from_their_modules():
    from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _audit, _workload
    spec = verify_host.argument_spec()
    for name, option in _workload.ARGUMENT_SPEC.items():
        assert spec[name] == option, name
    # workload_audit's options, prefixed: its timeout must not replace the probes' timeout.
    for name, option in _audit.ARGUMENT_SPEC.items():
        assert spec[verify_host.audit_option(name)] == option, name
    assert "audit_timeout" in spec and not set(["names", "parallel", "max_containers"]) & set(spec)
    assert spec["capabilities"]["choices"] == ["isolation", "startup", "http", "workload", "audit"]
    assert [name for dummy, name in verify_host.MODULES][-2:] == ["workload_bench", "workload_audit"]


def test_workload_in_check_mode_plans_and_runs_nothing(containerd, host, busybox, run_module):
    code, result = run_module(verify_host.main, _args(containerd, busybox, capabilities=["workload"],
                                                      workloads=["cpu", "syscall"], _ansible_check_mode=True))
    assert code == 0, result
    results = result["module_results"]
    assert sorted(results) == ["host_facts", "probe_image", "workload_bench"]
    workload = results["workload_bench"]["workload"]
    assert workload["check_mode"] is True and workload["image"] == busybox[1]
    assert workload["runtimes"]["runc"]["status"] == "planned"
    assert workload["runtimes"]["runc"]["workloads"] == ["cpu", "syscall"]
    assert results["workload_bench"]["ansible_facts"]["kata_fleet_workload"] == workload
    assert containerd.calls_with("timeout") == [] and containerd.calls_with("import") == []


def test_a_bad_workload_option_fails_only_the_workload(containerd, host, busybox, run_module, fixture_text):
    containerd.on(_iso_container(), out=framed(fixture_text("runc_probe_output.txt")))
    code, result = run_module(verify_host.main, _args(containerd, busybox, capabilities=["isolation", "workload"],
                                                      workload_repeats=0))
    assert code == 1
    results = result["module_results"]
    assert results["workload_bench"] == {"failed": True, "changed": False,
                                         "msg": "workload_repeats must be between 1 and 50, got 0"}
    assert results["isolation_probe"]["isolation"]["runtimes"]["runc"]["status"] == "ok"
    assert result["msg"] == "workload_bench: workload_repeats must be between 1 and 50, got 0"


def test_audit_needs_no_image_and_reads_every_namespace(containerd, host, busybox, run_module):
    containerd.on("namespaces", "ls", "--quiet", out="")
    code, result = run_module(verify_host.main, _args(containerd, busybox, capabilities=["audit"], audit_names="counts"))
    assert code == 0, result
    results = result["module_results"]
    assert sorted(results) == ["host_facts", "workload_audit"]
    audit = results["workload_audit"]["audit"]
    assert (audit["status"], audit["names"], audit["containers"], audit["namespaces"]) == ("ok", "counts", 0, 0)
    assert results["workload_audit"]["changed"] is False
    assert containerd.calls_with("images", "ls") == [] and containerd.calls_with("namespaces", "ls", "--quiet")


def test_audit_runs_in_check_mode_and_after_the_probes(containerd, host, busybox, run_module, fixture_text):
    containerd.on(_iso_container(), out=framed(fixture_text("runc_probe_output.txt")))
    containerd.on("namespaces", "ls", "--quiet", out="")
    code, result = run_module(verify_host.main, _args(containerd, busybox, capabilities=["audit", "isolation"],
                                                      _ansible_check_mode=True))
    assert code == 0, result
    assert list(result["module_results"])[-1] == "workload_audit"
    assert result["module_results"]["workload_audit"]["audit"]["status"] == "ok"


def test_audit_fails_on_its_own(containerd, host, busybox, run_module, fixture_text):
    containerd.on(_iso_container(), out=framed(fixture_text("runc_probe_output.txt")))
    code, result = run_module(verify_host.main, _args(containerd, busybox, capabilities=["isolation", "audit"],
                                                      audit_sandboxed_namespaces=["Bad Name"]))
    assert code == 1
    results = result["module_results"]
    assert results["workload_audit"]["failed"] is True
    assert results["workload_audit"]["msg"].startswith("audit_sandboxed_namespaces: 'Bad Name' is not a glob")
    assert "failed" not in results["isolation_probe"]
    assert result["msg"] == "workload_audit: " + results["workload_audit"]["msg"]
    code, result = run_module(verify_host.main, _args(containerd, busybox, capabilities=["audit"], audit_parallel=0))
    assert code == 1 and result["module_results"]["workload_audit"]["msg"] == (
        "audit_parallel must be between 1 and 32, got 0")


def test_containerd_down_fails_the_audit_with_the_ping_message(patched_ansible_module, host, busybox, run_module,
                                                               tmp_path):
    patched_ansible_module.address = str(tmp_path / "absent.sock")
    code, result = run_module(verify_host.main, _args(patched_ansible_module, busybox,
                                                      capabilities=["workload", "audit"]))
    assert code == 1
    results = result["module_results"]
    for name in ("probe_image", "workload_bench", "workload_audit"):
        assert results[name]["msg"].startswith("containerd does not answer at %s" % tmp_path), name
    assert "; workload_bench: containerd does not answer" in result["msg"]
    assert "; workload_audit: containerd does not answer" in result["msg"]


def test_the_probes_start_as_their_modules_do_with_the_same_message(containerd, host, busybox, run_module):
    """One setup (_module.prepare) for verify_host and the probe modules: an unknown handler reads the same."""
    from ansible_collections.kata_fleet.runtimes.plugins.modules import isolation_probe
    code, result = run_module(verify_host.main, _args(containerd, busybox, runtimes=["runc", "gvisor"]))
    assert code == 1
    results = result["module_results"]
    alone_code, alone = run_module(isolation_probe.main, {
        "image": busybox[1], "address": containerd.address, "namespace": NAMESPACE, "run_id": RUN_ID,
        "config_path": "/nonexistent/kf-unit/config.toml", "runtimes": ["runc", "gvisor"]})
    assert alone_code == 1 and "gvisor" in alone["msg"] and "kata_fleet_runtimes" in alone["msg"]
    for name in ("isolation_probe", "startup_bench"):
        assert results[name] == {"failed": True, "changed": False, "msg": alone["msg"], "swept": []}
    assert containerd.calls_with("timeout") == []
