"""The data plane's process, as `sandbox up` will run it: a real subprocess against a real moto server.

Run with --instances-only: the instance half on its own (the load balancers
have their own tests).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bluegreen.sandbox.dataplane import imagestore
from bluegreen.sandbox.dataplane.daemon import read_status, status_path
from tests.sandbox.instances_world import EXAMPLE_APP, SECRET_REF, World, cloud_config, get, group_members

_hashes = itertools.count(1000)


@pytest.fixture
def daemon(world: World, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    argv = [sys.executable, "-m", "bluegreen.sandbox.dataplane", "--state-dir", str(tmp_path)]
    argv += ["--moto", world.target.endpoint_url, "--instances-only", "--exit-after-api-lost-s", "5"]
    with open(tmp_path / "daemon.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    yield proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def baked_group(world: World, state_dir: Path, version: str, desired: int) -> list[str]:
    source_hash = f"{next(_hashes):064x}"
    imagestore.record(imagestore.store_dir(state_dir), source_hash, EXAMPLE_APP, version)
    return world.instances_of(world.group(world.image(source_hash), cloud_config({}, SECRET_REF), desired=desired))


def status_until(state_dir: Path, done: Callable[[dict[str, Any]], bool], timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = read_status(state_dir)
        if status is not None and done(status):
            return status
        time.sleep(0.1)
    raise AssertionError(f"status not reached within {timeout_s:g}s: {read_status(state_dir)}")


def all_listening(ids: list[str]) -> Callable[[dict[str, Any]], bool]:
    return lambda s: all(s["instances"].get(i, {}).get("state") == "listening" for i in ids)


def test_the_daemon_runs_the_instances_reports_them_and_stops_them_on_sigterm(
    world: World, daemon: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    ids = baked_group(world, tmp_path, "v21", desired=2)

    status = status_until(tmp_path, all_listening(ids))

    assert status["running"] and status["pid"] == daemon.pid and status["error"] == ""
    assert status["load_balancers"] == {} and status["front_endpoint"] == ""
    for i in ids:
        assert get(("127.0.0.1", status["instances"][i]["port"]), "/version") == (200, "version v21\n")
    pids = [status["instances"][i]["pid"] for i in ids]

    daemon.send_signal(signal.SIGTERM)

    assert daemon.wait(timeout=20) == 0
    assert [p for p in pids if group_members(p)] == []
    final = read_status(tmp_path)
    assert final is not None and final["running"] is False and final["instances"] == {}
    assert not list(status_path(tmp_path).parent.glob(".*.tmp"))


def test_no_app_process_outlives_a_killed_daemon(world: World, daemon: subprocess.Popen[bytes], tmp_path: Path) -> None:
    ids = baked_group(world, tmp_path, "v22", desired=1)
    status = status_until(tmp_path, all_listening(ids))
    pids = [status["instances"][i]["pid"] for i in ids]

    os.killpg(daemon.pid, signal.SIGKILL)
    daemon.wait(timeout=10)

    deadline = time.monotonic() + 10  # the master dies at once (PDEATHSIG), its workers when they notice
    while time.monotonic() < deadline and any(group_members(p) for p in pids):
        time.sleep(0.1)
    assert [p for p in pids if group_members(p)] == []


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "bluegreen.sandbox.dataplane", "--state-dir", str(tmp_path)]

    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)

    assert done.returncode == 2
    assert "--moto" in done.stderr
    assert read_status(tmp_path) is None
