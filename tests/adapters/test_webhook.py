"""Notifications go to a real HTTP server on loopback; failures never stop a deployment."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from bluegreen.adapters.simulated import World, world_platform
from bluegreen.adapters.sqlite_store import SqliteStore
from bluegreen.adapters.webhook import WebhookNotifier
from bluegreen.engine import Engine
from tests.core.envs import settings
from tests.core.sim import ACTOR, FakeClock


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    finally:
        server.shutdown()
        server.server_close()


def engine(tmp_path: Path, notifier: WebhookNotifier, world: World) -> Engine:
    cfg = settings()
    env = cfg.environment("web")
    return Engine(
        config=cfg,
        store=SqliteStore(tmp_path / "state.db"),
        platform_for=lambda e: world_platform(world) if e.name == env.name else world_platform(World()),
        clock=FakeClock(),
        actor=ACTOR,
        notifier=notifier,
        poll_s=1,
    )


def test_start_steps_and_done_are_posted_with_id_and_release(
    tmp_path: Path, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, got = receiver
    eng = engine(tmp_path, WebhookNotifier(url), World())
    rec = eng.deploy("web", "v1")
    events = [g["event"] for g in got]
    assert events[0] == "deployment_started" and events[-1] == "succeeded"
    assert "step_finished" in events
    assert all(g["deployment_id"] == rec.id and g["release"]["version"] == "v1" for g in got)


def test_rollback_is_posted(tmp_path: Path, receiver: tuple[str, list[dict[str, Any]]]) -> None:
    url, got = receiver
    world = World()
    world.faults.smoke_fail_versions = ["v1"]
    engine(tmp_path, WebhookNotifier(url), world).deploy("web", "v1")
    events = [g["event"] for g in got]
    assert "rollback_started" in events and events[-1] == "rolled_back"


def test_an_unreachable_webhook_never_fails_the_deployment(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/"
    rec = engine(tmp_path, WebhookNotifier(dead, timeout_s=0.5), World()).deploy("web", "v1")
    assert rec.status.value == "succeeded"


def test_each_analysis_verdict_is_posted_with_its_numbers(
    tmp_path: Path, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    from tests.core.envs import CANARY
    from tests.core.sim import release_data

    url, got = receiver
    cfg = settings(traffic=CANARY, analysis={})
    world = World()
    world.faults.analysis_samples = {"v1": release_data(1), "v2": release_data(2, slower=1.3)}
    eng = Engine(
        config=cfg,
        store=SqliteStore(tmp_path / "state.db"),
        platform_for=lambda e: world_platform(world),
        clock=FakeClock(),
        actor=ACTOR,
        notifier=WebhookNotifier(url),
        poll_s=1,
    )
    eng.deploy("web", "v1")
    rec = eng.deploy("web", "v2")
    assert rec.status.value == "rolled_back"
    (posted,) = [g for g in got if g["event"] == "analysis"]
    assert posted["analysis"]["verdict"] == "fail" and posted["deployment_id"] == rec.id
    rt = {m["name"]: m for m in posted["analysis"]["metrics"]}["response_time"]
    assert rt["classification"] == "fail" and rt["new"] > rt["old"] and rt["p_value"] < 0.02
