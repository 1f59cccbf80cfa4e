"""One sandbox for every end-to-end test: `bluegreen sandbox up` once, `sandbox down` at the end whatever happened.

The ALB environment takes about a minute to build, so the tests share it and
run in the order they are written, each starting from whatever colour is live.
A test that fails mid-deployment leaves nothing behind for the next one: its
background processes are killed (with their children) and a deployment still
holding the environment is aborted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.world import Processes, Sandbox, gone, run, settle, wait_for


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    base = tmp_path_factory.mktemp("e2e")
    world = Sandbox(base=base, state_dir=base / "state")
    cfg = world.config
    try:
        up = run(cfg, "sandbox", "up", timeout=420)
        assert up.returncode == 0, up.stdout + up.stderr
        info = json.loads(run(cfg, "sandbox", "status", "--json", timeout=60).stdout)
        assert info["running"] and info["environments"].get("demo"), info
        world.endpoint, world.pid = info["endpoint"], int(info["pid"])
        yield world
    finally:
        recorded = _recorded_pid(world.state_dir)
        down = run(cfg, "sandbox", "down", timeout=60)
        assert down.returncode == 0, down.stdout + down.stderr
        if recorded is not None:
            wait_for(lambda: gone(recorded), timeout=15, what=f"the sandbox server (pid {recorded}) to exit")


def _recorded_pid(state_dir: Path) -> int | None:
    try:
        return int(json.loads((state_dir / "sandbox.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


@pytest.fixture(autouse=True)
def settled(sandbox: Sandbox) -> Iterator[None]:
    """After each test, no deployment holds the environment (the next test starts from a live colour)."""
    yield
    settle(sandbox)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Background `bluegreen` processes of one test, killed with their children when it ends."""
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()
