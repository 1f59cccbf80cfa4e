"""The load generator itself: a keep-alive connection the server closes under a request is a failure.

The zero-downtime proof relies on the pool never excusing a lost request. A
real HTTP server on loopback answers "keep-alive" and then closes the
connection anyway, as nginx does when it retires a worker with idle
keep-alive connections: the never-resending pool must count those requests
as failed; the resending one (what browsers do) resends them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bluegreen.adapters.local.loadgen import LoadGenerator


class _ClosesAfterOneAnswer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b"version x\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()  # no "Connection: close": the client may reuse the connection
        self.wfile.write(body)
        self.close_connection = True  # ...and the server closes it all the same

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server_address() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ClosesAfterOneAnswer)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def run(address: str, *, resend_stale: bool) -> LoadGenerator:
    with LoadGenerator(address, "/", threads=2, max_duration_s=5, timeout_s=2, resend_stale=resend_stale) as load:
        time.sleep(0.5)
    return load


def test_the_never_resending_pool_counts_a_closed_keep_alive_connection_as_a_failure(server_address: str) -> None:
    report = run(server_address, resend_stale=False).report
    assert report.reused_errors > 0 and report.failures == sum(report.errors.values()) > 0, report.summary()
    assert report.stale_retries == 0
    assert report.sent == report.requests + report.failures, "every request sent is counted"
    assert f"({report.reused_errors} on reused keep-alive connections)" in report.summary()


def test_the_resending_pool_resends_them_as_browsers_do(server_address: str) -> None:
    report = run(server_address, resend_stale=True).report
    assert report.stale_retries > 0 and report.failures == 0, report.summary()
    assert report.sent == report.requests + report.stale_retries
