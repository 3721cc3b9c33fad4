# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""verify's settings (the ``kata_fleet_*`` variables): read, checked, turned into the module's arguments.

The spec is the data of ``roles/kata_fleet/meta/argument_specs.yml`` (Ansible's
argument-spec format, so ``ansible-doc -t role kata_fleet.runtimes.kata_fleet``
documents the settings), read once per process and checked with the validator
Ansible uses for role argument specs, so the messages are Ansible's own
("argument 'kata_fleet_startup_runs' is of type str and we were unable to
convert to int"). What a spec cannot say (handler names, counts, the
``kata_fleet_bin_dir`` form, the comparison callback) is checked here too, and
every problem is named at once.

The comparison callback imports this module, so the spec is read in
``ansible-playbook``'s own process and every forked worker inherits it.
"""

import json
import os
import re

import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _audit, _capabilities, _workload

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC_PATH = os.path.join(ROOT, "roles", "kata_fleet", "meta", "argument_specs.yml")
# The collection's validation patterns have one home, roles/_common (the fact __common_patterns every role
# validates with); the handler-name pattern is read from there, so verify and the roles accept the same names.
PATTERNS_PATH = os.path.join(ROOT, "roles", "_common", "tasks", "patterns.yml")
CALLBACK = "kata_fleet.runtimes.comparison"


def common_patterns(path=PATTERNS_PATH):
    """roles/_common's validation patterns (name -> regex text), as its one set_fact task publishes them."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path) as handle:
        tasks = yaml.load(handle, Loader=loader)  # nosec: SafeLoader
    found = [task["ansible.builtin.set_fact"]["__common_patterns"] for task in tasks or []
             if isinstance(task, dict) and "__common_patterns" in (task.get("ansible.builtin.set_fact") or {})]
    if len(found) != 1 or not isinstance(found[0], dict):
        raise ValueError("%s: expected one task publishing __common_patterns, found %d" % (path, len(found)))
    return found[0]


# A containerd handler name: a lower-case DNS label, anchored at both ends (\A...\Z: a newline cannot slip
# through as it would with $).
HANDLER = re.compile(common_patterns()["handler"])
# One absolute directory: no ':' (a PATH list) and no newline.
BIN_DIR = re.compile(r"\A/[^:\n]*\Z")
STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CAPABILITIES = _capabilities.CAPABILITIES
# The bounds the workload_bench module checks and workload_audit's glob rule, defined once in module_utils
# (controller plugins may import them) and checked here first to name the variable.
WORKLOAD_REPEATS = (1, _workload.MAX_REPEATS)
WORKLOAD_BUDGET = (_workload.MIN_BUDGET, _workload.MAX_BUDGET)
AUDIT_GLOB = _audit.GLOB_PATTERN
# verify's phases: --tags/--skip-tags with these names pick what runs; the host's view always comes.
PHASES = ("facts",) + CAPABILITIES + ("policy",)
HANDLERS_MESSAGE = ("must be a list of handler names (lower-case DNS labels: at most 63 lower-case letters, digits "
                    "and '-', starting and ending with a letter or digit, as the roles and Kubernetes' RuntimeClass "
                    "take them), e.g. [runc, kata]; got")
NO_CALLBACK = """The kata_fleet.runtimes.comparison callback is not enabled: this run would print no comparison table and write no evidence bundle.
Enable it in the ansible.cfg you run with (keep callbacks you already enable, comma-separated):
    [defaults]
    callbacks_enabled = kata_fleet.runtimes.comparison
or in the environment:
    export ANSIBLE_CALLBACKS_ENABLED=kata_fleet.runtimes.comparison
To run without table and bundle on purpose, set kata_fleet_require_comparison=false."""

_SPEC = {}


def spec():
    """The settings' argument spec (name -> option), read from the role's meta/argument_specs.yml once per process."""
    if not _SPEC:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        with open(SPEC_PATH) as handle:
            data = yaml.load(handle, Loader=loader)  # nosec: SafeLoader
        _SPEC.update(data["argument_specs"]["main"]["options"])
    return _SPEC


def names():
    return tuple(spec())


def _json(value):
    return json.dumps(value, default=str)


def _handlers_problem(name, value):
    if isinstance(value, str) or not isinstance(value, (list, tuple)) \
            or not all(isinstance(item, str) and HANDLER.match(item) for item in value):
        return "%s %s %s." % (name, HANDLERS_MESSAGE, _json(value))
    return None


def callback_enabled():
    """Whether the comparison callback is enabled, read as ansible-playbook reads it (ansible.cfg, then the environment)."""
    from ansible import constants as C
    try:
        enabled = C.config.get_config_value("CALLBACKS_ENABLED")
    except Exception:  # pylint: disable=broad-except  # an unreadable setting counts as not enabled
        return False
    return CALLBACK in [str(item).strip() for item in enabled or []]


def validate(values, callback=None):
    """(settings, problems): ``values`` (the settings that are set, by name) checked against the spec.

    ``settings`` has every setting, defaults filled in and types converted;
    ``problems`` is a list of sentences, each naming the variable and the fix
    (empty when all is well). ``callback``: whether the comparison callback is
    enabled (None: read the configuration).
    """
    options = spec()
    given = dict((name, value) for name, value in values.items() if name in options)
    validated = ArgumentSpecValidator(options).validate(given)
    problems = list(validated.error_messages)
    settings = dict(validated.validated_parameters)
    for name, option in options.items():
        settings.setdefault(name, option.get("default"))
    if problems:
        return settings, problems
    if settings["kata_fleet_require_comparison"] and not (callback_enabled() if callback is None else callback):
        problems.append(NO_CALLBACK)
    for name in ("kata_fleet_runtimes", "kata_fleet_expected_runtimes"):
        # The raw value: a string (-e kata_fleet_runtimes=runc,kata) passes the spec, which splits it.
        problem = _handlers_problem(name, given.get(name, settings[name]))
        if problem:
            problems.append(problem)
    counts = dict((name, settings[name]) for name in ("kata_fleet_probe_timeout", "kata_fleet_http_concurrency",
                                                      "kata_fleet_startup_runs", "kata_fleet_startup_warmup",
                                                      "kata_fleet_http_requests"))
    if not (counts["kata_fleet_probe_timeout"] > 0 and counts["kata_fleet_startup_runs"] >= 0
            and counts["kata_fleet_startup_warmup"] >= 0 and counts["kata_fleet_http_requests"] >= 0
            and counts["kata_fleet_http_concurrency"] > 0):
        problems.append(
            "kata_fleet_probe_timeout (%(kata_fleet_probe_timeout)s) and kata_fleet_http_concurrency "
            "(%(kata_fleet_http_concurrency)s) must be more than 0; kata_fleet_startup_runs (%(kata_fleet_startup_runs)s), "
            "kata_fleet_startup_warmup (%(kata_fleet_startup_warmup)s) and kata_fleet_http_requests "
            "(%(kata_fleet_http_requests)s) must be 0 (skip) or more." % counts)
    repeats, budget = settings["kata_fleet_workload_repeats"], settings["kata_fleet_workload_budget"]
    if not (WORKLOAD_REPEATS[0] <= repeats <= WORKLOAD_REPEATS[1] and WORKLOAD_BUDGET[0] <= budget <= WORKLOAD_BUDGET[1]):
        problems.append("kata_fleet_workload_repeats (%s) must be between %d and %d and kata_fleet_workload_budget (%s) "
                        "between %s and %s seconds." % (repeats, WORKLOAD_REPEATS[0], WORKLOAD_REPEATS[1], budget,
                                                        WORKLOAD_BUDGET[0], WORKLOAD_BUDGET[1]))
    bad = [pattern for pattern in settings["kata_fleet_audit_sandboxed_namespaces"] if not AUDIT_GLOB.match(pattern)]
    if bad:
        problems.append("kata_fleet_audit_sandboxed_namespaces must be globs over Kubernetes namespace names (lower-case "
                        "letters, digits, '-', and * ? [ ] !, at most 63 each), e.g. [\"untrusted-*\"]; got %s."
                        % _json(bad[:3]))
    bin_dir = settings["kata_fleet_bin_dir"]
    if bin_dir and not BIN_DIR.match(bin_dir):
        problems.append("kata_fleet_bin_dir must be one absolute directory (no ':'), e.g. /var/lib/rancher/rke2/bin; got %s."
                        % _json(bin_dir))
    return settings, problems


def phases(run_tags, skip_tags):
    """The phases --tags/--skip-tags select; none of the phase names among the tags selects every phase."""
    run_tags = set(str(tag) for tag in run_tags or ["all"])
    skip_tags = set(str(tag) for tag in skip_tags or [])
    named = run_tags.intersection(PHASES)
    chosen = named if named and "all" not in run_tags else set(PHASES)
    return [phase for phase in PHASES if phase in chosen and phase not in skip_tags]


def capabilities(settings, selected):
    """The capabilities to run: selected, for startup and HTTP a positive count (0 skips them), the workload
    benchmark and the audit unless switched off."""
    wanted = [capability for capability in CAPABILITIES if capability in selected]
    for capability, switch in (("workload", "kata_fleet_workload"), ("audit", "kata_fleet_audit")):
        if not settings[switch] and capability in wanted:
            wanted.remove(capability)
    if settings["kata_fleet_startup_runs"] <= 0 and "startup" in wanted:
        wanted.remove("startup")
    if settings["kata_fleet_http_requests"] <= 0 and "http" in wanted:
        wanted.remove("http")
    return wanted


def module_args(settings, wanted, run_id):
    """verify_host's arguments from the settings (an option left unset is left out, so the module's default holds)."""
    args = {
        "address": settings["kata_fleet_containerd_address"],
        "namespace": settings["kata_fleet_containerd_namespace"],
        "config_path": settings["kata_fleet_containerd_config"],
        "client": settings["kata_fleet_client"],
        "runtimes": list(settings["kata_fleet_runtimes"]),
        "timeout": settings["kata_fleet_probe_timeout"],
        "run_id": run_id,
        "warmup": settings["kata_fleet_startup_warmup"],
        "capabilities": list(wanted),
    }
    if settings.get("kata_fleet_probe_image") is not None:
        args["image"] = settings["kata_fleet_probe_image"]
    if settings.get("kata_fleet_http_url") is not None:
        args["url"] = settings["kata_fleet_http_url"]
    if settings["kata_fleet_startup_runs"] > 0:
        args["runs"] = settings["kata_fleet_startup_runs"]
    if settings["kata_fleet_http_requests"] > 0:
        args["requests"] = settings["kata_fleet_http_requests"]
        args["concurrency"] = settings["kata_fleet_http_concurrency"]
    if "workload" in wanted:
        args["workload_repeats"] = settings["kata_fleet_workload_repeats"]
        args["workload_budget"] = settings["kata_fleet_workload_budget"]
    if "audit" in wanted:
        args["audit_names"] = settings["kata_fleet_audit_names"]
        args["audit_sandboxed_namespaces"] = list(settings["kata_fleet_audit_sandboxed_namespaces"])
    return args


def path_environment(settings):
    """The PATH the module runs with: kata_fleet_bin_dir first (RKE2 keeps ctr in /var/lib/rancher/rke2/bin), else None."""
    if not settings["kata_fleet_bin_dir"]:
        return None
    return {"PATH": settings["kata_fleet_bin_dir"] + ":" + STANDARD_PATH}


def expected_policy(handlers):
    """kata_fleet_expected_runtimes as an error-severity policy (None without handlers).

    A handler counts as present when containerd is configured with it
    (host_facts) or a probe ran under it. The names were checked against
    HANDLER before they are put into the expressions.
    """
    if not handlers:
        return None
    present = ["(contains(keys(host.containerd.handlers || `{}`), '%s') || contains(keys(runtimes || `{}`), '%s'))"
               % (name, name) for name in handlers]
    missing = ["!%s && '%s'" % (test, name) for test, name in zip(present, handlers)]
    return {
        "name": "expected-runtimes",
        "severity": "error",
        "description": "The host has every handler kata_fleet_expected_runtimes names (%s): containerd is configured "
                       "with it or it was probed." % ", ".join(handlers),
        "expect": " && ".join(present),
        "detail": "{missing: [%s][?@], configured: keys(host.containerd.handlers || `{}`), probed: keys(runtimes || `{}`)}"
                  % ", ".join(missing),
    }


def policy_options(settings):
    """The policy_check options the settings give (the keyword arguments of _policy.policy_set)."""
    expected = expected_policy(settings["kata_fleet_expected_runtimes"])
    return {
        "policies": list(settings["kata_fleet_policies"] or []) + ([expected] if expected else []),
        "use_default_policies": settings["kata_fleet_use_default_policies"],
        "startup_p95_seconds": settings.get("kata_fleet_startup_p95_seconds"),
        "http_p99_seconds": settings.get("kata_fleet_http_p99_seconds"),
        "threshold_severity": settings["kata_fleet_threshold_severity"],
    }


def check_mode_lines(settings, wanted, policies):
    """What a run without --check would do on this host, one line each (verify.yml's check-mode message)."""
    image = settings.get("kata_fleet_probe_image")
    url = settings.get("kata_fleet_http_url")
    expected = settings["kata_fleet_expected_runtimes"]
    lines = [
        "check mode: nothing runs and no evidence bundle is written. Without --check verify.yml would, on this host:",
        "talk to containerd at %s (namespace %s, config %s, client %s)" % (
            settings["kata_fleet_containerd_address"], settings["kata_fleet_containerd_namespace"],
            settings["kata_fleet_containerd_config"], settings["kata_fleet_client"]),
        "gather the host's facts (host_facts)",
        "%s (probe_image)" % (("pull " + image) if image is not None else "build and import the busybox probe image"),
        ("probe %s (isolation_probe, timeout %ss)" % (", ".join(settings["kata_fleet_runtimes"])
                                                      or "every handler containerd is configured with",
                                                      settings["kata_fleet_probe_timeout"]))
        if "isolation" in wanted else "skip the isolation probe",
        ("time %s startups (+%s warm-ups) per handler" % (
            settings["kata_fleet_startup_runs"], settings["kata_fleet_startup_warmup"]))
        if "startup" in wanted else "skip the startup benchmark",
        ("send %s HTTP requests per handler (%s at a time)%s" % (
            settings["kata_fleet_http_requests"], settings["kata_fleet_http_concurrency"],
            (" to " + url) if url is not None else ""))
        if "http" in wanted else "skip the HTTP latency probe",
        ("measure what each handler costs a workload against the host (workload_bench, %s repeats, budget %ss "
         "per workload)" % (settings["kata_fleet_workload_repeats"], settings["kata_fleet_workload_budget"]))
        if "workload" in wanted else "skip the workload benchmark",
        ("audit every running container's isolation, read-only (workload_audit, names %s%s)" % (
            settings["kata_fleet_audit_names"],
            (", sandboxed namespaces " + ", ".join(settings["kata_fleet_audit_sandboxed_namespaces"]))
            if settings["kata_fleet_audit_sandboxed_namespaces"] else ""))
        if "audit" in wanted else "skip the workload audit",
    ]
    if policies is None:
        lines.append("skip the policies")
    else:
        lines.append("check the policies%s (%d, all valid)" % (
            (", expecting handlers " + ", ".join(expected)) if expected else "", policies))
    return lines
