# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runtime policies: JMESPath expectations about one host's evidence.

A policy is data (name, severity, description, optional ``applies_to``,
``expect`` and ``detail`` expressions), so a fleet's rules live in group_vars
next to its inventory.  JMESPath because Ansible users already write it in
``json_query``, and because an expression can read the evidence but cannot run
code.  Both expressions see one host's ``report.json`` entry (``status``,
``error``, ``host``, ``runtimes``) plus ``name``, the host's name.

Every policy is validated (keys, severity, expressions, function names and
argument counts) before any host is evaluated, so a typo is one clear
:class:`PolicyError`, not a column of ``error`` results.
"""

import json
import math
import re

from collections.abc import Mapping

try:
    import jmespath
    from jmespath import exceptions as jmespath_exceptions
    from jmespath import functions as jmespath_functions
except ImportError as exc:  # the action plugin reports this as a clear failure
    jmespath = None
    JMESPATH_IMPORT_ERROR = exc
else:
    JMESPATH_IMPORT_ERROR = None

SEVERITIES = ("error", "warning")
STATUSES = ("pass", "fail", "error", "skip")
KEYS = ("name", "severity", "description", "applies_to", "expect", "detail", "controls")
# A control reference (e.g. "NIST SP 800-190 3.5.2"), as InSpec controls carry them: one printable line.
CONTROL = re.compile(r"\A[^\x00-\x1f\x7f]{1,120}\Z")
MAX_CONTROLS = 20
# The standard's sections on the shared kernel: the risk (3.5.2) and its countermeasure (4.5.2).
NIST_SHARED_KERNEL = ["NIST SP 800-190 3.5.2 (shared kernel)", "NIST SP 800-190 4.5.2 (shared kernel)"]
EXPRESSIONS = ("applies_to", "expect", "detail")
DEFAULT_SEVERITY = "error"
# The detail of a result a host got only because it has no result of its own.
NOT_EVALUATED = "not evaluated: "

# Predicates on one entry of ``runtimes`` (the handler's isolation, startup and
# http results).  Every probe records ``handler`` and ``runtime_type``, but any of
# them may be null (not run), so each is read from whichever probe has it.
_HANDLER = "isolation.handler || startup.handler || http.handler || ''"
_RUNTIME_TYPE = "isolation.runtime_type || startup.runtime_type || http.runtime_type || ''"
KATA_HANDLER = "starts_with(%s, 'io.containerd.kata') || starts_with(%s, 'kata')" % (_RUNTIME_TYPE, _HANDLER)
# gVisor runs under its own shim (io.containerd.runsc.v1) or, where only runsc is installed,
# under the runc shim with runsc as BinaryName: then only its handler name tells (runsc*, gvisor*).
GVISOR_HANDLER = "starts_with(%s, 'io.containerd.runsc') || starts_with(%s, 'runsc') || starts_with(%s, 'gvisor')" % (
    _RUNTIME_TYPE, _HANDLER, _HANDLER)
RUNC_HANDLER = "(starts_with(%s, 'io.containerd.runc') || (%s) == 'runc') && !(%s)" % (
    _RUNTIME_TYPE, _HANDLER, GVISOR_HANDLER)
# What a handler's isolation probe said, in words a reader of a failure wants.
_SEEN = ("{handler: %s, verdict: isolation.verdict || (isolation.status == 'failed' && 'probe failed') || 'not probed', "
         "reason: isolation.verdict_reason || isolation.error}" % _HANDLER)
_HAS_KATA = "length(values(runtimes)[?%s]) > `0`" % KATA_HANDLER
_CONFIGURES_KATA = ("length(keys(host.containerd.handlers || `{}`)[?starts_with(@, 'kata')]) > `0` || "
                    "length(values(host.containerd.handlers || `{}`)[?starts_with(runtime_type || '', 'io.containerd.kata')]) > `0`")

DEFAULT_POLICIES = [
    {
        "name": "kata-vm-isolated",
        "severity": "error",
        "description": "Every Kata handler runs its containers in their own VM (verdict vm-isolated).",
        "applies_to": _HAS_KATA,
        "expect": "length(values(runtimes)[?(%s) && isolation.verdict != 'vm-isolated']) == `0`" % KATA_HANDLER,
        "detail": "values(runtimes)[?%s].%s" % (KATA_HANDLER, _SEEN),
        "controls": NIST_SHARED_KERNEL,
    },
    {
        "name": "gvisor-user-space-kernel",
        "severity": "error",
        "description": "Every gVisor (runsc) handler runs its containers on gVisor's application kernel "
                       "(verdict user-space-kernel), not the host's kernel.",
        "applies_to": "length(values(runtimes)[?%s]) > `0`" % GVISOR_HANDLER,
        "expect": "length(values(runtimes)[?(%s) && isolation.verdict != 'user-space-kernel']) == `0`" % GVISOR_HANDLER,
        "detail": "values(runtimes)[?%s].%s" % (GVISOR_HANDLER, _SEEN),
        "controls": NIST_SHARED_KERNEL,
    },
    {
        "name": "runc-shared-kernel",
        "severity": "warning",
        "description": "runc shares the host kernel (verdict shared-kernel), as the comparison assumes.",
        "applies_to": "length(values(runtimes)[?%s]) > `0`" % RUNC_HANDLER,
        "expect": "length(values(runtimes)[?(%s) && isolation.verdict != 'shared-kernel']) == `0`" % RUNC_HANDLER,
        "detail": "values(runtimes)[?%s].%s" % (RUNC_HANDLER, _SEEN),
        "controls": NIST_SHARED_KERNEL,
    },
    {
        "name": "kata-preflight",
        "severity": "error",
        "description": "A host with a Kata handler has a usable /dev/kvm and vhost_vsock and vhost_net loaded.",
        "applies_to": "%s || %s" % (_HAS_KATA, _CONFIGURES_KATA),
        "expect": "host.kvm.usable == `true` && host.vhost.vhost_vsock.loaded == `true` && host.vhost.vhost_net.loaded == `true`",
        "detail": ("{kvm_usable: host.kvm.usable, vhost_vsock_loaded: host.vhost.vhost_vsock.loaded, "
                   "vhost_net_loaded: host.vhost.vhost_net.loaded, "
                   "missing: [host == `null` && 'host', host.kvm == `null` && 'host.kvm', host.vhost == `null` && 'host.vhost'][?@]}"),
    },
]


class PolicyError(ValueError):
    """A policy that cannot be evaluated as written; raised before any host is evaluated."""


def plain(value):
    """A deep copy made of plain dict, list, str, int, float, bool and None.

    JMESPath's functions check types by class name, so Ansible's tagged and
    lazy containers (subclasses of dict, list, str) would fail ``length()`` or
    ``starts_with()``.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        # str(x) of a str subclass can return x itself (AnsibleUnsafeText on ansible-core 2.17
        # and 2.18 does): str.__str__ always gives a plain str, which JMESPath accepts.
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        return dict((plain(str(key)), plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(item) for item in value]
    return str.__str__(str(value))


def truthy(value):
    """JMESPath's truth: false, null, and empty strings, arrays and objects are false; 0 is true."""
    if value is None or value is False:
        return False
    if isinstance(value, (str, list, dict)):
        return len(value) > 0
    return True


def _as_json(value):
    return json.dumps(value, sort_keys=False, default=str)


def _parse_message(exc):
    """One line saying where an expression stops making sense."""
    if isinstance(exc, jmespath_exceptions.IncompleteExpressionError):
        return "the expression is incomplete (it ends where more was expected)"
    if isinstance(exc, jmespath_exceptions.LexerError):
        return "%s at column %s" % (exc.message, exc.lexer_position)
    if isinstance(exc, jmespath_exceptions.ParseError) and getattr(exc, "lex_position", None) is not None:
        if exc.msg != "Invalid jmespath expression":
            return "%s at column %s" % (exc.msg.rstrip("."), exc.lex_position)
        return "unexpected %s %r at column %s" % ((exc.token_type or "token").lower(), exc.token_value, exc.lex_position)
    return str(exc)


def _function_problems(node):
    """Unknown functions and wrong argument counts, which jmespath only reports when it meets them."""
    problems = []
    if isinstance(node, dict):
        if node.get("type") == "function_expression":
            name = node.get("value")
            args = len(node.get("children") or [])
            spec = jmespath_functions.Functions.FUNCTION_TABLE.get(name)
            if spec is None:
                problems.append("unknown function %s()" % name)
            else:
                signature = spec["signature"]
                variadic = bool(signature) and signature[-1].get("variadic")
                if (variadic and args < len(signature)) or (not variadic and args != len(signature)):
                    problems.append("%s() takes %s%d argument%s, not %d" % (
                        name, "at least " if variadic else "", len(signature), "" if len(signature) == 1 else "s", args))
        for child in node.get("children") or []:
            problems.extend(_function_problems(child))
    return problems


class Policy:
    """One validated policy with its compiled expressions."""

    def __init__(self, name, severity, description, expect, applies_to=None, detail=None, controls=()):
        self.name = name
        self.controls = list(controls or ())
        self.severity = severity
        self.description = description
        self.applies_to = applies_to
        self.expect = expect
        self.detail = detail
        self.compiled = {}
        for key in EXPRESSIONS:
            text = getattr(self, key)
            if text is None:
                continue
            try:
                parsed = jmespath.compile(text)
            except jmespath_exceptions.JMESPathError as exc:
                raise PolicyError("policy %r: %s is not valid JMESPath: %s, in: %s" % (name, key, _parse_message(exc), text)) from None
            problems = _function_problems(parsed.parsed)
            if problems:
                raise PolicyError("policy %r: %s is not valid JMESPath: %s, in: %s" % (name, key, "; ".join(problems), text))
            self.compiled[key] = parsed

    def as_dict(self):
        """The policy as report.json records it (without results)."""
        data = {"name": self.name, "severity": self.severity, "description": self.description}
        if self.applies_to is not None:
            data["applies_to"] = self.applies_to
        data["expect"] = self.expect
        if self.controls:
            data["controls"] = list(self.controls)
        return data

    def search(self, key, context):
        return self.compiled[key].search(context)


def _label(index, raw):
    name = raw.get("name") if isinstance(raw, dict) else None
    if isinstance(name, str) and name.strip():
        return "policy %r" % name
    return "policy #%d (no name)" % (index + 1)


def _validate(index, raw):
    """A Policy from one user-given mapping, or a PolicyError naming it and the problem."""
    label = _label(index, raw)
    if not isinstance(raw, dict):
        raise PolicyError("%s: a policy is a mapping with name, severity, description, applies_to, expect and detail; got %s"
                          % (label, type(raw).__name__))
    unknown = sorted(str(key) for key in raw if key not in KEYS)
    if unknown:
        raise PolicyError("%s: unknown key%s %s (a policy has %s)" % (
            label, "" if len(unknown) == 1 else "s", ", ".join(unknown), ", ".join(KEYS)))
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PolicyError("%s: name is required (a non-empty string)" % label)
    severity = raw.get("severity", DEFAULT_SEVERITY)
    if severity not in SEVERITIES:
        raise PolicyError("%s: severity must be error or warning, not %s" % (label, _as_json(severity)))
    description = raw.get("description", "")
    if description is None:
        description = ""
    if not isinstance(description, str):
        raise PolicyError("%s: description must be a string" % label)
    for key in EXPRESSIONS:
        value = raw.get(key)
        if key == "expect" and (value is None or (isinstance(value, str) and not value.strip())):
            raise PolicyError("%s: expect is required (a JMESPath expression that is true when the host complies)" % label)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise PolicyError("%s: %s must be a JMESPath expression (a non-empty string), not %s" % (label, key, _as_json(value)))
    controls = raw.get("controls") or []
    if not isinstance(controls, list) or len(controls) > MAX_CONTROLS \
            or not all(isinstance(item, str) and CONTROL.match(item) for item in controls):
        raise PolicyError("%s: controls must be a list of at most %d control references, each one printable line "
                          "of 1 to 120 characters (e.g. \"NIST SP 800-190 3.5.2\"), not %s" % (label, MAX_CONTROLS, _as_json(controls)))
    return Policy(name.strip(), severity, description, raw["expect"], applies_to=raw.get("applies_to"), detail=raw.get("detail"),
                  controls=controls)


def compile_policies(policies):
    """Validate a list of policy mappings (or Policy objects) into Policy objects.

    Raises PolicyError for the first problem: not a list, a policy that is not
    a mapping, a missing name or expect, a bad severity, an unknown key, an
    expression that does not compile or calls an unknown function, or two
    policies with one name.
    """
    if jmespath is None:
        raise PolicyError("policies need the Python library jmespath on the controller: %s" % JMESPATH_IMPORT_ERROR)
    if policies is None:
        return []
    if not isinstance(policies, (list, tuple)):
        raise PolicyError("policies must be a list of policies, not %s" % type(policies).__name__)
    compiled = []
    seen = set()
    for index, raw in enumerate(policies):
        policy = raw if isinstance(raw, Policy) else _validate(index, plain(raw))
        if policy.name in seen:
            raise PolicyError("policy %r: the name is used twice; policy names must be unique" % policy.name)
        seen.add(policy.name)
        compiled.append(policy)
    return compiled


def _threshold_number(name, value):
    if value is None:
        return None
    if isinstance(value, bool):
        raise PolicyError("%s must be a number of seconds, not %s" % (name, _as_json(value)))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PolicyError("%s must be a number of seconds, not %s" % (name, _as_json(plain(value)))) from None
    if not math.isfinite(number) or number <= 0:
        raise PolicyError("%s must be more than 0 seconds, not %s" % (name, _as_json(number)))
    return number


def threshold_policies(startup_p95_seconds=None, http_p99_seconds=None, severity="warning"):
    """Latency ceilings over every measured handler; none unless a ceiling is given.

    ``startup-p95``: no handler's startup p95 above ``startup_p95_seconds``;
    ``http-p99``: no handler's HTTP p99 above ``http_p99_seconds``.  A host where
    nothing was measured skips them.
    """
    if severity not in SEVERITIES:
        raise PolicyError("threshold severity must be error or warning, not %s" % _as_json(severity))
    policies = []
    for name, value, probe, path, stat in (
            ("startup-p95", startup_p95_seconds, "startup", "startup.total.p95", "startup p95"),
            ("http-p99", http_p99_seconds, "http", "http.latency.p99", "HTTP p99")):
        number = _threshold_number("%s_seconds" % name.replace("-", "_"), value)
        if number is None:
            continue
        limit = "`%s`" % _as_json(number)
        policies.append({
            "name": name,
            "severity": severity,
            "description": "No handler's %s is above %gs." % (stat, number),
            "applies_to": "length(values(runtimes)[?%s != `null`]) > `0`" % path,
            "expect": "length(values(runtimes)[?%s > %s]) == `0`" % (path, limit),
            "detail": "values(runtimes)[?%s != `null`].{handler: %s.handler, %s: %s}" % (path, probe, path.rsplit(".", 1)[1], path),
        })
    return policies


def policy_set(policies=None, use_default_policies=True, startup_p95_seconds=None, http_p99_seconds=None,
               threshold_severity="warning"):
    """The policies one host is checked against, validated.

    The defaults (unless ``use_default_policies`` is false), then the threshold
    policies that were given a ceiling, then ``policies``.  A given policy with
    the name of a default or threshold policy replaces it (to change its
    severity, say); two given policies with one name are an error.
    """
    given = compile_policies(policies)
    builtin = compile_policies((DEFAULT_POLICIES if use_default_policies else [])
                               + threshold_policies(startup_p95_seconds, http_p99_seconds, threshold_severity))
    replaced = dict((policy.name, policy) for policy in given)
    merged = [replaced.pop(policy.name, policy) for policy in builtin]
    return merged + [policy for policy in given if policy.name in replaced]


def _result(policy, status, detail):
    data = policy.as_dict()
    data["status"] = status
    data["detail"] = detail
    return data


def _evaluate_one(policy, context):
    step = "applies_to"
    try:
        if policy.applies_to is not None:
            applies = policy.search("applies_to", context)
            if not truthy(applies):
                return _result(policy, "skip", "does not apply: applies_to gave %s" % _as_json(applies))
        step = "expect"
        value = policy.search("expect", context)
        status = "pass" if truthy(value) else "fail"
        if policy.detail is not None:
            step = "detail"
            value = policy.search("detail", context)
        return _result(policy, status, _as_json(value))
    except (jmespath_exceptions.JMESPathError, TypeError, ValueError, KeyError) as exc:
        return _result(policy, "error", "%s could not be evaluated: %s" % (step, exc))


def evaluate(policies, host_name, host_entry):
    """Each policy's result on one host.

    ``host_entry`` is the host's report.json entry (``_evidence.host_entry``);
    the expressions see it with ``name`` set to ``host_name``.  Returns a list of
    dicts with name, severity, description, applies_to (when set), expect,
    status (pass, fail, error or skip) and detail, in the policies' order.
    """
    compiled = compile_policies(policies)
    context = plain(host_entry) or {}
    context["name"] = str(host_name)
    return [_evaluate_one(policy, context) for policy in compiled]


def blocks(severity, status):
    """Whether a result fails its host (and the run): an error-severity policy that failed or could not be evaluated.

    The one place this is decided; ``blocking`` and the report model ask it.
    """
    return severity == "error" and status in ("fail", "error")


def blocking(results):
    """The results that fail a host (see ``blocks``)."""
    return [result for result in results if blocks(result["severity"], result["status"])]


def warned(results):
    """The results worth a warning: a warning-severity policy that failed or could not be evaluated."""
    return [result for result in results if result["severity"] == "warning" and result["status"] in ("fail", "error")]


def summary(results):
    """How many results of each status, e.g. "1 pass, 2 skip"."""
    counts = dict((status, 0) for status in STATUSES)
    for result in results:
        counts[result["status"]] += 1
    return ", ".join("%d %s" % (counts[status], status) for status in STATUSES if counts[status])


def outcome(evaluated):
    """The policy check's result for one host's ``evaluate`` results: policies, failed, msg and any warnings.

    policy_check returns it as its result; verify_host carries it as its
    ``module_results.policy_check``; both fail the host on a blocking result.
    """
    blocked = blocking(evaluated)
    result = {"changed": False, "policies": evaluated, "failed": bool(blocked)}
    warn = warned(evaluated)
    if warn:
        result["warnings"] = ["policy %s" % describe(item) for item in warn]
    if blocked:
        result["msg"] = "%d error-severity polic%s did not pass: %s" % (
            len(blocked), "y" if len(blocked) == 1 else "ies", "; ".join(describe(item) for item in blocked))
    else:
        result["msg"] = "%d polic%s: %s" % (len(evaluated), "y" if len(evaluated) == 1 else "ies",
                                            summary(evaluated) or "none given")
    return result


def describe(result):
    """One line for a message: which policy, what happened, what was seen."""
    return "%s (%s) %s: %s" % (result["name"], result["severity"],
                               {"fail": "failed", "error": "could not be evaluated"}.get(result["status"], result["status"]),
                               result["detail"])


def not_evaluated(entry):
    """Why a host has no policy results, from its report.json entry (status and error)."""
    if not entry:
        return NOT_EVALUATED + "the host is not in the report"
    status = entry.get("status") or "unknown"
    error = entry.get("error")
    if status == "ok":
        return NOT_EVALUATED + "the host ran no policy check" + (" (%s)" % error if error else "")
    return NOT_EVALUATED + "host %s%s" % (status, ": %s" % error if error else "")


def merge_results(per_host, hosts=None):
    """``report.policies`` from each host's ``evaluate`` results.

    ``per_host`` maps host name to that host's list of results.  One entry per
    policy, in the order the policies were first met, with one result per host
    sorted by host name.  With ``hosts`` (report.hosts), every host in it gets
    a result for every policy: one that has none (unreachable, or it failed
    before the policy task) gets ``error`` with the reason, so a policy never
    looks passed on a host it could not see.
    """
    merged = {}
    order = []
    for host in sorted(per_host):
        for result in per_host[host] or []:
            name = result["name"]
            if name not in merged:
                entry = {"name": name, "severity": result["severity"], "description": result.get("description") or ""}
                for key in ("applies_to", "expect", "controls"):
                    if result.get(key) is not None:
                        entry[key] = result[key]
                entry["results"] = []
                merged[name] = entry
                order.append(name)
            merged[name]["results"].append({"host": host, "status": result["status"], "detail": result["detail"]})
    for name in order:
        results = merged[name]["results"]
        seen = set(result["host"] for result in results)
        results.extend({"host": host, "status": "error", "detail": not_evaluated(hosts[host])}
                       for host in (hosts or {}) if host not in seen)
        results.sort(key=lambda result: result["host"])
    return [merged[name] for name in order]
