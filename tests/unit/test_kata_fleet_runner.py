"""kata_fleet_runner, the Python entry point: argument handling, inventory files, errors, the CLI.

ansible-runner is replaced by a recording stand-in here; the real run is
tests/integration/test_runner_entrypoint.py.
"""

import io
import json
import os
import stat
import sys
import tempfile
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import kata_fleet_runner  # noqa: E402  pylint: disable=wrong-import-position
import kata_fleet_runner.__main__ as cli  # noqa: E402  pylint: disable=wrong-import-position
from kata_fleet_runner import KataFleetRunError, RunResult  # noqa: E402  pylint: disable=wrong-import-position


def _installed(tmp_path, playbooks=("verify", "bootstrap")):
    """A fake installed collection: <tmp>/collections/ansible_collections/kata_fleet/runtimes."""
    root = tmp_path / "collections" / "ansible_collections" / "kata_fleet" / "runtimes"
    (root / "playbooks").mkdir(parents=True)
    (root / "MANIFEST.json").write_text("{}")
    for name in playbooks:
        (root / "playbooks" / (name + ".yml")).write_text("---\n")
    return root


# layout and playbooks

def test_this_checkout_is_a_checkout():
    assert kata_fleet_runner.layout() == ("checkout", None)


def test_installed_collection_and_its_collections_path(tmp_path):
    root = _installed(tmp_path)
    assert kata_fleet_runner.layout(root) == ("installed", tmp_path / "collections")
    assert kata_fleet_runner.layout(tmp_path) == (None, None)


@pytest.mark.parametrize("name", ["verify", "kata_fleet.runtimes.verify"])
def test_checkout_runs_its_own_playbook_file(name):
    assert kata_fleet_runner.resolve_playbook(name) == str(REPO / "playbooks" / "verify.yml")


@pytest.mark.parametrize("name", ["bootstrap", "kata_fleet.runtimes.bootstrap"])
def test_installed_collection_runs_the_fqcn(tmp_path, name):
    root = _installed(tmp_path)
    assert kata_fleet_runner.resolve_playbook(name, root=root) == "kata_fleet.runtimes.bootstrap"


def test_without_a_collection_around_the_fqcn_is_passed_on(tmp_path):
    assert kata_fleet_runner.resolve_playbook("verify", root=tmp_path) == "kata_fleet.runtimes.verify"


def test_unknown_collection_playbook_lists_the_known_ones(tmp_path):
    root = _installed(tmp_path)
    with pytest.raises(KataFleetRunError, match=r"no playbook 'verfy': use one of bootstrap, verify"):
        kata_fleet_runner.resolve_playbook("kata_fleet.runtimes.verfy", root=root)


def test_unknown_playbook_name_says_what_is_accepted():
    with pytest.raises(KataFleetRunError) as error:
        kata_fleet_runner.resolve_playbook("verfy")
    assert "unknown playbook 'verfy'" in str(error.value)
    assert "'verify' or 'bootstrap'" in str(error.value) and "path of a playbook file" in str(error.value)


def test_missing_playbook_file_is_named(tmp_path):
    with pytest.raises(KataFleetRunError, match="playbook file %s does not exist" % (tmp_path / "site.yml")):
        kata_fleet_runner.resolve_playbook(str(tmp_path / "site.yml"))


def test_playbook_file_becomes_absolute(tmp_path, monkeypatch):
    (tmp_path / "site.yml").write_text("---\n")
    monkeypatch.chdir(tmp_path)
    assert kata_fleet_runner.resolve_playbook("site.yml") == str(tmp_path / "site.yml")
    assert kata_fleet_runner.resolve_playbook(tmp_path / "site.yml") == str(tmp_path / "site.yml")


@pytest.mark.parametrize("value", [None, "", 3, ["verify"]])
def test_playbook_of_the_wrong_kind(value):
    with pytest.raises(KataFleetRunError, match="playbook must be"):
        kata_fleet_runner.resolve_playbook(value)


# inventory

def test_inventory_dict_is_written_as_json_for_the_owner_only(tmp_path):
    inventory = {"all": {"hosts": {"node1": {"ansible_host": "192.0.2.1", "kata_fleet_runtimes": ["runc", "kata"]}}}}
    path = kata_fleet_runner.resolve_inventory(inventory, tmp_path)
    assert path == str(tmp_path / "inventory" / "kata_fleet.json")
    assert json.loads(Path(path).read_text()) == inventory
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # A second run in the same folder replaces it.
    kata_fleet_runner.resolve_inventory({"all": {"hosts": {"node2": {}}}}, tmp_path)
    assert json.loads(Path(path).read_text()) == {"all": {"hosts": {"node2": {}}}}


def test_inventory_dict_is_only_checked_without_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert kata_fleet_runner.resolve_inventory({"all": {"hosts": {"node1": {}}}}) is None
    assert os.listdir(str(tmp_path)) == []


def test_inventory_path_becomes_absolute(tmp_path, monkeypatch):
    (tmp_path / "hosts.yml").write_text("---\n")
    monkeypatch.chdir(tmp_path)
    assert kata_fleet_runner.resolve_inventory("hosts.yml") == str(tmp_path / "hosts.yml")
    assert kata_fleet_runner.resolve_inventory(tmp_path) == str(tmp_path)


def test_host_list_becomes_a_dict(tmp_path):
    path = kata_fleet_runner.resolve_inventory("node1, node2,", tmp_path)
    assert json.loads(Path(path).read_text()) == {"all": {"hosts": {"node1": {}, "node2": {}}}}


def test_missing_inventory_path_is_named_with_the_fix(tmp_path):
    with pytest.raises(KataFleetRunError) as error:
        kata_fleet_runner.resolve_inventory(str(tmp_path / "nope"))
    assert "inventory %s does not exist" % (tmp_path / "nope") in str(error.value)
    assert "ansible-playbook -i" in str(error.value) and "dict" in str(error.value)


@pytest.mark.parametrize("inventory, message", [
    ({}, "the inventory dict is empty"),
    ({"all": {"hosts": {"node1": {"when": object()}}}}, "cannot be written as JSON"),
    (["node1"], "inventory must be the path"),
    (None, "inventory must be the path"),
    ("", "inventory must be the path"),
])
def test_bad_inventory(tmp_path, inventory, message):
    with pytest.raises(KataFleetRunError, match=message):
        kata_fleet_runner.resolve_inventory(inventory, tmp_path)
    assert not (tmp_path / "inventory").exists()


# environment

def test_checkout_environment():
    env = kata_fleet_runner.environment("checkout", None, "/tmp/ev", base={"PATH": "/usr/bin"})
    assert env["ANSIBLE_CONFIG"] == str(REPO / "ansible.cfg")
    assert env["KATA_FLEET_EVIDENCE_DIR"] == "/tmp/ev"
    assert env["ANSIBLE_NOCOLOR"] == "1"
    # ansible.cfg enables the callback; nothing to add.
    assert "ANSIBLE_CALLBACKS_ENABLED" not in env
    if os.path.isfile(os.path.join(os.path.dirname(sys.executable), "ansible-playbook")):
        assert env["PATH"] == os.path.dirname(sys.executable) + os.pathsep + "/usr/bin"


def test_callbacks_someone_enabled_keep_the_comparison():
    env = kata_fleet_runner.environment("checkout", None, "/ev", base={"ANSIBLE_CALLBACKS_ENABLED": "profile_tasks"})
    assert env["ANSIBLE_CALLBACKS_ENABLED"] == "profile_tasks,kata_fleet.runtimes.comparison"
    env = kata_fleet_runner.environment("checkout", None, "/ev", base={},
                                        envvars={"ANSIBLE_CALLBACKS_ENABLED": "kata_fleet.runtimes.comparison, timer"})
    assert env["ANSIBLE_CALLBACKS_ENABLED"] == "kata_fleet.runtimes.comparison,timer"


def test_installed_environment_finds_this_copy_first():
    env = kata_fleet_runner.environment("installed", Path("/opt/c"), "/ev", base={"ANSIBLE_COLLECTIONS_PATH": "/usr/share/c"})
    assert env["ANSIBLE_COLLECTIONS_PATH"] == "/opt/c" + os.pathsep + "/usr/share/c"
    assert env["ANSIBLE_CALLBACKS_ENABLED"] == "kata_fleet.runtimes.comparison"
    assert "ANSIBLE_CONFIG" not in env


def test_callers_envvars_win():
    env = kata_fleet_runner.environment("checkout", None, "/ev", base={},
                                        envvars={"ANSIBLE_NOCOLOR": 0, "KATA_FLEET_EVIDENCE_DIR": "/elsewhere"})
    assert env["ANSIBLE_NOCOLOR"] == "0" and env["KATA_FLEET_EVIDENCE_DIR"] == "/elsewhere"


# the bundle

def _bundle(tmp_path, run_id="20261201T000000-abcd", report=None):
    folder = tmp_path / "evidence" / run_id
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps(report or {"run_id": run_id}))
    return folder


def test_bundle_is_the_one_the_callback_announced(tmp_path):
    folder = _bundle(tmp_path)
    stdout = "PLAY RECAP\nEvidence: %s (report.json, report.md, SHA256SUMS)\n" % folder
    assert kata_fleet_runner.find_bundle(stdout, "/elsewhere") == folder
    relative = "Evidence: evidence/20261201T000000-abcd (report.json)\n"
    assert kata_fleet_runner.find_bundle(relative, tmp_path) == folder


def test_no_bundle_without_the_line_or_the_report(tmp_path):
    assert kata_fleet_runner.find_bundle("PLAY RECAP\n", tmp_path) is None
    assert kata_fleet_runner.find_bundle("Evidence: %s (report.json)\n" % (tmp_path / "gone"), tmp_path) is None


# run_playbook with a stand-in for ansible-runner

class FakeAnsibleRunner:
    """Records ansible_runner.run's arguments, feeds the event handler, and answers like a Runner."""

    def __init__(self, events=(), stdout="", rc=0):
        self.calls = []
        self.events = list(events)
        self.stdout = stdout
        self.rc = rc

    def run(self, **kwargs):
        self.calls.append(kwargs)
        for event in self.events:
            assert kwargs["event_handler"](event) is True
        artifacts = Path(kwargs["private_data_dir"]) / "artifacts" / "ident"
        artifacts.mkdir(parents=True)
        return types.SimpleNamespace(
            status="successful" if self.rc == 0 else "failed", rc=self.rc, stdout=io.StringIO(self.stdout),
            events=iter(self.events), config=types.SimpleNamespace(artifact_dir=str(artifacts),
                                                                   cwd=kwargs["private_data_dir"]))


@pytest.fixture
def fake_runner(monkeypatch):
    fake = FakeAnsibleRunner()
    module = types.ModuleType("ansible_runner")
    module.run = fake.run
    exceptions = types.ModuleType("ansible_runner.exceptions")
    exceptions.AnsibleRunnerException = RuntimeError
    module.exceptions = exceptions
    monkeypatch.setitem(sys.modules, "ansible_runner", module)
    monkeypatch.setitem(sys.modules, "ansible_runner.exceptions", exceptions)
    return fake


EVENTS = [
    {"event": "playbook_on_start", "event_data": {}},
    {"event": "runner_on_ok", "event_data": {"host": "node1", "task_action": "kata_fleet.runtimes.host_facts",
                                             "res": {"changed": False}}},
    {"event": "runner_on_failed", "event_data": {"host": "node2", "task_action": "kata_fleet.runtimes.host_facts",
                                                 "res": {"failed": True, "msg": "no containerd"}}},
    {"event": "runner_on_ok", "event_data": {"host": "node1", "task_action": "ansible.builtin.set_fact", "res": {}}},
]


def test_run_passes_everything_to_ansible_runner(tmp_path, fake_runner):
    folder = tmp_path / "pdd" / "evidence" / "20261201T000000-abcd"
    fake_runner.events = EVENTS
    fake_runner.stdout = "...\nEvidence: %s (report.json)\n" % folder
    seen = []

    def on_event(event):
        seen.append(event["event"])
        if event["event"] == "playbook_on_start":
            _bundle(tmp_path / "pdd", report={"result": "pass"})

    result = kata_fleet_runner.run_playbook(
        "verify", {"all": {"hosts": {"node1": {}, "node2": {}}}}, private_data_dir=tmp_path / "pdd",
        extravars={"kata_fleet_runtimes": ["runc"]}, forks=5, limit=["node1", "node2"], envvars={"FOO": "bar"},
        timeout=90.4, on_event=on_event)

    call = fake_runner.calls[0]
    assert call["private_data_dir"] == str(tmp_path / "pdd")
    assert call["playbook"] == str(REPO / "playbooks" / "verify.yml")
    assert call["inventory"] == str(tmp_path / "pdd" / "inventory" / "kata_fleet.json")
    assert call["extravars"] == {"kata_fleet_runtimes": ["runc"]}
    assert (call["forks"], call["limit"], call["timeout"]) == (5, "node1,node2", 90)
    assert call["quiet"] is True and call["suppress_env_files"] is True
    assert call["envvars"]["FOO"] == "bar"
    assert call["envvars"]["KATA_FLEET_EVIDENCE_DIR"] == str(tmp_path / "pdd" / "evidence")
    assert call["envvars"]["ANSIBLE_CONFIG"] == str(REPO / "ansible.cfg")

    assert seen == [event["event"] for event in EVENTS]
    assert isinstance(result, RunResult)
    assert (result.status, result.rc) == ("successful", 0)
    assert result.events == EVENTS and "Evidence:" in result.stdout
    assert result.artifacts_dir == tmp_path / "pdd" / "artifacts" / "ident"
    assert result.evidence_dir == folder and result.report == {"result": "pass"}
    assert result.results("host_facts") == {"node1": {"changed": False},
                                            "node2": {"failed": True, "msg": "no containerd"}}
    assert result.results("set_fact") == {"node1": {}}


def test_defaults_are_a_kept_temporary_folder_and_no_bundle(tmp_path, fake_runner, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = kata_fleet_runner.run_playbook("verify", {"all": {"hosts": {"node1": {}}}})
    call = fake_runner.calls[0]
    assert "forks" not in call and "limit" not in call and "timeout" not in call
    assert call["extravars"] == {}
    assert result.private_data_dir.parent == tmp_path and result.private_data_dir.name.startswith("kata-fleet-run-")
    assert result.private_data_dir.is_dir()
    assert call["envvars"]["KATA_FLEET_EVIDENCE_DIR"] == str(result.private_data_dir / "evidence")
    assert result.evidence_dir is None and result.report is None


def test_a_failing_on_event_is_raised_after_the_run(tmp_path, fake_runner):
    fake_runner.events = EVENTS
    calls = []

    def on_event(event):
        calls.append(event)
        raise ValueError("bug in the caller's handler")

    with pytest.raises(ValueError, match="bug in the caller's handler"):
        kata_fleet_runner.run_playbook("verify", {"all": {"hosts": {"node1": {}}}}, private_data_dir=tmp_path,
                                       on_event=on_event)
    assert len(calls) == 1  # not called again
    assert (tmp_path / "artifacts" / "ident").is_dir()  # the run went to its end


@pytest.mark.parametrize("kwargs, message", [
    ({"playbook": "verfy"}, "unknown playbook"),
    ({"inventory": "/nonexistent/hosts"}, "inventory /nonexistent/hosts does not exist"),
    ({"extravars": ["a=1"]}, "extravars must be a dict"),
    ({"extravars": {"a": object()}}, "extravars cannot be passed"),
    ({"forks": 0}, "forks must be"),
    ({"forks": True}, "forks must be"),
    ({"limit": ""}, "limit must be"),
    ({"limit": ["a", 1]}, "limit must be"),
    ({"envvars": "A=1"}, "envvars must be a dict"),
    ({"timeout": 0}, "timeout must be"),
    ({"timeout": "60"}, "timeout must be"),
    ({"on_event": "print"}, "on_event must be"),
])
def test_bad_input_raises_before_anything_runs(tmp_path, fake_runner, kwargs, message):
    arguments = {"playbook": "verify", "inventory": {"all": {"hosts": {"node1": {}}}},
                 "private_data_dir": tmp_path / "pdd"}
    arguments.update(kwargs)
    with pytest.raises(KataFleetRunError, match=message):
        kata_fleet_runner.run_playbook(**arguments)
    assert fake_runner.calls == []
    assert not (tmp_path / "pdd").exists()


def test_private_data_dir_that_cannot_be_made(tmp_path, fake_runner):
    (tmp_path / "file").write_text("")
    with pytest.raises(KataFleetRunError, match="cannot create private_data_dir .*give a writable folder"):
        kata_fleet_runner.run_playbook("verify", {"all": {"hosts": {"n": {}}}}, private_data_dir=tmp_path / "file" / "x")


# the command line

@pytest.fixture
def recorded_run(monkeypatch, tmp_path):
    calls = []

    def run(*args, **kwargs):
        calls.append((args, kwargs))
        if args[9] is not None:
            args[9]({"event": "verbose", "stdout": "PLAY [Verify] ***"})
        return RunResult("failed", 2, "", [], tmp_path / "artifacts", None, None, tmp_path)

    monkeypatch.setattr(cli, "_run", run)
    return calls


def test_cli_passes_the_options_and_exits_with_ansibles_rc(recorded_run, capsys):
    rc = cli.main(["verify", "-i", "hosts.yml", "--limit", "node1", "--forks", "4", "--evidence-dir", "/ev",
                   "-e", "kata_fleet_startup_runs=0", "-e", '{"kata_fleet_runtimes": ["runc"]}', "--timeout", "120"])
    assert rc == 2
    args, kwargs = recorded_run[0]
    playbook, inventory, private_data_dir, evidence_dir, extravars, forks, limit, envvars, timeout = args[:9]
    assert (playbook, inventory, private_data_dir, evidence_dir) == ("verify", "hosts.yml", None, "/ev")
    assert extravars == {"kata_fleet_startup_runs": "0", "kata_fleet_runtimes": ["runc"]}
    assert (forks, limit, envvars, timeout) == (4, "node1", None, 120.0)
    assert callable(kwargs["cancel"]) and kwargs["cancel"]() is False
    out, err = capsys.readouterr()
    assert out == "PLAY [Verify] ***\n"  # streamed
    assert "failed (rc 2); artifacts: " in err and "evidence: none written" in err


def test_cli_quiet_streams_nothing(recorded_run, capsys):
    cli.main(["verify", "-i", "hosts.yml", "-q"])
    assert recorded_run[0][0][9] is None
    assert capsys.readouterr().out == ""


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, fake_runner):
    rc = cli.main(["verify", "-i", str(tmp_path / "nope")])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert err == "kata_fleet_runner: error: inventory %s does not exist: give the path of an inventory file or " \
                  "directory (as for ansible-playbook -i), or the inventory as a dict\n" % (tmp_path / "nope")
    assert cli.main(["kata_fleet.runtimes.nothing", "-i", str(tmp_path)]) == 2
    assert "no playbook 'nothing'" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["verify"], "the following arguments are required: -i/--inventory"),
    (["verify", "-i", "h", "-e", "novalue"], "expected key=value or a JSON object"),
    (["verify", "-i", "h", "-e", "{not json"], "not a JSON object"),
    (["verify", "-i", "h", "-e", "[1]"], "expected key=value"),
    (["verify", "-i", "h", "--forks", "0"], "from 1 to 10000"),
    (["verify", "-i", "h", "--timeout", "-5"], "greater than 0"),
])
def test_cli_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


# issue 11: every argument is checked; bad input is one line and exit 2, never a traceback

NON_UTF8 = b"/tmp/inv\xff.yml".decode("utf-8", "surrogateescape")  # what Python makes of such argv bytes


@pytest.mark.parametrize("argv, message", [
    (["verify", "-i", "h", "--timeout", "inf"], "greater than 0 and at most"),
    (["verify", "-i", "h", "--timeout=-inf"], "greater than 0 and at most"),
    (["verify", "-i", "h", "--timeout", "nan"], "greater than 0 and at most"),
    (["verify", "-i", "h", "--timeout", "1e400"], "greater than 0 and at most"),
    (["verify", "-i", "h", "--timeout", "9" * 40], "greater than 0 and at most"),
    (["verify", "-i", "h", "--timeout", "0"], "greater than 0 and at most"),
    (["verify", "-i", "h", "--timeout", "\u0661\u0662"], "greater than 0 and at most"),   # Arabic-Indic digits
    (["verify", "-i", "h", "--timeout", "99999999"], "at most 2592000"),
    (["verify", "-i", "h", "--forks=-3"], "from 1 to 10000"),
    (["verify", "-i", "h", "--forks", "9" * 30], "from 1 to 10000"),
    (["verify", "-i", "h", "--forks", "\u0664"], "from 1 to 10000"),
    (["verify", "-i", "h", "--forks", "2.5"], "from 1 to 10000"),
    (["verify", "-i", NON_UTF8], "not valid UTF-8: /tmp/inv\\udcff.yml"),
    (["verify", "-i", "h", "--evidence-dir", NON_UTF8], "not valid UTF-8"),
    (["verify", "-i", "h", "--private-data-dir", NON_UTF8], "not valid UTF-8"),
    (["verify", "-i", "h", "--limit", NON_UTF8], "not valid UTF-8"),
    ([NON_UTF8, "-i", "h"], "not valid UTF-8"),
    (["verify", "-i", "h", "-e", "x=" + NON_UTF8], "not valid UTF-8"),
    (["verify", "-i", "h", "-e", '{"a": NaN}'], "NaN is not a JSON value"),
    (["verify", "-i", "h", "-e", '{"a": Infinity}'], "Infinity is not a JSON value"),
    (["verify", "-i", "h", "-e", "{" + '"a":' * 5 + "[" * 100000], "not a JSON object"),
    (["verify", "-i", "h", "-e", "bad key=1"], "is not a variable name"),
    (["verify", "-i", "h", "-e", '{"1st": 1}'], "is not a variable name"),
])
def test_cli_refuses_every_bad_argument_with_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("timeout", [float("inf"), float("nan"), -1.0, 10 ** 12, True])
def test_run_playbook_refuses_a_timeout_that_is_not_a_sane_number(tmp_path, fake_runner, timeout):
    with pytest.raises(kata_fleet_runner.KataFleetRunError) as failure:
        kata_fleet_runner.run_playbook("verify", {"all": {"hosts": {"n": {}}}}, private_data_dir=tmp_path,
                                       timeout=timeout)
    assert "timeout must be a number of seconds greater than 0 and at most" in str(failure.value)


def test_cli_accepts_plain_decimal_timeouts(recorded_run):
    assert cli.main(["verify", "-i", "h", "--timeout", "2.5", "--forks", "10000"]) == 2
    assert recorded_run[0][0][8] == 2.5 and recorded_run[0][0][5] == 10000


def test_results_finds_what_a_verify_host_task_carries():
    carried = {"isolation_probe": {"isolation": {"runtimes": {}}}, "host_facts": {"changed": False}}
    events = [{"event": "runner_on_failed", "event_data": {
        "host": "node1", "task_action": "kata_fleet.runtimes.verify_host",
        "res": {"failed": True, "msg": "m", "module_results": dict(carried, http_latency="not a result")}}},
        {"event": "runner_on_ok", "event_data": {"host": "node2", "task_action": "kata_fleet.runtimes.verify_host",
                                                 "res": {"module_results": "hostile"}}}]
    result = RunResult("failed", 2, "", events, None, None, None, None)
    assert result.results("isolation_probe") == {"node1": carried["isolation_probe"]}
    assert result.results("host_facts") == {"node1": {"changed": False}}
    assert result.results("http_latency") == {}
    assert set(result.results("verify_host")) == {"node1", "node2"}


# issue 23: one run id rule; an id the hosts would refuse is refused here, before anything runs

BAD_RUN_IDS = ["job-12--x", "run-", "x" * 50, "ünïcode", "run-1\n", "../x"]


def _runid():
    return kata_fleet_runner._collection_module("plugins.module_utils._runid")  # pylint: disable=protected-access


@pytest.mark.parametrize("run_id", BAD_RUN_IDS)
@pytest.mark.parametrize("where", ["extravars", "envvars", "environment"])
def test_a_run_id_the_hosts_would_refuse_is_refused_before_anything_runs(tmp_path, fake_runner, monkeypatch,
                                                                         run_id, where):
    monkeypatch.delenv("KATA_FLEET_RUN_ID", raising=False)
    arguments = {}
    if where == "extravars":
        arguments["extravars"] = {"kata_fleet_run_id": run_id}
        named = "extravars kata_fleet_run_id"
    elif where == "envvars":
        arguments["envvars"] = {"KATA_FLEET_RUN_ID": run_id}
        named = "envvars KATA_FLEET_RUN_ID"
    else:
        monkeypatch.setenv("KATA_FLEET_RUN_ID", run_id)
        named = "KATA_FLEET_RUN_ID in this process's environment"
    with pytest.raises(KataFleetRunError) as failure:
        kata_fleet_runner.run_playbook("verify", {"all": {"hosts": {"n": {}}}}, private_data_dir=tmp_path / "pdd",
                                       **arguments)
    # the same reason the callback, the verify_host action and the modules give
    assert str(failure.value) == "%s: %s" % (named, _runid().problem(run_id))
    assert fake_runner.calls == [] and not (tmp_path / "pdd").exists()


@pytest.mark.parametrize("arguments", [{"extravars": {"kata_fleet_run_id": "x" * 40}},
                                       {"extravars": {"kata_fleet_run_id": ""}},
                                       {"extravars": {"kata_fleet_run_id": "awx-{{ awx_job_id }}", "awx_job_id": 1}},
                                       {"envvars": {"KATA_FLEET_RUN_ID": "awx-job-4711"}}])
def test_a_good_or_empty_run_id_runs(tmp_path, fake_runner, monkeypatch, arguments):
    monkeypatch.setenv("KATA_FLEET_RUN_ID", "bad--ambient")  # the caller's envvars win over it, or it is unused
    if "envvars" not in arguments:
        monkeypatch.delenv("KATA_FLEET_RUN_ID")
    kata_fleet_runner.run_playbook("verify", {"all": {"hosts": {"n": {}}}}, private_data_dir=tmp_path, **arguments)
    assert len(fake_runner.calls) == 1


def test_cli_refuses_a_bad_run_id_in_one_line(tmp_path, capsys, fake_runner, monkeypatch):
    monkeypatch.delenv("KATA_FLEET_RUN_ID", raising=False)
    assert cli.main(["verify", "-i", str(tmp_path), "-e", "kata_fleet_run_id=job-12--x"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == "kata_fleet_runner: error: extravars kata_fleet_run_id: %s\n" % (
        _runid().problem("job-12--x"))
    assert fake_runner.calls == []


def test_results_skips_events_without_event_data():
    events = [{"event": "verbose", "stdout": "CryptographyDeprecationWarning: ..."},
              {"event": "runner_on_ok", "event_data": "hostile"},
              {"event": "runner_on_ok", "event_data": {"host": "node1", "task_action": "kata_fleet.runtimes.host_facts",
                                                       "res": {"changed": False}}}]
    assert RunResult("successful", 0, "", events, None, None, None, None).results("host_facts") == {
        "node1": {"changed": False}}
