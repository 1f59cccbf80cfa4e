"""Drive the pure state machine against the in-memory world with a fake clock.

No store, no runner, no sleeping: thousands of deployments a second, so the
property tests can try many orders of faults, aborts and kills.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bluegreen import planner
from bluegreen.adapters.simulated import World, world_platform
from bluegreen.commands import AwaitPromotion, Command, Destroy, Observation, SetWeights, Sleep
from bluegreen.config import Environment
from bluegreen.machine import decide
from bluegreen.model import Actor, Colour, Record, Release
from bluegreen.ports import DrainState, Headroom, HealthSnapshot, Platform
from bluegreen.runner import execute

ACTOR = Actor(user="tester", host="test")


@dataclass
class FakeClock:
    t: float = 1_000_000.0
    slept: float = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        self.slept += seconds


def new_record(
    env: Environment,
    version: str,
    *,
    live: Colour | None = Colour.BLUE,
    now: float = 1_000_000.0,
    strategy: str | None = None,
    ami: str | None = None,
    force_bake: bool = False,
) -> Record:
    """The record `deploy` starts with, built by the same function."""
    return planner.new_record(
        env,
        version,
        live_colour=live,
        live_release=Release("v1") if live else None,
        actor=ACTOR,
        now=now,
        token="test",
        ami=ami,
        strategy=strategy,
        force_bake=force_bake,
    )


def live_world(colour: Colour = Colour.BLUE, version: str = "v1") -> World:
    world = World()
    world.colours[colour.value] = {"version": version, "image": "ami-old", "polls": 99}
    world.weights = {colour.value: 100, colour.other.value: 0}
    return world


@dataclass
class SlowDrain:
    """The world's health port, but the old colour's connections take a while to drain.

    After the load balancer stops sending it requests, its next `answers` drain checks
    still say it serves (requests in flight). `last` is the last answer given.
    """

    world: World
    answers: int = 0
    last: DrainState | None = None

    def check(self, colour: Colour) -> HealthSnapshot:
        return self.world.check(colour)

    def headroom(self, colour: Colour) -> Headroom:
        return self.world.headroom(colour)

    def drain_state(self, colour: Colour, *, deregister: bool = False) -> DrainState:
        state = self.world.drain_state(colour, deregister=deregister)
        if not state.serving and self.answers > 0:
            self.answers -= 1
            state = DrainState(True, "requests in flight")
        self.last = state
        return state


def slow_drain_platform(drain: SlowDrain) -> Platform:
    return dataclasses.replace(world_platform(drain.world), health=drain)


@dataclass
class Trace:
    """What happened, for checking invariants."""

    commands: list[tuple[float, Command, Record]] = field(default_factory=list)
    full_at: float | None = None  # when 100% on the new colour was read back


Hook = Callable[[int, Record, Command], Record]


def drive(
    rec: Record,
    world: World,
    clock: FakeClock,
    *,
    hook: Hook | None = None,
    trace: Trace | None = None,
    max_commands: int = 5000,
    platform: Platform | None = None,
) -> Record:
    """Run until the deployment stops (or pauses at the gate).

    `hook(i, record, command)` runs before the i-th command and may return a
    changed record (an operator request); it may also raise Killed to stop
    the run as if the process died (the record it was given is what was
    stored: the command is marked in flight).
    """
    obs: Observation | None = None
    platform = platform or world_platform(world)
    for i in range(max_commands):
        d = decide(rec, obs, clock.now())
        rec, obs = d.record, None
        cmd = d.command
        if cmd is None or isinstance(cmd, AwaitPromotion):
            return rec
        if isinstance(cmd, Sleep):
            assert cmd.until > clock.now(), f"a sleep into the past would spin: {cmd} at {clock.now()}"
            clock.t = cmd.until
            continue
        if hook is not None:
            changed = hook(i, rec, cmd)
            if changed is not rec:
                rec = changed
                obs = None
                continue
        if trace is not None:
            trace.commands.append((clock.now(), cmd, rec))
        assert rec.inflight is not None
        obs = execute(platform, cmd, rec.inflight.seq)
        if trace is not None and isinstance(cmd, SetWeights) and world.weights.get(rec.to_colour.value) == 100:
            trace.full_at = trace.full_at or clock.now()
        clock.t += 0.5  # every call to the platform takes a little time
    raise AssertionError(f"no end after {max_commands} commands: {rec.phase} {rec.status} {rec.note}")


class Killed(Exception):
    """The process died: `record` is what the store held (the command marked in flight)."""

    def __init__(self, record: Record) -> None:
        super().__init__("killed")
        self.record = record


def destroys(trace: Trace) -> list[Colour]:
    return [cmd.colour for _, cmd, _ in trace.commands if isinstance(cmd, Destroy)]


def release_data(seed: int, *, slower: float = 1.0, errors: int = 0, requests: int = 5000) -> dict[str, Any]:
    """A release's canary analysis samples for the simulated world: an hour of skewed response times."""
    rng = np.random.default_rng(seed)

    def lat(scale: float) -> list[float]:
        return [float(v) for v in scale * slower * np.exp(rng.normal(0, 0.25, 60))]

    return {
        "5xx_ratio": {"errors": errors, "requests": requests},
        "response_time": {"values": lat(0.2)},
        "response_time_p99": {"values": lat(0.6)},
    }
