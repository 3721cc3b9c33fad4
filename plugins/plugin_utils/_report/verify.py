# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read an evidence bundle someone else wrote, as hostile input: check it first, then read its report.json.

``verify_bundle(path, public_keys)`` returns (report dict or None, problems).
A bundle is read only when every check passed, in this order:

1. SHA256SUMS (and SHA256SUMS.sig when there is one) are read once each,
   through the folder's descriptor, never through a link, bounded in size;
2. the signature is verified over exactly those bytes (``ssh-keygen -Y
   verify``, namespace ``kata-fleet-evidence``, as bundle.sign writes it)
   against the caller's public keys.  With keys, an unsigned bundle is
   refused; without keys, a signed one is refused too (a signature nobody
   checked would be laundered into whatever is made from the bundle);
3. every name SHA256SUMS lists must be a plain file name of the folder
   (no ``/``, no ``..``, no leading dot), listed once, report.json among them;
   each file is opened without following links (O_NOFOLLOW), must be a
   regular file within the size bound, and is hashed as it is read;
4. only then is report.json parsed, from the very bytes that were hashed,
   and checked against what model.build_report writes (schema, run id, the
   host entries as model.conform accepts them, policies, errors).

The folder given itself may be a link (``evidence/latest``): the caller
named it.  Nothing inside it is followed.
"""

import errno
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _runid
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils import _policy
from ansible_collections.kata_fleet.runtimes.plugins.plugin_utils._report import bundle, contract, model

# report.json of 50,000 hosts is about 370 MiB; anything far beyond is not a bundle of ours.
MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_SUMS_BYTES = 64 * 1024
MAX_SIGNATURE_BYTES = 64 * 1024
MAX_KEYS_BYTES = 1024 * 1024
MAX_LISTED = 64
MAX_HOST_NAME = 1024
REPORT = "report.json"
# Host entry keys model.host_entry adds only when the host ran that capability (workload cost, audit).
OPTIONAL_HOST_KEYS = ("workload", "audit")
# The principal the allowed_signers file names; docs/evidence.md gives auditors the same one.
IDENTITY = "kata-fleet"
SUMS_LINE = re.compile(r"\A([0-9a-f]{64})  ([^\x00-\x1f\x7f/\\]{1,255})\Z")
FILE_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
KEY = re.compile(r"(?:\A|\s)((?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com|"
                 r"sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]{16,8192}={0,3})(?=\s|\Z)")
FINGERPRINT = re.compile(r"(SHA256:[A-Za-z0-9+/]{43})")
UTC_TIME = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?Z\Z")
_CHUNK = 1 << 20


class PublicKeyError(ValueError):
    """A public key the caller gave cannot be used: the message names it."""


def public_key_lines(items):
    """The caller's public keys as ``<type> <base64>`` strings.

    Each item is a key's text (``ssh-ed25519 AAAA... comment``) or the path of
    a file of them (a .pub file, authorized_keys or allowed_signers lines).
    Raises PublicKeyError naming the item that holds no key.
    """
    if items is None:
        return []
    if isinstance(items, (str, bytes, os.PathLike)):
        items = [items]
    keys = []
    for item in items:
        if isinstance(item, bytes):
            item = item.decode("utf-8", "replace")
        text = os.fspath(item) if isinstance(item, os.PathLike) else item
        if not isinstance(text, str) or not text.strip():
            raise PublicKeyError("a public key must be a key's text or the path of a file holding keys, not %r" % (item,))
        found = KEY.findall(text)
        if not found:
            try:
                with open(text, "rb") as handle:
                    data = handle.read(MAX_KEYS_BYTES + 1)
            except OSError as error:
                raise PublicKeyError("public key %s: neither a key nor a readable file (%s)" % (text[:200], error.strerror))
            if len(data) > MAX_KEYS_BYTES:
                raise PublicKeyError("public key file %s is larger than %d bytes: not a key file" % (text, MAX_KEYS_BYTES))
            found = [key for line in data.decode("utf-8", "replace").splitlines()
                     if not line.lstrip().startswith("#") for key in KEY.findall(line)]
            if not found:
                raise PublicKeyError("public key file %s holds no SSH public key (ssh-ed25519, ssh-rsa, ecdsa-sha2-*)" % text)
        keys.extend(key for key in found if key not in keys)
    return keys


def _read_in(folder_fd, name, limit, keep):
    """(bytes if ``keep``, sha256 hex, None) of ``name`` in the folder, or (None, None, problem).

    Opened through the folder's descriptor, never through a link (O_NOFOLLOW),
    never blocking (a FIFO), only a regular file, never past ``limit`` bytes
    even when it grows while it is read.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(name, flags, dir_fd=folder_fd)
    except OSError as error:
        if error.errno == errno.ENOENT:
            return None, None, "%s is missing" % name
        if error.errno == errno.ELOOP:
            return None, None, "%s is a symbolic link: bundle files are never followed" % name
        return None, None, "%s cannot be opened: %s" % (name, error.strerror)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            return None, None, "%s is not a regular file" % name
        if info.st_size > limit:
            return None, None, "%s is %d bytes, more than the bound of %d" % (name, info.st_size, limit)
        digest, chunks, size = hashlib.sha256(), [], 0
        while True:
            block = os.read(descriptor, _CHUNK)
            if not block:
                break
            size += len(block)
            if size > limit:
                return None, None, "%s grew past the bound of %d bytes while it was read" % (name, limit)
            digest.update(block)
            if keep:
                chunks.append(block)
        return (b"".join(chunks) if keep else None), digest.hexdigest(), None
    finally:
        os.close(descriptor)


def parse_sums(data):
    """{name: sha256} from SHA256SUMS's bytes, or raise ValueError naming the first bad line."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("%s is not ASCII text" % bundle.SUMS)
    if not text.endswith("\n"):
        raise ValueError("%s does not end with a newline: cut short" % bundle.SUMS)
    lines = text[:-1].split("\n")
    if len(lines) > MAX_LISTED:
        raise ValueError("%s lists %d files, more than the %d a bundle has" % (bundle.SUMS, len(lines), MAX_LISTED))
    sums = {}
    for number, line in enumerate(lines, 1):
        match = SUMS_LINE.match(line)
        if not match:
            raise ValueError("%s line %d is not '<sha256>  <file name>': %r" % (bundle.SUMS, number, line[:120]))
        digest, name = match.groups()
        if not FILE_NAME.match(name) or ".." in name:
            raise ValueError("%s line %d names %r: not a file of the bundle's folder (a path escaping it?)"
                             % (bundle.SUMS, number, name[:120]))
        if name in (bundle.SUMS, bundle.SIGNATURE):
            raise ValueError("%s line %d lists %s itself" % (bundle.SUMS, number, name))
        if name in sums:
            raise ValueError("%s lists %s twice" % (bundle.SUMS, name))
        sums[name] = digest
    if REPORT not in sums:
        raise ValueError("%s does not list %s" % (bundle.SUMS, REPORT))
    return sums


def verify_signature(sums, signature, keys, timeout=60):
    """(fingerprint of the key that signed, None) or (None, problem): ``ssh-keygen -Y verify`` over these bytes."""
    workdir = tempfile.mkdtemp(prefix="kata-fleet-verify-")
    try:
        signers = os.path.join(workdir, "allowed_signers")
        with open(signers, "w") as handle:
            for key in keys:
                handle.write('%s namespaces="%s" %s\n' % (IDENTITY, bundle.SIGNATURE_NAMESPACE, key))
        signature_path = os.path.join(workdir, bundle.SIGNATURE)
        with open(signature_path, "wb") as handle:
            handle.write(signature)
        try:
            result = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", signers, "-I", IDENTITY,
                                     "-n", bundle.SIGNATURE_NAMESPACE, "-s", signature_path],
                                    input=sums, capture_output=True, timeout=timeout, check=False)
        except FileNotFoundError:
            return None, "ssh-keygen is not installed: the signature cannot be verified"
        except (OSError, subprocess.SubprocessError) as error:
            return None, "ssh-keygen -Y verify could not run: %s" % error
        said = (result.stderr + result.stdout).decode("utf-8", "replace").strip()
        if result.returncode != 0:
            return None, "the signature does not verify against the given public keys (%s)" % (
                said.splitlines()[-1][:300] if said else "ssh-keygen -Y verify exit %d" % result.returncode)
        found = FINGERPRINT.search((result.stdout + result.stderr).decode("utf-8", "replace"))
        return (found.group(1) if found else "verified"), None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _no_constant(name):
    raise ValueError("%s is not a JSON value" % name)


def _unique(pairs):
    keys = set()
    for key, _value in pairs:
        if key in keys:
            raise ValueError("the key %r appears twice in one object" % key[:80])
        keys.add(key)
    return dict(pairs)


def parse_report(data):
    """report.json's bytes as a dict, or raise ValueError (not UTF-8 JSON, NaN, a key twice, too deep)."""
    try:
        text = data.decode("utf-8")
        report = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique)
    except UnicodeDecodeError:
        raise ValueError("%s is not UTF-8" % REPORT)
    except RecursionError:
        raise ValueError("%s is nested too deeply" % REPORT)
    except ValueError as error:
        raise ValueError("%s is not valid JSON: %s" % (REPORT, str(error)[:200]))
    if not isinstance(report, dict):
        raise ValueError("%s is not a JSON object" % REPORT)
    return report


def _string(value, limit=4096):
    return isinstance(value, str) and len(value) <= limit


def report_problems(report):
    """Why ``report`` is not what model.build_report writes (a list; empty when it is)."""
    problems = []
    if report.get("schema") != model.SCHEMA:
        return ["%s has schema %s, not %s" % (REPORT, repr(report.get("schema"))[:80], model.SCHEMA)]
    problem = _runid.problem(report.get("run_id"))
    if problem:
        problems.append(problem)
    for key in ("started", "finished"):
        if not isinstance(report.get(key), str) or not UTC_TIME.match(report[key]):
            problems.append("%s: %s is not a UTC time such as 2026-12-01T04:00:00Z" % (key, repr(report.get(key))[:80]))
    for key, fields in (("controller", ("hostname", "user", "python")), ("versions", ("ansible_core", "collection"))):
        value = report.get(key)
        if not isinstance(value, dict) or not all(_string(value.get(field), 256) for field in fields):
            problems.append("%s is not an object of %s (strings)" % (key, ", ".join(fields)))
    for key in ("playbooks", "inventory"):
        value = report.get(key, [])
        if not isinstance(value, list) or len(value) > 1000 or not all(_string(item) for item in value):
            problems.append("%s is not a list of strings" % key)
    if report.get("result") not in ("pass", "fail"):
        problems.append("result %s is not pass or fail" % repr(report.get("result"))[:80])
    hosts = report.get("hosts")
    if not isinstance(hosts, dict):
        return problems + ["hosts is not an object of host entries"]
    # The keys model.host_entry gives every host, whatever the model's version, and those it adds only when the
    # host ran that capability (workload_bench, workload_audit).
    entry_keys = set(model.host_entry(contract.new_record()))
    optional_keys = set(OPTIONAL_HOST_KEYS)
    for name, entry in hosts.items():
        where = "hosts/%s" % name[:200]
        if not name or len(name) > MAX_HOST_NAME:
            problems.append("%s: not a host name (1 to %d characters)" % (where, MAX_HOST_NAME))
            break
        if not isinstance(entry, dict) or not entry_keys <= set(entry) <= entry_keys | optional_keys:
            problems.append("%s is not a host entry (%s)" % (where, ", ".join(sorted(entry_keys))))
            break
        if entry["status"] not in contract.STATUSES:
            problems.append("%s/status: %s is not one of %s" % (where, repr(entry["status"])[:80], ", ".join(contract.STATUSES)))
            break
        if entry["error"] is not None and not isinstance(entry["error"], str):
            problems.append("%s/error is neither text nor null" % where)
            break
        if entry["host"] is not None and not isinstance(entry["host"], dict):
            problems.append("%s/host is neither a host view nor null" % where)
            break
        runtimes = entry["runtimes"]
        if not isinstance(runtimes, dict) or not all(
                isinstance(probes, dict) and set(probes) <= set(contract.PROBES) for probes in runtimes.values()):
            problems.append("%s/runtimes is not an object of handler -> {isolation, startup, http}" % where)
            break
        # What the model would have refused or changed is never in a report.json it wrote.  (conform
        # changes only what it notes, and a noted report is dropped: no copy needed.)
        notes = model.conform(entry)
        if notes:
            problems.append("%s: %s (the model never writes that)" % (where, notes[0]))
            break
    problems.extend(policy_problems(report.get("policies"), hosts))
    if not problems:
        if report.get("summary") != model.summary(hosts):
            problems.append("summary does not count the report's hosts as the model does")
        elif report["result"] != model.overall_result(hosts, report["policies"]):
            problems.append("result %s is not what the report's hosts and policies give" % report["result"])
    errors = report.get("errors", [])
    if not isinstance(errors, list) or not all(
            isinstance(item, dict) and (item.get("host") is None or _string(item.get("host"), MAX_HOST_NAME))
            and _string(item.get("error"), 1 << 16) for item in errors):
        problems.append("errors is not a list of {host, error}")
    return problems


def policy_problems(policies, hosts):
    """Why report.json's policies are not what _policy.merge_results writes (a list)."""
    if not isinstance(policies, list):
        return ["policies is not a list"]
    for index, policy in enumerate(policies):
        where = "policies/%d" % index
        if not isinstance(policy, dict) or not _string(policy.get("name"), 256) or \
                policy.get("severity") not in _policy.SEVERITIES or not isinstance(policy.get("results"), list):
            return ["%s is not a policy (name, severity error or warning, results)" % where]
        for key in ("description", "applies_to", "expect"):
            if policy.get(key) is not None and not _string(policy[key], 1 << 16):
                return ["%s/%s is not text" % (where, key)]
        controls = policy.get("controls")
        if controls is not None and (not isinstance(controls, list) or not all(_string(item, 256) for item in controls)):
            return ["%s/controls is not a list of strings" % where]
        seen = set()
        for result in policy["results"]:
            if not isinstance(result, dict) or result.get("status") not in _policy.STATUSES \
                    or not isinstance(result.get("host"), str) or not (result.get("detail") is None or _string(result["detail"], 1 << 20)):
                return ["%s has a result that is not {host, status pass/fail/error/skip, detail}" % where]
            if result["host"] not in hosts:
                return ["%s has a result for %s, a host the report does not hold" % (where, result["host"][:200])]
            if result["host"] in seen:
                return ["%s has two results for %s" % (where, result["host"][:200])]
            seen.add(result["host"])
    return []


def verify_bundle(path, public_keys=None, max_file_bytes=MAX_FILE_BYTES):
    """Check one bundle folder; returns (report dict or None, problems): inspect_bundle without its facts."""
    report, problems, _facts = inspect_bundle(path, public_keys, max_file_bytes)
    return report, problems


def inspect_bundle(path, public_keys=None, max_file_bytes=MAX_FILE_BYTES):
    """Check one bundle folder; returns (report dict, problems, facts).

    ``report`` is None unless every check passed (``problems`` empty).
    ``public_keys``: key texts or key files (public_key_lines); with them the
    bundle must carry a signature by one of them, without them it must carry
    none.  ``facts``: what was found on the way (``signed``, ``signed_by``,
    ``report_sha256``, ``files``).  Never raises for anything in the folder;
    raises PublicKeyError for unusable keys (the caller's input).
    """
    keys = public_key_lines(public_keys)
    facts = {"signed": False, "signed_by": None, "report_sha256": None, "files": []}
    try:
        folder_fd = os.open(os.fspath(path), os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        return None, ["%s is not a bundle folder that can be opened: %s" % (os.fspath(path), error.strerror)], facts
    except (TypeError, ValueError) as error:
        return None, ["%r is not a folder path: %s" % (path, error)], facts
    try:
        return _verify(folder_fd, keys, max_file_bytes, facts)
    finally:
        os.close(folder_fd)


def _verify(folder_fd, keys, max_file_bytes, facts):
    sums_bytes, _digest, problem = _read_in(folder_fd, bundle.SUMS, MAX_SUMS_BYTES, True)
    if problem:
        return None, [problem], facts
    try:
        os.stat(bundle.SIGNATURE, dir_fd=folder_fd, follow_symlinks=False)
        has_signature = True
    except FileNotFoundError:
        has_signature = False
    except OSError as error:
        return None, ["%s cannot be examined: %s" % (bundle.SIGNATURE, error.strerror)], facts
    if has_signature:
        signature, _digest, problem = _read_in(folder_fd, bundle.SIGNATURE, MAX_SIGNATURE_BYTES, True)
        if problem:
            return None, [problem], facts
        facts["signed"] = True
        if not keys:
            return None, ["the bundle is signed, but no public key was given to verify the signature with "
                          "(public_keys / --public-key)"], facts
        signer, problem = verify_signature(sums_bytes, signature, keys)
        if problem:
            return None, [problem], facts
        facts["signed_by"] = signer
    elif keys:
        return None, ["the bundle is not signed (no %s), and public keys were given: every part must be signed "
                      "by one of them" % bundle.SIGNATURE], facts
    try:
        sums = parse_sums(sums_bytes)
    except ValueError as error:
        return None, [str(error)], facts
    data = None
    # report.json last: the files nobody parses are checked before the one that is.
    for name in sorted(sums, key=lambda item: (item == REPORT, item)):
        content, digest, problem = _read_in(folder_fd, name, max_file_bytes, name == REPORT)
        if problem:
            return None, ["%s is listed in %s but missing" % (name, bundle.SUMS) if problem == "%s is missing" % name
                          else problem], facts
        if digest != sums[name]:
            return None, ["%s does not match its checksum in %s: changed after the bundle was written"
                          % (name, bundle.SUMS)], facts
        data = content if name == REPORT else data
    facts["report_sha256"] = sums[REPORT]
    facts["files"] = sorted(sums)
    try:
        report = parse_report(data)
    except ValueError as error:
        return None, [str(error)], facts
    del data
    problems = report_problems(report)
    if problems:
        return None, ["%s is not a report the model writes: %s" % (REPORT, problems[0])] + problems[1:], facts
    return report, [], facts
