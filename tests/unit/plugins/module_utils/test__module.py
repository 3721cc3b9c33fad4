"""_module.detach_stdin: commands a module runs never read the SSH session's terminal.

Over SSH without pipelining a module's stdin is a terminal (``ssh -tt``); a
command that ``timeout`` runs is in a background process group, so reading that
terminal stops it (SIGTTIN) until the timeout ends it.  ``ctr run`` copies its
stdin into the container and so stopped every probe of a fleet run.  These tests
run ``timeout 2 cat`` (cat reads stdin like ctr run does) under a real terminal.
"""

import os
import pty
import subprocess
import time

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _module


def _timeout_cat_under_a_terminal(detach):
    """Exit code of ``timeout 2 cat`` in a child whose stdin is its controlling terminal, and seconds taken."""
    started = time.monotonic()
    pid, master = pty.fork()
    if pid == 0:  # the child: stdin, stdout and stderr are the terminal, as under ssh -tt
        code = 99
        try:
            if detach:
                _module.detach_stdin()
            code = subprocess.run(["timeout", "2", "cat"], check=False).returncode
        finally:
            os._exit(code)
    try:
        while True:
            try:
                if not os.read(master, 1024):
                    break
            except OSError:  # the terminal closes with the child
                break
        _pid, status = os.waitpid(pid, 0)
    finally:
        os.close(master)
    return os.waitstatus_to_exitcode(status), time.monotonic() - started


def test_a_command_reading_the_terminal_hangs_until_its_timeout():
    # The failure the fix is for: timeout(1) exits 124, cat never got to read.
    code, seconds = _timeout_cat_under_a_terminal(detach=False)
    assert code == 124 and seconds >= 2


def test_with_stdin_detached_it_reads_end_of_file_at_once():
    code, seconds = _timeout_cat_under_a_terminal(detach=True)
    assert code == 0 and seconds < 2


def test_client_from_params_detaches_stdin(monkeypatch):
    calls = []
    monkeypatch.setattr(_module, "detach_stdin", lambda: calls.append("detached"))
    monkeypatch.setattr(_module, "ContainerdClient", lambda *args: ("client",) + args)

    class Module(object):
        params = {"address": "/a.sock", "namespace": "ns", "config_path": "/c.toml", "client": "ctr"}

    module = Module()
    assert _module.client_from_params(module) == ("client", module, "/a.sock", "ns", "/c.toml", "ctr")
    assert calls == ["detached"]
