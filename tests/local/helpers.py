"""Helpers for the single-host platform tests: real nginx, real gunicorn, real HTTP on loopback.

`LocalEnv` writes a bluegreen.yaml for a `platform: local` environment in a
temporary directory (its own nginx port, its own state directory); `stop()`
ends every process it started. `PortDriver` runs a deploy through the port
methods in the engine's order, so these tests do not depend on the engine.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bluegreen import config as config_mod
from bluegreen.adapters.local import platform as local
from bluegreen.adapters.local import processes
from bluegreen.config import Config, Environment
from bluegreen.model import Colour, Release, Weights
from bluegreen.ports import HealthState, Platform
from bluegreen.sandbox.server import free_port

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "examples" / "app"
ENV_NAME = "local-test"


def local_yaml(state: Path, port: int, hold: str = "0s", **local_overrides: Any) -> dict[str, Any]:
    local_settings: dict[str, Any] = {
        "app": str(APP),
        "wsgi": "app:application",
        "listen_port": port,
        "workers": 2,
        "start_timeout": "10s",
        "drain_timeout": "5s",
        "stop_timeout": "8s",
        "env": {"APP_SECRET": "s3cret", "APP_STARTUP_DELAY": "0.2"},
    }
    local_settings.update(local_overrides)
    return {
        "state": {"path": str(state)},
        "environments": {
            ENV_NAME: {
                "platform": "local",
                "local": local_settings,
                "health_check": {"path": "/health", "interval": "1s", "timeout": "900ms", "healthy_threshold": 2},
                "smoke": [{"path": "/version", "contains": "version "}, {"path": "/", "contains": "example app"}],
                "traffic": {
                    "strategy": "canary",
                    "steps": [{"weight": 10, "wait": hold}, {"weight": 50, "wait": hold}],
                },
            }
        },
    }


class LocalEnv:
    """One `platform: local` environment in a directory of its own."""

    def __init__(self, root: Path, *, hold: str = "0s", **local_overrides: Any) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.port = free_port()
        self.config_path = root / "bluegreen.yaml"
        self._overrides = local_overrides
        self.hold(hold)
        self.config: Config = config_mod.load(self.config_path)
        self.env: Environment = self.config.environment(ENV_NAME)
        self.platform: Platform = local.build_local_platform(self.config, self.env)
        self.site = local.LocalSite(self.config, self.env)

    def hold(self, hold: str) -> None:
        """Each canary step holds this long in the commands run from now on (the config file is written again)."""
        self.config_path.write_text(
            yaml.safe_dump(local_yaml(self.root / ".bluegreen", self.port, hold, **self._overrides))
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def worker_pids(self, colour: Colour) -> set[int]:
        """The gunicorn workers serving `colour` now."""
        proc = self.site.running(colour)
        assert proc is not None, f"{colour} is not running"
        return {w.pid for w in processes.workers(proc)}

    def variant(self, **app_env: str) -> Platform:
        """The same environment with other app settings: how a misconfigured release is made."""
        settings = dataclasses.replace(self.env.local, env={**self.env.local.env, **app_env})
        return local.build_local_platform(self.config, dataclasses.replace(self.env, local=settings))

    def stop(self) -> None:
        local.stop_all(self.config, self.env)


class DeployFailed(Exception):
    def __init__(self, message: str, details: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.details = details


@dataclass(frozen=True)
class Outcome:
    colour: Colour
    version: str
    details: Mapping[str, Any]


class PortDriver:
    """The engine's sequence, port by port: bake, provision, healthy streak, smoke, headroom, shift+read-back, drain, retire."""

    def __init__(self, platform: Platform, env: Environment) -> None:
        self.platform = platform
        self.env = env

    def live(self) -> Colour | None:
        weights = self.platform.traffic.read_weights()
        return next((c for c, w in weights.items() if w == 100), None)

    def shift(self, split: dict[Colour, int]) -> None:
        weights = Weights(**{c.value: w for c, w in split.items()})
        self.platform.traffic.set_weights(weights)
        read = self.platform.traffic.read_weights()
        assert read == weights, f"read back {read}, expected {weights}"

    def start(self, version: str, platform: Platform | None = None) -> Outcome:
        """Bake, provision the idle colour, wait for a healthy streak and smoke it; roll back and raise on failure."""
        p = platform or self.platform
        live = self.live()
        new = live.other if live else Colour.BLUE
        baked = p.baker.bake(self.env.name, version)
        details = p.provisioner.provision(new, Release(version, baked.ami, baked.source_hash)).details
        streak, deadline = 0, time.monotonic() + 20
        while streak < self.env.health_check.healthy_threshold:
            snap = p.health.check(new)
            if snap.state is HealthState.FAILED or time.monotonic() > deadline:
                p.provisioner.destroy(new)
                raise DeployFailed(f"{new} did not turn healthy: {snap.describe()}", details)
            streak = streak + 1 if snap.state is HealthState.HEALTHY else 0
            time.sleep(0.1)
        smoke = p.verifier.smoke(new)
        if not smoke.ok:
            p.provisioner.destroy(new)
            raise DeployFailed(smoke.detail, details)
        if live is not None:
            headroom = p.health.headroom(live)
            assert headroom.ok, headroom.reason
        return Outcome(new, version, details)

    def finish(self, outcome: Outcome, steps: tuple[int, ...] = (10, 50, 100), hold_s: float = 0.1) -> None:
        old = outcome.colour.other
        for weight in steps:
            self.shift({outcome.colour: weight, old: 100 - weight})
            assert self.platform.alarms.evaluate(outcome.colour).firing == ()
            time.sleep(hold_s)
        self.retire(old)

    def retire(self, old: Colour) -> None:
        deadline = time.monotonic() + 10
        while (drain := self.platform.health.drain_state(old)).serving:
            assert time.monotonic() < deadline, f"{old} still serves: {drain.reason}"
            time.sleep(0.05)
        self.platform.provisioner.destroy(old)

    def abort(self, outcome: Outcome) -> None:
        """Traffic back to the old colour first (read back), then the new one goes."""
        self.shift({outcome.colour.other: 100, outcome.colour: 0})
        self.platform.provisioner.destroy(outcome.colour)

    def deploy(self, version: str, platform: Platform | None = None) -> Outcome:
        outcome = self.start(version, platform)
        if self.live() is None:
            self.shift({outcome.colour: 100, outcome.colour.other: 0})
        else:
            self.finish(outcome)
        return outcome
