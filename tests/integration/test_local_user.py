"""Issue 19, live: a local user's look-alike shim is never trusted; two runs sharing a run id never collide."""

import os
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

import kata_fleet_runner
from harness import NOTHING_LEFT, REPO, PlaybookRun, local_inventory

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _containerd, _linux, _owner  # noqa: E402

EVIL_C = r"""
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (getuid() == 0 || geteuid() == 0) { FILE *f = fopen("%s", "w"); if (f) fclose(f); return 0; }
    sleep(600);
    return 0;
}
"""


@pytest.fixture
def workdir():
    path = tempfile.mkdtemp(prefix="kf-it-user-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _real_http_shim(containerd, deadline):
    """argv of the trusted shim of this run's HTTP probe container, as soon as there is one."""
    while time.monotonic() < deadline:
        for pid, (_ppid, argv) in _linux.process_table().items():
            flags = _containerd._flag_values(argv[1:]) if argv else {}
            if flags.get("namespace") == containerd.namespace and (flags.get("id") or "").endswith("-http") \
                    and _owner.is_trusted_shim(_owner.process_info(pid)):
                return argv
        time.sleep(0.05)
    return None


def test_look_alike_shim_of_a_local_user_is_ignored(containerd, run_playbook, workdir):
    if subprocess.run(["gcc", "--version"], capture_output=True, check=False).returncode != 0:
        pytest.skip("gcc is needed to build the stand-in runtime binary")
    root_only = os.path.join(workdir, "root-only")
    os.mkdir(root_only, 0o700)
    marker = os.path.join(root_only, "executed-as-root")
    source, evil = os.path.join(workdir, "evil.c"), os.path.join(workdir, "runsc")
    with open(source, "w") as handle:
        handle.write(EVIL_C % marker)
    subprocess.run(["gcc", "-o", evil, source], check=True)
    os.chmod(evil, 0o755)
    fakes = []

    def pose():
        argv = _real_http_shim(containerd, time.monotonic() + 240)
        if not argv:
            return
        flags = _containerd._flag_values(argv[1:])
        script = 'exec -a "runsc-sandbox" %s --root=%s --network=host' % (evil, workdir)
        fake = subprocess.Popen(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", "/bin/bash", "-c",
             'exec -a containerd-shim-runc-v2 /bin/bash -c \'(%s) & wait\' -namespace "$0" -id "$1" -address "$2"'
             % script, flags["namespace"], flags["id"], flags["address"]])
        fakes.append((fake, flags["id"]))

    poser = threading.Thread(target=pose, daemon=True)
    poser.start()
    try:
        run = run_playbook("verify.yml", local_inventory(containerd, kata_fleet_runtimes=["runc"]))
        poser.join(10)
        assert fakes, "the HTTP probe's shim was never seen, so no look-alike was started"
        fake, container_id = fakes[0]
        assert run.status == "successful", run.status
        # the look-alike was not killed, its "sandbox" binary never ran as root, its tree was not counted
        assert fake.poll() is None and len(_linux.descendants(fake.pid)) >= 2
        assert not os.path.exists(marker)
        memory = run.results("http_latency")["localhost"]["http"]["runtimes"]["runc"]["memory"]
        counted = set(process["pid"] for process in memory["processes"])
        assert not counted & set(_linux.descendants(fake.pid))
    finally:
        for fake, _cid in fakes:
            for pid in reversed(_linux.descendants(fake.pid)):
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
            fake.wait()
    # The harness counts shims by their command line, as a person reading ps would: with the look-alike gone,
    # nothing of the run is left.
    assert containerd.leftovers() == NOTHING_LEFT


def test_two_runs_with_the_same_run_id_at_once(containerd, tmp_path):
    """Issue 19 part 3: a re-run job or two controllers: same run id, one containerd; both succeed."""
    inventory = local_inventory(containerd, kata_fleet_runtimes=["runc"])
    runs = {}

    def one(key):
        result = kata_fleet_runner.run_playbook(
            os.path.join(REPO, "playbooks", "verify.yml"), inventory, private_data_dir=tmp_path / key / "runner",
            evidence_dir=tmp_path / key / "evidence", envvars={"KATA_FLEET_RUN_ID": "issue19-same"}, timeout=900)
        runs[key] = PlaybookRun(result, str(tmp_path / key / "evidence"))

    threads = [threading.Thread(target=one, args=(key,)) for key in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(960)
    assert set(runs) == {"a", "b"}
    for key, run in runs.items():
        assert run.status == "successful", (key, run.status)
        http = run.results("http_latency")["localhost"]["http"]
        assert http["run_id"] == "issue19-same" and http["runtimes"]["runc"]["status"] == "ok"
    assert containerd.leftovers() == NOTHING_LEFT
