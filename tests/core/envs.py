"""Environments for the core tests, built through the real config loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bluegreen import config
from bluegreen.config import Environment


def environment(tmp: Path, **settings: Any) -> Environment:
    body: dict[str, Any] = {"platform": "simulated", "health_check": {"interval": "10s", "timeout": "2s"}}
    body.update(settings)
    path = tmp / "bluegreen.yaml"
    path.write_text(yaml.safe_dump({"environments": {"web": body}}))
    return config.load(path).environment("web")


CANARY = {
    "strategy": "canary",
    "steps": [{"weight": 10, "wait": "60s"}, {"weight": 50, "wait": "60s"}],
    "check_every": "10s",
}
LINEAR = {"strategy": "linear", "step": 25, "every": "30s", "check_every": "10s"}
