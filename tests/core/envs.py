"""Environments for the core tests, built through the real config parser (no file on disk)."""

from __future__ import annotations

from typing import Any

from bluegreen import config
from bluegreen.config import Config, Environment


def settings(**env_settings: Any) -> Config:
    """A config with one environment, `web`, on the simulated platform."""
    body: dict[str, Any] = {"platform": "simulated", "health_check": {"interval": "10s", "timeout": "2s"}}
    body.update(env_settings)
    return config.parse({"environments": {"web": body}})


def environment(**env_settings: Any) -> Environment:
    return settings(**env_settings).environment("web")


CANARY = {
    "strategy": "canary",
    "steps": [{"weight": 10, "wait": "60s"}, {"weight": 50, "wait": "60s"}],
    "check_every": "10s",
}
LINEAR = {"strategy": "linear", "step": 25, "every": "30s", "check_every": "10s"}
