# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP requests from the host, each timed and each failure classified.

The lab report's "juice-runc: HTTP 000" was curl's way of saying that no HTTP
answer came at all.  Here every failed request gets a class (refused,
timeout, reset, unreachable, http_<status>, ...) so a run can say why.
"""

import errno
import socket
import threading
import time
from urllib.parse import urlsplit

import http.client as http_client


FAILURE_CLASSES = ("refused", "timeout", "reset", "unreachable", "bad_response", "error")
CLASS_MEANING = {
    "refused": "connection refused: nothing listens on that address and port",
    "timeout": "no answer within the request timeout",
    "reset": "the connection was reset or closed before a full answer",
    "unreachable": "no route to the address",
    "bad_response": "the answer was not HTTP",
    "error": "another socket error",
}


def classify(error):
    """The failure class of an exception raised by one request."""
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(error, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError,
                          http_client.RemoteDisconnected, http_client.IncompleteRead)):
        return "reset"
    if isinstance(error, http_client.HTTPException):
        return "bad_response"
    if isinstance(error, OSError) and error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable"
    return "error"


def parse_url(url):
    """(connection class, host, port, path) of an http or https URL; ValueError names the problem."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("url %r must be an http:// or https:// URL with a host" % url)
    try:
        port = parts.port
    except ValueError as error:
        raise ValueError("url %r has a bad port: %s" % (url, error))
    if port == 0:
        raise ValueError("url %r has port 0, which nothing can listen on" % url)
    connection = http_client.HTTPSConnection if parts.scheme == "https" else http_client.HTTPConnection
    port = port or (443 if parts.scheme == "https" else 80)
    return connection, parts.hostname, port, (parts.path or "/") + ("?" + parts.query if parts.query else "")


def request_once(url, timeout):
    """One GET on a new connection (as curl does). Returns (seconds, failure class or None, detail)."""
    connection_class, host, port, path = parse_url(url)
    started = time.monotonic()
    connection = connection_class(host, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close", "User-Agent": "kata-fleet"})
        response = connection.getresponse()
        response.read()
        elapsed = time.monotonic() - started
        if 200 <= response.status < 400:
            return elapsed, None, None
        return elapsed, "http_%d" % response.status, response.reason
    except Exception as error:  # pylint: disable=broad-except  # every failure is classified and counted
        return time.monotonic() - started, classify(error), str(error)
    finally:
        connection.close()


def wait_until_answering(url, deadline, timeout=1.0, pause=0.05):
    """Poll until one request succeeds; (seconds waited or None, the last failure class and detail)."""
    started = time.monotonic()
    last = (None, None)
    while time.monotonic() < deadline:
        _elapsed, failure, detail = request_once(url, min(timeout, max(deadline - time.monotonic(), 0.05)))
        if failure is None:
            return time.monotonic() - started, last
        last = (failure, detail)
        time.sleep(pause)
    return None, last


def load(url, requests, concurrency, timeout, deadline):
    """Send ``requests`` GETs over ``concurrency`` threads, stopping at ``deadline``.

    Returns (latencies of the successful requests, failure counts by class,
    one example detail per class, requests not sent because time ran out).
    """
    latencies, failures, examples = [], {}, {}
    lock = threading.Lock()
    remaining = [requests]

    def worker():
        while True:
            with lock:
                if remaining[0] <= 0 or time.monotonic() >= deadline:
                    return
                remaining[0] -= 1
            elapsed, failure, detail = request_once(url, timeout)
            with lock:
                if failure is None:
                    latencies.append(elapsed)
                else:
                    failures[failure] = failures.get(failure, 0) + 1
                    examples.setdefault(failure, detail)

    threads = [threading.Thread(target=worker) for _index in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, failures, examples, remaining[0]
