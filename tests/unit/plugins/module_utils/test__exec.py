# -*- coding: utf-8 -*-
"""plugins/module_utils/_exec.py: argv only, bounded output, a timeout that kills the group, honest timing.

Real processes (sh, python, sleep) run here; no containerd is needed.
"""

import os
import signal
import subprocess
import sys
import time
import tracemalloc

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _exec

MB = 1024 * 1024


def _gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def _wait_gone(pid, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not _gone(pid):
        time.sleep(0.02)
    return _gone(pid)


@pytest.mark.parametrize("argv", ["echo hi", b"echo", [], ["echo", None], ["echo", "a\0b"], None])
def test_only_an_argv_list_of_strings(argv):
    with pytest.raises(_exec.ExecError):
        _exec.run(argv)


def test_no_shell_interprets_the_words():
    result = _exec.run(["echo", "$HOME; ls `id` | x"])
    assert (result.rc, result.stdout, result.stderr) == (0, "$HOME; ls `id` | x\n", "")


def test_missing_program_is_an_exec_error():
    with pytest.raises(_exec.ExecError, match="cannot run /nonexistent/kf-prog"):
        _exec.run(["/nonexistent/kf-prog"])


def test_stdin_is_dev_null_and_a_new_session_and_group():
    code = ("import os; print(os.readlink('/proc/self/fd/0')); "
            "print(os.getpgrp() == os.getpid(), os.getsid(0) == os.getpid())")
    started = time.monotonic()
    result = _exec.run([sys.executable, "-c", code], timeout=20)
    assert result.stdout.split("\n")[:2] == ["/dev/null", "True True"]
    # cat reads stdin: /dev/null ends it at once
    assert _exec.run(["cat"], timeout=5).stdout == ""
    assert time.monotonic() - started < 10


def test_rc_stdout_stderr_kept_apart_and_bad_utf8_replaced():
    result = _exec.run(["sh", "-c", "printf 'out\\377\\n'; printf 'err\\n' >&2; exit 3"])
    assert result.rc == 3 and result.stderr == "err\n"
    assert result.stdout == "out\ufffd\n"
    assert not result.truncated and result.overflow_note() is None


def test_twenty_megabytes_of_output_are_bounded_in_time_and_memory():
    """A hostile container printing 20 MB on each stream: 1 MB of each kept, the rest counted and dropped."""
    code = ("import sys\n"
            "chunk = b'x' * 65536\n"
            "for _ in range(320):\n"
            "    sys.stdout.buffer.write(chunk)\n"
            "    sys.stderr.buffer.write(chunk)\n")
    tracemalloc.start()
    started, cpu = time.monotonic(), time.process_time()
    try:
        result = _exec.run([sys.executable, "-c", code], timeout=60, max_bytes=MB)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    wall, used = time.monotonic() - started, time.process_time() - cpu
    assert result.rc == 0 and not result.timed_out
    assert len(result.stdout) == MB and len(result.stderr) == MB
    assert result.stdout_dropped == result.stderr_dropped == 20 * MB - MB
    assert "stdout %d bytes" % (19 * MB) in result.overflow_note()
    # run_command took 7 s of CPU for 20 MB; reading and dropping costs little, and memory stays near the cap
    assert used < 3 and wall < 20, (used, wall)
    assert peak < 8 * MB, peak


def test_timeout_kills_the_whole_process_group():
    result = _exec.run(["sh", "-c", "sleep 30 & echo $!; sleep 30"], timeout=0.5)
    assert result.timed_out is True and result.rc == -signal.SIGKILL
    assert 0.5 <= result.seconds < 3
    background = int(result.stdout.split()[0])
    assert _wait_gone(background)


def _exits_between_polls(monkeypatch):
    """Make Popen.poll() answer "still running" once, then wait for the real exit: the race made certain.

    That is the window run_command's loop has between its two poll() calls.
    """
    real_wait = subprocess.Popen.wait
    calls = []

    def poll(self):
        calls.append(self.pid)
        return None if len(calls) == 1 else real_wait(self)

    monkeypatch.setattr(subprocess.Popen, "poll", poll)
    return calls


def test_exit_between_polls_is_timed_without_the_extra_second(monkeypatch):
    argv = ["sh", "-c", "exec >&- 2>&-; sleep 0.05"]
    # The control: ansible-core's run_command under the same race sleeps a whole select(1).
    from ansible.module_utils import basic
    module = basic.AnsibleModule.__new__(basic.AnsibleModule)
    module._debug = False  # pylint: disable=protected-access
    module.run_command_environ_update = {}
    _exits_between_polls(monkeypatch)
    started = time.monotonic()
    rc, _out, _err = module.run_command(argv)
    assert rc == 0 and time.monotonic() - started >= 1.0
    # _exec under the same race: the process's own lifetime
    _exits_between_polls(monkeypatch)
    started = time.monotonic()
    result = _exec.run(argv, timeout=10)
    # Bounds well under run_command's extra second, with room for a loaded machine.
    assert result.rc == 0 and 0.05 <= result.seconds < 0.9 and time.monotonic() - started < 0.9


def test_exit_between_polls_costs_no_extra_second():
    """run_command sleeps a full select(1) when both pipes closed before the process was reaped.

    Each command closes its pipes, then lives 50 ms more: the time must be
    the process's own (bench/run_command_gap.py shows run_command's +1 s).
    """
    samples = []
    for _attempt in range(10):
        started = time.monotonic()
        result = _exec.run(["sh", "-c", "exec >&- 2>&-; sleep 0.05"], timeout=10)
        samples.append((result.seconds, time.monotonic() - started))
        assert result.rc == 0
    assert max(seconds for seconds, _wall in samples) < 0.9, samples
    assert max(wall for _seconds, wall in samples) < 0.9, samples
    assert min(seconds for seconds, _wall in samples) >= 0.05


def test_many_short_runs_have_no_outliers():
    samples = [_exec.run(["true"]).seconds for _attempt in range(50)]
    # An outlier would be select()'s whole second; 0.9 leaves room for a loaded machine.
    assert max(samples) < 0.9, samples


def test_seconds_is_the_process_lifetime():
    result = _exec.run(["sleep", "0.3"], timeout=10)
    assert 0.3 <= result.seconds < 0.9


def test_a_descendant_holding_the_pipes_does_not_stretch_the_run():
    # The leader exits at once; a background child keeps stdout open for 30 s.
    started = time.monotonic()
    result = _exec.run(["sh", "-c", "sleep 30 & echo $!; echo early"], timeout=60)
    wall = time.monotonic() - started
    assert result.rc == 0 and result.timed_out is False
    assert result.stdout.split("\n")[1] == "early"
    assert result.seconds < 0.9 and wall < _exec.DRAIN_AFTER_EXIT + 2
    assert _wait_gone(int(result.stdout.split()[0]))


def test_max_bytes_zero_keeps_nothing():
    result = _exec.run(["echo", "hello"], max_bytes=0)
    assert result.stdout == "" and result.stdout_dropped == 6


def test_environment_is_the_c_locale():
    result = _exec.run(["sh", "-c", "echo $LC_ALL $LANG"], env=dict(os.environ, LC_ALL="de_DE.UTF-8"))
    assert result.stdout == "C C\n"
