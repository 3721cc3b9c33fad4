# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""python -m kata_fleet_runner verify -i INVENTORY: run_playbook from a shell, ansible's output streamed.

Exits with ansible-playbook's return code, or 2 with a one-line error (no
traceback) when the input is wrong, as ansible-playbook does.

python -m kata_fleet_runner merge PART... -o OUT: merge_bundles from a shell (the bundles of a sliced run into
one). Exits 0 when every part was merged and the merged result is pass, 1 when the bundle was written but a
part was refused, a file could not be written or signed, or the result is fail, 2 when nothing was merged.

python -m kata_fleet_runner diff OLD NEW: what changed between two bundles (diff_bundles), both checked first.
Exits 0 when compared and no host weakened, 1 when a host weakened, 2 when a bundle was refused (named on stderr).
"""

import argparse
import json
import re
import signal
import sys

from . import MAX_FORKS, MAX_TIMEOUT, PLAYBOOKS, KataFleetRunError, _report_module, _run, diff_bundles, merge_bundles


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


def whole(value):
    if not WHOLE.match(value):
        raise argparse.ArgumentTypeError("expected a whole number, got %r" % value)
    return int(value)


def merge_parser():
    result = argparse.ArgumentParser(
        prog="python -m kata_fleet_runner merge",
        description="Merge the evidence bundles of a sliced run (one per controller or AWX slice) into one bundle: "
                    "every part checked first (SHA256SUMS, signature, names, links, sizes, report.json), a part that "
                    "fails is left out and named; one report.json and every rendering over all hosts, written and "
                    "signed like any bundle. Exits 0 (all merged, result pass), 1 (written, but a part refused, a "
                    "file not written or signed, or result fail), 2 (nothing merged).")
    result.add_argument("parts", nargs="+", type=text, metavar="PART",
                        help="a bundle folder (<evidence dir>/<run id>, or its latest link)")
    result.add_argument("-o", "--out", required=True, type=text,
                        help="the evidence folder the merged bundle goes to, as <out>/<run id> with a latest link")
    result.add_argument("-k", "--public-key", dest="public_keys", action="append", default=[], type=text,
                        metavar="KEY", help="a public key file (.pub, authorized_keys or allowed_signers lines) or a "
                        "key's text; repeatable. With keys every part must be signed by one of them; without, a "
                        "signed part is refused (its signature could not be checked)")
    result.add_argument("--allow-mixed-run-ids", action="store_true",
                        help="merge parts of different run ids (refused otherwise)")
    result.add_argument("--signing-key", type=text, help="SSH private key that signs the merged bundle's SHA256SUMS")
    result.add_argument("--run-id", type=text, help="the merged bundle's run id (default: the parts' run id; for "
                        "mixed runs a new one)")
    result.add_argument("--template-dir", type=text, help="templates for report.md / report.html, as the callback's")
    result.add_argument("--listed-hosts", type=whole, default=500,
                        help="hosts listed in report.html and on the console (0: all; default 500)")
    result.add_argument("--max-file-mib", type=whole, help="the largest file a part may hold (default 512)")
    result.add_argument("-q", "--quiet", action="store_true", help="do not print the merged comparison tables")
    return result


def merge_main(argv):
    args = merge_parser().parse_args(argv)
    try:
        done = merge_bundles(args.parts, args.out, public_keys=args.public_keys or None,
                             allow_mixed_run_ids=args.allow_mixed_run_ids, signing_key=args.signing_key,
                             run_id=args.run_id, template_dir=args.template_dir, listed_hosts=args.listed_hosts,
                             max_file_mib=args.max_file_mib)
    except KataFleetRunError as error:
        sys.stderr.write("kata_fleet_runner merge: error: %s\n" % error)
        return 2
    report = done.report
    for item in done.refused:
        sys.stderr.write("kata_fleet_runner merge: part %d (%s) refused: %s\n" % (item["part"], item["path"], item["reason"]))
    for item in report["merge"]["duplicate_hosts"]:
        sys.stderr.write("kata_fleet_runner merge: host %s is in parts %s: shown once per part\n" % (
            item["host"], ", ".join(str(number) for number in item["parts"])))
    for warning in done.warnings:
        sys.stderr.write("kata_fleet_runner merge: %s\n" % warning)
    if done.console and not args.quiet:
        sys.stdout.write(done.console.rstrip("\n") + "\n")
    sys.stdout.write("Evidence: %s (%s)\n" % (done.evidence_dir, ", ".join(done.written)))
    sys.stderr.write("kata_fleet_runner merge: %d of %d parts, %d hosts, result %s\n" % (
        len(done.used), len(done.used) + len(done.refused), report["summary"]["hosts"], report["result"]))
    return 0 if not done.refused and not done.warnings and report["result"] == "pass" else 1


def diff_parser():
    result = argparse.ArgumentParser(
        prog="python -m kata_fleet_runner diff",
        description="What changed between two evidence bundles (verdicts and sandboxes, handlers, versions, "
                    "policies, hosts, performance beyond both runs' noise). Both are checked first (SHA256SUMS, "
                    "signature, names, links, sizes, report.json); a bundle that fails is named, never compared. "
                    "Exits 0 (compared, no weakening), 1 (compared, a host weakened), 2 (not compared).")
    result.add_argument("old", type=text, help="the earlier bundle folder (<evidence dir>/<run id>)")
    result.add_argument("new", type=text, help="the later bundle folder (<evidence dir>/<run id>, or latest)")
    result.add_argument("-k", "--public-key", dest="public_keys", action="append", default=[], type=text,
                        metavar="KEY", help="a public key file (.pub, authorized_keys or allowed_signers lines) or a "
                        "key's text; repeatable. With keys both bundles must be signed by one of them; without, a "
                        "signed bundle is refused (its signature could not be checked)")
    result.add_argument("--listed", type=whole, default=50,
                        help="items listed per kind of change after the summary (0: all; default 50)")
    result.add_argument("--json", action="store_true", help="print the changes section as JSON instead of text")
    return result


def diff_main(argv):
    args = diff_parser().parse_args(argv)
    try:
        changes = diff_bundles(args.old, args.new, public_keys=args.public_keys or None)
        out = json.dumps(changes, indent=2, sort_keys=True) + "\n" if args.json else \
            _report_module("changes").render_text(changes, listed=args.listed)
    except KataFleetRunError as error:
        sys.stderr.write("kata_fleet_runner diff: error: %s\n" % error)
        return 2
    sys.stdout.write(out)
    if changes["status"] != "compared":
        for problem in changes["problems"]:
            sys.stderr.write("kata_fleet_runner diff: not compared: %s\n" % problem)
        return 2
    return 1 if changes["summary"]["weakenings"] else 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["merge"]:
        return merge_main(argv[1:])
    if argv[:1] == ["diff"]:
        return diff_main(argv[1:])
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
