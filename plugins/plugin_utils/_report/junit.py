# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.json's policy results as JUnit XML, the format every CI server shows.

Laid out as kube-bench and goss do: one ``<testsuite>`` per policy, one
``<testcase>`` per host.  A host that has no result for a policy (it was
unreachable, or failed before the policy task ran) is an ``<error>``, never a
silent omission, so a broken fleet cannot look green.  Standard library only.

Isolation probes that carry the two witnesses (image_digest, host_witness,
witness: probes from this version on) get a suite of their own, PROBE_SUITE,
one case per host and runtime: its system-out names the probe image and what
the host sees; a probe the host contradicted is a ``<failure>`` with both
stories, any other failed probe an ``<error>``.  Every value passes the
view's validation (``view.witness_view``) first.
"""

import datetime
import re
from xml.sax.saxutils import escape, quoteattr

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._policy import NOT_EVALUATED, not_evaluated
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import formatting as fmt, model
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report.view import refused_fields, witness_view

ROOT_NAME = "kata-fleet"
# The suite used when no policy produced a result at all (every host failed or
# was unreachable, or the play ran no policy task): one case per host.
HOSTS_SUITE = "hosts"
PROBE_SUITE = "isolation-probe"
# The fields that say a probe result carries the two witnesses (older records have none of them).
WITNESS_KEYS = ("image_digest", "host_witness", "witness", "contradiction")
# XML 1.0 cannot carry most control characters, which error messages may hold, nor a lone surrogate.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value):
    return _NOT_XML.sub("\ufffd", "%s" % ("" if value is None else value))


def _seconds(started, finished):
    """Seconds between two report timestamps, or None when either is missing or unreadable."""
    try:
        begin = datetime.datetime.fromisoformat(str(started).replace("Z", "+00:00"))
        end = datetime.datetime.fromisoformat(str(finished).replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return max((end - begin).total_seconds(), 0.0)


@fmt.memo
def _attr_value(text):
    return quoteattr(_text(text))


def _attrs(pairs):
    return "".join(' %s=%s' % (name, _attr_value("%s" % ("" if value is None else value))) for name, value in pairs)


class _Suite:
    """One <testsuite>, its cases as text and its counts.

    Written as text, not an ElementTree: at 10,000 hosts a suite has 10,000
    cases, and building then indenting a tree took most of junit.xml's time.
    Every text and attribute passes ``_text`` (XML 1.0 characters) and is
    escaped by the standard library's ``escape``/``quoteattr``.
    """

    def __init__(self, name, timestamp, properties):
        self.name = name
        self.timestamp = timestamp
        self.properties = properties
        self.cases = []
        self.counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

    def case(self, classname, name, outcome=None, message=None, kind=None, text=None, out=None):
        """Add a testcase; ``outcome`` is None (passed), failure, error or skipped; ``out`` is its system-out."""
        self.counts["tests"] += 1
        # _attrs((("classname", classname), ("name", name), ("time", "0"))), spelt out: one per host and policy.
        head = '    <testcase classname=%s name=%s time="0"' % (
            _attr_value("" if classname is None else "%s" % classname), _attr_value("" if name is None else "%s" % name))
        if outcome is None and not out:
            self.cases.append(head + " />\n")
            return
        body = []
        if outcome is not None:
            self.counts[{"failure": "failures", "error": "errors", "skipped": "skipped"}[outcome]] += 1
            attrs = [(key, value) for key, value in (("message", message), ("type", kind)) if value is not None]
            if text:
                body.append("      <%s%s>%s</%s>\n" % (outcome, _attrs(attrs), escape(_text(text)), outcome))
            else:
                body.append("      <%s%s />\n" % (outcome, _attrs(attrs)))
        if out:
            body.append("      <system-out>%s</system-out>\n" % escape(_text(out)))
        self.cases.append(head + ">\n" + "".join(body) + "    </testcase>\n")

    def close(self):
        """The suite as text, and its counts."""
        attrs = [("name", self.name)] + ([("timestamp", self.timestamp)] if self.timestamp else [])
        attrs += [(key, str(self.counts[key])) for key in ("tests", "failures", "errors", "skipped")] + [("time", "0")]
        parts = ["  <testsuite%s>\n" % _attrs(attrs)]
        if self.properties:
            parts.append("    <properties>\n%s    </properties>\n" % "".join(
                "      <property%s />\n" % _attrs((("name", key), ("value", value))) for key, value in self.properties))
        parts.extend(self.cases)
        parts.append("  </testsuite>\n")
        return "".join(parts), self.counts


def _policy_suite(policy, hosts, timestamp):
    name = policy.get("name") or "unnamed policy"
    severity = policy.get("severity") or "error"
    properties = [("severity", severity), ("description", policy.get("description") or "")]
    for key in ("applies_to", "expect"):
        if policy.get(key) is not None:
            properties.append((key, policy[key]))
    controls = policy.get("controls")
    if isinstance(controls, list) and controls:
        properties.append(("controls", "; ".join(str(item) for item in controls)))
    suite = _Suite(name, timestamp, properties)
    expression = "expect: %s" % policy.get("expect") if policy.get("expect") else ""
    seen = set()
    for result in policy.get("results") or []:
        host = result.get("host") or ""
        seen.add(host)
        status = result.get("status")
        detail = result.get("detail") or ""
        if status == "pass":
            suite.case(name, host, out=detail)
        elif status == "skip":
            suite.case(name, host, "skipped", message=detail or "does not apply")
        elif status == "fail":
            suite.case(name, host, "failure", message="%s: %s" % (name, policy.get("description") or "failed"), kind=severity,
                       text="\n".join(line for line in ("seen: %s" % detail, expression) if line))
        elif detail.startswith(NOT_EVALUATED):
            suite.case(name, host, "error", message=detail, kind="not-evaluated", text=detail)
        else:
            suite.case(name, host, "error", message=detail.split("\n", 1)[0] or "%s could not be evaluated" % name,
                       kind=severity, text="\n".join(line for line in (detail, expression) if line))
    for host in sorted(hosts):
        if host not in seen:
            why = not_evaluated(hosts[host])
            suite.case(name, host, "error", message=why, kind="not-evaluated", text=why)
    return suite.close()


def _hosts_suite(hosts, timestamp):
    """Only when there are no policy results: each host's own outcome."""
    suite = _Suite(HOSTS_SUITE, timestamp, [("description", "no policy results: each host's status instead")])
    for host in sorted(hosts):
        entry = hosts[host] or {}
        status = entry.get("status")
        if status == "ok":
            suite.case(HOSTS_SUITE, host)
        elif status == "skipped":
            suite.case(HOSTS_SUITE, host, "skipped", message=entry.get("error") or "skipped")
        else:
            why = not_evaluated(entry)
            suite.case(HOSTS_SUITE, host, "error", message=why, kind=status or "unknown", text=why)
    return suite.close()


def _probe_suite(hosts, timestamp, refused):
    """One case per host and runtime whose isolation result carries the witnesses; None when none does."""
    description = "each isolation probe: the probe image, what the container says and what the host sees"
    suite = _Suite(PROBE_SUITE, timestamp, [("description", description)])
    for host in sorted(hosts, key=str):
        runtimes = (hosts[host] or {}).get("runtimes") if isinstance(hosts[host], dict) else None
        for runtime in sorted(runtimes, key=str) if isinstance(runtimes, dict) else []:
            result = (runtimes[runtime] or {}).get("isolation") if isinstance(runtimes[runtime], dict) else None
            if not isinstance(result, dict) or not any(key in result for key in WITNESS_KEYS):
                continue
            name = "%s %s" % (fmt.host_text(host, 256), fmt.host_text(runtime, 128))
            witness = witness_view(result, refused.get(host, {}).get(runtime, ()))
            verdict, sandbox = model.verdict_of(result)
            lines = ["verdict: %s" % model.verdict_label(verdict, sandbox),
                     "probe image: %s (source %s, digest %s)" % (
                         witness["image"], witness["image_source"], witness["image_digest"]),
                     "host sees: %s" % witness["host_sees"], "the two witnesses: %s" % witness["witness"]]
            out = "\n".join(lines + witness["host_evidence"])
            error = fmt.host_text(result.get("error") or "no error text", 2000)
            if verdict == "failed" and (witness["contradiction"] or witness["witness"] == "contradicted"):
                suite.case(PROBE_SUITE, name, "failure", message=error, kind="contradicted",
                           text="%s\n%s" % (witness["contradiction"] or "the host contradicts the container", out))
            elif verdict == "failed":
                suite.case(PROBE_SUITE, name, "error", message=error, kind="probe-failed", text=out)
            elif verdict is None:
                suite.case(PROBE_SUITE, name, "skipped", message="planned only")
            else:
                suite.case(PROBE_SUITE, name, out=out)
    return suite.close() if suite.cases else None


# ---- workload cost and audit (issues 21, 24) ----
WORKLOAD_SUITE = "workload-cost"
AUDIT_SUITE = "workload-audit"


def _workload_audit_suites(hosts, timestamp):
    """WORKLOAD_SUITE: a case per host, runtime and workload (its ratio in system-out; a failure when the workload
    failed); AUDIT_SUITE: a failed case per error finding, a passing case per host audited without one."""
    from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import workload_audit  # pylint: disable=import-outside-toplevel
    work = _Suite(WORKLOAD_SUITE, timestamp, [("description", "each workload's time per unit of work under a runtime "
                                                              "over the host's own (workload_bench)")])
    audit = _Suite(AUDIT_SUITE, timestamp, [("description", "the running containers the host audited and how the host "
                                                            "sees each (workload_audit)")])
    for host in sorted(hosts, key=str):
        entry = hosts[host] if isinstance(hosts[host], dict) else {}
        shown = fmt.host_text(host, 256)
        workload = entry.get("workload") if isinstance(entry.get("workload"), dict) else {}
        runtimes = workload.get("runtimes") if isinstance(workload.get("runtimes"), dict) else {}
        for runtime in sorted(runtimes, key=str):
            result = runtimes[runtime] if isinstance(runtimes[runtime], dict) else {}
            workloads = result.get("workloads") if isinstance(result.get("workloads"), dict) else {}
            for name in workload_audit.WORKLOADS:
                item = workloads.get(name)
                if not isinstance(item, dict):
                    continue
                case = "%s %s %s" % (shown, fmt.host_text(runtime, 128), name)
                out = "ratio: %s (inside the noise: %s, noise band +/-%s); median time per unit: %s s; CoV: %s\n%s" % (
                    workload_audit.workload_cell(item), item.get("within_noise"), item.get("noise"),
                    item.get("unit_seconds"), item.get("cov"), fmt.host_text(result.get("summary") or "", 2000))
                if item.get("status") == "failed":
                    error = fmt.host_text(item.get("error") or "failed", 2000)
                    work.case(WORKLOAD_SUITE, case, "failure", message=error, kind="workload-failed", text=out)
                else:
                    work.case(WORKLOAD_SUITE, case, out=out)
        result = entry.get("audit")
        if not isinstance(result, dict):
            continue
        findings = [f for f in result.get("findings") or [] if isinstance(f, dict) and f.get("severity") == "error"]
        for index, finding in enumerate(findings):
            container = finding.get("container") if isinstance(finding.get("container"), dict) else {}
            message = fmt.host_text(finding.get("message") or "%s (x%s)" % (finding.get("code"), finding.get("count")), 2000)
            audit.case(AUDIT_SUITE, "%s %s %d" % (shown, fmt.host_text(finding.get("code"), 64), index + 1), "failure",
                       message=message, kind=fmt.host_text(finding.get("code"), 64),
                       text="%s\ncontainer: %s/%s" % (
                           message, fmt.host_text(container.get("namespace") or "-", 256),
                           fmt.host_text(container.get("id") or "-", 256)))
        if result.get("error") and not findings:
            why = fmt.host_text(result["error"], 2000)
            audit.case(AUDIT_SUITE, shown, "error", message=why, kind="audit-failed", text=why)
        elif not findings:
            audit.case(AUDIT_SUITE, shown, out=workload_audit.audit_line(shown, result))
    return [suite.close() for suite in (work, audit) if suite.cases]
# ---- end workload cost and audit ----


def render(report):
    """JUnit XML (a string with its XML declaration) for a report.json document."""
    hosts = report.get("hosts") or {}
    timestamp = report.get("finished")
    suites = [_policy_suite(policy, hosts, timestamp) for policy in report.get("policies") or []]
    if not suites and hosts:
        suites.append(_hosts_suite(hosts, timestamp))
    probes = _probe_suite(hosts, timestamp, refused_fields(report)) if isinstance(hosts, dict) else None
    if probes:
        suites.append(probes)
    suites.extend(_workload_audit_suites(hosts, timestamp) if isinstance(hosts, dict) else [])  # issues 21, 24
    totals = dict((key, 0) for key in ("tests", "failures", "errors", "skipped"))
    for _text_, counts in suites:
        for key in totals:
            totals[key] += counts[key]
    attrs = [("name", ROOT_NAME)] + [(key, str(value)) for key, value in totals.items()]
    if timestamp:
        attrs.append(("timestamp", timestamp))
    elapsed = _seconds(report.get("started"), timestamp)
    if elapsed is not None:
        attrs.append(("time", "%.3f" % elapsed))
    if not suites:
        return "<?xml version='1.0' encoding='utf-8'?>\n<testsuites%s />\n" % _attrs(attrs)
    return "<?xml version='1.0' encoding='utf-8'?>\n<testsuites%s>\n%s</testsuites>\n" % (
        _attrs(attrs), "".join(text for text, _counts in suites))
