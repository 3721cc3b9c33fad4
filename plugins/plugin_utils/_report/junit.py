# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.json's policy results as JUnit XML, the format every CI server shows.

Laid out as kube-bench and goss do: one ``<testsuite>`` per policy, one
``<testcase>`` per host.  A host that has no result for a policy (it was
unreachable, or failed before the policy task ran) is an ``<error>``, never a
silent omission, so a broken fleet cannot look green.  Standard library only.
"""

import datetime
import re
import xml.etree.ElementTree as ET

from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._policy import NOT_EVALUATED, not_evaluated

ROOT_NAME = "kata-fleet"
# The suite used when no policy produced a result at all (every host failed or
# was unreachable, or the play ran no policy task): one case per host.
HOSTS_SUITE = "hosts"
# XML 1.0 cannot carry most control characters, which error messages may hold.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


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


class _Suite(object):
    """One <testsuite> and its counts."""

    def __init__(self, name, timestamp, properties):
        self.element = ET.Element("testsuite", {"name": _text(name)})
        if timestamp:
            self.element.set("timestamp", _text(timestamp))
        self.counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if properties:
            props = ET.SubElement(self.element, "properties")
            for key, value in properties:
                ET.SubElement(props, "property", {"name": key, "value": _text(value)})

    def case(self, classname, name, outcome=None, message=None, kind=None, text=None):
        """Add a testcase; ``outcome`` is None (passed), failure, error or skipped."""
        case = ET.SubElement(self.element, "testcase", {"classname": _text(classname), "name": _text(name), "time": "0"})
        self.counts["tests"] += 1
        if outcome is None:
            return case
        self.counts[{"failure": "failures", "error": "errors", "skipped": "skipped"}[outcome]] += 1
        child = ET.SubElement(case, outcome)
        if message is not None:
            child.set("message", _text(message))
        if kind is not None:
            child.set("type", _text(kind))
        if text:
            child.text = _text(text)
        return case

    def close(self):
        for key in ("tests", "failures", "errors", "skipped"):
            self.element.set(key, str(self.counts[key]))
        self.element.set("time", "0")
        return self.element


def _policy_suite(policy, hosts, timestamp):
    name = policy.get("name") or "unnamed policy"
    severity = policy.get("severity") or "error"
    properties = [("severity", severity), ("description", policy.get("description") or "")]
    for key in ("applies_to", "expect"):
        if policy.get(key) is not None:
            properties.append((key, policy[key]))
    suite = _Suite(name, timestamp, properties)
    expression = "expect: %s" % policy.get("expect") if policy.get("expect") else ""
    seen = set()
    for result in policy.get("results") or []:
        host = result.get("host") or ""
        seen.add(host)
        status = result.get("status")
        detail = result.get("detail") or ""
        if status == "pass":
            case = suite.case(name, host)
            if detail:
                ET.SubElement(case, "system-out").text = _text(detail)
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


def render(report):
    """JUnit XML (a string with its XML declaration) for a report.json document."""
    hosts = report.get("hosts") or {}
    timestamp = report.get("finished")
    suites = [_policy_suite(policy, hosts, timestamp) for policy in report.get("policies") or []]
    if not suites and hosts:
        suites.append(_hosts_suite(hosts, timestamp))
    root = ET.Element("testsuites", {"name": ROOT_NAME})
    totals = dict((key, 0) for key in ("tests", "failures", "errors", "skipped"))
    for suite in suites:
        for key in totals:
            totals[key] += int(suite.get(key))
        root.append(suite)
    for key, value in totals.items():
        root.set(key, str(value))
    if timestamp:
        root.set("timestamp", _text(timestamp))
    elapsed = _seconds(report.get("started"), timestamp)
    if elapsed is not None:
        root.set("time", "%.3f" % elapsed)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
