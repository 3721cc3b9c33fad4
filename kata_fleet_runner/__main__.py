# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""python -m kata_fleet_runner verify -i INVENTORY: run_playbook from a shell, ansible's output streamed.

Exits with ansible-playbook's return code, or 2 with a one-line error (no
traceback) when the input is wrong, as ansible-playbook does.
"""

import argparse
import json
import re
import signal
import sys

from . import MAX_FORKS, MAX_TIMEOUT, PLAYBOOKS, KataFleetRunError, _run


# ASCII only: int() and float() also take Unicode digits ("١٢"), "inf", "nan" and "1e400".
WHOLE = re.compile(r"\A[0-9]{1,12}\Z")
DECIMAL = re.compile(r"\A(?:[0-9]{1,12}(?:\.[0-9]{0,9})?|\.[0-9]{1,9})\Z")
VARIABLE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")


def text(value):
    """An argument as text ansible can take: valid UTF-8 (argv bytes that are not arrive as surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("not valid UTF-8: %s (rename it, or use a path that is)"
                                         % value.encode("utf-8", "backslashreplace").decode("ascii"))
    return value


def _no_constant(name):
    raise ValueError("%s is not a JSON value" % name)


def extra_var(value):
    """One -e value: key=value (the value stays a string, as in ansible-playbook) or a JSON object."""
    value = text(value)
    if value.lstrip().startswith("{"):
        try:
            parsed = json.loads(value, parse_constant=_no_constant)
        except (ValueError, RecursionError) as error:
            raise argparse.ArgumentTypeError("not a JSON object (%s): %.200s" % (error, value))
        if not isinstance(parsed, dict):
            raise argparse.ArgumentTypeError("not a JSON object: %.200s" % value)
        bad = [key for key in parsed if not VARIABLE.match(key)]
    else:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise argparse.ArgumentTypeError("expected key=value or a JSON object, got %r" % value)
        parsed = {key.strip(): rest}
        bad = [key.strip()] if not VARIABLE.match(key.strip()) else []
    if bad:
        raise argparse.ArgumentTypeError("%r is not a variable name (letters, digits and _, not starting with a "
                                         "digit)" % bad[0])
    return parsed


def positive_int(value):
    number = int(value) if WHOLE.match(value) else 0
    if not 1 <= number <= MAX_FORKS:
        raise argparse.ArgumentTypeError("expected a whole number from 1 to %d, got %r" % (MAX_FORKS, value))
    return number


def positive_float(value):
    number = float(value) if DECIMAL.match(value) else 0
    if not 0 < number <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError("expected a number of seconds greater than 0 and at most %d (30 days), "
                                         "such as 90 or 2.5, got %r" % (MAX_TIMEOUT, value))
    return number


def parser():
    result = argparse.ArgumentParser(
        prog="python -m kata_fleet_runner",
        description="Run a kata_fleet.runtimes playbook through ansible-runner: ansible's output is streamed, "
                    "then where the artifacts and the evidence bundle are. Exits with ansible-playbook's return code.")
    result.add_argument("playbook", type=text, help="%s, kata_fleet.runtimes.<name>, or the path of a playbook file"
                        % " or ".join(PLAYBOOKS))
    result.add_argument("-i", "--inventory", required=True, type=text,
                        help="inventory file or directory (as for ansible-playbook -i), or host1,host2,")
    result.add_argument("-l", "--limit", type=text,
                        help="further limit the hosts to a pattern, as ansible-playbook --limit")
    result.add_argument("-f", "--forks", type=positive_int, help="hosts worked on at once")
    result.add_argument("-e", "--extra-vars", dest="extravars", type=extra_var, action="append", default=[],
                        metavar="KEY=VALUE", help="extra variable (repeatable); a JSON object for lists and numbers")
    result.add_argument("--evidence-dir", type=text,
                        help="where the evidence bundle goes (default: <private data dir>/evidence)")
    result.add_argument("--private-data-dir", type=text,
                        help="ansible-runner's folder, kept (default: a new temporary folder)")
    result.add_argument("--timeout", type=positive_float, help="stop the run after this many seconds")
    result.add_argument("-q", "--quiet", action="store_true", help="do not stream ansible's output")
    return result


def main(argv=None):
    args = parser().parse_args(argv)
    extravars = {}
    for item in args.extravars:
        extravars.update(item)

    def stream(event):
        text = event.get("stdout")
        if text:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    # Ctrl-C has ansible-runner stop ansible-playbook, so no further task starts; a plain
    # KeyboardInterrupt would leave it running the rest of the play without us (it ignores SIGHUP).
    interrupted = []

    def interrupt(signum, frame):  # pylint: disable=unused-argument
        if not interrupted:
            sys.stderr.write("kata_fleet_runner: stopping ansible-playbook (Ctrl-C again to give up waiting)\n")
        interrupted.append(signum)
        if len(interrupted) > 1:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        result = _run(args.playbook, args.inventory, args.private_data_dir, args.evidence_dir, extravars,
                      args.forks, args.limit, None, args.timeout, None if args.quiet else stream,
                      cancel=lambda: bool(interrupted))
    except KataFleetRunError as error:
        sys.stderr.write("kata_fleet_runner: error: %s\n" % error)
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("kata_fleet_runner: interrupted\n")
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
    sys.stderr.write("kata_fleet_runner: %s (rc %s); artifacts: %s; evidence: %s\n" % (
        result.status, result.rc, result.artifacts_dir, result.evidence_dir or "none written"))
    if interrupted:
        return 130
    return result.rc if isinstance(result.rc, int) else 1


if __name__ == "__main__":
    sys.exit(main())
