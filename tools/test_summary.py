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

# Skipped tests that share one reason are all named up to this many (tests/node leaves out at most its
# 8 scenarios per suite, each suite with a reason of its own); longer lists are cut to five.
NAMED_IN_FULL = 10


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
            # Every test is named up to NAMED_IN_FULL (a suite's left-out node scenarios, all of them);
            # a longer list shows its first five.
            shown = tests if len(tests) <= NAMED_IN_FULL else tests[:5]
            for test in shown:
                lines.append("      %s" % test)
            if len(shown) < len(tests):
                lines.append("      ... and %d more" % (len(tests) - len(shown)))
    if total_skipped:
        lines.append("  %d test%s SKIPPED: a green run did not test those (reasons above)." % (
            total_skipped, "" if total_skipped == 1 else "s"))
    else:
        lines.append("  nothing skipped")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
