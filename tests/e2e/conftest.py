"""One sandbox for every end-to-end test: `bluegreen sandbox up` once, `sandbox down` at the end whatever happened.

The ALB environment takes about a minute to build, so the tests share it and
run in the order they are written, each starting from whatever colour is live.
A test that fails mid-deployment leaves nothing behind for the next one: its
background processes are killed (with their children) and a deployment still
holding the environment is aborted.

Most of that minute is the AWS provider waiting, not working: it pauses 30 s
before its first look at a new ALB, twice, whatever the endpoint answers. So
`sandbox up` starts in the background as soon as collection shows end-to-end
tests will run, and those pauses pass while the folders before this one run.
The sandbox has its own moto server and state directory: nothing the other
tests do reaches it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.world import BLUEGREEN, Processes, Sandbox, command_env, gone, run, settle, wait_for

UP_TIMEOUT_S = 420


@dataclass
class _Up:
    """`bluegreen sandbox up` under way in the background, for the `sandbox` fixture to wait for."""

    world: Sandbox
    proc: subprocess.Popen[bytes]
    output: Path
    started: float
    down: bool = False  # `sandbox down` ran: nothing is left to clean

    def wait(self) -> tuple[int, str]:
        remaining = UP_TIMEOUT_S - (time.monotonic() - self.started)
        try:
            code = self.proc.wait(timeout=max(remaining, 1.0))
        except subprocess.TimeoutExpired:
            self.kill()
            code = -1
        return code, self.output.read_text(errors="replace")

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


_UP = pytest.StashKey[_Up]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start `sandbox up` now if a collected test needs the sandbox (see the top of this file)."""
    config = session.config
    here = Path(__file__).parent
    needed = any(here in i.path.parents and "sandbox" in getattr(i, "fixturenames", ()) for i in session.items)
    if config.option.collectonly or not needed:
        return
    factory = getattr(config, "_tmp_path_factory", None)  # pytest's tmp_path_factory, before any fixture runs
    if not isinstance(factory, pytest.TempPathFactory):
        return  # the fixture builds the sandbox when first asked
    base = factory.mktemp("e2e")
    world = Sandbox(base=base, state_dir=base / "state")
    output = base / "sandbox-up.log"
    with open(output, "wb") as out:
        proc = subprocess.Popen(
            [*BLUEGREEN, "--config", str(world.config), "sandbox", "up"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=command_env(),
            start_new_session=True,  # its own process group: an interrupted start is killed with terraform
        )
    config.stash[_UP] = _Up(world, proc, output, time.monotonic())


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A sandbox started early but never used (the run stopped before e2e) is taken down all the same."""
    up = session.config.stash.get(_UP, None)
    if up is not None and not up.down:
        up.kill()
        _down(up.world)
        up.down = True


@pytest.fixture(scope="session")
def sandbox(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    early = request.config.stash.get(_UP, None)
    if early is not None:
        world = early.world
    else:
        base = tmp_path_factory.mktemp("e2e")
        world = Sandbox(base=base, state_dir=base / "state")
    cfg = world.config
    try:
        if early is not None:
            code, output = early.wait()
        else:
            up = run(cfg, "sandbox", "up", timeout=UP_TIMEOUT_S)
            code, output = up.returncode, up.stdout + up.stderr
        assert code == 0, output
        info = json.loads(run(cfg, "sandbox", "status", "--json", timeout=60).stdout)
        assert info["running"] and info["environments"].get("demo"), info
        world.endpoint, world.pid = info["endpoint"], int(info["pid"])
        yield world
    finally:
        _down(world)
        if early is not None:
            early.down = True


def _down(world: Sandbox) -> None:
    recorded = _recorded_pid(world.state_dir)
    down = run(world.config, "sandbox", "down", timeout=60)
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
