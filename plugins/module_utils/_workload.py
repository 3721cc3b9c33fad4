# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""workload_bench's work: what a runtime costs a workload once it runs, as a ratio to the host.

The same static busybox runs the same script on the host and in one container
per (handler, workload).  The script repeats the workload inside that one
process tree, so container startup is not counted, and stamps each repeat with
``busybox ts -s %.s``: BusyBox 1.35 (Debian 12's busybox-static) has no
sub-second ``date`` (no ``%N``), and ``time`` and ``/proc/uptime`` print
centiseconds; ``ts`` stamps each line it reads with microseconds since its own
start (from gettimeofday).  That is not a monotonic clock, so two checks guard
it: ``/proc/uptime`` (CLOCK_BOOTTIME, 10 ms) read inside must agree with the
stamps, and the stamps must fit inside the container's whole run as the host's
monotonic clock timed it.

Workloads (``WORKLOADS``): ``cpu`` (the shell's own arithmetic loop: no system
call at all while it runs, unlike ``md5sum``, which reads 4 KiB at a time, 256
reads per MiB), ``syscall`` (``dd bs=1`` from /dev/zero to /dev/null: two
system calls a byte), ``rootfs_io`` and ``tmpfs_io`` (1 MiB files written with
fsync, read back and unlinked, in the container's own root file system and in
its /dev/shm tmpfs).  Counts are calibrated on the host so one repeat takes
about ``workload_repeat_seconds``; every container gets the same counts, unless
its warm-up (probes of growing size, ``probe_counts``) says a repeat of that
count would take more than SCALE_ABOVE targets there: then its repeats run
fewer units, and ratios are per unit of work.  The warm-up and the repeats run
in a worker in its own session, which a watchdog kills when the workload's
budget is spent (every step bounded inside the container); after each step the
worker also stops by itself when the budget would be exceeded, and says so.

Output is untrusted: sections behind marker lines with this run's nonce
(``_probe.marker``), each once and in order, every line matched whole
(``\\A...\\Z``), every number bounded; anything else fails that workload.
"""

import math
import os
import re
import shutil
import tempfile

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _exec, _oci, _probe
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._containerd import ContainerdError
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._module import handlers_outcome
from ansible_collections.kata_fleet.runtimes.plugins.module_utils._stats import summarize

WORKLOADS = ("cpu", "syscall", "rootfs_io", "tmpfs_io")
ARGUMENT_SPEC = dict(
    workloads=dict(type="list", elements="str", default=list(WORKLOADS), choices=list(WORKLOADS)),
    workload_repeats=dict(type="int", default=7),
    workload_repeat_seconds=dict(type="float", default=0.1),
    workload_budget=dict(type="float", default=3.0),
    workload_scratch=dict(type="path", default="/var/tmp"),
)
DEFAULT_BUSYBOX = "/bin/busybox"
# Where the container's own file systems are: /tmp is a folder of the image's layer (the root file
# system the snapshotter and the runtime give it), /dev/shm the tmpfs every OCI runtime mounts.
CONTAINER_DIRS = {"rootfs_io": "/tmp", "tmpfs_io": "/dev/shm"}
HOST_TMPFS = "/dev/shm"
UNITS = {"cpu": "loop iterations", "syscall": "bytes copied one at a time (2 system calls each)",
         "rootfs_io": "1 MiB files (write + fsync, read back, unlink)",
         "tmpfs_io": "1 MiB files (write + fsync, read back, unlink)"}
# setsid and sleep: the worker's own session and the watchdog that kills it when the budget is spent.
APPLETS = {"cpu": ("ts", "setsid", "sleep"), "syscall": ("ts", "setsid", "sleep", "dd"),
           "rootfs_io": ("ts", "setsid", "sleep", "dd", "rm", "stat"),
           "tmpfs_io": ("ts", "setsid", "sleep", "dd", "rm", "stat")}
START_COUNT = {"cpu": 5000, "syscall": 5000, "rootfs_io": 1, "tmpfs_io": 1}
MAX_COUNT = {"cpu": 50000000, "syscall": 100000000, "rootfs_io": 5000, "tmpfs_io": 5000}
MAX_REPEATS = 50
MIN_REPEAT_SECONDS, MAX_REPEAT_SECONDS = 0.01, 5.0
MIN_BUDGET, MAX_BUDGET = 0.1, 600.0
CALIBRATION_ROUNDS = 8
# Counted repeats in each calibration round: the median of three steadies the scale.
CALIBRATION_REPEATS = 3
# The warm-up is a series of probes: 1/256 of the host's count first, four times more each time, until one
# takes half the target or reaches the count (at most MAX_PROBES for any count up to MAX_COUNT).  A runtime
# whose last probe says one repeat of the host's count would take more than SCALE_ABOVE targets runs fewer
# units per repeat (about one target's worth); its ratio is then per unit of work.
PROBE_DIVISOR, PROBE_GROWTH, MAX_PROBES, SCALE_ABOVE = 256, 4, 6, 3
# The exit status of a worker the watchdog killed (128 + SIGKILL).
KILLED = 137
# A difference is noise when |ratio - 1| <= NOISE_FACTOR * sqrt(cov_host^2 + cov_container^2).
NOISE_FACTOR = 2.0
NOISE_RULE = ("a ratio is inside the noise when |ratio - 1| <= 2 x sqrt(CoV_host^2 + CoV_runtime^2), the CoVs "
              "being the spread of single repeats (stdev / mean) on each side: the combined relative spread of "
              "one host repeat against one container repeat, doubled")
CLOCK = ("busybox ts -s %.s inside (microseconds, gettimeofday: busybox 1.35 has no date %N, and time and "
         "/proc/uptime print centiseconds), compared with /proc/uptime inside (a clock_note when they disagree) "
         "and checked against the container's whole run timed by the host's monotonic clock")
# The stamps may differ from /proc/uptime's difference by its two 10 ms roundings plus a share for slewing
# (beyond that: a clock_note, not a failure).
UPTIME_SLACK_SECONDS, UPTIME_SLACK_SHARE = 0.03, 0.02
# The stamps cover less than the whole run the host timed; a little more is the host's read latency.
OUTER_SLACK_SECONDS = 0.05
MAX_OUTPUT_CHARS = 64 * 1024
MAX_LINE_CHARS = 256
SECTIONS = ("workload", "missing", "fs", "timings")
END_SECTION = _probe.END_SECTION

STAMP = r"([0-9]{1,7}\.[0-9]{6})"
TIMING_LINE = re.compile(r"\A%s (u|w|n|b|e|x|o|k|done)(?: ([0-9]{1,9}(?:\.[0-9]{1,2})?))?\Z" % STAMP)
WORKLOAD_LINE = re.compile(r"\A([a-z_]{1,16}) ([0-9]{1,9}) ([0-9]{1,2}) ([0-9]{1,6}) ([0-9]{1,4})\Z")
APPLET_NAME = re.compile(r"\A[a-z0-9_]{1,16}\Z")
FS_PATTERN = re.compile(r"\A[A-Za-z0-9_./()+ -]{1,48}\Z")


class WorkloadOutputError(Exception):
    """The output is garbled or forged: that workload failed, no figure rests on it."""


def problem(params):
    """Why the workload options are unusable (a sentence), or None."""
    unknown = [name for name in params.get("workloads") or [] if name not in WORKLOADS]
    if unknown:
        return "unknown workload(s) %s; known: %s" % (", ".join(unknown), ", ".join(WORKLOADS))
    if not params.get("workloads"):
        return "workloads is empty: name at least one of %s" % ", ".join(WORKLOADS)
    if not 1 <= params["workload_repeats"] <= MAX_REPEATS:
        return "workload_repeats must be between 1 and %d, got %d" % (MAX_REPEATS, params["workload_repeats"])
    seconds = params["workload_repeat_seconds"]
    if not (MIN_REPEAT_SECONDS <= seconds <= MAX_REPEAT_SECONDS):
        return "workload_repeat_seconds must be between %s and %s, got %s" % (
            MIN_REPEAT_SECONDS, MAX_REPEAT_SECONDS, seconds)
    budget = params["workload_budget"]
    if not (MIN_BUDGET <= budget <= MAX_BUDGET) or budget < seconds:
        return "workload_budget must be between %s and %s seconds and at least workload_repeat_seconds, got %s" % (
            MIN_BUDGET, MAX_BUDGET, budget)
    return None


# -- the script --------------------------------------------------------------------------------

def _quote(text):
    return "'%s'" % text.replace("'", "'\\''")


def _work(name, directory):
    """The shell function ``work``: ``$1`` units of ``name`` (its exit status is the step's)."""
    if name == "cpu":
        body = 'j=0; while [ $j -lt $1 ]; do j=$((j+1)); done'
    elif name == "syscall":
        body = '"$BB" dd if=/dev/zero of=/dev/null bs=1 count=$1 status=none'
    else:
        body = ('k=0; while [ $k -lt $1 ]; do '
                '"$BB" dd if=/dev/zero of="$F" bs=65536 count=16 conv=fsync status=none || return $?; '
                '"$BB" dd if="$F" of=/dev/null bs=65536 status=none || return $?; '
                '"$BB" rm -f "$F" || return $?; k=$((k+1)); done')
    lines = ["work() { %s; }" % body]
    if directory is not None:
        lines.insert(0, "F=%s/kf-workload.$$" % _quote(directory))
    return lines


def first_probe(count):
    """The units of the first warm-up probe: a 1/PROBE_DIVISOR slice of the host's count (at least 1)."""
    return max(1, count // PROBE_DIVISOR)


def probe_counts(count):
    """Every probe count the warm-up may run, in order (it stops early once one probe is long enough)."""
    counts = [first_probe(count)]
    while counts[-1] < count:
        counts.append(min(count, counts[-1] * PROBE_GROWTH))
    return counts


def _worker(name, count, repeats, budget_cs, target_cs):
    """The worker's loop (run as its own session, so the watchdog can kill it and its children at once).

    Warm-up: probes of growing size (``probe_counts``) until one takes at least half the target or
    reaches ``count``; then ``n``, the units of each counted repeat: ``count`` unless the last probe
    says a repeat of ``count`` would take more than SCALE_ABOVE targets here (then sized to take about
    one target, never fewer units than that last probe); ``target_cs`` 0 keeps ``count`` (the host's runs).
    """
    half = (target_cs + 1) // 2 if target_cs else 0
    lines = [
        # s: the main shell's start (the budget counts the worker's own start); q: this worker's start, so
        # the first probe's reading does not carry the exec of the worker (tens of ms on a loaded node).
        "s=$1; cs >/dev/null; q=$c; p=%d; d=0" % first_probe(count),
        "while :; do",
        '  echo "w $p"',
        '  work $p >/dev/null || { echo "x $?"; exit 0; }',
        '  echo "e 0"',
        "  cs; d=$((c - q)); q=$c",
        "  [ $((c - s)) -gt %d ] && { echo o; exit 0; }" % budget_cs,
        "  [ $p -ge %d ] && break" % count,
    ]
    if half:
        lines.append("  [ $d -ge %d ] && break" % half)
    lines += [
        "  p=$((p * %d)); [ $p -gt %d ] && p=%d" % (PROBE_GROWTH, count, count),
        "done",
        "n=%d" % count,
    ]
    if target_cs:
        # Never below the last probe, which finished: a repeat's fixed part (an exec) stays a small share.
        lines.append("[ $((d * %d)) -gt $((%d * p)) ] && { n=$((p * %d / d)); [ $n -lt $p ] && n=$p; }"
                     % (count, SCALE_ABOVE * target_cs, target_cs))
    lines += [
        'echo "n $n"',
        "i=1",
        "while :; do",
        '  echo "b $i"',
        '  work $n >/dev/null || { echo "x $?"; exit 0; }',
        '  echo "e $i"',
        "  cs",
        "  [ $i -ge %d ] && break" % repeats,
        "  [ $((c - s + c - q)) -gt %d ] && { echo o; break; }" % budget_cs,
        "  q=$c; i=$((i+1))",
        "done",
    ]
    return lines


def script(nonce, name, count, repeats, budget_seconds, busybox=DEFAULT_BUSYBOX, directory=None, target_seconds=0):
    """The /bin/sh script of one workload: a warm-up, then ``repeats`` counted repeats, framed by ``nonce``.

    Run as ``<busybox> sh -c <script>``: in a container with the image's
    /bin/busybox, on the host with the same file.  ``target_seconds`` (0: off,
    the host's runs) lets a slow runtime size its repeats down from ``count``.
    The worker runs in its own session; a watchdog kills that whole session
    when ``budget_seconds`` have passed, so no step outlives the budget.
    """
    if name not in WORKLOADS:
        raise ValueError("unknown workload %r" % name)
    budget_cs = int(round(budget_seconds * 100))
    target_cs = int(round(target_seconds * 100))
    defs = ["BB=%s" % _quote(busybox)] + _work(name, directory) + [
        # Centiseconds of /proc/uptime, leading zeros dropped (ash reads 08 as a bad octal number).
        'cs() { read u r < /proc/uptime; c="${u%.*}${u#*.}"; '
        'while case $c in 0?*) true;; *) false;; esac; do c=${c#0}; done; echo "u $u"; }']
    worker = "\n".join(defs + _worker(name, count, repeats, budget_cs, target_cs)) + "\n"
    lines = ["BB=%s" % _quote(busybox), "echo '%s'" % _probe.marker(nonce, "workload"),
             "echo '%s %d %d %d %d'" % (name, count, repeats, budget_cs, target_cs),
             "echo '%s'" % _probe.marker(nonce, "missing"),
             'L=" $(echo $("$BB" --list 2>/dev/null)) "', "m="]
    for applet in APPLETS[name]:
        lines.append('case "$L" in *" %s "*) ;; *) m="$m %s";; esac' % (applet, applet))
    lines += ['[ -n "$m" ] && echo $m', "echo '%s'" % _probe.marker(nonce, "fs")]
    if directory is not None:
        lines.append('[ -z "$m" ] && "$BB" stat -f -c %%T %s 2>/dev/null' % _quote(directory))
    lines += defs[-1:] + [
        "echo '%s'" % _probe.marker(nonce, "timings"),
        '[ -z "$m" ] && {',
        "  cs",
        '  "$BB" setsid "$BB" sh -c %s sh "$c" &' % _quote(worker),
        "  w=$!",
        # The watchdog: its own session too, killed (with its sleep) as soon as the worker is done.
        '  "$BB" setsid "$BB" sh -c \'"$0" sleep "$1"; kill -KILL -"$2"\' "$BB" %.2f "$w" '
        "</dev/null >/dev/null 2>&1 &" % budget_seconds,
        "  g=$!",
        "  wait $w; r=$?",
        "  kill -KILL -$g 2>/dev/null",
        '  [ $r -ne 0 ] && echo "k $r"',
        "  echo done",
        '} | "$BB" ts -s %.s',
        "echo '%s'" % _probe.marker(nonce, END_SECTION),
    ]
    return "\n".join(lines) + "\n"


# -- the parser --------------------------------------------------------------------------------

# busybox ts stamps a line when it reads it: a repeat whose "b" and "e" lines it read together (a repeat shorter than
# one read, or ts not scheduled while it ran) gets one stamp for both. Refused as a figure; in calibration it means
# the count is too small to time, and the next round tries a larger one.
UNTIMED = "took no time"


def _garbled(why):
    return WorkloadOutputError("the workload output was garbled or forged (%s): no figure rests on it" % why)


def sections_from_output(output, nonce):
    """The section texts of one run; ``WorkloadOutputError`` unless the framing is exact (as _probe's)."""
    if not isinstance(nonce, str) or not _probe.NONCE_PATTERN.match(nonce):
        raise ValueError("the nonce must be 32 lowercase hex digits (use _probe.new_nonce())")
    if not isinstance(output, str):
        raise _garbled("the output is not text")
    if len(output) > MAX_OUTPUT_CHARS:
        raise _garbled("%d characters, more than the %d a workload prints" % (len(output), MAX_OUTPUT_CHARS))
    expected = list(SECTIONS) + [END_SECTION]
    sections, current, lines = {}, None, []
    for number, line in enumerate(output.split("\n"), 1):
        line = line[:-1] if line.endswith("\r") else line
        if len(line) > MAX_LINE_CHARS:
            raise _garbled("line %d is %d characters long, more than %d" % (number, len(line), MAX_LINE_CHARS))
        if line.startswith(_probe.MARKER_PREFIX):
            match = _probe.MARKER_PATTERN.match(line)
            if not match or match.group(1) != nonce:
                raise _garbled("line %d looks like a section marker without this run's nonce" % number)
            name = match.group(2)
            if not expected or name != expected[0]:
                raise _garbled("section %r where %r was due" % (name, expected[0] if expected else "nothing"))
            if current is not None:
                sections[current] = lines
            expected.pop(0)
            current, lines = name, []
            continue
        if current is None or current == END_SECTION:
            if line.strip():
                raise _garbled("text %s" % ("before the first section marker" if current is None
                                            else "after the end marker"))
            continue
        if line.strip():
            lines.append(line)
    if expected:
        raise _garbled("it ends before section %r" % expected[0])
    return sections


class _Stopped(Exception):
    """The worker stopped early (a failed step, or its own budget check): the timings go on at ``k``/``done``."""


class _Killed(Exception):
    """The next line is ``k``: the worker ended (the watchdog killed it) before its next line."""


def parse_timings(lines, repeats, count):
    """The timing lines of one run (``count``: the host's units a repeat): a dict of figures.

    Lines are ``<stamp> u <uptime>`` (before the worker starts); the warm-up's
    probes ``w <units>``, ``e 0``, ``u <uptime>`` (units as ``probe_counts``
    gives them); ``n <units>`` (each counted repeat's); per repeat ``b i``,
    ``e i``, ``u <uptime>``; ``x <status>`` instead of an ``e`` when a step
    failed, ``o`` after a ``u`` when the worker stopped for its budget; then
    ``k <status>`` when the worker did not exit 0 (killed by the watchdog:
    137, at any point of its lines), then ``done``.  Stamps never go back.
    """
    if len(lines) > 3 * MAX_PROBES + 3 * repeats + 8:
        raise _garbled("%d timing lines for %d repeats" % (len(lines), repeats))
    parsed = []
    for line in lines:
        match = TIMING_LINE.match(line)
        if not match:
            raise _garbled("timing line %r" % _probe.printable(line, 60))
        parsed.append((float(match.group(1)), match.group(2), match.group(3)))
    stamps = [entry[0] for entry in parsed]
    for earlier, later in zip(stamps, stamps[1:]):
        if later < earlier:
            raise _garbled("the stamps go back from %.6f to %.6f" % (earlier, later))

    def peek():
        return parsed[0][1] if parsed else None

    def integer(kind, value, low, high):
        if value is None or "." in value or not low <= int(value) <= high:
            raise _garbled("%s %s where a whole number from %d to %d was due" % (kind, value, low, high))
        return int(value)

    def take(kind, index=None, worker=True):
        if worker and peek() == "k":
            raise _Killed()
        if peek() != kind:
            raise _garbled("%r where %r was due" % (peek() or "the end", kind))
        stamp, dummy, value = parsed.pop(0)
        if kind in ("b", "e") and (value is None or "." in value or int(value) != index):
            raise _garbled("%s %s where %s %d was due" % (kind, value, kind, index))
        if kind == "u" and (value is None or "." not in value):
            raise _garbled("an uptime reading without centiseconds")
        if kind in ("x", "k"):
            value = integer(kind, value, 0, 255)
        if kind in ("o", "done") and value is not None:
            raise _garbled("%r carries a value" % kind)
        return stamp, value

    first_stamp, first_up = take("u", worker=False)
    last_stamp, last_up = first_stamp, first_up
    probes, samples, units = [], [], None
    exit_code = failed_step = killed = cut = running = None
    stopped = False
    allowed = probe_counts(count)
    try:
        for index, expected in enumerate(allowed):
            begin, value = take("w")
            if integer("w", value, 1, count) != expected:
                raise _garbled("a probe of %s units where %d was due" % (value, expected))
            running = ("the warm-up probe of %d units" % expected, expected, begin)
            if peek() == "x":
                exit_code, failed_step = take("x")[1], running[0]
                raise _Stopped()
            # A probe of a few units can end before busybox ts reads its first line: 0 s is possible there.
            end, dummy = take("e", 0)
            probes.append({"count": expected, "seconds": round(end - begin, 6)})
            running = None
            last_stamp, last_up = take("u")
            if peek() == "o":
                take("o")
                stopped = True
                raise _Stopped()
            if peek() != "w":
                break
        units = integer("n", take("n")[1], 1, count)
        for index in range(1, repeats + 1):
            begin, dummy = take("b", index)
            running = ("repeat %d (after the warm-up)" % index, units, begin)
            if peek() == "x":
                exit_code, failed_step = take("x")[1], running[0]
                raise _Stopped()
            end, dummy = take("e", index)
            if end <= begin:
                raise _garbled("repeat %d %s (%.6f to %.6f)" % (index, UNTIMED, begin, end))
            samples.append(round(end - begin, 6))
            running = None
            last_stamp, last_up = take("u")
            if index < repeats and peek() == "o":
                take("o")
                stopped = True
                break
    except (_Stopped, _Killed):
        pass
    if peek() == "k":
        stamp, killed = take("k", worker=False)
        if killed == KILLED and running is not None:
            cut = {"step": running[0], "count": running[1], "seconds": round(stamp - running[2], 6)}
    done = take("done", worker=False)[0]
    if parsed:
        raise _garbled("%d timing line(s) after done" % len(parsed))
    return {"probes": probes, "warmup": round(sum(p["seconds"] for p in probes), 6) if probes else None,
            "count": units, "samples": samples,
            "over_budget": stopped or (killed == KILLED and exit_code is None and len(samples) < repeats),
            "cut": cut, "exit_code": exit_code, "failed_step": failed_step,
            "worker_status": killed,
            # From the first stamp to the last: what ran inside, to set against the host's timing of the run.
            "inner_seconds": round(done - first_stamp, 6),
            # The same stretch between the first and last /proc/uptime readings, by both clocks.
            "stamped_seconds": round(last_stamp - first_stamp, 6),
            "uptime_seconds": round(float(last_up) - float(first_up), 2)}


def parse_output(output, nonce, name, count, repeats, budget_seconds, target_seconds=0):
    """One run's figures, or ``WorkloadOutputError``; missing applets come back in ``missing``."""
    sections = sections_from_output(output, nonce)
    head = sections["workload"]
    match = WORKLOAD_LINE.match(head[0]) if len(head) == 1 else None
    if not match or match.groups() != (name, str(count), str(repeats), str(int(round(budget_seconds * 100))),
                                       str(int(round(target_seconds * 100)))):
        raise _garbled("the workload line does not name this workload, count, repeats, budget and target")
    missing = sections["missing"]
    if len(missing) > 1:
        raise _garbled("more than one line of missing applets")
    names = missing[0].split() if missing else []
    if not all(APPLET_NAME.match(applet) and applet in APPLETS[name] for applet in names):
        raise _garbled("the missing applets are not ones the workload needs")
    result = {"missing": names, "file_system": None}
    fs_lines = sections["fs"]
    if len(fs_lines) > 1 or (fs_lines and not FS_PATTERN.match(fs_lines[0])):
        raise _garbled("the file system type is not one short printable line")
    result["file_system"] = fs_lines[0] if fs_lines else None
    if names:
        if sections["timings"]:
            raise _garbled("timings although applets are missing")
        return result
    result.update(parse_timings(sections["timings"], repeats, count))
    if target_seconds == 0 and result["count"] not in (None, count):
        raise _garbled("%d units a repeat where the host's runs keep %d" % (result["count"], count))
    return result


# -- figures -----------------------------------------------------------------------------------

def ratio(value, baseline, digits=4):
    """``value / baseline`` (above 1: slower than the host), or None without both."""
    if value is None or not baseline or baseline <= 0:
        return None
    return round(value / baseline, digits)


def noise_band(cov_runtime, cov_host, digits=4):
    """The half-width of the ratio's noise band around 1 (NOISE_RULE), or None without both spreads."""
    if cov_runtime is None or cov_host is None:
        return None
    return round(NOISE_FACTOR * math.sqrt(cov_runtime ** 2 + cov_host ** 2), digits)


def within_noise(value, band):
    """True when ``value`` (a ratio) differs from 1 by no more than ``band``; None when either is unknown."""
    if value is None or band is None:
        return None
    # The epsilon keeps a ratio exactly on the band's edge (1.1 against 0.1) inside despite float rounding.
    return abs(value - 1.0) <= band + 1e-9


def uptime_note(figures):
    """A sentence when the stamps disagree with /proc/uptime inside, else None.

    Only a note: under gVisor (ptrace platform) the two clocks were seen 3-8 % apart while both fitted inside
    the host's timing, so the container cannot say which one is right; the host's check decides (check_clocks).
    """
    stamped, uptime = figures["stamped_seconds"], figures["uptime_seconds"]
    if abs(stamped - uptime) > UPTIME_SLACK_SECONDS + UPTIME_SLACK_SHARE * uptime:
        return ("the stamps measured %.3f s where /proc/uptime moved %.2f s: the two clocks inside disagree"
                % (stamped, uptime))
    return None


def check_clocks(figures, outer_seconds):
    """A sentence when the stamps disagree with the host's timing of the whole run, else None."""
    inner = figures["inner_seconds"]
    if outer_seconds is not None and inner > outer_seconds + OUTER_SLACK_SECONDS:
        return ("the stamps measured %.3f s inside a run the host timed at %.3f s: the clock inside runs fast"
                % (inner, outer_seconds))
    return None


def per_unit(seconds, units):
    """Seconds per unit of work (six significant digits), or None."""
    if seconds is None or not units:
        return None
    return float("%.6g" % (seconds / float(units)))


def figures_entry(figures, outer_seconds, name, count):
    """The result entry of one workload run (host or container) from its parsed figures.

    ``count`` is the host's units a repeat; ``count`` in the entry is the units each counted repeat ran
    (fewer under a runtime too slow for the host's count).
    """
    entry = {"status": "failed", "error": None, "count": count, "unit": UNITS[name],
             "file_system": figures.get("file_system"), "outer_seconds": outer_seconds}
    if figures.get("missing"):
        entry["error"] = "the busybox here lacks the applet(s) %s that %s needs" % (
            ", ".join(figures["missing"]), name)
        return entry
    if figures["count"] is not None:
        entry["count"] = figures["count"]
    samples, sample_count = figures["samples"], entry["count"]
    # A runtime so slow that no counted repeat finished: its largest finished probe is the only figure.
    warmup_counted = bool(figures["over_budget"] and not samples and figures["probes"]
                          and figures["probes"][-1]["seconds"] > 0)
    if warmup_counted:
        samples, sample_count = [figures["probes"][-1]["seconds"]], figures["probes"][-1]["count"]
    stats = summarize(samples)
    entry.update({"samples": samples, "sample_count": sample_count, "probes": figures["probes"],
                  "warmup_seconds": figures["warmup"], "warmup_counted": warmup_counted,
                  "inner_seconds": figures["inner_seconds"], "stats": stats,
                  "unit_seconds": per_unit(stats.get("median"), sample_count), "cut": figures["cut"]})
    if figures["exit_code"] is not None:
        entry["error"] = "%s of %s failed (exit status %d)" % (figures["failed_step"], name, figures["exit_code"])
        return entry
    if figures["worker_status"] not in (None, KILLED):
        entry["error"] = "the worker of %s ended with status %d" % (name, figures["worker_status"])
        return entry
    entry["clock_note"] = uptime_note(figures)
    clocks = check_clocks(figures, outer_seconds)
    if clocks:
        entry["error"] = clocks
        return entry
    if figures["over_budget"]:
        entry["status"] = "over_budget"
        cut = figures["cut"]
        if figures["samples"]:
            why = "over its time budget after %d counted repeat(s) of %d units" % (len(samples), entry["count"])
        elif warmup_counted:
            why = ("over its time budget before a counted repeat finished: its warm-up probe of %d units "
                   "(%.3f s) is the only figure" % (sample_count, samples[0]))
        else:
            why = "over its time budget before any step finished"
        if cut:
            why += "; %s was cut after %.3f s" % (cut["step"], cut["seconds"])
        entry["error"] = why
        return entry
    entry["status"] = "ok"
    return entry


def compare(entry, host_entry):
    """Add ``ratio``, ``ratio_at_least``, ``noise`` and ``within_noise`` to a container entry, against the host's.

    The ratio is per unit of work (seconds per unit here over the host's), so a runtime that ran fewer
    units per repeat compares like for like.  When nothing finished within the budget, ``ratio_at_least``
    is the bound the cut step gives (it ran that long without finishing its units).
    """
    host_entry = host_entry or {}
    stats, host_stats = entry.get("stats") or {}, host_entry.get("stats") or {}
    host_unit = host_entry.get("unit_seconds") if host_entry.get("status") == "ok" else None
    usable = entry["status"] in ("ok", "over_budget") and host_unit
    value = ratio(entry.get("unit_seconds"), host_unit) if usable else None
    at_least = None
    cut = entry.get("cut")
    if usable and value is None and cut and cut.get("count"):
        at_least = ratio(per_unit(cut["seconds"], cut["count"]), host_unit)
    covs = (stats.get("cov") if stats.get("n", 0) > 1 else None,
            host_stats.get("cov") if host_stats.get("n", 0) > 1 else None)
    band = noise_band(covs[0], covs[1]) if value is not None else None
    entry.update({"ratio": value, "ratio_at_least": at_least, "noise": band, "within_noise": within_noise(value, band)})
    return entry


def sentence(workloads):
    """Which of one handler's differences are inside the noise, which outside, which are unknown."""
    inside, outside, unknown = [], [], []
    for name in WORKLOADS:
        entry = workloads.get(name)
        if entry is None:
            continue
        if entry.get("ratio") is None and entry.get("ratio_at_least") is not None:
            text = "%s at least %.2fx (nothing finished within the budget)" % (name, entry["ratio_at_least"])
            (outside if entry["ratio_at_least"] > 1 else unknown).append(text)
        elif entry.get("ratio") is None:
            unknown.append("%s (%s)" % (name, entry.get("error") or "no host figure"))
        elif entry.get("within_noise") is None:
            unknown.append("%s %.2fx (spread unknown: fewer than 2 repeats)" % (name, entry["ratio"]))
        else:
            text = "%s %.2fx +/-%.2f" % (name, entry["ratio"], entry["noise"])
            if entry["within_noise"]:
                inside.append(text)
            else:
                outside.append("%s (%s than the host)" % (text, "slower" if entry["ratio"] > 1 else "faster"))
    parts = []
    if inside:
        parts.append("inside the noise: %s" % ", ".join(inside))
    if outside:
        parts.append("outside the noise, a real difference: %s" % ", ".join(outside))
    if unknown:
        parts.append("no ratio: %s" % ", ".join(unknown))
    text = "; ".join(parts) or "nothing measured"
    return text[0].upper() + text[1:] + "."


# -- runs --------------------------------------------------------------------------------------

def run_timeout(params):
    """Seconds one workload's container (or host run) may take: its budget twice, plus startup room."""
    return max(1, min(params["timeout"], int(math.ceil(2 * params["workload_budget"])) + 20))


def host_run(busybox, name, count, repeats, budget, directory, timeout, runner=None):
    """Run the workload script on the host with ``busybox``; (figures or None, outer seconds, error)."""
    nonce = _probe.new_nonce()
    argv = [busybox, "sh", "-c", script(nonce, name, count, repeats, budget, busybox, directory)]
    try:
        done = (runner or _exec.run)(argv, timeout=timeout, max_bytes=MAX_OUTPUT_CHARS + 4096)
    except _exec.ExecError as error:
        return None, None, str(error)
    return _figures(done.stdout, done.stderr, done.rc, done.timed_out, done.seconds, nonce, name, count, repeats,
                    budget, 0, timeout)


def _figures(stdout, stderr, rc, timed_out, seconds, nonce, name, count, repeats, budget, target, timeout):
    if timed_out:
        return None, seconds, "%s did not finish within %ds; it was killed%s" % (
            name, timeout, "" if stdout is None else " and removed")
    if rc != 0:
        tail = " ".join(_probe.printable((stderr or stdout or "").strip(), 2048).splitlines()[-3:])
        return None, seconds, "%s failed (rc=%d): %s" % (name, rc, tail[-300:] or "no output")
    try:
        return parse_output(stdout, nonce, name, count, repeats, budget, target), round(seconds, 6), None
    except WorkloadOutputError as error:
        return None, round(seconds, 6), str(error)


def calibrate(busybox, name, target, directory, timeout, runner=None):
    """The count that makes one repeat of ``name`` take about ``target`` seconds on the host.

    Returns (count, seconds of one repeat at the last count tried, error).
    """
    count, seconds = START_COUNT[name], None
    for attempt in range(CALIBRATION_ROUNDS):
        figures, _outer, error = host_run(busybox, name, count, CALIBRATION_REPEATS, 3600, directory, timeout,
                                          runner)
        if error and UNTIMED in error and count < MAX_COUNT[name] and attempt < CALIBRATION_ROUNDS - 1:
            count = min(MAX_COUNT[name], count * 16)  # too short for the timer to see: a larger count, not a failure
            continue
        if error or figures.get("exit_code") is not None or figures.get("missing"):
            return None, None, error or "calibration of %s failed on the host: %s" % (
                name, "missing applets %s" % " ".join(figures["missing"]) if figures.get("missing")
                else "exit status %s" % figures.get("exit_code"))
        seconds = summarize(figures["samples"]).get("median")
        if not seconds:
            return None, None, "calibration of %s on the host finished no repeat" % name
        if seconds >= target / 2 or count >= MAX_COUNT[name]:
            break
        count = min(MAX_COUNT[name], int(count * min(16.0, target / max(seconds, 1e-4))) + 1)
    scaled = int(round(count * target / seconds)) if seconds else count
    return max(1, min(MAX_COUNT[name], scaled)), round(seconds, 6), None


def container_run(client, name, handler_name, handler, workload, count, params, run_id):
    """One container running one workload; (figures or None, outer seconds, error)."""
    nonce = _probe.new_nonce()
    text = script(nonce, workload, count, params["workload_repeats"], params["workload_budget"],
                  DEFAULT_BUSYBOX, CONTAINER_DIRS.get(workload), params["workload_repeat_seconds"])
    timeout = run_timeout(params)
    try:
        run = client.run_once(name, params["image"], handler, [DEFAULT_BUSYBOX, "sh", "-c", text], run_id, timeout)
    except ContainerdError as error:
        return None, None, str(error)
    if run.truncated:
        return None, round(run.seconds, 6), "%s: %s" % (workload, run.overflow_note())
    return _figures(run.stdout, run.stderr, run.rc, run.timed_out, run.seconds, nonce, workload, count,
                    params["workload_repeats"], params["workload_budget"], params["workload_repeat_seconds"], timeout)


def _entry_from(result, name, count):
    figures, outer, error = result
    if figures is None:
        return {"status": "failed", "error": error, "count": count, "unit": UNITS[name], "outer_seconds": outer}
    return figures_entry(figures, outer, name, count)


def same_busybox(client, params):
    """True when the image is the one built from ``busybox_path`` (so host and containers run one binary)."""
    try:
        _reference, digest = _oci.expected_image(params["busybox_path"], os.uname()[4])
    except (_oci.ImageBuildError, IOError, OSError):
        return False
    return client.image_digest(params["image"]) == digest


def plan(params, requested):
    """What a run would do (check mode)."""
    per = len(params["workloads"])
    most = per * (run_timeout(params))
    return dict((name, {"status": "planned", "containers": per, "workloads": list(params["workloads"]),
                        "at_most_seconds": most}) for name in requested)


def run(setup, *, host_runner=None):
    """workload_bench's result dict; failed when the host or any handler's workload failed.

    ``setup`` is ``_module.ProbeSetup``; ``host_runner`` runs the host's side (tests).
    """
    client, params, handlers, requested, run_id = (setup.client, setup.params, setup.handlers, setup.requested,
                                                   setup.run_id)
    swept = setup.take_swept()
    workload = {"run_id": run_id, "image": params["image"], "check_mode": setup.check_mode,
                "busybox": params["busybox_path"], "workloads": list(params["workloads"]),
                "repeats": params["workload_repeats"], "repeat_seconds": params["workload_repeat_seconds"],
                "budget_seconds": params["workload_budget"], "clock": CLOCK, "noise_rule": NOISE_RULE,
                "host": {}, "runtimes": {}}
    if setup.check_mode:
        workload["runtimes"] = plan(params, requested)
        return {"changed": False, "swept": swept, "workload": workload,
                "ansible_facts": {"kata_fleet_workload": workload}}
    workload["same_busybox"] = same_busybox(client, params)
    timeout = run_timeout(params)
    busybox = params["busybox_path"]
    scratch = None
    scratch_error = None
    host = workload["host"]
    runtimes = workload["runtimes"]
    for handler_name in requested:
        runtimes[handler_name] = {
            "handler": handler_name, "runtime_type": handlers[handler_name]["runtime_type"],
            "client": "nerdctl" if client.uses_nerdctl(handlers[handler_name]) else "ctr",
            "status": "ok", "error": None, "workloads": {}}
    try:
        try:
            scratch = tempfile.mkdtemp(prefix="kf-workload-", dir=params["workload_scratch"])
        except (IOError, OSError) as error:
            scratch = None
            scratch_error = "cannot make a scratch folder in %s: %s" % (params["workload_scratch"], error)
        host_dirs = {"rootfs_io": scratch, "tmpfs_io": HOST_TMPFS}
        for name in params["workloads"]:
            directory = host_dirs.get(name)
            if name in host_dirs and directory is None:
                host[name] = {"status": "failed", "error": scratch_error, "count": None, "unit": UNITS[name]}
            else:
                count, seconds, error = calibrate(busybox, name, params["workload_repeat_seconds"], directory,
                                                  timeout, host_runner)
                if error:
                    host[name] = {"status": "failed", "error": "calibration: %s" % error, "count": None,
                                  "unit": UNITS[name]}
                else:
                    host[name] = _entry_from(host_run(busybox, name, count, params["workload_repeats"],
                                                      params["workload_budget"], directory, timeout, host_runner),
                                             name, count)
                    host[name]["calibration_seconds"] = seconds
            for handler_name in requested:
                entry = runtimes[handler_name]
                if host[name]["count"] is None:
                    result = {"status": "failed", "error": "not run: no host calibration (%s)" % host[name]["error"],
                              "count": None, "unit": UNITS[name]}
                else:
                    container = client.container_name(run_id, handler_name, "w")
                    result = _entry_from(container_run(
                        client, "%s%d" % (container, WORKLOADS.index(name)), handler_name,
                        handlers[handler_name], name, host[name]["count"], params, run_id), name, host[name]["count"])
                    result["host_count"] = host[name]["count"]
                entry["workloads"][name] = compare(result, host[name])
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    problems = []
    for name in params["workloads"]:
        if host[name]["status"] == "failed":
            problems.append("host: %s: %s" % (name, host[name]["error"]))
    for handler_name in requested:
        entry = runtimes[handler_name]
        failed = [name for name in params["workloads"] if entry["workloads"][name]["status"] == "failed"]
        if failed:
            entry["status"] = "failed"
            entry["error"] = "; ".join("%s: %s" % (name, entry["workloads"][name]["error"]) for name in failed)
        entry["summary"] = sentence(entry["workloads"])
    return handlers_outcome({"changed": False, "swept": swept, "workload": workload}, runtimes,
                            "kata_fleet_workload", workload, problems)
