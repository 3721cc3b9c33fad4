"""Fixtures of the node test: the cached VM image of each Debian suite, one boot of it, playbook runs, timings.

The harness itself is node_image.py (build, cache, boot, teardown). Every
scenario runs once per suite of ``node_image.SUITES`` (the ``suite`` fixture;
pytest runs all of one suite's scenarios, in file order, on one boot, then the
next suite's); node_selection.py decides, from KF_NODE_SUITES, which suites and
scenarios run and names the rest as skipped. Timings of every step, per suite,
are collected in ``TIMINGS`` and written to tests/output/node-timings.json and
the terminal summary at the end.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

import node_selection
from node_image import SUITES, Node, build_image, cache_dir, missing_tools

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import kata_fleet_runner  # noqa: E402  pylint: disable=wrong-import-position

# One reading of a run's table and bundle for every suite: the integration tests' harness.
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from harness import PlaybookRun  # noqa: E402  pylint: disable=wrong-import-position

NODE = "kf-node"
RECAP = re.compile(r"^%s\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)" % NODE, re.M)
TIMINGS = {}


class Run(PlaybookRun):
    """A finished playbook run against the node: the integration tests' PlaybookRun, its recap counts and wall time."""

    def __init__(self, result, seconds, evidence_dir):
        PlaybookRun.__init__(self, result, evidence_dir)
        self.seconds = seconds
        recap = RECAP.search(result.stdout or "")
        self.ok, self.changed, self.unreachable, self.failed = (
            [int(value) for value in recap.groups()] if recap else (None, None, None, None))


def _missing(why):
    """A missing prerequisite fails the node test (a green run that tested nothing would lie); ALLOW_SKIP=1 skips."""
    if os.environ.get("ALLOW_SKIP") == "1":
        pytest.skip(why + " (ALLOW_SKIP=1)")
    pytest.fail(why + "; or run with ALLOW_SKIP=1 to skip the node test", pytrace=False)


def _timed(name, seconds):
    TIMINGS[name] = round(seconds, 1)


def pytest_configure(config):
    config.addinivalue_line("markers", "node_scenarios(name): the smallest scenario set (%s) a node test belongs to"
                            % ", ".join(node_selection.SETS))


def pytest_collection_modifyitems(config, items):
    """Skip, with a reason naming the suite, every scenario KF_NODE_SUITES leaves out."""
    setting = os.environ.get("KF_NODE_SUITES") or ""
    try:
        selected = node_selection.parse(setting, os.environ.get("KF_NODE_SCENARIO"), SUITES)
    except node_selection.BadSelection as error:
        raise pytest.UsageError(str(error))
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "suite" not in params:
            continue
        marker = item.get_closest_marker("node_scenarios")
        if marker is None or len(marker.args) != 1 or marker.args[0] not in node_selection.SETS:
            raise pytest.UsageError("%s: a node scenario names its set with @pytest.mark.node_scenarios(%s)"
                                    % (item.nodeid, "|".join(node_selection.SETS)))
        reason = node_selection.skip_reason(params["suite"], marker.args[0], selected, setting or "<unset>")
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session", params=SUITES)
def suite(request):
    """The Debian suite of this run of the scenarios (one image, one boot per suite)."""
    return request.param


@pytest.fixture(scope="session")
def node_image(suite):
    if os.geteuid() != 0:
        _missing("the node test builds a disk image with mmdebstrap (root mode): it needs root")
    missing = missing_tools()
    if missing:
        _missing("not installed: %s (apt-get install %s, or make prereqs)" % (", ".join(missing), " ".join(missing)))
    started = time.monotonic()
    image = build_image(suite)
    assert image.suite == suite, image.build
    _timed("%s: image (built or found in %s)" % (suite, cache_dir()), time.monotonic() - started)
    TIMINGS["%s: image build figures" % suite] = image.build
    return image


def _interrupt(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


@pytest.fixture(scope="session")
def node(node_image):
    """One boot of the image, with SSH forwarded to loopback; QEMU and its folder are gone afterwards."""
    instance = Node(node_image)
    # A SIGTERM (a CI job cancelled) tears down like Ctrl-C; QEMU itself would die with this process anyway.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        instance.start()
        _timed("%s: boot to SSH" % node_image.suite, instance.boot_seconds)
        yield instance
    finally:
        signal.signal(signal.SIGTERM, previous)
        started = time.monotonic()
        instance.stop()
        _timed("%s: teardown" % node_image.suite, time.monotonic() - started)
    assert instance.process is None or instance.process.poll() is not None, "QEMU outlived the test"
    assert not os.path.exists(instance.work)


@pytest.fixture(scope="session")
def playbook(node, tmp_path_factory):
    """Run bootstrap or verify against the node through kata_fleet_runner; ``name`` labels the timing."""
    calls = []

    def run(which, name, extravars=None, tags=None, check=False, timeout=1800):
        calls.append(name)
        workdir = tmp_path_factory.mktemp("run%d" % len(calls))
        inventory = {"all": {"hosts": {NODE: node.hostvars()}}}
        envvars = dict(node.envvars(), ANSIBLE_DIFF_ALWAYS="1")
        if tags:
            envvars["ANSIBLE_RUN_TAGS"] = tags
        started = time.monotonic()
        if check:
            # The entry point has no --check (ansible has no setting for it): plain ansible-playbook.
            result = _check_mode_run(which, inventory, workdir, extravars, envvars, timeout)
        else:
            result = kata_fleet_runner.run_playbook(
                which, inventory, private_data_dir=workdir / "runner", evidence_dir=workdir / "evidence",
                extravars=extravars, envvars=envvars, timeout=timeout)
        seconds = time.monotonic() - started
        _timed("%s: %s" % (node.image.suite, name), seconds)
        return Run(result, seconds, str(workdir / "evidence"))

    return run


class _CheckModeResult:
    """What Run reads from a RunResult, for a plain ansible-playbook --check run."""

    def __init__(self, proc):
        self.rc = proc.returncode
        self.status = "successful" if proc.returncode == 0 else "failed"
        self.stdout = proc.stdout + proc.stderr
        # PlaybookRun reads these from a RunResult: a plain --check run keeps no events.
        self.events = []

    def results(self, action):
        raise NotImplementedError("a --check run keeps no events")


def _check_mode_run(which, inventory, workdir, extravars, envvars, timeout):
    inventory_path = workdir / "inventory.json"
    inventory_path.write_text(json.dumps(inventory))
    vars_path = workdir / "vars.json"
    vars_path.write_text(json.dumps(extravars or {}))
    env = dict(os.environ)
    env.update(kata_fleet_runner.environment("checkout", None, workdir / "evidence", envvars))
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory_path),
            kata_fleet_runner.resolve_playbook(which, "checkout"), "-e", "@%s" % vars_path, "--check"]
    return _CheckModeResult(subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True,
                                           timeout=timeout, check=False))


def pytest_sessionstart(session):
    session.config._kf_node_started = time.monotonic()  # pylint: disable=protected-access


def pytest_terminal_summary(terminalreporter, config):
    if not TIMINGS:
        return
    started = getattr(config, "_kf_node_started", None)
    if started is not None:
        TIMINGS["whole session"] = round(time.monotonic() - started, 1)
    terminalreporter.section("node test timings (seconds)")
    for name, value in TIMINGS.items():
        terminalreporter.write_line("%-55s %s" % (name, value))
    output = os.path.join(REPO, "tests", "output")
    os.makedirs(output, exist_ok=True)
    with open(os.path.join(output, "node-timings.json"), "w") as handle:
        json.dump(TIMINGS, handle, indent=2)
