"""_report/narrative.py: the findings, with runtimes compared on the same host and gVisor first-class."""

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import contract, model, narrative

RUN = {"started": "2026-12-01T04:00:00Z", "finished": "2026-12-01T04:00:12Z",
       "controller": {"hostname": "c", "user": "u", "python": "3"}, "versions": {"ansible_core": "2", "collection": "0"},
       "playbooks": [], "inventory": []}


def _runtime(verdict, startup, sandbox=None):
    return {"isolation": {"status": "ok", "verdict": verdict, "sandbox": sandbox},
            "startup": {"status": "ok", "total": {"n": 3, "median": startup, "p95": startup}}}


def _report(hosts):
    records = {}
    for name, runtimes in hosts.items():
        record = contract.new_record()
        record["isolation"] = {"runtimes": dict((handler, probes["isolation"]) for handler, probes in runtimes.items())}
        record["startup"] = {"runtimes": dict((handler, probes["startup"]) for handler, probes in runtimes.items())}
        records[name] = record
    return model.build_report(records, dict(RUN), "run-1", {})


def _section(report, title):
    return [section for section in narrative.sections(report) if section["title"] == title][0]


def test_costs_are_compared_on_the_same_host_never_across_hosts():
    report = _report({"kata-host": {"kata": _runtime("vm-isolated", 6.6, "kata/qemu"), "runc": _runtime("shared-kernel", 0.6)},
                      "fast-host": {"runc": _runtime("shared-kernel", 0.168)}})
    bullets = _section(report, "Trade-offs")["bullets"]
    assert bullets[0] == "Startup, kata vs runc on the same host: kata-host 6.6 s vs 600 ms (11x)."
    assert not any("168 ms" in bullet or "384 ms" in bullet for bullet in bullets)


def test_gvisor_is_a_boundary_of_its_own():
    report = _report({"node": {"kata": _runtime("vm-isolated", 2.0, "kata/qemu"), "runc": _runtime("shared-kernel", 0.2),
                               "gvisor": _runtime("user-space-kernel", 0.5, "gvisor")}})
    bullets = _section(report, "Trade-offs")["bullets"]
    startup = [bullet for bullet in bullets if bullet.startswith("Startup")]
    assert startup == ["Startup, gvisor vs runc on the same host: node 500 ms vs 200 ms (2.5x).",
                       "Startup, kata vs gvisor on the same host: node 2 s vs 500 ms (4x).",
                       "Startup, kata vs runc on the same host: node 2 s vs 200 ms (10x)."]
    boundary = dict(_section(report, "What the boundary means")["paragraphs"])
    assert boundary["gvisor"].startswith("runs its containers on a user-space kernel (gvisor) on 1 of 1 hosts")
    assert boundary["kata"].startswith("runs each container in a VM with its own kernel (kata/qemu)")
    advice = _section(report, "Trade-offs")["paragraphs"][0][1]
    assert "runc for dense" in advice and "gvisor for untrusted code" in advice and "kata for untrusted workloads" in advice
    [verdicts] = [row for row in _section(report, "Isolation, as measured")["table"]["rows"] if row[0] == "Isolation verdict"]
    assert verdicts == ["Isolation verdict", "user-space-kernel (gvisor) on 1 of 1 hosts",
                        "vm-isolated (kata/qemu) on 1 of 1 hosts", "shared-kernel on 1 of 1 hosts"]


def test_many_hosts_are_summarised_with_the_median_ratio():
    hosts = dict(("node-%d" % n, {"kata": _runtime("vm-isolated", 6.0 + n), "runc": _runtime("shared-kernel", 0.5)})
                 for n in range(5))
    [startup] = [b for b in _section(_report(hosts), "Trade-offs")["bullets"] if b.startswith("Startup")]
    assert startup == ("Startup, kata vs runc on the same host, 5 hosts: median 8 s vs 500 ms, 16x slower at the "
                       "median (from 12x on node-0 to 20x on node-4).")


def test_no_pair_on_one_host_says_so():
    report = _report({"a": {"kata": _runtime("vm-isolated", 6.6)}, "b": {"runc": _runtime("shared-kernel", 0.2)}})
    trade = _section(report, "Trade-offs")
    assert trade["bullets"] == []
    assert trade["paragraphs"][0][1].startswith("No host ran two runtimes with different boundaries")


def test_the_median_is_stats_one_definition():
    """narrative.median is _stats' percentile at 0.5 over the values present (issue 23: one median)."""
    from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _stats
    assert narrative.median([]) is None and narrative.median([None, None]) is None
    assert narrative.median([3, None, 1]) == 2 and narrative.median([139, 528]) == 333.5
    samples = [0.3, 0.1, 0.7, 0.2, 0.9, 0.4]
    assert narrative.median(iter(samples)) == _stats.summarize(samples, digits=15)["median"]
