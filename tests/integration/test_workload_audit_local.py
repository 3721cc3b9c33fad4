"""The workload audit, live: runc and gVisor containers the test starts itself, audited without being touched.

Real containerd (the tests' own instance), runc and runsc (under the runc shim,
through the harness's runsc handler). In a containerd namespace of its own the
test starts two pods of two containers each with the CRI's labels, `ctr run -d`
running sleep: pod A under runc; pod B with its sandbox under gVisor and its app
container under the runc shim told to run a binary named ``runsc`` that is
really runc (a gVisor runtime in its configuration, an ordinary host process in
fact). The module (plugins/modules/workload_audit.py, run as Ansible runs it)
must classify each, group the pods, flag the app as an error, and leave every
task exactly as it was (task list, pids, status, start times).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from harness import REPO

sys.path.insert(0, os.path.join(REPO, "collections"))
from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _oci  # noqa: E402  pylint: disable=wrong-import-position

NAMESPACE = "audit-test"
MODULE = os.path.join(REPO, "plugins", "modules", "workload_audit.py")
SB_A, SB_B = "a" * 64, "b" * 64

pytestmark = pytest.mark.skipif(shutil.which("runsc") is None, reason="runsc is not installed (.ci/run installs it)")


def _ctr(containerd, *args, check=True):
    done = subprocess.run(["ctr", "--address", containerd.address, "--namespace", NAMESPACE] + list(args),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 or not check, (args, done.stdout, done.stderr)
    return done


def _labels(pod_ns, pod, container, kind, sandbox):
    labels = {"io.kubernetes.pod.name": pod, "io.kubernetes.pod.namespace": pod_ns,
              "io.kubernetes.container.name": container, "io.cri-containerd.kind": kind,
              "io.kubernetes.cri.sandbox-id": sandbox}
    return [arg for key in sorted(labels) for arg in ("--label", "%s=%s" % (key, labels[key]))]


def _state(containerd):
    """{task: (pid, status, start ticks)}: what must not change."""
    state = {}
    for line in _ctr(containerd, "tasks", "ls").stdout.splitlines()[1:]:
        task, pid, status = line.split()
        state[task] = (int(pid), status, _start(int(pid)))
    return state


def _start(pid):
    with open("/proc/%d/stat" % pid) as handle:
        return handle.read().rpartition(")")[2].split()[19]


def _audit(containerd, tmp, **args):
    path = os.path.join(tmp, "args.json")
    with open(path, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": dict(address=containerd.address, config_path=containerd.config,
                                               namespace=containerd.namespace, client="ctr", **args)}, handle)
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "collections"))
    done = subprocess.run([sys.executable, MODULE, path], capture_output=True, text=True, timeout=300, env=env,
                          check=False)
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return json.loads(done.stdout)


def _remove(containerd, ids):
    for cid in ids:
        _ctr(containerd, "tasks", "kill", "--signal", "SIGKILL", cid, check=False)
    deadline = time.monotonic() + 30
    for cid in ids:
        while _ctr(containerd, "tasks", "delete", cid, check=False).returncode != 0 and time.monotonic() < deadline:
            if "not found" in _ctr(containerd, "tasks", "delete", "--force", cid, check=False).stderr:
                break
            time.sleep(0.2)
        _ctr(containerd, "containers", "delete", cid, check=False)
        _ctr(containerd, "snapshots", "delete", cid, check=False)


def test_the_audit_witnesses_pods_and_touches_nothing(containerd):
    if not _oci.is_static_elf(open("/bin/busybox", "rb").read()):
        pytest.skip("/bin/busybox is not static: apt-get install busybox-static")
    tmp = tempfile.mkdtemp(prefix="kf-audit-", dir="/tmp")
    os.chmod(tmp, 0o755)
    # A binary named runsc that is really runc: what a gVisor handler pointed at the wrong binary runs.
    fake_runsc = os.path.join(tmp, "runsc")
    os.symlink(shutil.which("runc"), fake_runsc)
    gvisor = os.path.join(containerd.base, "runsc-containerd")
    ids = []
    try:
        built = _oci.build_archive("/bin/busybox", os.uname().machine, os.path.join(tmp, "image.tar"))
        _ctr(containerd, "images", "import", os.path.join(tmp, "image.tar"))
        image = built["reference"]
        for cid, runc_binary, labels in (
                (SB_A, None, _labels("default", "pod-a", "POD", "sandbox", SB_A)),
                ("a-app", None, _labels("default", "pod-a", "app", "container", SB_A)),
                (SB_B, gvisor, _labels("untrusted-b", "pod-b", "POD", "sandbox", SB_B)),
                ("b-app", fake_runsc, _labels("untrusted-b", "pod-b", "app", "container", SB_B))):
            ids.append(cid)
            binary = ["--runc-binary", runc_binary] if runc_binary else []
            _ctr(containerd, "run", "-d", "--runtime", "io.containerd.runc.v2", *(binary + labels + [
                image, cid, "sleep", "600"]))
        time.sleep(1)
        before = _state(containerd)
        assert sorted(before) == sorted(ids) and all(s[1] == "RUNNING" for s in before.values()), before

        result = _audit(containerd, tmp, audit_sandboxed_namespaces=["untrusted-*"])
        assert result.get("changed") is False, result
        audit = result["audit"]
        mine = dict((c["id"], c) for c in audit["containers_list"] if c["namespace"] == NAMESPACE)
        assert sorted(mine) == sorted(ids)
        assert mine[SB_A]["class"] == mine["a-app"]["class"] == "host-process", (mine[SB_A], mine["a-app"])
        assert mine[SB_A]["handler"] == "runc" and mine[SB_A]["expected"] == "host-process"
        assert mine[SB_B]["class"] == "user-space-kernel" and mine[SB_B]["handler"] == "runsc", mine[SB_B]
        assert mine[SB_B]["binary"] == os.path.realpath(shutil.which("runsc")), mine[SB_B]
        # Configured as gVisor (a runsc binary under the runc shim), running as an ordinary host process.
        fake = mine["b-app"]
        assert (fake["expected"], fake["class"], fake["binary_name"]) == ("user-space-kernel", "host-process",
                                                                          fake_runsc), fake
        findings = [(f["severity"], f["code"]) for f in audit["findings"]
                    if f.get("container", {}).get("id") == "b-app"]
        assert ("error", "sandbox-not-isolated") in findings and ("error", "policy-sandboxed-namespaces") in findings
        assert not [f for f in audit["findings"] if f.get("container", {}).get("id") in (SB_A, "a-app", SB_B)]
        assert audit["status"] == "failed"
        pods = dict((p["sandbox_id"], p) for p in audit["pods_list"] if p["namespace"] == NAMESPACE)
        assert sorted(pods[SB_A]["containers"]) == sorted([SB_A, "a-app"])
        assert sorted(pods[SB_B]["containers"]) == sorted([SB_B, "b-app"])
        assert sorted(pods[SB_B]["classes"]) == ["host-process", "user-space-kernel"]
        assert (pods[SB_B]["pod_namespace"], pods[SB_B]["pod_name"]) == ("untrusted-b", "pod-b")

        counted = _audit(containerd, tmp, names="counts")["audit"]
        assert "containers_list" not in counted and "pod-b" not in json.dumps(counted)
        assert counted["classes"]["user-space-kernel"] >= 1 and counted["classes"]["host-process"] >= 3
        assert {"severity": "error", "code": "sandbox-not-isolated", "count": 1} in counted["findings"]

        # Nothing of them changed: the same tasks, pids, statuses and processes (start times).
        assert _state(containerd) == before
    finally:
        _remove(containerd, ids)
        for line in _ctr(containerd, "images", "ls", "-q", check=False).stdout.split():
            _ctr(containerd, "images", "rm", line, check=False)
        runsc_root = "/run/containerd/runc/%s" % NAMESPACE
        for cid in (os.listdir(runsc_root) if os.path.isdir(runsc_root) else []):
            subprocess.run([shutil.which("runsc"), "--root", runsc_root, "delete", "--force", cid], check=False,
                           capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    assert _ctr(containerd, "containers", "ls", "-q").stdout.split() == []
    assert _ctr(containerd, "tasks", "ls").stdout.splitlines()[1:] == []
