"""The Debian archive this machine's apt already uses, for tests that fetch from Debian.

The tests name no mirror of their own: they take the archive (and the security
archive) from apt's configuration, deb822 ``*.sources`` files and one-line
``sources.list`` files alike, so they go where the machine's packages come from
(a local mirror, a proxy, a snapshot). ``KATA_FLEET_DEBIAN_MIRROR`` and
``KATA_FLEET_DEBIAN_SECURITY_MIRROR`` override what is found.
"""

import glob
import os
import re

SOURCES = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")) \
    + sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
_URI = re.compile(r"\A(?:https?|file)://[^\s]+\Z")


class NoDebianArchive(RuntimeError):
    pass


def _uris(path):
    """(uri, suites) of every ``deb`` entry of one apt source file, in order."""
    try:
        with open(path) as handle:
            text = handle.read()
    except OSError:
        return []
    found = []
    if path.endswith(".sources"):
        for stanza in re.split(r"\n\s*\n", text):
            fields = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                key, _colon, value = line.partition(":")
                fields[key.strip().lower()] = value.split()
            if "deb" in fields.get("types", []) and fields.get("enabled", ["yes"]) != ["no"]:
                found += [(uri, fields.get("suites", [])) for uri in fields.get("uris", [])]
        return found
    for line in text.splitlines():
        words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb":
            found.append((words[1], [words[2]]))
    return found


def debian_archives(sources=None):
    """(archive URI, security archive URI or None) that apt is configured with, without a trailing slash."""
    archive = os.environ.get("KATA_FLEET_DEBIAN_MIRROR")
    security = os.environ.get("KATA_FLEET_DEBIAN_SECURITY_MIRROR")
    for path in SOURCES if sources is None else sources:
        for uri, suites in _uris(path):
            uri = uri.rstrip("/")
            if not _URI.match(uri):
                continue
            if any(suite.endswith("-security") for suite in suites):
                security = security or uri
            else:
                archive = archive or uri
    if not archive:
        raise NoDebianArchive("apt has no Debian archive configured (no `deb` entry in /etc/apt/sources.list or "
                              "/etc/apt/sources.list.d): add one, or set KATA_FLEET_DEBIAN_MIRROR to a Debian "
                              "mirror's URL")
    return archive.rstrip("/"), security.rstrip("/") if security else None
