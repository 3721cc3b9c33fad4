"""`make changelog`: changelogs/changelog.yaml is valid and CHANGELOG.md is what it renders to.

CHANGELOG.md is generated (`antsibull-changelog generate`), never edited: this
renders changelog.yaml into a temporary file with the antsibull-changelog next
to this Python and compares. (`antsibull-changelog lint` checks the fragments;
the Makefile runs it first.)
"""

import difflib
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(os.path.dirname(sys.executable), "antsibull-changelog")


def main():
    if not os.access(TOOL, os.X_OK):
        sys.stderr.write("changelog: no antsibull-changelog at %s (make venv installs requirements-dev.txt)\n" % TOOL)
        return 1
    lint = subprocess.run([TOOL, "lint-changelog-yaml", os.path.join("changelogs", "changelog.yaml")], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if lint.returncode != 0 or lint.stdout.strip():
        sys.stderr.write("changelog: changelogs/changelog.yaml is not valid:\n%s%s" % (lint.stdout, lint.stderr))
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        rendered = os.path.join(tmp, "CHANGELOG.md")
        done = subprocess.run([TOOL, "generate", "--output", rendered, "--output-format", "md"], cwd=ROOT,
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write("changelog: antsibull-changelog generate failed:\n%s%s" % (done.stdout, done.stderr))
            return 1
        with open(rendered) as handle:
            wanted = handle.read()
    with open(os.path.join(ROOT, "CHANGELOG.md")) as handle:
        have = handle.read()
    if have != wanted:
        sys.stderr.write("changelog: CHANGELOG.md is not what changelogs/changelog.yaml renders to; run "
                         "`antsibull-changelog generate` (never edit CHANGELOG.md by hand):\n")
        sys.stderr.writelines(difflib.unified_diff(have.splitlines(True), wanted.splitlines(True),
                                                   "CHANGELOG.md", "rendered", n=1))
        return 1
    print("changelog: changelog.yaml is valid and CHANGELOG.md is current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
