"""Which Debian suites the node test boots, and which of its scenarios run on each.

Every scenario of tests/node/test_node_systemd.py carries the smallest scenario
set it belongs to (``@pytest.mark.node_scenarios("core")``); the sets nest:

    core  the first bootstrap through systemd and verify's runc row
    lean  core + a changed configuration, the rollback, the converged run, the archive method
    full  lean + check mode on the fresh node, a configuration containerd refuses

``KF_NODE_SUITES`` names the suites and, after a colon, a set for each, e.g.
``bookworm:lean,trixie:core`` (CI's time budget, .ci/run); a suite without one
gets ``KF_NODE_SCENARIO`` (default ``full``). Unset, every suite runs every
scenario (``make node-test``). A suite or scenario left out is skipped with a
reason that names the suite, so the test summary names what did not run.
"""

import collections
import re

SETS = ("core", "lean", "full")
_ENTRY = re.compile(r"\A([a-z]+)(?::([a-z]+))?\Z")


class BadSelection(ValueError):
    pass


def _scenario_set(name, where):
    if name not in SETS:
        raise BadSelection("%s: unknown scenario set %r (one of: %s)" % (where, name, ", ".join(SETS)))
    return name


def parse(suites_text, default_set, known_suites):
    """{suite: scenario set} from KF_NODE_SUITES' text (``None`` or empty: every known suite)."""
    default_set = _scenario_set(default_set or "full", "KF_NODE_SCENARIO")
    selected = collections.OrderedDict()
    if not suites_text or not suites_text.strip():
        for suite in known_suites:
            selected[suite] = default_set
        return selected
    if len(suites_text) > 200:
        raise BadSelection("KF_NODE_SUITES: longer than 200 characters")
    for entry in suites_text.split(","):
        match = _ENTRY.match(entry.strip())
        if not match:
            raise BadSelection("KF_NODE_SUITES: %r is not SUITE or SUITE:SET" % entry.strip()[:40])
        suite, chosen = match.groups()
        if suite not in known_suites:
            raise BadSelection("KF_NODE_SUITES: unknown suite %r (one of: %s)" % (suite, ", ".join(known_suites)))
        if suite in selected:
            raise BadSelection("KF_NODE_SUITES: %s named twice" % suite)
        selected[suite] = _scenario_set(chosen, "KF_NODE_SUITES") if chosen else default_set
    return selected


def skip_reason(suite, smallest_set, selected, setting):
    """Why a scenario of ``smallest_set`` does not run on ``suite`` (None: it runs)."""
    if suite not in selected:
        return "%s: suite not selected (KF_NODE_SUITES=%s); make node-test runs every suite" % (suite, setting)
    chosen = selected[suite]
    if SETS.index(smallest_set) > SETS.index(chosen):
        return ("%s: left out of the %r scenario set (KF_NODE_SUITES=%s); make node-test runs it"
                % (suite, chosen, setting))
    return None
