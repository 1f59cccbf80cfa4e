"""Run the real `bluegreen` command in a subprocess, as operators and CI do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.status_view import status_now

BLUEGREEN = [sys.executable, "-m", "bluegreen"]


def write_config(tmp: Path, **env_settings: Any) -> Path:
    body: dict[str, Any] = {
        "platform": "simulated",
        "health_check": {"interval": "200ms", "timeout": "100ms", "healthy_threshold": 2, "deadline": "20s"},
        "traffic": {"check_every": "100ms"},
    }
    body.update(env_settings)
    path = tmp / "bluegreen.yaml"
    path.write_text(yaml.safe_dump({"state": {"path": ".bluegreen"}, "environments": {"web": body}}))
    return path


def run(cfg: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BLUEGREEN, "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "BLUEGREEN_ACTOR": "tester"},
    )


def start(cfg: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*BLUEGREEN, "--config", str(cfg), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "BLUEGREEN_ACTOR": "tester"},
    )


def status(cfg: Path) -> dict[str, Any]:
    res = run(cfg, "status", "web", "--json")
    assert res.returncode == 0, res.stderr
    return dict(json.loads(res.stdout))


# How often a wait looks at the record: each look takes the store's write lock three times (short
# transactions), and a deploy that finds it taken sleeps in SQLite's busy handler; 20 looks a second
# slowed a deploy under load past its test's deadline.
LOOK_EVERY_S = 0.25


def look(cfg: Path) -> dict[str, Any]:
    """`status web --json` read in this process, for the waits that look several times a second."""
    return status_now(cfg, "web")


def world(cfg: Path) -> dict[str, Any]:
    return dict(json.loads((cfg.parent / ".bluegreen" / "simulated" / "web.json").read_text()))


def set_faults(cfg: Path, **faults: Any) -> None:
    """Write fault knobs into the simulated platform's file (created on first use)."""
    path = cfg.parent / ".bluegreen" / "simulated" / "web.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    d = json.loads(path.read_text()) if path.exists() else {
        "images": {}, "colours": {}, "weights": {"blue": 100, "green": 0}, "faults": {}, "log": []
    }  # fmt: skip
    d["faults"].update(faults)
    path.write_text(json.dumps(d))


def wait_for(predicate: Callable[[], bool], timeout: float = 30, what: str = "condition", every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")
