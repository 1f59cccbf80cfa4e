"""HttpSmoke against a real HTTP server on loopback (one per colour, so a check can only see its own)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bluegreen.adapters.http_smoke import HttpSmoke
from bluegreen.config import SmokeCheck
from bluegreen.model import Colour

BLUE, GREEN = Colour.BLUE, Colour.GREEN


class App(BaseHTTPRequestHandler):
    """A tiny application: the pages the checks look at, one slow page, one redirect."""

    colour = "?"

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(1.0)
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/about/")
            self.end_headers()
            return
        if self.path in ("/about/", "/health", "/slow"):
            body = f"<html><body><h1>About</h1><p>Served by {self.colour}</p></body></html>".encode()
            self.send_response(200)
        else:
            body = b"Not Found: nothing here\n" * 20
            self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the timeout test hangs up on purpose: the broken pipe is expected


def serve(colour: str) -> ThreadingHTTPServer:
    handler = type(f"{colour.title()}App", (App,), {"colour": colour})
    server = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def urls() -> Iterator[dict[Colour, str]]:
    servers = {BLUE: serve("blue"), GREEN: serve("green")}
    try:
        yield {c: f"http://127.0.0.1:{s.server_address[1]}" for c, s in servers.items()}
    finally:
        for s in servers.values():
            s.shutdown()
            s.server_close()


def smoke(urls: dict[Colour, str], *checks: SmokeCheck) -> HttpSmoke:
    return HttpSmoke(lambda colour: urls[colour], checks)


def test_passing_checks(urls: dict[Colour, str]) -> None:
    result = smoke(urls, SmokeCheck("/about/", contains="Served by green"), SmokeCheck("/health")).smoke(GREEN)
    assert result.ok, result.detail
    assert result.detail == "2 smoke checks passed on green: /about/ 200, /health 200"


def test_checks_reach_only_the_colour_asked_for(urls: dict[Colour, str]) -> None:
    result = smoke(urls, SmokeCheck("/about/", contains="Served by green")).smoke(BLUE)
    assert not result.ok
    assert "lacks 'Served by green'" in result.detail
    assert "Served by blue" in result.detail  # the snippet shows what came back


def test_release_in_a_check_is_the_version_being_deployed(urls: dict[Colour, str]) -> None:
    check = SmokeCheck("/about/", contains="Served by {release}")
    assert smoke(urls, check).smoke(GREEN, "green").ok  # the app says "Served by green": as if green were the release
    result = smoke(urls, check).smoke(GREEN, "v2")
    assert not result.ok
    assert "lacks 'Served by v2'" in result.detail


def test_wrong_status(urls: dict[Colour, str]) -> None:
    result = smoke(urls, SmokeCheck("/health"), SmokeCheck("/missing")).smoke(GREEN)
    assert not result.ok
    assert result.detail.startswith("1 of 2 smoke checks on green failed: ")
    assert f"GET {urls[GREEN]}/missing: status 404, expected 200" in result.detail
    assert "Not Found: nothing here" in result.detail
    assert len(result.detail) < 400  # a snippet, not the whole page


def test_expected_non_200_status(urls: dict[Colour, str]) -> None:
    assert smoke(urls, SmokeCheck("/missing", status=404)).smoke(GREEN).ok


def test_redirects_are_not_followed(urls: dict[Colour, str]) -> None:
    assert smoke(urls, SmokeCheck("/moved", status=302)).smoke(GREEN).ok
    result = smoke(urls, SmokeCheck("/moved")).smoke(GREEN)
    assert not result.ok and "status 302, expected 200" in result.detail


def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: nobody answers
        result = HttpSmoke(lambda _: f"http://127.0.0.1:{port}", [SmokeCheck("/health")]).smoke(GREEN)
    assert not result.ok
    assert f"GET http://127.0.0.1:{port}/health: connection refused" in result.detail


def test_timeout(urls: dict[Colour, str]) -> None:
    started = time.monotonic()
    result = smoke(urls, SmokeCheck("/slow", timeout_s=0.2)).smoke(GREEN)
    assert not result.ok
    assert "no answer within 0.2s" in result.detail
    assert time.monotonic() - started < 1.0


def test_no_checks_configured(urls: dict[Colour, str]) -> None:
    result = smoke(urls).smoke(GREEN)
    assert result.ok
    assert result.detail == "no smoke checks configured"
