"""The example app, called in-process through WSGI (each test loads a fresh copy with its own environment)."""

from __future__ import annotations

import importlib.util
import itertools
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

APP = Path(__file__).resolve().parents[2] / "examples" / "app" / "app.py"
_fresh = itertools.count()


def load_app(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    for name in (
        "APP_SECRET",
        "APP_VERSION",
        "APP_STARTUP_DELAY",
        "APP_FAIL_SMOKE",
        "APP_MAINTENANCE_FILE",
        "APP_LATENCY_MS",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location(f"example_app_{next(_fresh)}", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def get(app: ModuleType, path: str, query: str = "") -> tuple[str, str]:
    seen: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen.append(status)

    body = b"".join(app.application({"PATH_INFO": path, "QUERY_STRING": query}, start_response))
    return seen[0], body.decode()


def test_refuses_to_start_without_its_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RuntimeError, match="APP_SECRET is not set; refusing to start"):
        load_app(monkeypatch, APP_VERSION="v1")


def test_pages_show_the_version(monkeypatch: pytest.MonkeyPatch) -> None:
    app = load_app(monkeypatch, APP_SECRET="s", APP_VERSION="v42")
    status, page = get(app, "/")
    assert status == "200 OK" and "version v42" in page
    assert get(app, "/version") == ("200 OK", "version v42\n")
    assert get(app, "/health") == ("200 OK", "ok v42\n")
    assert get(app, "/nope")[0] == "404 Not Found"


def test_health_answers_503_until_start_up_work_is_done(monkeypatch: pytest.MonkeyPatch) -> None:
    app = load_app(monkeypatch, APP_SECRET="s", APP_STARTUP_DELAY="0.3")
    assert get(app, "/health") == ("503 Service Unavailable", "starting\n")
    deadline = time.monotonic() + 5
    while get(app, "/health")[0] != "200 OK":
        assert time.monotonic() < deadline, "start-up never finished"
        time.sleep(0.05)


def test_a_release_built_to_fail_its_smoke_check(monkeypatch: pytest.MonkeyPatch) -> None:
    app = load_app(monkeypatch, APP_SECRET="s", APP_VERSION="v9", APP_FAIL_SMOKE="1")
    status, body = get(app, "/version")
    assert status == "200 OK" and "version" not in body
    assert get(app, "/health")[0] == "200 OK"  # healthy: only the smoke check catches it


def test_maintenance_file_takes_health_down(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    flag = tmp_path / "down"
    app = load_app(monkeypatch, APP_SECRET="s", APP_MAINTENANCE_FILE=str(flag))
    assert get(app, "/health")[0] == "200 OK"
    flag.touch()
    assert get(app, "/health") == ("503 Service Unavailable", "in maintenance\n")


def test_slow_page_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    app = load_app(monkeypatch, APP_SECRET="s", APP_VERSION="v1")
    assert get(app, "/slow", "ms=20") == ("200 OK", "slept 20 ms on v1\n")
    assert get(app, "/slow", "ms=abc")[0] == "400 Bad Request"


def test_latency_slows_the_pages_but_not_health(monkeypatch: pytest.MonkeyPatch) -> None:
    app = load_app(monkeypatch, APP_SECRET="s", APP_VERSION="v1", APP_LATENCY_MS="150")
    for path in ("/", "/version"):
        started = time.monotonic()
        assert get(app, path)[0] == "200 OK"
        assert time.monotonic() - started >= 0.15
    started = time.monotonic()
    assert get(app, "/health")[0] == "200 OK"
    assert time.monotonic() - started < 0.15
