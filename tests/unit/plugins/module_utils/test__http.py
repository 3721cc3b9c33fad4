# -*- coding: utf-8 -*-
"""_http: failure classes, URL parsing, and requests against real loopback servers.

Every server here is started by the test on 127.0.0.1 with port 0, runs in a
daemon thread, and is closed in ``finally``; every request has a timeout, so
no test can hang.
"""

import errno
import http.client as http_client
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils import _http

LOOPBACK = "127.0.0.1"
TIMEOUT = 2.0


# -- classify ---------------------------------------------------------------------------------

@pytest.mark.parametrize("error, expected", [
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "refused"),
    (socket.timeout("timed out"), "timeout"),
    (TimeoutError(errno.ETIMEDOUT, "Connection timed out"), "timeout"),
    (OSError(errno.ETIMEDOUT, "Connection timed out"), "timeout"),  # the OS maps it to TimeoutError
    (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), "reset"),
    (BrokenPipeError(errno.EPIPE, "Broken pipe"), "reset"),
    (http_client.RemoteDisconnected("Remote end closed connection without response"), "reset"),
    (http_client.IncompleteRead(b"abc", 10), "reset"),
    (http_client.BadStatusLine("HELLO\r\n"), "bad_response"),
    (http_client.LineTooLong("status line"), "bad_response"),
    (OSError(errno.EHOSTUNREACH, "No route to host"), "unreachable"),
    (OSError(errno.ENETUNREACH, "Network is unreachable"), "unreachable"),
    (OSError(errno.EACCES, "Permission denied"), "error"),
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "error"),
    (OSError("no errno at all"), "error"),
])
def test_classify(error, expected):
    assert _http.classify(error) == expected


def test_every_failure_class_has_a_meaning():
    assert set(_http.CLASS_MEANING) == set(_http.FAILURE_CLASSES)


# -- parse_url --------------------------------------------------------------------------------

@pytest.mark.parametrize("url, expected", [
    ("http://example.test/", (http_client.HTTPConnection, "example.test", 80, "/")),
    ("http://example.test", (http_client.HTTPConnection, "example.test", 80, "/")),
    ("https://example.test/healthz", (http_client.HTTPSConnection, "example.test", 443, "/healthz")),
    ("http://127.0.0.1:8080/a/b?x=1&y=2", (http_client.HTTPConnection, "127.0.0.1", 8080, "/a/b?x=1&y=2")),
    ("https://[::1]:8443/?q", (http_client.HTTPSConnection, "::1", 8443, "/?q")),
    ("http://169.254.77.2:80/", (http_client.HTTPConnection, "169.254.77.2", 80, "/")),
])
def test_parse_url(url, expected):
    assert _http.parse_url(url) == expected


@pytest.mark.parametrize("url", ["ftp://x", "http://", "notaurl", "https:///path", ""])
def test_parse_url_rejects_with_the_url_in_the_message(url):
    with pytest.raises(ValueError) as raised:
        _http.parse_url(url)
    assert repr(url) in str(raised.value)
    assert "http://" in str(raised.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/", "http://127.0.0.1:http/"])
def test_parse_url_bad_port_names_the_url(url):
    with pytest.raises(ValueError) as raised:
        _http.parse_url(url)
    assert repr(url) in str(raised.value)


def test_parse_url_port_zero_is_rejected():
    with pytest.raises(ValueError):
        _http.parse_url("http://127.0.0.1:0/")


# -- loopback servers -------------------------------------------------------------------------

class _Quiet(BaseHTTPRequestHandler):
    """Answers every GET with ``status``; logs nothing."""

    status = 200

    def do_GET(self):  # noqa: N802 (the name http.server calls)
        body = b"kata-fleet\n"
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):  # pylint: disable=arguments-differ
        pass


class _NotFound(_Quiet):
    status = 404


class _Served:
    """An http.server in a daemon thread at ``url``; ``stop()`` ends it and frees the port."""

    def __init__(self, handler, delay=0.0):
        self.server = ThreadingHTTPServer((LOOPBACK, 0), handler, bind_and_activate=False)
        self.server.daemon_threads = True
        # Bound now (the port is ours), listening only after ``delay``: until then connects are refused.
        self.server.server_bind()
        self.url = "http://%s:%d/" % (LOOPBACK, self.server.server_address[1])
        self.serving = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(delay,), daemon=True)
        self.thread.start()

    def _serve(self, delay):
        time.sleep(delay)
        self.server.server_activate()
        self.serving.set()
        self.server.serve_forever(poll_interval=0.05)

    def stop(self):
        # shutdown() waits for serve_forever, so only call it once the thread got that far
        if self.serving.wait(timeout=5):
            self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _serve(handler):
    """A server that already listens when this returns."""
    served = _Served(handler)
    assert served.serving.wait(timeout=5)
    return served


class _RawServer:
    """A listening socket whose connections ``behaviour(connection)`` handles, one thread per accept."""

    def __init__(self, behaviour=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.url = "http://%s:%d/" % (LOOPBACK, self.sock.getsockname()[1])
        self.stopping = threading.Event()
        self.thread = None
        if behaviour is not None:
            self.thread = threading.Thread(target=self._accept, args=(behaviour,), daemon=True)
            self.thread.start()

    def _accept(self, behaviour):
        while not self.stopping.is_set():
            try:
                connection, _address = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            connection.settimeout(TIMEOUT)
            try:
                behaviour(connection)
            except OSError:
                pass
            finally:
                connection.close()

    def close(self):
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
        self.sock.close()


def _read_request(connection):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _garbage(connection):
    _read_request(connection)
    connection.sendall(b"HELLO\r\n\r\n")
    connection.shutdown(socket.SHUT_WR)
    _read_request(connection)  # until the client closes: no reset that would hide the bad answer


def _hang_up(connection):
    _read_request(connection)


def _closed_port_url():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((LOOPBACK, 0))
        port = sock.getsockname()[1]
    finally:
        sock.close()
    return "http://%s:%d/" % (LOOPBACK, port)


def test_request_once_ok():
    served = _serve(_Quiet)
    try:
        elapsed, failure, detail = _http.request_once(served.url, TIMEOUT)
    finally:
        served.stop()
    assert (failure, detail) == (None, None)
    assert 0 < elapsed < TIMEOUT


def test_request_once_with_path_and_query():
    served = _serve(_Quiet)
    try:
        _elapsed, failure, _detail = _http.request_once(served.url + "a/b?x=1", TIMEOUT)
    finally:
        served.stop()
    assert failure is None


def test_request_once_http_status():
    served = _serve(_NotFound)
    try:
        elapsed, failure, detail = _http.request_once(served.url, TIMEOUT)
    finally:
        served.stop()
    assert failure == "http_404"
    assert detail == "Not Found"
    assert 0 < elapsed < TIMEOUT


def test_request_once_connection_closed_without_answer_is_reset():
    server = _RawServer(_hang_up)
    try:
        _elapsed, failure, detail = _http.request_once(server.url, TIMEOUT)
    finally:
        server.close()
    assert failure == "reset", detail


def test_request_once_never_answered_is_timeout():
    # listening, never accepting: the kernel completes the handshake, nobody answers
    server = _RawServer()
    try:
        elapsed, failure, detail = _http.request_once(server.url, 0.3)
    finally:
        server.close()
    assert failure == "timeout", detail
    assert 0.25 <= elapsed < 1.5


def test_request_once_closed_port_is_refused():
    elapsed, failure, detail = _http.request_once(_closed_port_url(), TIMEOUT)
    assert failure == "refused"
    assert "refused" in detail.lower()
    assert elapsed < TIMEOUT


def test_request_once_garbage_is_bad_response():
    server = _RawServer(_garbage)
    try:
        _elapsed, failure, detail = _http.request_once(server.url, TIMEOUT)
    finally:
        server.close()
    assert failure == "bad_response", detail
    assert "HELLO" in detail


def test_request_once_bad_url_raises():
    with pytest.raises(ValueError):
        _http.request_once("ftp://x", TIMEOUT)


# -- load -------------------------------------------------------------------------------------

def test_load_counts_every_request():
    served = _serve(_Quiet)
    try:
        latencies, failures, examples, not_sent = _http.load(served.url, 20, 4, TIMEOUT, time.monotonic() + 10)
    finally:
        served.stop()
    assert len(latencies) + sum(failures.values()) == 20
    assert (len(latencies), failures, examples, not_sent) == (20, {}, {}, 0)
    assert all(latency > 0 for latency in latencies)


def test_load_counts_failures_by_class_with_one_example():
    served = _serve(_NotFound)
    try:
        latencies, failures, examples, not_sent = _http.load(served.url, 20, 4, TIMEOUT, time.monotonic() + 10)
    finally:
        served.stop()
    assert (latencies, failures, examples, not_sent) == ([], {"http_404": 20}, {"http_404": "Not Found"}, 0)


def test_load_refused_counts_exactly():
    latencies, failures, examples, not_sent = _http.load(_closed_port_url(), 7, 3, TIMEOUT, time.monotonic() + 10)
    assert latencies == [] and failures == {"refused": 7} and not_sent == 0
    assert list(examples) == ["refused"]


def test_load_past_deadline_sends_nothing():
    served = _serve(_Quiet)
    try:
        latencies, failures, examples, not_sent = _http.load(served.url, 20, 4, TIMEOUT, time.monotonic() - 1)
    finally:
        served.stop()
    assert (latencies, failures, examples, not_sent) == ([], {}, {}, 20)


def test_load_stops_at_the_deadline():
    # every request hangs 0.3 s; with 0.5 s left one thread sends at most 2, the rest stay unsent
    server = _RawServer()
    try:
        latencies, failures, _examples, not_sent = _http.load(server.url, 10, 1, 0.3, time.monotonic() + 0.5)
    finally:
        server.close()
    assert latencies == []
    sent = sum(failures.values())
    assert set(failures) == {"timeout"} and 1 <= sent <= 2
    assert sent + not_sent == 10


# -- wait_until_answering -----------------------------------------------------------------------

def test_wait_until_answering_waits_for_a_late_server():
    served = _Served(_Quiet, delay=0.3)
    try:
        waited, last = _http.wait_until_answering(served.url, time.monotonic() + 5, timeout=0.5)
    finally:
        served.stop()
    assert waited is not None and 0.2 < waited < 5
    # it failed before the server listened, and says how
    assert last[0] == "refused"


def test_wait_until_answering_answers_at_once():
    served = _serve(_Quiet)
    try:
        waited, last = _http.wait_until_answering(served.url, time.monotonic() + 5, timeout=0.5)
    finally:
        served.stop()
    assert waited is not None and 0 <= waited < 1
    assert last == (None, None)


def test_wait_until_answering_gives_up_at_the_deadline():
    started = time.monotonic()
    waited, (failure, detail) = _http.wait_until_answering(_closed_port_url(), started + 0.5, timeout=0.2)
    took = time.monotonic() - started
    assert waited is None
    assert failure == "refused" and "refused" in detail.lower()
    assert 0.45 <= took < 1.5


def test_wait_until_answering_past_deadline_tries_nothing():
    assert _http.wait_until_answering(_closed_port_url(), time.monotonic() - 1) == (None, (None, None))


def test_wait_until_answering_request_timeout_is_bounded_by_the_deadline():
    # one request may take 5 s, but only 0.4 s are left: the wait ends near the deadline, as timeout
    server = _RawServer()
    try:
        started = time.monotonic()
        waited, (failure, _detail) = _http.wait_until_answering(server.url, started + 0.4, timeout=5.0)
        took = time.monotonic() - started
    finally:
        server.close()
    assert waited is None and failure == "timeout"
    assert took < 1.5
