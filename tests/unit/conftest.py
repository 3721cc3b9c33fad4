# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared test plumbing for the unit tests (no Ansible run, no containerd needed).

* puts ``<repo>/collections`` first on sys.path, so the collection's own FQCN
  imports (``ansible_collections.kata_fleet.runtimes...``) resolve through the
  checkout's self-link;
* ``FakeModule``: records every ``run_command`` argv (and every ``_exec.run``
  argv, through ``run_bounded``) and answers from a script of (argv fragment ->
  (rc, stdout, stderr)) rules; ``get_bin_path`` answers from a dict;
* ``run_module``: runs a module's ``main()`` with module args and returns the
  exit code and the JSON it printed.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = str(REPO_ROOT / "collections")
if sys.path[:1] != [COLLECTIONS]:
    if COLLECTIONS in sys.path:
        sys.path.remove(COLLECTIONS)
    sys.path.insert(0, COLLECTIONS)

FIXTURES = Path(__file__).resolve().parent / "fixtures"

CTR = "/usr/bin/ctr"
NERDCTL = "/usr/local/bin/nerdctl"
CONTAINERD = "/usr/bin/containerd"
# What instance_tag() answers in module tests (patched_ansible_module); ctr_answers.TAG is the same.
INSTANCE_TAG = "5ca1ab1e"


def _contains(argv, fragment):
    """True when ``fragment`` (a tuple of words) occurs as a contiguous run in ``argv``."""
    size = len(fragment)
    return any(tuple(argv[i:i + size]) == fragment for i in range(len(argv) - size + 1))


class FakeModule:
    """A stand-in for AnsibleModule as module_utils sees it.

    ``on(*words, rc=, out=, err=)`` adds a rule: any argv containing ``words``
    contiguously gets that answer.  The rule added last wins, so a test can
    override a default.  ``out`` may be a list: successive matches pop answers
    from it (the last one repeats).  Unmatched commands answer (0, "", "").
    """

    def __init__(self, bins=None, check_mode=False, params=None):
        self.bins = dict(bins or {})
        self.rules = []
        self.calls = []
        self.check_mode = check_mode
        self.params = dict(params or {})
        self.bounded = []
        self.warnings = []

    def on(self, *words, **answer):
        rc = answer.get("rc", 0)
        out = answer.get("out", "")
        err = answer.get("err", "")
        outs = list(out) if isinstance(out, list) else [out]
        self.rules.append((tuple(words), rc, outs, err))
        return self

    def get_bin_path(self, arg, required=False, opt_dirs=None):
        return self.bins.get(arg)

    def run_command(self, args, **kwargs):
        argv = list(args)
        self.calls.append(argv)
        for words, rc, outs, err in reversed(self.rules):
            if _contains(argv, words):
                out = outs.pop(0) if len(outs) > 1 else outs[0]
                return rc, out, err
        return 0, "", ""

    def run_bounded(self, args, timeout=None, max_bytes=None):
        """What _exec.run answers, from the same script (timed_out when the rule says so)."""
        from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _containerd, _exec

        argv = list(args)
        self.bounded.append((argv, timeout, max_bytes))
        # The duration is what _containerd's clock says (a test may give it a fake one that scripts durations).
        started = _containerd.time.monotonic()
        rc, out, err = self.run_command(argv)
        return _exec.Result(rc, out, err, _containerd.time.monotonic() - started, timed_out=rc == -9)

    def warn(self, message):
        self.warnings.append(message)

    def calls_with(self, *words):
        return [argv for argv in self.calls if _contains(argv, tuple(words))]


@pytest.fixture
def fixture_text():
    def read(name):
        return (FIXTURES / name).read_text()
    return read


@pytest.fixture
def fixture_json():
    def read(name):
        return json.loads((FIXTURES / name).read_text())
    return read


SAMPLE_REPORT = REPO_ROOT / "tests" / "fixtures" / "sample_report.json"


@pytest.fixture
def sample_report():
    """A fresh copy of the recorded sample report.json (tests/fixtures/sample_report.json): dev-vm (runc),
    lab-laptop (kata, runc), node-unreachable; an older record (no witness, no errors key)."""
    return json.loads(SAMPLE_REPORT.read_text())


@pytest.fixture
def fake_module():
    """Factory: fake_module(bins=..., check_mode=...) -> FakeModule."""
    return FakeModule


@pytest.fixture
def socket_path(tmp_path):
    """A path that exists where the containerd socket is expected (ping() only checks existence)."""
    path = tmp_path / "containerd.sock"
    path.write_text("")
    return str(path)


@pytest.fixture
def patched_ansible_module(monkeypatch):
    """Route AnsibleModule.run_command/get_bin_path to a FakeModule; returns that fake."""
    from ansible.module_utils.basic import AnsibleModule

    fake = FakeModule(bins={"ctr": CTR, "containerd": CONTAINERD})

    def run_command(self, args, **kwargs):
        return fake.run_command(args, **kwargs)

    def get_bin_path(self, arg, required=False, opt_dirs=None):
        return fake.get_bin_path(arg, required=required, opt_dirs=opt_dirs)

    monkeypatch.setattr(AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(AnsibleModule, "get_bin_path", get_bin_path)
    # Probe container runs go through _exec.run: the same script answers them.
    from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _containerd, _exec
    monkeypatch.setattr(_exec, "run", fake.run_bounded)
    # The instance tag in container names is a hash of the (temporary) socket path: pinned, so names are known.
    # test_containerd.py tests the real instance_tag.
    monkeypatch.setattr(_containerd, "instance_tag", lambda address, namespace: INSTANCE_TAG)
    return fake


@pytest.fixture
def run_module(capsys):
    """run_module(main, args) -> (exit code, result dict); asserts no traceback was printed."""
    from ansible.module_utils.testing import patch_module_args

    def run(main, args):
        with patch_module_args(args):
            with pytest.raises(SystemExit) as exited:
                main()
        out, err = capsys.readouterr()
        assert "Traceback" not in out and "Traceback" not in err, out + err
        result = json.loads(out)
        assert "Traceback" not in json.dumps(result)
        return exited.value.code, result

    return run


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Two ssh signing keys, ``signer`` and ``stranger`` (paths of the private keys), for bundle signatures."""
    folder = tmp_path_factory.mktemp("keys")
    made = {}
    for name in ("signer", "stranger"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(folder / name)],
                       check=True)
        made[name] = str(folder / name)
    return made
