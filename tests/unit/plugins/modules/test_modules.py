# -*- coding: utf-8 -*-
"""The modules isolation_probe, probe_image and host_facts, run through main().

Module args go in with ansible.module_utils.testing.patch_module_args;
AnsibleModule.run_command/get_bin_path are routed to a FakeModule that scripts
ctr's answers (conftest.py), so no containerd is needed.  exit_json/fail_json
are read back from the JSON the module prints.
"""

import json
import os
import time

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _containerd, _isolation, _oci
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._linux import process_start_ticks
from ansible_collections.kata_fleet.runtimes.plugins.modules import host_facts, isolation_probe, probe_image
from detached_runs import script_detached_runs
from probe_output import NONCE, framed, recorded_host
from ctr_answers import CTR, DIGEST, IMAGE, IMAGES_HEADER, KATA_CONFIG, KATA_TABLES, NAMESPACE, RUN_ID, TAG, cleanup, ctr, images_ls, script_containerd

CONTAINERD = "/usr/bin/containerd"


def _container(handler, run_id=RUN_ID):
    return "kf-%s-%s-%s-iso" % (TAG, run_id, handler)


@pytest.fixture
def host_view(monkeypatch, fixture_text):
    """The host's sections: this machine as recorded with the runc fixture (same boot), not the live /proc."""
    sections = recorded_host(monkeypatch, fixture_text)
    monkeypatch.setattr(_isolation, "host_sections", lambda module: dict(sections))
    return sections


@pytest.fixture
def containerd(patched_ansible_module, fixture_text, socket_path, monkeypatch, tmp_path):
    """A scripted containerd 1.6 with runc, kata and kata-dragonball handlers and the probe image present;
    detached probe runs write their output to their log, the host's witness is a runc container's."""
    fake = patched_ansible_module
    script_containerd(fake, fixture_text, socket_path, KATA_TABLES)
    return script_detached_runs(fake, monkeypatch, tmp_path / "logs")


def _iso_args(fake, **extra):
    args = {"image": IMAGE, "address": fake.address, "namespace": NAMESPACE,
            "config_path": "/nonexistent/kf-unit/config.toml", "run_id": RUN_ID, "timeout": 30}
    args.update(extra)
    return args


def _run_argvs(fake):
    return [argv for argv in fake.calls if argv[:1] == ["timeout"]]


# -- isolation_probe ------------------------------------------------------------------

def test_isolation_probe_success_runc(containerd, host_view, run_module, fixture_text):
    containerd.on(_container("runc"), out=framed(fixture_text("runc_probe_output.txt")))
    code, result = run_module(isolation_probe.main, _iso_args(containerd, runtimes=["runc"]))
    assert code == 0, result
    assert result["changed"] is False
    assert "failed" not in result or result["failed"] is False
    isolation = result["ansible_facts"]["kata_fleet_isolation"]
    assert isolation == result["isolation"]
    assert (isolation["run_id"], isolation["image"]) == (RUN_ID, IMAGE)
    runc = isolation["runtimes"]["runc"]
    assert runc["status"] == "ok" and runc["error"] is None
    assert runc["verdict"] == "shared-kernel"
    assert runc["verdict_reason"] is None
    assert runc["client"] == "ctr" and runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["kernel_release"] == "6.18.44-fc-v1045" and runc["proc_entries"] == 56
    assert isolation["host"]["proc_entries"] == 136
    assert result["swept"] == []
    [run] = _run_argvs(containerd)
    assert run[-4:] == [_container("runc"), "/bin/sh", "-c", _isolation.probe_script(NONCE, 30)]
    assert "--detach" in run and "--with-ns" not in run
    assert run[run.index("--log-uri") + 1].startswith("file://")
    assert runc["witness"] == "agrees" and runc["host_witness"]["class"] == "host-process"
    # The digest the scripted ctr answers is recorded on the result (ctr_answers.DIGEST, a real ctr listing).
    assert runc["image_source"] == isolation["image_source"] and runc["image_digest"] == DIGEST
    assert run[run.index("--runtime") + 1] == "io.containerd.runc.v2"
    # nothing to clean after a clean run
    assert [argv for argv in containerd.calls if "delete" in argv] == []


def test_isolation_probe_all_handlers_by_default(containerd, host_view, run_module, fixture_text):
    for handler in ("runc", "kata", "kata-dragonball"):
        containerd.on(_container(handler), out=framed(fixture_text("runc_probe_output.txt")))
    code, result = run_module(isolation_probe.main, _iso_args(containerd))
    assert code == 0, result
    assert sorted(result["isolation"]["runtimes"]) == ["kata", "kata-dragonball", "runc"]
    runs = _run_argvs(containerd)
    dragonball = [argv for argv in runs if _container("kata-dragonball") in argv][0]
    assert dragonball[dragonball.index("--runtime-config-path") + 1] == KATA_CONFIG


def test_isolation_probe_unknown_runtime(containerd, host_view, run_module):
    code, result = run_module(isolation_probe.main, _iso_args(containerd, runtimes=["runc", "gvisor"]))
    assert code == 1 and result["failed"] is True
    assert "gvisor" in result["msg"]
    assert "kata, kata-dragonball, runc" in result["msg"]  # names the handlers containerd knows
    assert _run_argvs(containerd) == []


@pytest.mark.parametrize("timeout", [0, -1])
def test_isolation_probe_bad_timeout(containerd, run_module, timeout):
    code, result = run_module(isolation_probe.main, _iso_args(containerd, timeout=timeout))
    assert code == 1 and result["failed"] is True
    assert "timeout must be a positive number of seconds" in result["msg"]
    assert str(timeout) in result["msg"]
    assert containerd.calls == []


# "abc\n": a `^...$` pattern accepted a trailing newline (_runid.PATTERN is \A...\Z now).
@pytest.mark.parametrize("run_id", ["bad id", "../../etc", "x" * 41, "run;rm -rf /", "abc\n", "abc\n\n", "\nabc"])
def test_isolation_probe_bad_run_id(containerd, run_module, run_id):
    code, result = run_module(isolation_probe.main, _iso_args(containerd, run_id=run_id))
    assert code == 1 and result["failed"] is True
    assert "run_id" in result["msg"] and "letters and digits" in result["msg"]
    assert containerd.calls == []


def test_isolation_probe_missing_image(containerd, host_view, run_module):
    containerd.on("images", "ls", out=IMAGES_HEADER)
    code, result = run_module(isolation_probe.main, _iso_args(containerd, runtimes=["runc"]))
    assert code == 1
    assert IMAGE in result["msg"] and "probe_image" in result["msg"]
    assert NAMESPACE in result["msg"]
    assert _run_argvs(containerd) == []


def test_isolation_probe_containerd_not_answering(patched_ansible_module, run_module, tmp_path):
    address = str(tmp_path / "absent.sock")
    code, result = run_module(isolation_probe.main, {"image": IMAGE, "address": address, "namespace": NAMESPACE})
    assert code == 1
    assert address in result["msg"] and "kata_fleet_containerd_address" in result["msg"]
    assert "isolation" not in result and result["swept"] == []


def test_isolation_probe_handler_times_out(containerd, host_view, run_module, fixture_text):
    containerd.on(_container("runc"), out=framed(fixture_text("runc_probe_output.txt")))
    containerd.on(_container("kata"), "/bin/sh", rc=124, out="", err="")
    code, result = run_module(isolation_probe.main, _iso_args(containerd, runtimes=["runc", "kata"]))
    assert code == 1 and result["failed"] is True
    assert "ansible_facts" not in result
    kata = result["isolation"]["runtimes"]["kata"]
    assert kata["status"] == "failed"
    assert "did not start within 30s" in kata["error"] and "killed and removed" in kata["error"]
    assert result["msg"] == "kata: " + kata["error"]
    # the other handler's result is still returned
    assert result["isolation"]["runtimes"]["runc"]["verdict"] == "shared-kernel"
    # the timed-out container was cleaned up, exactly and right after its run
    kata_run = [i for i, argv in enumerate(containerd.calls)
                if argv[:1] == ["timeout"] and _container("kata") in argv][0]
    after = containerd.calls[kata_run + 1:]
    assert all(argv in after for argv in cleanup(containerd.address, _container("kata"))[1:])
    assert [argv for argv in containerd.calls if "delete" in argv and _container("runc") in argv] == []


def test_isolation_probe_handler_fails(containerd, host_view, run_module):
    error = ("ctr: failed to create shim task: OCI runtime create failed: "
             "unable to start container process: exec: \"/bin/sh\": not found\n")
    containerd.on(_container("runc"), rc=1, err=error)
    code, result = run_module(isolation_probe.main, _iso_args(containerd, runtimes=["runc"]))
    assert code == 1
    runc = result["isolation"]["runtimes"]["runc"]
    assert runc["error"].startswith("the probe container failed (rc=1): ctr: failed to create shim task")
    assert "verdict" not in runc


def test_isolation_probe_reports_swept_leftovers(containerd, host_view, run_module, fixture_text):
    containerd.on("containers", "list", "--quiet", out="kf-old-runc-iso\n")
    containerd.on("containers", "info", "kf-old-runc-iso", out=json.dumps({"Labels": {
        _containerd.LABEL_RUN_ID: "19700101T000000-dead",
        _containerd.LABEL_OWNER: "%d:%s" % (os.getpid(), process_start_ticks(os.getpid())),
        _containerd.LABEL_EXPIRES: str(int(time.time()) - 5)}}))
    containerd.on(_container("runc"), out=framed(fixture_text("runc_probe_output.txt")))
    code, result = run_module(isolation_probe.main, _iso_args(containerd, runtimes=["runc"]))
    assert code == 0, result
    assert result["swept"] == ["kf-old-runc-iso"]


def test_isolation_probe_leaves_and_reports_foreign_kf_objects(containerd, host_view, run_module, fixture_text,
                                                               monkeypatch):
    """A workload's kf-serving-model (no kata-fleet labels) and a kf-cache-layer snapshot survive, with a warning."""
    # Where the warning goes depends on whether a controller module was imported in this process: record it here.
    from ansible.module_utils.basic import AnsibleModule
    warned = []
    monkeypatch.setattr(AnsibleModule, "warn", lambda self, message: warned.append(message))
    containerd.on("containers", "list", "--quiet", out="kf-serving-model\n")
    containerd.on("containers", "list", "--quiet", 'labels."io.kata-fleet.owner"', out="")
    containerd.on("containers", "info", "kf-serving-model", out=json.dumps({"ID": "kf-serving-model", "Labels": {}}))
    containerd.on("snapshots", "list", out="KEY PARENT KIND\nkf-serving-model sha256:1 Active\n"
                                           "kf-cache-layer sha256:1 Active\n")
    containerd.on("snapshots", "info", "kf-cache-layer", out=json.dumps(
        {"Kind": "Active", "Name": "kf-cache-layer", "Created": "2020-01-01T00:00:00Z"}))
    containerd.on("containers", "info", "kf-cache-layer", rc=1, err="ctr: container not found\n")
    containerd.on(_container("runc"), out=framed(fixture_text("runc_probe_output.txt")))
    code, result = run_module(isolation_probe.main, _iso_args(containerd, runtimes=["runc"]))
    assert code == 0, result
    assert result["swept"] == []
    # ansible-core 2.19 returns a warning as a summary object: its text is what counts here
    [warning] = warned
    assert "not provably kata-fleet's" in warning
    assert "kf-cache-layer, kf-serving-model" in warning and NAMESPACE in warning
    touched = [argv for argv in containerd.calls if {"kill", "delete", "rm"} & set(argv)
               and ("kf-serving-model" in argv or "kf-cache-layer" in argv)]
    assert touched == []


def _identifier_ok(name):
    # containerd's identifiers.Validate: alphanumeric runs joined by single '.', '_' or '-'; at most 76 chars
    import re
    return len(name) <= 76 and re.fullmatch(r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*", name) is not None


@pytest.mark.parametrize("run_id", ["a..b", "-x", "x_", "x" * 40])
def test_isolation_probe_run_id_makes_valid_container_names(containerd, host_view, run_module, fixture_text,
                                                            run_id):
    containerd.on(_container("runc", run_id), out=framed(fixture_text("runc_probe_output.txt")))
    code, result = run_module(isolation_probe.main, _iso_args(containerd, runtimes=["runc"], run_id=run_id))
    runs = _run_argvs(containerd)
    rejected_up_front = code == 1 and "run_id" in result["msg"] and runs == []
    names = [argv[argv.index(IMAGE) + 1] for argv in runs]
    assert rejected_up_front or (names and all(_identifier_ok(name) for name in names)), names


# -- probe_image -------------------------------------------------------------------------

@pytest.fixture
def fake_busybox(tmp_path):
    path = tmp_path / "busybox"
    path.write_bytes(b"\x7fELF stand-in: only hashed for the tag in these tests")
    return str(path), _oci.image_reference(path.read_bytes())


def _image_args(fake, **extra):
    args = {"address": fake.address, "namespace": NAMESPACE, "config_path": "/nonexistent/kf-unit/config.toml"}
    args.update(extra)
    return args


def test_probe_image_already_present(containerd, run_module, fake_busybox):
    path, reference = fake_busybox
    expected = _oci.expected_image(path, os.uname().machine)[1]
    containerd.on("images", "ls", out=images_ls(reference, expected))
    code, result = run_module(probe_image.main, _image_args(containerd, busybox_path=path))
    assert code == 0, result
    assert result["changed"] is False
    assert (result["image"], result["digest"], result["source"]) == (reference, expected, "built")
    assert containerd.calls_with("import") == [] and containerd.calls_with("pull") == []
    assert ctr(containerd.address, "images", "ls", "name==" + reference) in containerd.calls


def test_probe_image_check_mode_absent(containerd, run_module, fake_busybox):
    path, reference = fake_busybox
    containerd.on("images", "ls", out=IMAGES_HEADER)
    code, result = run_module(probe_image.main, _image_args(containerd, busybox_path=path, _ansible_check_mode=True))
    assert code == 0, result
    assert result["changed"] is True
    assert result["image"] == reference and result["digest"] is None
    assert containerd.calls_with("import") == []


def test_probe_image_builds_and_imports(containerd, run_module):
    if not (os.path.exists("/bin/busybox") and _oci.is_static_elf(open("/bin/busybox", "rb").read())):
        pytest.skip("no static /bin/busybox here")
    # What this busybox builds (the layer format decides the digest, so it is computed, not recorded).
    reference, expected = _oci.expected_image("/bin/busybox", os.uname().machine)
    containerd.on("images", "ls", out=[IMAGES_HEADER, images_ls(reference, expected)])
    imported = []
    original = containerd.run_command

    def run_command(args, **kwargs):
        if "import" in args:  # look at the archive while it still exists
            imported.append((list(args), os.path.getsize(args[-1])))
        return original(args, **kwargs)

    containerd.run_command = run_command
    code, result = run_module(probe_image.main, _image_args(containerd))
    assert code == 0, result
    assert result["changed"] is True and result["image"] == reference and result["digest"] == expected
    [(argv, size)] = imported
    assert argv[:-1] == ctr(containerd.address, "images", "import")
    assert size > 1000
    assert not os.path.exists(argv[-1])  # the work directory was removed


@pytest.mark.parametrize("pull_timeout", [0, -5])
def test_probe_image_bad_pull_timeout(containerd, run_module, pull_timeout):
    code, result = run_module(probe_image.main, _image_args(containerd, image="alpine:3.19",
                                                            pull_timeout=pull_timeout))
    assert code == 1 and result["failed"] is True
    assert "pull_timeout must be a positive number of seconds" in result["msg"]
    assert containerd.calls == []


def test_probe_image_pull(containerd, run_module):
    ref = "docker.io/library/alpine:3.19"
    containerd.on("images", "ls", out=[IMAGES_HEADER, images_ls(ref)])
    code, result = run_module(probe_image.main, _image_args(containerd, image=ref, pull_timeout=120))
    assert code == 0, result
    assert (result["changed"], result["source"], result["digest"]) == (True, "registry", DIGEST)
    assert containerd.calls_with("pull") == [["timeout", "120s"] + ctr(containerd.address, "images", "pull", ref)]


def test_probe_image_pull_fails_with_advice(containerd, run_module):
    ref = "docker.io/library/alpine:3.19"
    containerd.on("images", "ls", out=IMAGES_HEADER)
    containerd.on("images", "pull", rc=1, err="ctr: failed to resolve reference: dial tcp: lookup registry-1.docker.io\n")
    code, result = run_module(probe_image.main, _image_args(containerd, image=ref))
    assert code == 1
    assert ref in result["msg"] and "leave image unset" in result["msg"]


def test_probe_image_busybox_missing(containerd, run_module, tmp_path):
    missing = str(tmp_path / "no-busybox")
    code, result = run_module(probe_image.main, _image_args(containerd, busybox_path=missing))
    assert code == 1
    assert missing in result["msg"] and "busybox-static" in result["msg"]


def test_probe_image_without_ctr(patched_ansible_module, run_module, socket_path):
    patched_ansible_module.bins.pop("ctr")
    code, result = run_module(probe_image.main, {"address": socket_path, "namespace": NAMESPACE})
    assert code == 1
    assert "ctr is not on the PATH" in result["msg"]


# -- host_facts ----------------------------------------------------------------------------

def test_host_facts_containerd_not_answering(patched_ansible_module, run_module, tmp_path):
    address = str(tmp_path / "absent.sock")
    code, result = run_module(host_facts.main, {"address": address, "namespace": NAMESPACE})
    assert code == 0, result
    assert result["changed"] is False
    facts = result["ansible_facts"]["kata_fleet_host"]
    assert facts["containerd"]["answers"] is False
    assert address in facts["containerd"]["error"]
    assert facts["containerd"]["handlers"] == {}
    with open("/proc/sys/kernel/random/boot_id") as handle:
        assert facts["boot_id"] == handle.read().strip()
    assert facts["tools"]["ctr"]["path"] == CTR


def test_host_facts_containerd_answering(containerd, run_module):
    code, result = run_module(host_facts.main, {"address": containerd.address, "namespace": NAMESPACE,
                                                "config_path": "/nonexistent/kf-unit/config.toml"})
    assert code == 0, result
    view = result["ansible_facts"]["kata_fleet_host"]["containerd"]
    assert (view["answers"], view["version"], view["error"]) == (True, "1.6.20~ds1", None)
    assert sorted(view["handlers"]) == ["kata", "kata-dragonball", "runc"]
    assert view["handlers"]["kata-dragonball"]["options"] == {"ConfigPath": KATA_CONFIG}


def test_isolation_probe_truncated_output_is_a_failure(containerd, host_view, run_module, fixture_text):
    # rc 0 but no end marker: the output is not whole, so no verdict is drawn from it.
    whole = framed(fixture_text("runc_probe_output.txt"))
    containerd.on(_container("runc"), out=whole[:len(whole) // 2])
    code, result = run_module(isolation_probe.main, _iso_args(containerd, runtimes=["runc"]))
    assert code == 1
    runc = result["isolation"]["runtimes"]["runc"]
    assert runc["status"] == "failed" and "verdict" not in runc
    assert "before printing its end marker" in runc["error"]
