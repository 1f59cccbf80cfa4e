"""A small WSGI app for bluegreen's single-host platform, served by gunicorn.

Settings come from environment variables, and the app refuses to start when a
required one is missing: a misconfigured release never passes its health
check, so it never receives users' requests.

    APP_SECRET          required; any non-empty value
    APP_VERSION         the version shown on / and /version (default "dev")
    APP_STARTUP_DELAY   seconds of start-up work before /health answers 200 (default 0)
    APP_FAIL_SMOKE      "1": /version answers text without the version, a release that must fail its smoke check
    APP_MAINTENANCE_FILE  while this file exists /health answers 503 (take a release out of service by hand)
    APP_LATENCY_MS      milliseconds each request to / and /version takes (default 0): a slow release
    APP_FAIL_INDEX      "1": / answers 500 (its smoke checks on /version and /health pass): a release that
                        fails its users, for the metric gates

Pages:
    /          an HTML page naming the version
    /version   the version as plain text, for smoke checks
    /health    deep: renders / in-process; 503 until the start-up work is done
    /slow?ms=N answers after N milliseconds (at most 10 s), for drain tests
"""

from __future__ import annotations

import html
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class MissingSetting(RuntimeError):
    """A required environment variable is not set; the app will not start."""


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise MissingSetting(f"app: environment variable {name} is not set; refusing to start (set it and start again)")
    return value


SECRET = required("APP_SECRET")
VERSION = os.environ.get("APP_VERSION", "dev")
STARTUP_DELAY_S = float(os.environ.get("APP_STARTUP_DELAY", "0") or 0)
FAIL_SMOKE = os.environ.get("APP_FAIL_SMOKE", "") == "1"
FAIL_INDEX = os.environ.get("APP_FAIL_INDEX", "") == "1"
MAINTENANCE_FILE = os.environ.get("APP_MAINTENANCE_FILE", "")
LATENCY_S = float(os.environ.get("APP_LATENCY_MS", "0") or 0) / 1000
MAX_SLOW_MS = 10_000

_started = threading.Event()


def _start_up() -> None:
    # Stands in for real start-up work (warming caches, checking migrations).
    time.sleep(STARTUP_DELAY_S)
    _started.set()


if STARTUP_DELAY_S > 0:
    threading.Thread(target=_start_up, name="app-start-up", daemon=True).start()
else:
    _started.set()


def index_page() -> bytes:
    return (
        "<!doctype html><html><head><title>bluegreen example</title></head>"
        f"<body><h1>bluegreen example app</h1><p>version {html.escape(VERSION)}</p></body></html>\n"
    ).encode()


def health() -> tuple[str, bytes]:
    if not _started.is_set():
        return "503 Service Unavailable", b"starting\n"
    if MAINTENANCE_FILE and os.path.exists(MAINTENANCE_FILE):
        return "503 Service Unavailable", b"in maintenance\n"
    # Deep: render the real page in-process, so a broken template fails the check too.
    page = index_page()
    if VERSION.encode() not in page:
        return "503 Service Unavailable", b"index page does not render\n"
    return "200 OK", f"ok {VERSION}\n".encode()


def slow(query: str) -> tuple[str, bytes]:
    values = parse_qs(query).get("ms", ["0"])
    try:
        ms = min(max(int(values[0]), 0), MAX_SLOW_MS)
    except ValueError:
        return "400 Bad Request", b"ms must be a whole number\n"
    time.sleep(ms / 1000)
    return "200 OK", f"slept {ms} ms on {VERSION}\n".encode()


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "/")
    content_type = "text/plain; charset=utf-8"
    if LATENCY_S > 0 and path in ("/", "/version"):
        time.sleep(LATENCY_S)
    if path == "/" and FAIL_INDEX:
        status, body = "500 Internal Server Error", b"failing on purpose (APP_FAIL_INDEX)\n"
    elif path == "/":
        status, body, content_type = "200 OK", index_page(), "text/html; charset=utf-8"
    elif path == "/version":
        status, body = "200 OK", (b"no idea\n" if FAIL_SMOKE else f"version {VERSION}\n".encode())
    elif path == "/health":
        status, body = health()
    elif path == "/slow":
        status, body = slow(environ.get("QUERY_STRING", ""))
    else:
        status, body = "404 Not Found", b"not found\n"
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
