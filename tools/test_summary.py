"""The end of `make test`: what ran, what failed and, above all, what was SKIPPED and why.

Reads the junit xml pytest wrote for each suite (build/test-results/<suite>.xml)
and the step log tools/test.sh kept (one "<step> <outcome> <seconds>" line per
step), and prints one block that a reader of a green run cannot miss.

    tools/test_summary.py RESULTS_DIR
Exit status 0; the caller decides what fails the run.
"""

import collections
import os
import sys
import xml.etree.ElementTree as ET


def skipped_tests(path):
    """(suite counts, {reason: [test ids]}) of one pytest junit xml file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = collections.Counter()
    reasons = collections.OrderedDict()
    for suite in suites:
        for key in ("tests", "failures", "errors", "skipped"):
            counts[key] += int(suite.get(key) or 0)
        for case in suite.iter("testcase"):
            skip = case.find("skipped")
            if skip is None:
                continue
            reason = (skip.get("message") or skip.text or "no reason given").strip()
            # pytest prefixes module-level skips with the location; keep the words.
            if reason.startswith("Skipped: "):
                reason = reason[len("Skipped: "):]
            reasons.setdefault(reason, []).append("%s::%s" % (case.get("classname"), case.get("name")))
    return counts, reasons


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: test_summary.py RESULTS_DIR\n")
        return 2
    results = argv[1]
    lines = ["", "=" * 30 + " make test summary " + "=" * 30]
    steps_log = os.path.join(results, "steps.log")
    if os.path.exists(steps_log):
        with open(steps_log) as handle:
            for line in handle:
                parts = line.split()
                if len(parts) == 3:
                    lines.append("  %-12s %-8s %6ss" % tuple(parts))
    total_skipped = 0
    files = sorted(name for name in os.listdir(results) if name.endswith(".xml")) if os.path.isdir(results) else []
    for name in files:
        counts, reasons = skipped_tests(os.path.join(results, name))
        lines.append("  %s: %d tests, %d failed, %d errors, %d skipped" % (
            name[:-4], counts["tests"], counts["failures"], counts["errors"], counts["skipped"]))
        for reason, tests in reasons.items():
            total_skipped += len(tests)
            lines.append("    SKIPPED %d: %s" % (len(tests), reason))
            for test in tests[:5]:
                lines.append("      %s" % test)
            if len(tests) > 5:
                lines.append("      ... and %d more" % (len(tests) - 5))
    if total_skipped:
        lines.append("  %d test%s SKIPPED: a green run did not test those (reasons above)." % (
            total_skipped, "" if total_skipped == 1 else "s"))
    else:
        lines.append("  nothing skipped")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
