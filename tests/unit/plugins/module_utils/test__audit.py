"""Unit tests of plugins/module_utils/_audit.py: the workload audit over a scripted ctr and recorded process trees.

The node (tests/unit/fixtures/audit/kata_node.json) holds the host-side trees of
Kata with QEMU, Cloud Hypervisor, Firecracker (bare and jailed) and Dragonball,
gVisor and runc pods, shaped as those runtimes' code produces them (see the
fixture's description); _witness.RecordedReader replays it.  ctr is
tests/unit/audit_node.ScriptedCtr, which refuses any call that is not a read.
"""

import copy
import json
import time

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _audit, _containerd, _owner, _witness
from audit_node import (CLH_CONFIG, DB_CONFIG, FC_CONFIG, QEMU_CONFIG, ScriptedCtr, client, generated_node, info,
                        kata_options, pod_labels, runc_options)
from conftest import FIXTURES

SB = dict(("%s" % name, "%064x" % number) for number, name in enumerate(
    ("web", "db", "clh", "fc", "jail", "drag", "gv", "fake", "vmrunc", "untrusted", "lowshim"), start=1))


def recording():
    return json.loads((FIXTURES / "audit" / "kata_node.json").read_text())


def pod(name, kind, cid, pid, runtime="io.containerd.runc.v2", options=None, pod_ns="default", status="RUNNING"):
    labels = pod_labels(pod_ns, name, "POD" if kind == "sandbox" else "app", kind, SB[name])
    return cid, info(cid, labels, runtime, options), (pid, status)


def node_namespaces():
    kata = "io.containerd.kata.v2"
    rows = [
        pod("web", "sandbox", SB["web"], 1110),
        pod("web", "container", "a2", 1120),
        pod("db", "sandbox", SB["db"], 2010, kata, kata_options(QEMU_CONFIG), "untrusted-db"),
        pod("db", "container", "b2", 2010, kata, kata_options(QEMU_CONFIG), "untrusted-db"),
        pod("clh", "sandbox", SB["clh"], 3010, kata, kata_options(CLH_CONFIG)),
        pod("fc", "sandbox", SB["fc"], 4010, kata, kata_options(FC_CONFIG)),
        pod("jail", "sandbox", SB["jail"], 4110, kata, kata_options(FC_CONFIG)),
        pod("drag", "sandbox", SB["drag"], 5017, kata, kata_options(DB_CONFIG)),
        pod("gv", "sandbox", SB["gv"], 6010, "io.containerd.runsc.v1"),
        pod("fake", "sandbox", SB["fake"], 7010, kata),
        pod("vmrunc", "sandbox", SB["vmrunc"], 8010),
        pod("untrusted", "sandbox", SB["untrusted"], 9010, pod_ns="untrusted-web"),
        pod("lowshim", "sandbox", SB["lowshim"], 9510),
    ]
    k8s = {"containers": dict((cid, i) for cid, i, _t in rows), "tasks": dict((cid, t) for cid, _i, t in rows)}
    k8s["containers"]["stopped"] = info("stopped", {})
    probe = "kf-5ca1ab1e-run-1-runc-probe"
    forged = "kf-5ca1ab1e-run-1-runc-forged"
    own = {_containerd.LABEL_RUN_ID: "run-1", _containerd.LABEL_OWNER: _owner.owner_token(),
           _containerd.LABEL_EXPIRES: str(_owner.expires_at(3600))}
    # Kata-fleet's labels copied onto a workload: the token names no live kata-fleet process, so it is audited.
    fake_owner = dict(own, **{_containerd.LABEL_OWNER: "1:1:abcdef"})
    fleet = {"containers": {probe: info(probe, own), forged: info(forged, fake_owner)},
             "tasks": {probe: (1120, "RUNNING"), forged: (9010, "RUNNING")}}
    return {"k8s.io": k8s, "kata-fleet": fleet}


def run_audit(fake_module, namespaces, **options):
    ctr = ScriptedCtr(namespaces)
    reader = options.pop("reader", None) or _audit.RecordedSnapshotReader(recording())
    result = _audit.audit(client(fake_module, ctr), reader=reader, **options)
    return result, ctr


def by_id(result):
    return dict((c["id"], c) for c in result["containers_list"])


def codes(result):
    return sorted((f["severity"], f["code"], f.get("container", {}).get("id")) for f in result["findings"])


def test_every_runtime_is_classified_from_the_host(fake_module):
    result, ctr = run_audit(fake_module, node_namespaces())
    seen = by_id(result)
    assert (seen[SB["web"]]["class"], seen["a2"]["class"]) == ("host-process", "host-process")
    for name, vmm, handler in (("db", "qemu", "kata-qemu"), ("clh", "cloud-hypervisor", "kata-clh"),
                               ("fc", "firecracker", "kata-fc"), ("drag", "dragonball", "kata-dragonball")):
        entry = seen[SB[name]]
        assert (entry["class"], entry["vmm"], entry["handler"], entry["expected"]) == ("vmm", vmm, handler, "vmm"), entry
    assert seen["b2"]["class"] == "vmm" and seen["b2"]["task_pid"] == 2010
    assert seen[SB["gv"]]["class"] == "user-space-kernel" and seen[SB["gv"]]["handler"] == "runsc"
    # The jailed Firecracker runs /firecracker inside its chroot: not a host binary the witness can vouch for.
    assert seen[SB["jail"]]["class"] == "unknown" and seen[SB["jail"]]["reason"]
    # A 'shim' an unprivileged user started is no shim: what runs below it is unknown, not host-process.
    assert seen[SB["lowshim"]]["class"] == "unknown" and "no containerd shim" in seen[SB["lowshim"]]["reason"]
    assert result["classes"] == {"host-process": 5, "vmm": 6, "user-space-kernel": 1, "unknown": 2}
    assert result["containers"] == 14
    assert result["vmms"] == {"cloud-hypervisor": 1, "dragonball": 1, "firecracker": 1, "qemu": 3}
    assert result["handlers"]["kata-qemu"]["vmm"] == 2 and result["handlers"]["runc"]["host-process"] == 4
    assert seen[SB["fake"]]["handler"] is None and seen[SB["fake"]]["handler_candidates"] == []
    assert result["not_running"] == 1 and result["namespaces"] == 2
    # Only reads: the scripted ctr refuses anything else; one info per running container, no more.
    assert all(argv[5:7] in (["namespaces", "ls"], ["tasks", "ls"], ["containers", "ls"], ["containers", "info"])
               for argv in ctr.calls)
    assert len([a for a in ctr.calls if a[5:7] == ["containers", "info"]]) == 15 == result["ctr_calls"] - 5


def test_mismatches_and_their_severity(fake_module):
    result, _ctr = run_audit(fake_module, node_namespaces())
    found = codes(result)
    # Kata promised, an ordinary host process seen: an error.
    assert ("error", "sandbox-not-isolated", SB["fake"]) in found
    # runc configured, a VM seen: information.
    assert ("info", "runc-sandboxed", SB["vmrunc"]) in found
    # Kata promised, nothing the host can vouch for: a warning, with the witness's reason.
    assert ("warning", "isolation-unwitnessed", SB["jail"]) in found
    assert not [f for f in found if f[2] in (SB["db"], SB["web"], SB["gv"], SB["drag"], SB["clh"])]
    assert result["status"] == "failed"
    message = [f["message"] for f in result["findings"] if f["code"] == "sandbox-not-isolated"][0]
    assert "io.containerd.kata.v2" in message and "/bin/sleep" in message


def test_pods_are_grouped_by_sandbox(fake_module):
    result, _ctr = run_audit(fake_module, node_namespaces())
    pods = dict((p["sandbox_id"], p) for p in result["pods_list"])
    assert sorted(pods[SB["web"]]["containers"]) == sorted([SB["web"], "a2"])
    assert (pods[SB["db"]]["pod_namespace"], pods[SB["db"]]["pod_name"]) == ("untrusted-db", "db")
    assert pods[SB["db"]]["classes"] == ["vmm"]
    assert result["pods"] == len(pods) == 11


def test_kata_fleet_probes_are_left_out_only_when_provably_live(fake_module):
    result, _ctr = run_audit(fake_module, node_namespaces())
    assert result["excluded"] == [{"namespace": "kata-fleet", "id": "kf-5ca1ab1e-run-1-runc-probe"}]
    assert result["excluded_probes"] == 1
    assert by_id(result)["kf-5ca1ab1e-run-1-runc-forged"]["class"] == "host-process"


def test_policy_over_sandboxed_namespaces(fake_module):
    result, _ctr = run_audit(fake_module, node_namespaces(), sandboxed_namespaces=["untrusted-*"])
    policy = [f for f in result["findings"] if f["code"] == "policy-sandboxed-namespaces"]
    assert [(f["severity"], f["container"]["id"]) for f in policy] == [("error", SB["untrusted"])]
    assert "untrusted-web/untrusted" in policy[0]["message"]
    # untrusted-db runs in QEMU: no finding for it.
    result, _ctr = run_audit(fake_module, node_namespaces(), sandboxed_namespaces=["untrusted-db"])
    assert not [f for f in result["findings"] if f["code"] == "policy-sandboxed-namespaces"]
    result, _ctr = run_audit(fake_module, node_namespaces(), sandboxed_namespaces=["default"])
    policy = sorted(f["container"]["id"] for f in result["findings"] if f["code"] == "policy-sandboxed-namespaces")
    # Every runc pod of 'default' and the ones nothing vouches for (jail, lowshim); the VMs and gVisor pass.
    assert policy == sorted([SB["web"], "a2", SB["fake"], SB["jail"], SB["lowshim"]])
    assert SB["vmrunc"] not in policy and SB["clh"] not in policy and SB["gv"] not in policy


@pytest.mark.parametrize("patterns,problem", [
    (["untrusted-*"], None), (["a", "b?", "[xy]*"], None), (["Untrusted"], "not a glob"), (["a/b"], "not a glob"),
    (["x" * 64], "not a glob"), ("untrusted-*", "must be a list"), (["ok\n"], "not a glob")])
def test_policy_patterns_are_checked(patterns, problem):
    answer = _audit.check_patterns(patterns)
    assert (answer is None) if problem is None else (problem in answer)


def test_counts_only_names_nothing(fake_module):
    result, _ctr = run_audit(fake_module, node_namespaces(), names="counts", sandboxed_namespaces=["untrusted-*"])
    text = json.dumps(result)
    for secret in ("untrusted-web", "untrusted-db", "a2", SB["web"], "kf-5ca1ab1e", "k8s.io", "nginx", "pause"):
        assert secret not in text, secret
    assert "containers_list" not in result and "pods_list" not in result
    assert {"severity": "error", "code": "sandbox-not-isolated", "count": 1} in result["findings"]
    assert {"severity": "error", "code": "policy-sandboxed-namespaces", "count": 1} in result["findings"]
    assert result["classes"]["vmm"] == 6


HOSTILE = [
    ({"io.kubernetes.pod.name": "evil\nname"}, "label io.kubernetes.pod.name"),
    ({"io.kubernetes.pod.name": "UPPER"}, "label io.kubernetes.pod.name"),
    ({"io.kubernetes.pod.namespace": "a" * 64}, "label io.kubernetes.pod.namespace"),
    ({"io.kubernetes.container.name": "x;rm -rf /"}, "label io.kubernetes.container.name"),
    ({"io.cri-containerd.kind": "root"}, "neither sandbox nor container"),
    ({"io.kubernetes.cri.sandbox-id": "../../etc"}, "the sandbox id"),
    ({"big": "x" * 5000}, "label is not a string pair"),
    (dict(("k%d" % i, "v") for i in range(600)), "at most 512"),
]


@pytest.mark.parametrize("labels,error", HOSTILE)
def test_hostile_labels_become_that_containers_error(fake_module, labels, error):
    namespaces = node_namespaces()
    namespaces["k8s.io"]["containers"]["a2"]["Labels"] = labels
    result, _ctr = run_audit(fake_module, namespaces)
    entry = by_id(result)["a2"]
    assert error in entry["error"]
    assert ("error", "container-invalid", "a2") in codes(result)
    # Never echoed, and the other containers are audited as before.
    assert "evil" not in json.dumps(result) and "rm -rf" not in json.dumps(result) and "xxxxx" not in json.dumps(result)
    assert by_id(result)[SB["db"]]["class"] == "vmm"


@pytest.mark.parametrize("mutate,error", [
    (lambda i: i.update(Runtime={"Name": "io.containerd.runc.v2 --evil"}), "runtime name"),
    (lambda i: i.update(Runtime="x"), "runtime name"),
    (lambda i: i.update(Image="a b"), "image reference"),
    (lambda i: i.update(Labels=["a"]), "labels are not a map"),
])
def test_hostile_metadata(fake_module, mutate, error):
    namespaces = node_namespaces()
    mutate(namespaces["k8s.io"]["containers"]["a2"])
    result, _ctr = run_audit(fake_module, namespaces)
    assert error in by_id(result)["a2"]["error"]


def test_hostile_listings_are_refused_line_by_line():
    tasks, bad = _audit.parse_tasks("TASK PID STATUS\nok 12 RUNNING\nbad\n12 x RUNNING\nx\n 13 RUNNING\n"
                                    "y 14 EVIL\nz 99999999999 RUNNING\n")
    assert tasks == {"ok": (12, "RUNNING")} and bad == 6
    names, refused = _audit.parse_namespaces("k8s.io\n../x\ndefault\n" + "a" * 80 + "\n")
    assert names == ["default", "k8s.io"] and refused == 2
    containers, bad = _audit.parse_containers("CONTAINER IMAGE RUNTIME\nc1 img io.containerd.runc.v2\nc 2\n")
    assert containers == {"c1": "io.containerd.runc.v2"} and bad == 1


def test_runtime_options_decode_and_bound():
    assert _audit.runtime_options(runc_options("/usr/sbin/runc")) == ("/usr/sbin/runc", None, None)
    assert _audit.runtime_options(kata_options(QEMU_CONFIG)) == (None, QEMU_CONFIG, None)
    # The value ctr 1.6 printed for `ctr run --runc-binary /usr/sbin/runc`.
    assert _audit.runtime_options({"type_url": "containerd.runc.v1.Options",
                                   "value": "Mg4vdXNyL3NiaW4vcnVuYw=="})[0] == "/usr/sbin/runc"
    for hostile in ({"type_url": "containerd.runc.v1.Options", "value": "not base64!"},
                    {"type_url": "containerd.runc.v1.Options", "value": "Mv8="},
                    runc_options("relative/runc"), runc_options("/bin/run c"), {"type_url": "x y", "value": ""},
                    "string", None):
        assert _audit.runtime_options(hostile)[0] is None


def test_a_gvisor_binary_under_runc_that_runs_a_host_process_is_an_error(fake_module):
    """The integration test's case, scripted: the runc shim told to run a binary named runsc, which is runc."""
    namespaces = node_namespaces()
    namespaces["k8s.io"]["containers"]["a2"]["Runtime"]["Options"] = runc_options("/opt/fake/runsc")
    result, _ctr = run_audit(fake_module, namespaces)
    entry = by_id(result)["a2"]
    assert (entry["expected"], entry["class"], entry["handler"]) == ("user-space-kernel", "host-process", None)
    assert ("error", "sandbox-not-isolated", "a2") in codes(result)


def test_a_failing_namespace_and_info_are_findings_not_tracebacks(fake_module):
    namespaces = node_namespaces()
    ctr = ScriptedCtr(namespaces)

    def runner(argv, timeout=None, max_bytes=None):
        if (argv[4] == "kata-fleet" and argv[5] == "tasks") or argv[-1] == "a2":
            from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _exec
            return _exec.Result(1, "", "ctr: boom\n", 0.0)
        return ctr(argv, timeout, max_bytes)

    result = _audit.audit(client(fake_module, runner), reader=_witness.RecordedReader(recording()))
    assert ("warning", "namespace-unreadable", None) in codes(result)
    assert "ctr containers info failed" in by_id(result)["a2"]["error"]


def test_the_limit_is_a_finding(fake_module):
    result, _ctr = run_audit(fake_module, node_namespaces(), max_containers=3)
    assert result["containers"] + result["excluded_probes"] <= 3 and result["truncated"] == 12
    assert ("error", "audit-truncated", None) in codes(result)


def test_a_thousand_containers(fake_module):
    """A node with 1,000 running containers: one info each, every class right (speed is bench/audit_scale.py's)."""
    namespaces, recorded, expected = generated_node(1000, extra_processes=500)
    result, ctr = run_audit(fake_module, namespaces, reader=_audit.RecordedSnapshotReader(recorded), parallel=4)
    assert result["containers"] == 1000 and result["pods"] == 500
    assert dict((c["id"], c["class"]) for c in result["containers_list"]) == expected
    assert result["classes"]["unknown"] == 0 and not result["findings"]
    assert result["ctr_calls"] == 1000 + 3 and len(ctr.calls) == 1003


def test_the_snapshot_reader_reads_each_process_once(monkeypatch):
    """Live /proc through one table: _owner.process_info once per pid, however many tasks ask."""
    reads = []
    real = _owner.process_info

    def counted(pid, proc="/proc"):
        reads.append(pid)
        return real(pid, proc)

    monkeypatch.setattr(_owner, "process_info", counted)
    reader = _audit.SnapshotReader()
    for dummy in range(3):
        _audit.classify(reader, 1)
        _audit.classify(reader, max(reader.table))
    assert reads and len(reads) == len(set(reads))
    assert reader.processes_read() == len(set(reads))


def test_the_adapter_is_witness_classify():
    reader = _witness.RecordedReader(recording())
    assert _audit.classify(reader, 2010) == _witness.classify(reader, 2010)
    assert copy.deepcopy(_audit.classify(reader, 5017))["vmm"] == "dragonball"
    assert time.time() > 0


def test_scoping_to_the_shim_changes_no_witness():
    """The scoped tree walk (one shim's processes) gives the very witness the full walk gives, for every task."""
    for pid in (1110, 1120, 2010, 3010, 4010, 4110, 5017, 6010, 7010, 8010, 9010, 9510):
        assert _audit.classify(_audit.RecordedSnapshotReader(recording()), pid) == \
            _witness.classify(_witness.RecordedReader(recording()), pid), pid
    reader = _audit.RecordedSnapshotReader(recording())
    reader.scope_to(6010)
    assert reader.pids() == [6000, 6005, 6010]
