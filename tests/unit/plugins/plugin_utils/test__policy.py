# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/plugin_utils/_policy.py: validation, the default policies on real and synthetic evidence, merging."""

import copy
import json

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _policy

from conftest import REPO_ROOT  # noqa: E402  pylint: disable=wrong-import-position
SAMPLE = REPO_ROOT / "tests" / "fixtures" / "sample_report.json"
SCHEMA = REPO_ROOT / "docs" / "report.schema.json"
DEFAULT_NAMES = ["kata-vm-isolated", "gvisor-user-space-kernel", "runc-shared-kernel", "kata-preflight"]


@pytest.fixture
def report():
    return json.loads(SAMPLE.read_text())


def by_name(results):
    return dict((result["name"], result) for result in results)


def statuses(results):
    return dict((result["name"], result["status"]) for result in results)


def defaults(host, entry):
    return by_name(_policy.evaluate(_policy.DEFAULT_POLICIES, host, entry))


def probe(handler, runtime_type, verdict=None, status="ok", error=None, reason=None):
    return {"handler": handler, "runtime_type": runtime_type, "status": status, "error": error,
            "verdict": verdict, "verdict_reason": reason}


def runtime(isolation=None, startup=None, http=None):
    return {"isolation": isolation, "startup": startup, "http": http}


def host_view(kvm_usable=True, vsock=True, net=True, handlers=None):
    return {
        "kernel_release": "6.1.0",
        "kvm": {"device": "/dev/kvm", "present": True, "usable": kvm_usable, "api_version": 12, "error": None},
        "vhost": {"vhost": {"loaded": True, "device": None, "device_present": False},
                  "vhost_net": {"loaded": net, "device": "/dev/vhost-net", "device_present": net},
                  "vhost_vsock": {"loaded": vsock, "device": "/dev/vhost-vsock", "device_present": vsock}},
        "containerd": {"answers": True, "handlers": handlers if handlers is not None else {
            "runc": {"runtime_type": "io.containerd.runc.v2", "options": {}}}},
    }


def entry(runtimes=None, host=None, status="ok", error=None):
    return {"status": status, "error": error, "host": host, "runtimes": runtimes or {}}


# ---------------------------------------------------------------- the default set


def test_default_policies_are_valid_unique_and_documented():
    compiled = _policy.compile_policies(_policy.DEFAULT_POLICIES)
    assert [policy.name for policy in compiled] == DEFAULT_NAMES
    assert dict((policy.name, policy.severity) for policy in compiled) == {
        "kata-vm-isolated": "error", "gvisor-user-space-kernel": "error", "runc-shared-kernel": "warning",
        "kata-preflight": "error"}
    for policy in _policy.DEFAULT_POLICIES:
        assert set(policy) <= set(_policy.KEYS)
        assert policy["description"] and policy["applies_to"] and policy["expect"] and policy["detail"]


def test_sample_lab_laptop_kata_is_vm_isolated_and_runc_shares_the_kernel(report):
    results = defaults("lab-laptop", report["hosts"]["lab-laptop"])
    assert results["kata-vm-isolated"]["status"] == "pass"
    assert json.loads(results["kata-vm-isolated"]["detail"]) == [
        {"handler": "kata", "verdict": "vm-isolated", "reason": None}]
    assert results["runc-shared-kernel"]["status"] == "pass"
    assert json.loads(results["runc-shared-kernel"]["detail"]) == [
        {"handler": "runc", "verdict": "shared-kernel", "reason": None}]


def test_sample_lab_laptop_preflight_fails_because_vhost_was_not_reported(report):
    """The lab's host facts predate vhost reporting: no evidence that vhost_vsock is loaded is a fail that says so."""
    result = defaults("lab-laptop", report["hosts"]["lab-laptop"])["kata-preflight"]
    assert result["status"] == "fail"
    assert json.loads(result["detail"]) == {
        "kvm_usable": True, "vhost_vsock_loaded": None, "vhost_net_loaded": None, "missing": ["host.vhost"]}


def test_sample_dev_vm_runc_only(report):
    results = defaults("dev-vm", report["hosts"]["dev-vm"])
    assert statuses(results.values()) == {
        "kata-vm-isolated": "skip", "gvisor-user-space-kernel": "skip", "runc-shared-kernel": "pass",
        "kata-preflight": "skip"}
    assert results["kata-vm-isolated"]["detail"] == "does not apply: applies_to gave false"


def test_sample_unreachable_host_entry_has_nothing_to_check(report):
    results = defaults("node-unreachable", report["hosts"]["node-unreachable"])
    assert set(statuses(results.values()).values()) == {"skip"}


def test_results_carry_the_policy_and_keep_its_order(report):
    results = _policy.evaluate(_policy.DEFAULT_POLICIES, "dev-vm", report["hosts"]["dev-vm"])
    assert [result["name"] for result in results] == DEFAULT_NAMES
    for result, policy in zip(results, _policy.DEFAULT_POLICIES):
        # controls only where the policy names some (kata-preflight names none)
        assert set(result) == {"name", "severity", "description", "applies_to", "expect", "status", "detail"} \
            | ({"controls"} if policy.get("controls") else set())
        assert (result["severity"], result["description"], result["applies_to"], result["expect"]) == (
            policy["severity"], policy["description"], policy["applies_to"], policy["expect"])


def test_kata_showing_shared_kernel_fails_with_what_was_seen():
    host = entry({
        "kata": runtime(probe("kata", "io.containerd.kata.v2", "shared-kernel")),
        "runc": runtime(probe("runc", "io.containerd.runc.v2", "shared-kernel")),
    }, host=host_view())
    result = defaults("node-a", host)["kata-vm-isolated"]
    assert result["status"] == "fail"
    assert json.loads(result["detail"]) == [{"handler": "kata", "verdict": "shared-kernel", "reason": None}]
    assert _policy.blocking([result]) == [result]


def test_every_kata_handler_must_be_isolated_not_just_one():
    host = entry({
        "kata-qemu": runtime(probe("kata-qemu", "io.containerd.kata-qemu.v2", "vm-isolated")),
        "kata-clh": runtime(probe("kata-clh", "io.containerd.kata-clh.v2", "unknown", reason="no hypervisor seen")),
    }, host=host_view())
    result = defaults("node-a", host)["kata-vm-isolated"]
    assert result["status"] == "fail"
    assert {"handler": "kata-clh", "verdict": "unknown", "reason": "no hypervisor seen"} in json.loads(result["detail"])


def test_kata_is_recognised_by_runtime_type_under_any_handler_name():
    host = entry({"sandboxed": runtime(probe("sandboxed", "io.containerd.kata.v2", "vm-isolated"))}, host=host_view())
    assert statuses(defaults("node-a", host).values()) == {
        "kata-vm-isolated": "pass", "gvisor-user-space-kernel": "skip", "runc-shared-kernel": "skip",
        "kata-preflight": "pass"}


def test_kata_is_recognised_by_handler_name_when_the_runtime_type_is_unknown():
    host = entry({"kata": runtime(startup={"handler": "kata", "status": "ok", "total": {"n": 1, "p95": 6.6}})},
                 host=host_view())
    result = defaults("node-a", host)["kata-vm-isolated"]
    assert result["status"] == "fail"
    assert json.loads(result["detail"]) == [{"handler": "kata", "verdict": "not probed", "reason": None}]


def test_a_failed_kata_probe_fails_with_the_probe_error():
    error = "the probe container did not finish within 60s; it was killed and removed"
    host = entry({"kata": runtime(probe("kata", "io.containerd.kata.v2", status="failed", error=error))},
                 host=host_view(), status="failed", error="isolation_probe: kata: timed out")
    result = defaults("node-a", host)["kata-vm-isolated"]
    assert result["status"] == "fail"
    assert json.loads(result["detail"]) == [{"handler": "kata", "verdict": "probe failed", "reason": error}]


def test_runc_that_does_not_share_the_kernel_is_a_warning():
    host = entry({"runc": runtime(probe("runc", "io.containerd.runc.v2", "unknown", reason="boot id differs"))})
    result = defaults("node-a", host)["runc-shared-kernel"]
    assert (result["status"], result["severity"]) == ("fail", "warning")
    assert json.loads(result["detail"]) == [{"handler": "runc", "verdict": "unknown", "reason": "boot id differs"}]
    assert _policy.blocking([result]) == []
    assert _policy.warned([result]) == [result]


def test_runc_is_recognised_by_runtime_type_but_not_runsc():
    host = entry({
        "runc-systemd": runtime(probe("runc-systemd", "io.containerd.runc.v2", "shared-kernel")),
        "runsc": runtime(probe("runsc", "io.containerd.runsc.v1", "unknown")),
    })
    result = defaults("node-a", host)["runc-shared-kernel"]
    assert result["status"] == "pass"
    assert [seen["handler"] for seen in json.loads(result["detail"])] == ["runc-systemd"]


def test_preflight_applies_to_a_configured_kata_handler_that_was_not_probed():
    handlers = {"runc": {"runtime_type": "io.containerd.runc.v2"}, "vm": {"runtime_type": "io.containerd.kata.v2"}}
    host = entry({"runc": runtime(probe("runc", "io.containerd.runc.v2", "shared-kernel"))},
                 host=host_view(vsock=False, handlers=handlers))
    results = defaults("node-a", host)
    assert results["kata-vm-isolated"]["status"] == "skip"
    assert results["kata-preflight"]["status"] == "fail"
    assert json.loads(results["kata-preflight"]["detail"]) == {
        "kvm_usable": True, "vhost_vsock_loaded": False, "vhost_net_loaded": True, "missing": []}


def test_preflight_recognises_a_configured_handler_by_name():
    host = entry({}, host=host_view(handlers={"kata-fc": {"runtime_type": "io.containerd.kata-fc.v2"}}))
    assert defaults("node-a", host)["kata-preflight"]["status"] == "pass"


@pytest.mark.parametrize("kvm, vsock, net", [(False, True, True), (True, False, True), (True, True, False)])
def test_preflight_needs_kvm_vhost_vsock_and_vhost_net(kvm, vsock, net):
    host = entry({"kata": runtime(probe("kata", "io.containerd.kata.v2", "vm-isolated"))},
                 host=host_view(kvm_usable=kvm, vsock=vsock, net=net))
    result = defaults("node-a", host)["kata-preflight"]
    assert result["status"] == "fail"
    assert json.loads(result["detail"])["kvm_usable"] is kvm


def test_preflight_without_host_facts_names_everything_missing():
    host = entry({"kata": runtime(probe("kata", "io.containerd.kata.v2", "vm-isolated"))}, host=None)
    result = defaults("node-a", host)["kata-preflight"]
    assert result["status"] == "fail"
    assert json.loads(result["detail"])["missing"] == ["host", "host.kvm", "host.vhost"]


# ---------------------------------------------------------------- thresholds


def test_no_threshold_policies_unless_a_ceiling_is_given():
    assert _policy.threshold_policies() == []
    assert [policy.name for policy in _policy.policy_set()] == DEFAULT_NAMES


def test_startup_threshold_on_the_sample(report):
    policies = _policy.threshold_policies(startup_p95_seconds=1.0)
    assert [(policy["name"], policy["severity"]) for policy in policies] == [("startup-p95", "warning")]
    lab = by_name(_policy.evaluate(policies, "lab-laptop", report["hosts"]["lab-laptop"]))["startup-p95"]
    assert lab["status"] == "fail"
    assert json.loads(lab["detail"]) == [{"handler": "kata", "p95": 6.6}, {"handler": "runc", "p95": 0.6}]
    dev = by_name(_policy.evaluate(policies, "dev-vm", report["hosts"]["dev-vm"]))["startup-p95"]
    assert dev["status"] == "pass"
    assert "1s" in lab["description"]


def test_http_threshold_skips_hosts_without_a_p99(report):
    policies = _policy.threshold_policies(http_p99_seconds=0.001, severity="error")
    assert [(policy["name"], policy["severity"]) for policy in policies] == [("http-p99", "error")]
    dev = by_name(_policy.evaluate(policies, "dev-vm", report["hosts"]["dev-vm"]))["http-p99"]
    assert dev["status"] == "fail"
    assert json.loads(dev["detail"]) == [{"handler": "runc", "p99": 0.001863}]
    # The lab measured HTTP without percentiles: nothing to hold against a p99 ceiling.
    lab = by_name(_policy.evaluate(policies, "lab-laptop", report["hosts"]["lab-laptop"]))["http-p99"]
    assert lab["status"] == "skip"
    loose = _policy.threshold_policies(http_p99_seconds=0.01)
    assert by_name(_policy.evaluate(loose, "dev-vm", report["hosts"]["dev-vm"]))["http-p99"]["status"] == "pass"


@pytest.mark.parametrize("value", [0, -1, "fast", True, [1], float("nan"), float("inf")])
def test_threshold_must_be_a_positive_number(value):
    with pytest.raises(_policy.PolicyError, match="startup_p95_seconds must be"):
        _policy.threshold_policies(startup_p95_seconds=value)


def test_threshold_severity_is_checked():
    with pytest.raises(_policy.PolicyError, match="threshold severity must be error or warning"):
        _policy.threshold_policies(http_p99_seconds=1, severity="fatal")


# ---------------------------------------------------------------- validation


def invalid(policies, match):
    with pytest.raises(_policy.PolicyError, match=match) as caught:
        _policy.compile_policies(policies)
    return str(caught.value)


def good(name="good", **extra):
    policy = {"name": name, "expect": "status == 'ok'"}
    policy.update(extra)
    return policy


def test_an_expression_that_does_not_compile_names_the_rule_and_the_expression():
    message = invalid([good(), good("kata-vm-isolated", expect="values(runtimes)[?isolation.verdict == 'vm-isolated'")],
                      r"^policy 'kata-vm-isolated': expect is not valid JMESPath: ")
    assert "incomplete" in message and "values(runtimes)[?isolation" in message
    assert "Traceback" not in message


@pytest.mark.parametrize("key", ["applies_to", "detail"])
def test_every_expression_is_compiled(key):
    invalid([good(**{key: "a ]"})], r"^policy 'good': %s is not valid JMESPath: Unexpected token: \] at column 2" % key)


def test_unknown_functions_and_wrong_argument_counts_are_caught_before_evaluation():
    invalid([good(expect="lenght(runtimes) > `0`")], r"expect is not valid JMESPath: unknown function lenght\(\)")
    invalid([good(applies_to="starts_with(name)")], r"applies_to is not valid JMESPath: starts_with\(\) takes 2 arguments, not 1")
    invalid([good(detail="not_null()")], r"detail is not valid JMESPath: not_null\(\) takes at least 1 argument, not 0")


def test_missing_name_or_expect():
    invalid([{"expect": "status"}], r"^policy #1 \(no name\): name is required")
    invalid([good(), {"name": "  ", "expect": "status"}], r"^policy #2 \(no name\): name is required")
    invalid([{"name": "x"}], r"^policy 'x': expect is required")
    invalid([{"name": "x", "expect": " "}], r"^policy 'x': expect is required")


def test_bad_severity_unknown_keys_and_wrong_types():
    invalid([good(severity="critical")], r"^policy 'good': severity must be error or warning, not \"critical\"")
    invalid([good(sevrity="error", note="x")], r"^policy 'good': unknown keys note, sevrity \(a policy has name, severity")
    invalid([good(expect=["status"])], r"^policy 'good': expect must be a JMESPath expression")
    invalid([good(description=3)], r"^policy 'good': description must be a string")
    invalid(["status == 'ok'"], r"^policy #1 \(no name\): a policy is a mapping")
    invalid({"name": "x"}, r"^policies must be a list")


def test_duplicate_names():
    invalid([good("same"), good("other"), good("same")], r"^policy 'same': the name is used twice")


def test_nothing_is_evaluated_when_any_policy_is_invalid():
    with pytest.raises(_policy.PolicyError, match="policy 'bad'"):
        _policy.evaluate([good(), good("bad", expect="(")], "node-a", entry())


def test_defaults_for_optional_keys():
    (policy,) = _policy.compile_policies([good()])
    assert (policy.severity, policy.description, policy.applies_to, policy.detail) == ("error", "", None, None)
    (result,) = _policy.evaluate([policy], "node-a", entry())
    assert "applies_to" not in result
    assert (result["status"], result["detail"]) == ("pass", "true")


# ---------------------------------------------------------------- evaluation


def test_runtime_errors_are_error_results_with_the_message():
    results = by_name(_policy.evaluate([
        good("bad-expect", expect="length(host.missing) > `0`"),
        good("bad-applies", applies_to="starts_with(host, 'x')"),
        good("bad-detail", detail="keys(name)"),
        good("fine"),
    ], "node-a", entry()))
    assert results["bad-expect"]["status"] == "error"
    assert results["bad-expect"]["detail"].startswith("expect could not be evaluated: In function length(), invalid type")
    assert results["bad-applies"]["status"] == "error"
    assert results["bad-applies"]["detail"].startswith("applies_to could not be evaluated: In function starts_with()")
    assert results["bad-detail"]["status"] == "error"
    assert results["bad-detail"]["detail"].startswith("detail could not be evaluated: In function keys()")
    assert results["fine"]["status"] == "pass"
    assert [result["name"] for result in _policy.blocking(results.values())] == ["bad-expect", "bad-applies", "bad-detail"]


@pytest.mark.parametrize("expression, status", [
    ("`0`", "pass"), ("`true`", "pass"), ("'x'", "pass"), ("`[0]`", "pass"),
    ("`false`", "fail"), ("`null`", "fail"), ("''", "fail"), ("`[]`", "fail"), ("`{}`", "fail"),
])
def test_expect_uses_jmespath_truth(expression, status):
    (result,) = _policy.evaluate([good(expect=expression)], "node-a", entry())
    assert result["status"] == status


def test_skip_detail_shows_what_applies_to_gave():
    (result,) = _policy.evaluate([good(applies_to="runtimes.kata")], "node-a", entry())
    assert (result["status"], result["detail"]) == ("skip", "does not apply: applies_to gave null")


def test_without_a_detail_expression_the_detail_is_the_value_of_expect():
    (result,) = _policy.evaluate([good(expect="host.kernel_release")], "node-a", entry(host=host_view()))
    assert (result["status"], result["detail"]) == ("pass", '"6.1.0"')


def test_expressions_see_the_host_name():
    policy = good(applies_to="starts_with(name, 'lab-')", expect="status == 'ok'", detail="name")
    assert _policy.evaluate([policy], "lab-laptop", entry())[0]["detail"] == '"lab-laptop"'
    assert _policy.evaluate([policy], "dev-vm", entry())[0]["status"] == "skip"


def test_the_host_entry_is_not_modified(report):
    original = copy.deepcopy(report["hosts"]["lab-laptop"])
    _policy.evaluate(_policy.DEFAULT_POLICIES, "lab-laptop", report["hosts"]["lab-laptop"])
    assert report["hosts"]["lab-laptop"] == original


class TaggedStr(str):
    """Stands in for Ansible's tagged strings, whose class name JMESPath's type checks do not know."""


class TaggedDict(dict):
    pass


def test_subclassed_containers_and_strings_are_made_plain():
    tagged = TaggedDict(status=TaggedStr("ok"), error=None, host=None, runtimes=TaggedDict(
        kata=TaggedDict(isolation=TaggedDict(handler=TaggedStr("kata"), runtime_type=TaggedStr("io.containerd.kata.v2"),
                                             verdict=TaggedStr("vm-isolated"), status=TaggedStr("ok")),
                        startup=None, http=None)))
    assert defaults(TaggedStr("node-a"), tagged)["kata-vm-isolated"]["status"] == "pass"
    plain = _policy.plain(tagged)
    # JMESPath checks types by class name, so the names must be the plain ones.
    assert plain.__class__.__name__ == "dict" and plain["status"].__class__.__name__ == "str"
    assert plain["runtimes"]["kata"]["isolation"]["handler"].__class__.__name__ == "str"
    assert _policy.plain((1, 2.5, True, None)) == [1, 2.5, True, None]


# ---------------------------------------------------------------- the policy set


def test_policy_set_adds_given_policies_after_the_defaults_and_thresholds():
    names = [policy.name for policy in _policy.policy_set([good("mine")], startup_p95_seconds=2, http_p99_seconds=0.5)]
    assert names == DEFAULT_NAMES + ["startup-p95", "http-p99", "mine"]


def test_policy_set_without_defaults():
    assert [policy.name for policy in _policy.policy_set([good("mine")], use_default_policies=False)] == ["mine"]
    assert _policy.policy_set(None, use_default_policies=False) == []
    # Ceilings are explicit, so they stay without the defaults.
    assert [policy.name for policy in _policy.policy_set([], use_default_policies=False, startup_p95_seconds=1)] == [
        "startup-p95"]


def test_a_given_policy_replaces_the_default_of_the_same_name():
    stricter = dict(_policy.DEFAULT_POLICIES[1], severity="error")
    policies = _policy.policy_set([stricter, good("mine")])
    assert [policy.name for policy in policies] == DEFAULT_NAMES + ["mine"]
    assert policies[1].severity == "error"


def test_policy_set_reports_duplicates_among_given_policies():
    with pytest.raises(_policy.PolicyError, match="policy 'mine': the name is used twice"):
        _policy.policy_set([good("mine"), good("mine")])


def test_describe():
    result = {"name": "kata-vm-isolated", "severity": "error", "status": "fail", "detail": "[]"}
    assert _policy.describe(result) == "kata-vm-isolated (error) failed: []"
    assert _policy.describe(dict(result, status="error", detail="x")) == "kata-vm-isolated (error) could not be evaluated: x"


# ---------------------------------------------------------------- report.policies


def evaluated(report):
    return dict((name, _policy.evaluate(_policy.DEFAULT_POLICIES, name, host))
                for name, host in report["hosts"].items() if host["status"] == "ok")


def test_merge_results_one_entry_per_policy_with_results_per_host(report):
    merged = _policy.merge_results(evaluated(report))
    assert [policy["name"] for policy in merged] == DEFAULT_NAMES
    kata = merged[0]
    assert set(kata) == {"name", "severity", "description", "applies_to", "expect", "results", "controls"}
    assert kata["results"] == [
        {"host": "dev-vm", "status": "skip", "detail": "does not apply: applies_to gave false"},
        {"host": "lab-laptop", "status": "pass",
         "detail": '[{"handler": "kata", "verdict": "vm-isolated", "reason": null}]'},
    ]


def test_merge_results_gives_hosts_without_results_an_error_with_the_reason(report):
    merged = _policy.merge_results(evaluated(report), report["hosts"])
    for policy in merged:
        assert [result["host"] for result in policy["results"]] == ["dev-vm", "lab-laptop", "node-unreachable"]
        unreachable = policy["results"][2]
        assert unreachable["status"] == "error"
        assert unreachable["detail"] == (
            "not evaluated: host unreachable: Failed to connect to the host via ssh: "
            "ssh: connect to host 192.0.2.10 port 22: Connection timed out")


def test_merge_results_of_nothing():
    assert _policy.merge_results({}) == []
    assert _policy.merge_results({"node-a": []}, {"node-a": entry()}) == []


def test_not_evaluated_reasons():
    assert _policy.not_evaluated(None) == "not evaluated: the host is not in the report"
    assert _policy.not_evaluated(entry()) == "not evaluated: the host ran no policy check"
    assert _policy.not_evaluated(entry(status="failed", error="Gather the host's view: boom")) == (
        "not evaluated: host failed: Gather the host's view: boom")


def test_merged_policies_match_the_report_schema(report):
    jsonschema = pytest.importorskip("jsonschema")
    report["policies"] = _policy.merge_results(evaluated(report), report["hosts"])
    jsonschema.validate(report, json.loads(SCHEMA.read_text()))


def test_docs_show_the_default_expressions_as_they_are():
    docs = (REPO_ROOT / "docs" / "policies.md").read_text()
    for policy in _policy.DEFAULT_POLICIES:
        assert "### `%s` (%s)" % (policy["name"], policy["severity"]) in docs
        for key in ("applies_to", "expect", "detail"):
            assert "%s:%s%s\n" % (key, " " * (11 - len(key)), policy[key]) in docs, (policy["name"], key)
    startup = _policy.threshold_policies(startup_p95_seconds=2.5)[0]
    for key in ("applies_to", "expect", "detail"):
        assert "%s:%s%s\n" % (key, " " * (11 - len(key)), startup[key]) in docs, ("startup-p95", key)


def test_the_group_vars_example_in_the_docs_works(report):
    yaml = pytest.importorskip("yaml")
    docs = (REPO_ROOT / "docs" / "policies.md").read_text()
    block = docs.split("# group_vars/kata_nodes.yml\n", 1)[1].split("```", 1)[0]
    example = yaml.safe_load(block)
    policies = _policy.policy_set(example["kata_fleet_policies"],
                                  startup_p95_seconds=example["kata_fleet_startup_p95_seconds"],
                                  http_p99_seconds=example["kata_fleet_http_p99_seconds"])
    assert [policy.name for policy in policies] == DEFAULT_NAMES + [
        "startup-p95", "http-p99", "kata-on-every-node", "cgroup-v2", "lab-only-runc"]
    lab = by_name(_policy.evaluate(policies, "lab-laptop", report["hosts"]["lab-laptop"]))
    dev = by_name(_policy.evaluate(policies, "dev-vm", report["hosts"]["dev-vm"]))
    assert (lab["kata-on-every-node"]["status"], dev["kata-on-every-node"]["status"]) == ("pass", "fail")
    assert (lab["cgroup-v2"]["status"], dev["cgroup-v2"]["status"]) == ("fail", "fail")
    assert dev["cgroup-v2"]["detail"] == '"hybrid"'
    assert (lab["lab-only-runc"]["status"], dev["lab-only-runc"]["status"]) == ("fail", "skip")
    assert (lab["startup-p95"]["status"], dev["startup-p95"]["status"]) == ("fail", "pass")


def test_without_jmespath_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(_policy, "jmespath", None)
    monkeypatch.setattr(_policy, "JMESPATH_IMPORT_ERROR", ImportError("No module named 'jmespath'"))
    with pytest.raises(_policy.PolicyError, match="policies need the Python library jmespath on the controller"):
        _policy.policy_set()


# ---------------------------------------------------------------- gVisor


def test_gvisor_under_the_runc_shim_is_user_space_kernel_and_not_counted_as_runc():
    # How kata_fleet.runtimes.gvisor configures the distribution's runsc: the runc shim, BinaryName.
    host = entry({
        "runc": runtime(probe("runc", "io.containerd.runc.v2", "shared-kernel")),
        "runsc": runtime(probe("runsc", "io.containerd.runc.v2", "user-space-kernel")),
    }, host=host_view())
    results = defaults("node-a", host)
    assert statuses(results.values()) == {
        "kata-vm-isolated": "skip", "gvisor-user-space-kernel": "pass", "runc-shared-kernel": "pass",
        "kata-preflight": "skip"}
    assert json.loads(results["gvisor-user-space-kernel"]["detail"]) == [
        {"handler": "runsc", "verdict": "user-space-kernel", "reason": None}]
    assert [seen["handler"] for seen in json.loads(results["runc-shared-kernel"]["detail"])] == ["runc"]


def test_gvisor_is_recognised_by_its_shim_under_any_name_and_by_a_gvisor_name():
    host = entry({
        "sandboxed": runtime(probe("sandboxed", "io.containerd.runsc.v1", "user-space-kernel")),
        "gvisor-kvm": runtime(probe("gvisor-kvm", "io.containerd.runc.v2", "user-space-kernel")),
    })
    result = defaults("node-a", host)["gvisor-user-space-kernel"]
    assert result["status"] == "pass"
    assert sorted(seen["handler"] for seen in json.loads(result["detail"])) == ["gvisor-kvm", "sandboxed"]


@pytest.mark.parametrize("verdict, status, error, seen", [
    ("shared-kernel", "ok", None, "shared-kernel"),
    ("vm-isolated", "ok", None, "vm-isolated"),
    (None, "failed", "OCI runtime start failed: cannot run with network enabled in root network namespace",
     "probe failed"),
])
def test_gvisor_that_is_not_a_user_space_kernel_fails_with_what_was_seen(verdict, status, error, seen):
    host = entry({"runsc": runtime(probe("runsc", "io.containerd.runc.v2", verdict, status=status, error=error))})
    result = defaults("node-a", host)["gvisor-user-space-kernel"]
    assert (result["status"], result["severity"]) == ("fail", "error")
    assert json.loads(result["detail"]) == [{"handler": "runsc", "verdict": seen, "reason": error}]
    assert _policy.blocking([result]) == [result]


def test_plain_turns_a_str_subclass_whose_str_is_itself_into_a_plain_str():
    """AnsibleUnsafeText on ansible-core 2.17/2.18 returns itself from str(): JMESPath then refused it."""
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _policy

    class Sticky(str):
        # what ansible-core 2.17's AnsibleUnsafeText does (ansible/utils/unsafe_proxy.py, with the same disable)
        def __str__(self):  # pylint: disable=invalid-str-returned
            return self

    value = _policy.plain({Sticky("runc"): [Sticky("shared-kernel")], "n": Sticky("x")})
    assert value == {"runc": ["shared-kernel"], "n": "x"}
    # the exact class, not isinstance: a str subclass is what JMESPath refused
    assert all(item.__class__ is str for item in (list(value)[0], value["runc"][0], value["n"]))


def test_default_isolation_policies_carry_their_control_references():
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _policy
    by_name = dict((policy["name"], policy) for policy in _policy.DEFAULT_POLICIES)
    for name in ("kata-vm-isolated", "gvisor-user-space-kernel", "runc-shared-kernel"):
        assert "NIST SP 800-190 3.5.2 (shared kernel)" in by_name[name]["controls"]


@pytest.mark.parametrize("controls", ["NIST 3.5.2", ["a\nb"], [""], ["x" * 121], [1], ["ok"] * 21])
def test_bad_controls_name_the_policy_and_the_rule(controls):
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _policy
    with pytest.raises(_policy.PolicyError) as error:
        _policy.compile_policies([{"name": "p", "expect": "`true`", "controls": controls}])
    assert "policy 'p'" in str(error.value) and "controls must be a list" in str(error.value)


def test_user_controls_reach_the_result():
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _policy
    policy = {"name": "p", "expect": "`true`", "controls": ["CIS Docker 5.1", "internal SEC-7"]}
    (result,) = _policy.evaluate([policy], "h", {})
    assert result["controls"] == ["CIS Docker 5.1", "internal SEC-7"] and result["status"] == "pass"
