# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one command whose output may be hostile and whose duration is a measurement.

``AnsibleModule.run_command`` is fine for short answers of trusted tools, but
not for a probe container: it collects output by repeated concatenation (20 MB
of container output cost seconds of CPU) and its read loop sleeps a whole extra
second when the process exits between its two ``poll()`` calls, which lands in
startup p95/max.  ``run`` here keeps run_command's discipline (an argv list,
never a shell) and adds what a probe needs:

- stdin is /dev/null, the command gets a session and process group of its own;
- at most ``max_bytes`` of stdout and of stderr are kept, the rest is read and
  discarded (counted in ``stdout_dropped`` / ``stderr_dropped``), so a chatty
  or hostile container can neither exhaust memory nor stall the pipe;
- a wall-clock ``timeout`` after which the whole process group is SIGKILLed;
- ``seconds`` runs from just before the fork to the moment the process was
  reaped (a waiter thread blocks in waitpid), on the monotonic clock.
"""

import os
import selectors
import signal
import subprocess
import threading
import time

DEFAULT_MAX_BYTES = 1024 * 1024
CHUNK = 65536
# After the command itself exited, how long a descendant that still holds its pipes may keep them before the
# group is killed: output written after the exit is not part of the answer.
DRAIN_AFTER_EXIT = 1.0


class ExecError(Exception):
    """The command could not be started (bad argv, missing binary)."""


class Result:
    """What one command did: rc (negative: killed by that signal), bounded output, timing."""

    def __init__(self, rc, stdout, stderr, seconds, timed_out=False, stdout_dropped=0, stderr_dropped=0):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.seconds = seconds
        self.timed_out = timed_out
        self.stdout_dropped = stdout_dropped
        self.stderr_dropped = stderr_dropped

    @property
    def truncated(self):
        return bool(self.stdout_dropped or self.stderr_dropped)

    def overflow_note(self):
        """A sentence for a report when output was cut, else None."""
        if not self.truncated:
            return None
        return "output over the capture limit was discarded (stdout %d bytes, stderr %d bytes)" % (
            self.stdout_dropped, self.stderr_dropped)


class _Capture:
    """At most ``limit`` bytes kept; everything after counted and dropped."""

    def __init__(self, limit):
        self.limit = limit
        self.chunks = []
        self.kept = 0
        self.dropped = 0

    def add(self, data):
        room = self.limit - self.kept
        if room > 0:
            keep = data[:room]
            self.chunks.append(keep)
            self.kept += len(keep)
        self.dropped += max(0, len(data) - max(room, 0))

    def text(self):
        return b"".join(self.chunks).decode("utf-8", "replace")


def _check_argv(argv):
    if not isinstance(argv, (list, tuple)) or not argv:
        raise ExecError("a command must be a non-empty argv list, never a shell string: %r" % (argv,))
    for word in argv:
        if not isinstance(word, str) or "\0" in word:
            raise ExecError("every argv word must be a string without NUL: %r" % (word,))


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


def run(argv, timeout=None, max_bytes=DEFAULT_MAX_BYTES, env=None):
    """Run ``argv`` (a list) and return a Result; see the module docstring.

    ``timeout`` is in seconds (None: no limit).  Raises ExecError when the
    command cannot be started.
    """
    _check_argv(argv)
    if max_bytes < 0:
        raise ExecError("max_bytes cannot be negative: %r" % (max_bytes,))
    child_env = dict(os.environ if env is None else env, LANG="C", LC_ALL="C", LC_MESSAGES="C")
    started = time.monotonic()
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                close_fds=True, start_new_session=True, env=child_env)
    except (OSError, ValueError) as error:
        raise ExecError("cannot run %s: %s" % (argv[0], error))
    deadline = None if timeout is None else started + timeout
    exited = {}
    wake_read, wake_write = os.pipe()

    def waiter():
        proc.wait()
        exited["at"] = time.monotonic()
        os.write(wake_write, b"x")

    thread = threading.Thread(target=waiter, name="kf-exec-wait")
    thread.daemon = True
    thread.start()
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    captures = {out_fd: _Capture(max_bytes), err_fd: _Capture(max_bytes)}
    selector = selectors.DefaultSelector()
    for fd in captures:
        selector.register(fd, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    open_pipes = set(captures)
    timed_out = False
    drain_until = None
    try:
        while open_pipes or "at" not in exited:
            now = time.monotonic()
            if "at" in exited and drain_until is None:
                drain_until = now + DRAIN_AFTER_EXIT
            limits = [limit for limit in (deadline, drain_until) if limit is not None]
            if limits and now >= min(limits):
                if deadline is not None and now >= deadline and "at" not in exited:
                    timed_out = True
                _kill_group(proc.pid)
                thread.join()
                # What the killed group had written is still in the pipes: keep reading what is there, no more.
                for fd in list(open_pipes):
                    _drain_now(fd, captures[fd])
                break
            wait = min(limits) - now if limits else None
            for key, _events in selector.select(wait):
                fd = key.fd
                if fd == wake_read:
                    os.read(wake_read, 16)
                    selector.unregister(wake_read)
                    continue
                data = os.read(fd, CHUNK)
                if data:
                    captures[fd].add(data)
                else:
                    selector.unregister(fd)
                    open_pipes.discard(fd)
    finally:
        selector.close()
        # Only the waiter thread reaps (no poll() here): an interrupted run still ends the whole group.
        if "at" not in exited:
            _kill_group(proc.pid)
        thread.join()
        for handle in (proc.stdout, proc.stderr):
            handle.close()
        os.close(wake_read)
        os.close(wake_write)
    ended = exited.get("at", time.monotonic())
    stdout_capture, stderr_capture = captures[out_fd], captures[err_fd]
    return Result(proc.returncode, stdout_capture.text(), stderr_capture.text(), ended - started, timed_out,
                  stdout_capture.dropped, stderr_capture.dropped)


def _drain_now(fd, capture):
    """Read what ``fd`` holds right now without blocking."""
    os.set_blocking(fd, False)
    while True:
        try:
            data = os.read(fd, CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        if not data:
            return
        capture.add(data)
