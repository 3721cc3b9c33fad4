# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""python -m kata_fleet_runner verify -i INVENTORY: run_playbook from a shell, ansible's output streamed.

Exits with ansible-playbook's return code, or 2 with a one-line error (no
traceback) when the input is wrong, as ansible-playbook does.
"""

import argparse
import json
import signal
import sys

from . import PLAYBOOKS, KataFleetRunError, _run


def extra_var(text):
    """One -e value: key=value (the value stays a string, as in ansible-playbook) or a JSON object."""
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError("not a JSON object (%s): %s" % (error, text))
        if not isinstance(value, dict):
            raise argparse.ArgumentTypeError("not a JSON object: %s" % text)
        return value
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError("expected key=value or a JSON object, got %r" % text)
    return {key.strip(): value}


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError("expected a whole number of at least 1, got %r" % text)
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = 0
    if not value > 0:
        raise argparse.ArgumentTypeError("expected a number of seconds greater than 0, got %r" % text)
    return value


def parser():
    result = argparse.ArgumentParser(
        prog="python -m kata_fleet_runner",
        description="Run a kata_fleet.runtimes playbook through ansible-runner: ansible's output is streamed, "
                    "then where the artifacts and the evidence bundle are. Exits with ansible-playbook's return code.")
    result.add_argument("playbook", help="%s, kata_fleet.runtimes.<name>, or the path of a playbook file"
                        % " or ".join(PLAYBOOKS))
    result.add_argument("-i", "--inventory", required=True,
                        help="inventory file or directory (as for ansible-playbook -i), or host1,host2,")
    result.add_argument("-l", "--limit", help="further limit the hosts to a pattern, as ansible-playbook --limit")
    result.add_argument("-f", "--forks", type=positive_int, help="hosts worked on at once")
    result.add_argument("-e", "--extra-vars", dest="extravars", type=extra_var, action="append", default=[],
                        metavar="KEY=VALUE", help="extra variable (repeatable); a JSON object for lists and numbers")
    result.add_argument("--evidence-dir", help="where the evidence bundle goes (default: <private data dir>/evidence)")
    result.add_argument("--private-data-dir", help="ansible-runner's folder, kept (default: a new temporary folder)")
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
