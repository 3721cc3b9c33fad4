# -*- coding: utf-8 -*-
"""The startup_bench module, ContainerdClient.run_phases/create_argv and the guest boot time parser.

main() runs with module args through patch_module_args; AnsibleModule's
run_command/get_bin_path go to a FakeModule that scripts ctr's answers
(conftest.py), so no containerd is needed.  A fake clock replaces the
monotonic clock of _containerd: every scripted command "takes" a chosen
time, so the samples and their statistics are exact.
"""

import json
import re
from types import SimpleNamespace

import pytest
import yaml

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _containerd, _exec, _owner, _probe, _startup
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import ContainerdClient, ContainerdError
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._stats import summarize
from ansible_collections.kata_fleet.runtimes.plugins.modules import startup_bench
from ctr_answers import KATA_TABLES, CTR, IMAGE, IMAGES_HEADER, KATA_CONFIG, NAMESPACE, RUN_ID, TAG, cleanup, ctr, script_containerd
from conftest import REPO_ROOT  # noqa: E402  pylint: disable=wrong-import-position

HOST_BOOT_ID = "0f6b3c1e-2d4a-4b8e-9c7d-5a1e2f3b4c5d"
GUEST_BOOT_ID = "7a9d2e41-8b3c-4f6a-a1d2-e3f4a5b6c7d8"
FREEING = "[    0.523456] Freeing unused kernel image (initmem) memory: 2048K"
# ctr's answer (containerd 1.6) to `tasks delete` while the task still runs.
STILL_RUNNING = "ctr: task must be stopped before deletion: running: failed precondition\n"
PHASES = ("create", "start", "task_delete", "remove")
# How long each scripted command takes on the fake clock.
PHASE_SECONDS = {"create": 0.03, "start": 0.07, "task_delete": 0.02, "remove": 0.01}


def _name(kind, index, handler="runc"):
    """kind: 'w' warm-up, '' counted, 'p' phase run."""
    return "kf-%s-%s-%s-s%s%d" % (TAG, RUN_ID, handler, kind, index)


class Clock:
    """A monotonic clock that moves only when told to (and by 0.1 us per reading, as a real one does)."""

    TICK = 1e-7

    def __init__(self):
        self.now = 5000.0

    def monotonic(self):
        self.now += self.TICK
        return self.now

    def sleep(self, seconds):
        self.now += seconds

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    real_time = _containerd.time.time
    monkeypatch.setattr(_containerd, "time", SimpleNamespace(monotonic=fake.monotonic, sleep=fake.sleep, time=real_time))
    return fake


@pytest.fixture
def containerd(patched_ansible_module, fixture_text, socket_path, clock, monkeypatch):
    """A scripted containerd 1.6 with runc, kata and kata-dragonball and the probe image.

    Counted run i of any handler takes 0.1 * (i + 1) s; warm-ups 1 s; each
    phase PHASE_SECONDS; ``fake.answer(words, [(rc, out, err), ...])`` gives
    successive answers to one command (the last one repeats).
    """
    fake = patched_ansible_module
    script_containerd(fake, fixture_text, socket_path, KATA_TABLES)
    fake.sequences = []
    scripted = fake.run_command

    def answer(words, answers):
        fake.sequences.append((tuple(words), list(answers)))

    def run_command(args, **kwargs):
        argv = list(args)
        clock.advance(_duration(argv))
        for words, answers in reversed(fake.sequences):
            if any(tuple(argv[i:i + len(words)]) == words for i in range(len(argv))):
                fake.calls.append(argv)
                return answers.pop(0) if len(answers) > 1 else answers[0]
        return scripted(argv, **kwargs)

    fake.answer = answer
    fake.run_command = run_command
    monkeypatch.setattr(_startup, "read_boot_id", lambda: HOST_BOOT_ID)
    return fake


def _duration(argv):
    if argv[:1] != ["timeout"]:
        return 0.0
    if "run" in argv:
        name = argv[argv.index(IMAGE) + 1]
        kind_index = re.search(r"-s(w?)(\d+)$", name)
        return 1.0 if kind_index.group(1) else 0.1 * (int(kind_index.group(2)) + 1)
    if "create" in argv:
        return PHASE_SECONDS["create"]
    if "start" in argv:
        return PHASE_SECONDS["start"]
    if "tasks" in argv:
        return PHASE_SECONDS["task_delete"]
    return PHASE_SECONDS["remove"]


def _args(fake, **extra):
    args = {"image": IMAGE, "address": fake.address, "namespace": NAMESPACE,
            "config_path": "/nonexistent/kf-unit/config.toml", "run_id": RUN_ID, "timeout": 30,
            "runs": 5, "warmup": 2, "phase_runs": 2, "runtimes": ["runc"]}
    args.update(extra)
    return args


def _container_argvs(fake):
    """Every command that makes, runs or removes a container (everything behind timeout(1), and cleanup)."""
    return [argv for argv in fake.calls
            if argv[:1] == ["timeout"] or any(word in argv for word in ("run", "create", "start", "delete", "kill"))]


def _runs(fake):
    return fake.calls_with("run", "--rm")


def _strip_timeout(argv):
    """(seconds given to timeout(1), the argv behind it)."""
    assert argv[0] == "timeout", argv
    match = re.match(r"^(\d+)s$", argv[1])
    assert match, argv
    return int(match.group(1)), argv[2:]


# -- parameter validation ------------------------------------------------------------------

@pytest.mark.parametrize("option, value, message", [
    ("runs", 0, "runs must be at least 1 (the number of counted samples), got 0"),
    ("runs", -1, "runs must be at least 1 (the number of counted samples), got -1"),
    ("warmup", -1, "warmup cannot be negative, got -1"),
    ("phase_runs", -1, "phase_runs cannot be negative, got -1"),
    ("timeout", 0, "timeout must be a positive number of seconds, got 0"),
    ("timeout", -3, "timeout must be a positive number of seconds, got -3"),
])
def test_bad_counts_fail_before_anything_runs(containerd, run_module, option, value, message):
    code, result = run_module(startup_bench.main, _args(containerd, **{option: value}))
    assert code == 1 and result["failed"] is True
    assert result["msg"] == message
    assert "startup" not in result and "ansible_facts" not in result
    assert containerd.calls == []


def test_bad_run_id_fails_before_anything_runs(containerd, run_module):
    code, result = run_module(startup_bench.main, _args(containerd, run_id="bad id"))
    assert code == 1 and "run_id" in result["msg"]
    assert containerd.calls == []


def test_unknown_runtime_names_the_known_ones(containerd, run_module):
    code, result = run_module(startup_bench.main, _args(containerd, runtimes=["runc", "gvisor"]))
    assert code == 1
    assert "gvisor" in result["msg"] and "kata, kata-dragonball, runc" in result["msg"]
    assert _container_argvs(containerd) == []


def test_missing_image_points_at_probe_image(containerd, run_module):
    containerd.on("images", "ls", out=IMAGES_HEADER)
    code, result = run_module(startup_bench.main, _args(containerd))
    assert code == 1
    assert IMAGE in result["msg"] and "probe_image" in result["msg"]
    assert _container_argvs(containerd) == []


# -- check mode --------------------------------------------------------------------------------

def test_check_mode_runs_nothing_and_plans(containerd, run_module):
    code, result = run_module(startup_bench.main, _args(
        containerd, runtimes=["runc", "kata"], runs=7, warmup=3, phase_runs=2, _ansible_check_mode=True))
    assert code == 0, result
    assert result["changed"] is False
    startup = result["startup"]
    assert startup == result["ansible_facts"]["kata_fleet_startup"]
    assert startup["check_mode"] is True and startup["run_id"] == RUN_ID and startup["image"] == IMAGE
    assert startup["runtimes"] == {"runc": {"status": "planned", "containers": 12},
                                   "kata": {"status": "planned", "containers": 12}}
    assert _container_argvs(containerd) == []
    # check mode does not sweep either (the sweep removes containers)
    assert containerd.calls_with("containers", "list") == [] and result["swept"] == []


# -- success ----------------------------------------------------------------------------------

def test_success_counts_names_and_statistics(containerd, run_module):
    code, result = run_module(startup_bench.main, _args(containerd, runs=5, warmup=2, phase_runs=2))
    assert code == 0, result
    assert result["changed"] is False
    startup = result["ansible_facts"]["kata_fleet_startup"]
    assert startup == result["startup"]
    assert startup["check_mode"] is False and startup["run_id"] == RUN_ID
    runc = startup["runtimes"]["runc"]
    assert (runc["status"], runc["error"], runc["client"], runc["runtime_type"]) == (
        "ok", None, "ctr", "io.containerd.runc.v2")

    runs = _runs(containerd)
    assert len(runs) == 2 + 5
    names = [argv[argv.index(IMAGE) + 1] for argv in runs]
    assert names == [_name("w", 0), _name("w", 1)] + [_name("", i) for i in range(5)]
    for argv in runs:
        assert argv[:3] == ["timeout", "--kill-after=5", "30s"]
        run = argv[3:]
        assert run[:7] == ctr(containerd.address, "run", "--rm")
        assert run[run.index("--runtime") + 1] == "io.containerd.runc.v2"
        assert "io.kata-fleet.run-id=%s" % RUN_ID in run
    # the first warm-up reads the guest's boot time, every other run is the no-op
    assert runs[0][-4:] == [_name("w", 0), "/bin/sh", "-c", _probe.BOOT_TIME_SCRIPT]
    assert all(argv[-2:] == [argv[-2], "/bin/true"] for argv in runs[1:])

    # exact samples and statistics of the counted runs only (warm-ups take 1 s and are not counted)
    assert runc["samples"] == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert runc["total"] == summarize([0.1, 0.2, 0.3, 0.4, 0.5])
    assert runc["total"]["n"] == 5 and runc["total"]["median"] == 0.3 and runc["total"]["max"] == 0.5
    assert set(runc["phases"]) == set(PHASES)
    for phase in PHASES:
        assert runc["phases"][phase]["n"] == 2
        assert runc["phases"][phase]["median"] == PHASE_SECONDS[phase]
    assert runc["guest_kernel_boot_seconds"] is None
    # nothing failed, so nothing was cleaned up
    assert containerd.calls_with("--force") == [] and containerd.calls_with("kill") == []


def test_phase_runs_exact_argv_sequence(containerd, run_module):
    code, result = run_module(startup_bench.main, _args(containerd, runs=1, warmup=0, phase_runs=2))
    assert code == 0, result
    phase_calls = [argv for argv in containerd.calls if argv[:1] == ["timeout"] and "--kill-after=5" not in argv]
    assert len(phase_calls) == 8
    for index in range(2):
        name = _name("p", index)
        steps = [_strip_timeout(argv) for argv in phase_calls[4 * index:4 * index + 4]]
        for seconds, _argv in steps:
            # what is left of the run's 30 s, in whole seconds
            assert 1 <= seconds <= 30
        create, start, task_delete, remove = [argv for _seconds, argv in steps]
        labels = create[create.index("--label"):create.index("--snapshotter-label")]
        # the snapshot carries the same labels: a snapshot left without its container is provably ours
        assert create[create.index("--snapshotter-label"):create.index(IMAGE)] == [
            word if word != "--label" else "--snapshotter-label" for word in labels]
        assert create[:create.index("--runtime")] == ctr(containerd.address, "containers", "create")
        assert create[create.index("--runtime"):create.index("--label")] == ["--runtime", "io.containerd.runc.v2"]
        assert labels[0::2] == ["--label"] * 3
        assert [label.split("=")[0] for label in labels[1::2]] == [
            "io.kata-fleet.expires", "io.kata-fleet.owner", "io.kata-fleet.run-id"]
        assert labels[-1] == "io.kata-fleet.run-id=%s" % RUN_ID
        assert create[create.index(IMAGE):] == [IMAGE, name, "/bin/true"]
        assert start == ctr(containerd.address, "tasks", "start", "--detach", "--null-io", name)
        assert task_delete == ctr(containerd.address, "tasks", "delete", name)
        assert remove == ctr(containerd.address, "containers", "delete", name)


def test_phase_split_off(containerd, run_module):
    code, result = run_module(startup_bench.main, _args(containerd, runs=3, warmup=0, phase_runs=0))
    assert code == 0, result
    runc = result["startup"]["runtimes"]["runc"]
    assert runc["phases"] == {} and runc["total"]["n"] == 3
    assert containerd.calls_with("containers", "create") == []
    # no warm-up, so no boot time either
    assert runc["guest_kernel_boot_seconds"] is None
    assert len(_runs(containerd)) == 3


def test_every_handler_gets_its_own_series(containerd, run_module):
    code, result = run_module(startup_bench.main, _args(containerd, runtimes=[], runs=3, warmup=1, phase_runs=1))
    assert code == 0, result
    runtimes = result["startup"]["runtimes"]
    assert sorted(runtimes) == ["kata", "kata-dragonball", "runc"]
    for handler in runtimes:
        names = [argv[argv.index(IMAGE) + 1] for argv in _runs(containerd)
                 if argv[argv.index(IMAGE) + 1].startswith("kf-%s-%s-%s-s" % (TAG, RUN_ID, handler))]
        assert names == [_name("w", 0, handler)] + [_name("", i, handler) for i in range(3)]
        assert runtimes[handler]["total"]["n"] == 3 and runtimes[handler]["status"] == "ok"
    [create] = [argv for argv in containerd.calls_with("containers", "create")
                if _name("p", 0, "kata-dragonball") in argv]
    assert create[create.index("--runtime"):create.index("--runtime") + 4] == [
        "--runtime", "io.containerd.kata.v2", "--runtime-config-path", KATA_CONFIG]


# -- failures ------------------------------------------------------------------------------

def test_counted_run_times_out(containerd, run_module):
    timed_out = _name("", 2)
    containerd.on(IMAGE, timed_out, rc=124)
    code, result = run_module(startup_bench.main, _args(containerd, runs=5, warmup=1, phase_runs=2))
    assert code == 1 and result["failed"] is True
    assert "ansible_facts" not in result
    runc = result["startup"]["runtimes"]["runc"]
    assert runc["status"] == "failed"
    assert runc["error"] == "counted run 3 did not finish within 30s; it was killed and removed"
    assert result["msg"] == "runc: " + runc["error"]
    assert "total" not in runc and "phases" not in runc
    # the timed-out container was removed right after its run; nothing ran after it
    index = [i for i, argv in enumerate(containerd.calls) if argv[:1] == ["timeout"] and timed_out in argv][0]
    assert containerd.calls[index + 1:index + 6] == cleanup(containerd.address, timed_out)
    assert len(_runs(containerd)) == 1 + 3
    assert containerd.calls_with("containers", "create") == []


def test_killed_after_grace_counts_as_timeout(containerd, run_module):
    containerd.on(IMAGE, _name("w", 0), rc=137)
    code, result = run_module(startup_bench.main, _args(containerd, timeout=7))
    assert code == 1
    assert result["startup"]["runtimes"]["runc"]["error"] == (
        "warm-up run 1 did not finish within 7s; it was killed and removed")
    assert containerd.calls_with("snapshots", "delete", _name("w", 0))


def test_failed_run_reports_its_error(containerd, run_module):
    containerd.on(IMAGE, _name("", 0), rc=1, err="ctr: failed to create shim task: OCI runtime create failed\n")
    code, result = run_module(startup_bench.main, _args(containerd))
    assert code == 1
    assert result["startup"]["runtimes"]["runc"]["error"] == (
        "counted run 1 failed (rc=1): ctr: failed to create shim task: OCI runtime create failed")
    assert containerd.calls_with("containers", "delete", _name("", 0))


def test_one_handler_failing_keeps_the_others_results(containerd, run_module):
    containerd.on(IMAGE, _name("", 0, "kata"), rc=124)
    code, result = run_module(startup_bench.main, _args(containerd, runtimes=["runc", "kata"], warmup=0))
    assert code == 1
    runtimes = result["startup"]["runtimes"]
    assert runtimes["runc"]["status"] == "ok" and runtimes["runc"]["total"]["n"] == 5
    assert runtimes["kata"]["status"] == "failed"
    assert result["msg"].startswith("kata: counted run 1 did not finish within 30s")


@pytest.mark.parametrize("phase, words", [
    ("create", ("containers", "create")),
    ("start", ("--null-io",)),
    ("task_delete", ("tasks", "delete", _name("p", 0))),
    ("remove", ("containers", "delete", _name("p", 0))),
])
def test_failing_phase_cleans_up_and_fails_the_handler(containerd, run_module, phase, words):
    containerd.answer(words, [(1, "", "ctr: something broke in %s\n" % phase)])
    code, result = run_module(startup_bench.main, _args(containerd, runs=2, warmup=0, phase_runs=2))
    assert code == 1
    runc = result["startup"]["runtimes"]["runc"]
    assert runc["status"] == "failed"
    assert runc["error"] == "phase %s failed (rc=1): ctr: something broke in %s" % (phase, phase)
    assert "phases" not in runc
    name = _name("p", 0)
    failed_at = [i for i, argv in enumerate(containerd.calls) if argv[:1] == ["timeout"] and name in argv][-1]
    assert containerd.calls[failed_at + 1:failed_at + 6] == cleanup(containerd.address, name)
    # the second phase run never starts
    assert not [argv for argv in containerd.calls if _name("p", 1) in argv]


def test_phase_timed_out_by_timeout_command(containerd, run_module):
    containerd.answer(("--null-io",), [(124, "", "")])
    code, result = run_module(startup_bench.main, _args(containerd, runs=1, warmup=0, phase_runs=1))
    assert code == 1
    assert result["startup"]["runtimes"]["runc"]["error"] == "phase start did not finish within 30s"
    assert containerd.calls_with("tasks", "kill", "--signal", "SIGKILL", _name("p", 0))


def test_task_delete_of_a_running_task_is_retried(containerd, run_module):
    name = _name("p", 0)
    containerd.answer(("tasks", "delete", name), [(1, "", STILL_RUNNING), (0, "", "")])
    code, result = run_module(startup_bench.main, _args(containerd, runs=1, warmup=0, phase_runs=1))
    assert code == 0, result
    deletes = containerd.calls_with("tasks", "delete", name)
    assert len(deletes) == 2 and all(argv[0] == "timeout" for argv in deletes)
    phases = result["startup"]["runtimes"]["runc"]["phases"]
    # two attempts and the 10 ms wait between them
    assert phases["task_delete"]["median"] == pytest.approx(2 * PHASE_SECONDS["task_delete"] + 0.01, abs=1e-5)
    assert containerd.calls_with("--force") == []


def test_task_that_never_stops_hits_the_deadline(containerd, run_module):
    name = _name("p", 0)
    containerd.answer(("tasks", "delete", name), [(1, "", STILL_RUNNING)])
    code, result = run_module(startup_bench.main, _args(containerd, runs=1, warmup=0, phase_runs=1, timeout=3))
    assert code == 1
    assert result["startup"]["runtimes"]["runc"]["error"] == "phase task_delete did not finish within 3s"
    assert containerd.calls_with("tasks", "delete", "--force", name)
    assert containerd.calls_with("containers", "delete", name)[-1] == ctr(containerd.address, "containers", "delete", name)


def test_phase_split_with_one_second_timeout(containerd, run_module):
    # The time left is rounded up for timeout(1): flooring it gave the first phase 0 s and failed at once.
    code, result = run_module(startup_bench.main, _args(containerd, runs=1, warmup=0, phase_runs=1, timeout=1))
    assert code == 0, result
    assert containerd.calls_with("containers", "create")


def test_first_phase_gets_the_whole_timeout(containerd, run_module):
    code, result = run_module(startup_bench.main, _args(containerd, runs=1, warmup=0, phase_runs=1, timeout=30))
    assert code == 0, result
    [create] = containerd.calls_with("containers", "create")
    assert create[:2] == ["timeout", "30s"]


# -- guest kernel boot time ---------------------------------------------------------------------

def test_guest_boot_time_read_from_first_warmup(containerd, run_module):
    containerd.on(IMAGE, _name("w", 0), out="%s\n%s\n" % (GUEST_BOOT_ID, FREEING))
    code, result = run_module(startup_bench.main, _args(containerd, warmup=2))
    assert code == 0, result
    assert result["startup"]["runtimes"]["runc"]["guest_kernel_boot_seconds"] == 0.523456


def test_shared_kernel_reports_no_guest_boot_time(containerd, run_module):
    # a container on the host kernel that may read dmesg sees the host's boot
    containerd.on(IMAGE, _name("w", 0), out="%s\n%s\n" % (HOST_BOOT_ID, FREEING))
    code, result = run_module(startup_bench.main, _args(containerd))
    assert code == 0, result
    assert result["startup"]["runtimes"]["runc"]["guest_kernel_boot_seconds"] is None


@pytest.mark.parametrize("output, expected", [
    (HOST_BOOT_ID + "\n" + FREEING + "\n", None),
    ("  %s  \n%s\n" % (HOST_BOOT_ID, FREEING), None),
    (GUEST_BOOT_ID + "\n" + FREEING + "\n", 0.523456),
    (GUEST_BOOT_ID + "\n[   12.000100] Freeing unused kernel memory: 1200K\n", 12.0001),
    (GUEST_BOOT_ID + "\n", None),                           # dmesg not readable: no line
    (GUEST_BOOT_ID + "\ndmesg: klogctl: Operation not permitted\n", None),
    ("", None),
    ("\n\n", None),
])
def test_guest_kernel_boot_seconds(output, expected):
    assert _probe.guest_kernel_boot_seconds(output, HOST_BOOT_ID) == expected


def test_boot_time_script_prints_boot_id_then_freeing_line():
    assert _probe.BOOT_TIME_SCRIPT.startswith("cat /proc/sys/kernel/random/boot_id;")
    assert "grep -m 1 'Freeing unused kernel'" in _probe.BOOT_TIME_SCRIPT
    # exits 0 whether or not dmesg is readable, so a warm-up never fails on it
    assert _probe.BOOT_TIME_SCRIPT.rstrip().endswith("true")


# -- ContainerdClient.create_argv / run_phases directly ---------------------------------------

def test_create_argv(fake_module):
    client = ContainerdClient(fake_module(bins={"ctr": CTR}), "/run/kf/c.sock", NAMESPACE, "/etc/c.toml", "ctr")
    handler = {"runtime_type": "io.containerd.runc.v2", "options": {"BinaryName": "/usr/local/bin/crun"}}
    argv = client.create_argv("kf-x-runc-sp0", IMAGE, handler, ["/bin/true"], {"b": "2", "a": "1"})
    assert argv == [CTR, "--address", "/run/kf/c.sock", "--namespace", NAMESPACE, "containers", "create",
                    "--runtime", "io.containerd.runc.v2", "--runc-binary", "/usr/local/bin/crun",
                    "--label", "a=1", "--label", "b=2", "--snapshotter-label", "a=1", "--snapshotter-label", "b=2",
                    IMAGE, "kf-x-runc-sp0", "/bin/true"]


def test_create_argv_is_ctr_even_with_nerdctl(fake_module):
    module = fake_module(bins={"ctr": CTR, "nerdctl": "/usr/local/bin/nerdctl"})
    client = ContainerdClient(module, "/run/kf/c.sock", NAMESPACE, "/etc/c.toml", "auto")
    argv = client.create_argv("n", IMAGE, {"runtime_type": "io.containerd.runc.v2"}, ["/bin/true"], {})
    assert argv[0] == CTR and argv[5:7] == ["containers", "create"]


def test_run_phases_returns_each_phase(fake_module, clock):
    module = fake_module(bins={"ctr": CTR})
    client = ContainerdClient(module, "/run/kf/c.sock", NAMESPACE, "/etc/c.toml", "ctr", runner=module.run_bounded)
    phases = client.run_phases("kf-x-runc-sp0", IMAGE, {"runtime_type": "io.containerd.runc.v2"}, ["/bin/true"],
                               "x", 10)
    assert sorted(phases) == sorted(PHASES)
    assert all(value >= 0 for value in phases.values())
    assert [argv[7:9] for argv in module.calls] == [
        ["containers", "create"], ["tasks", "start"], ["tasks", "delete"], ["containers", "delete"]]


def test_run_phases_failure_raises_after_cleanup(fake_module, clock):
    module = fake_module(bins={"ctr": CTR})
    module.on("containers", "create", rc=1, err="ctr: image not found\n")
    # the container is this run's (its own owner token): remove() checks that before removing anything
    module.on("containers", "info", out=json.dumps({"Labels": {
        "io.kata-fleet.run-id": "x", "io.kata-fleet.owner": _owner.owner_token(), "io.kata-fleet.expires": "9999999999"}}))
    client = ContainerdClient(module, "/run/kf/c.sock", NAMESPACE, "/etc/c.toml", "ctr", runner=module.run_bounded)
    with pytest.raises(ContainerdError, match=r"^phase create failed \(rc=1\): ctr: image not found$"):
        client.run_phases("kf-x-runc-sp0", IMAGE, {"runtime_type": "io.containerd.runc.v2"}, ["/bin/true"], "x", 10)
    assert module.calls[1:] == cleanup("/run/kf/c.sock", "kf-x-runc-sp0")


# -- wiring ------------------------------------------------------------------------------------

def test_startup_bench_is_in_the_containerd_action_group():
    # module_defaults group/kata_fleet.runtimes.containerd (playbooks set address/namespace/config_path there)
    # only reaches the modules listed in the group.
    runtime = yaml.safe_load((REPO_ROOT / "meta" / "runtime.yml").read_text())
    assert "startup_bench" in runtime["action_groups"]["containerd"]


def test_a_binaryname_handler_is_timed_whole_and_says_why_there_are_no_phases():
    """gVisor's runsc under the runc shim: ctr run takes --runc-binary, ctr containers create does not."""
    runsc = {"runtime_type": "io.containerd.runc.v2",
             "options": {"BinaryName": "/usr/local/libexec/kata-fleet/runsc-containerd"}}

    class Client:
        phases_unsupported = staticmethod(_containerd.ContainerdClient.phases_unsupported)

        def __init__(self):
            self.runs = []

        @staticmethod
        def uses_nerdctl(handler):
            return False

        @staticmethod
        def container_name(run_id, name, role, reserve=6):
            return "kf-%s-%s-%s" % (run_id, name, role)

        def run_once(self, name, image, handler, command, run_id, timeout):
            self.runs.append(name)
            return _exec.Result(0, "", "", 0.5)

        def run_phases(self, *args):
            raise AssertionError("ctr containers create would fail: flag provided but not defined: -runc-binary")

    client = Client()
    params = {"image": IMAGE, "timeout": 30, "warmup": 0, "runs": 3, "phase_runs": 3}
    entry = _startup.bench_handler(client, "runsc", runsc, params, RUN_ID, HOST_BOOT_ID)
    assert entry["status"] == "ok" and entry["total"]["n"] == 3 and len(client.runs) == 3
    assert entry["phases"] == {}
    assert entry["phases_skipped"].startswith("ctr containers create cannot pass the handler's BinaryName")
    assert _containerd.ContainerdClient.phases_unsupported({"runtime_type": "io.containerd.runc.v2", "options": {}}) is None
    assert _startup.bench_handler(client, "runsc", runsc, dict(params, phase_runs=0), RUN_ID,
                                  HOST_BOOT_ID)["phases_skipped"] is None
