"""`platform: simulated`: a platform that lives in a JSON file.

It exists to exercise the engine and the CLI without AWS or nginx: the
tests for the state machine drive the in-memory `World` directly, and the
CLI's end-to-end tests use the file-backed form so separate processes
(deploy, promote, abort, resume) share one world. Faults are knobs in the
same file (`faults`), written by the tests.

It is not a stand-in for the real adapters, which have their own tests
against moto, terraform, packer and nginx.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bluegreen.errors import AdapterError
from bluegreen.model import Colour, Release, Weights
from bluegreen.ports import (
    Alarm,
    AlarmCheck,
    BakeResult,
    DrainState,
    Headroom,
    HealthSnapshot,
    HealthState,
    Platform,
    ProvisionResult,
    Samples,
    SmokeResult,
    TargetHealth,
)
from bluegreen.settings import AnalysisMetric

T = TypeVar("T")


@dataclass
class Faults:
    healthy_after_polls: int = 1  # polls a new colour answers PENDING first
    unhealthy_versions: list[str] = field(default_factory=list)  # never turn healthy (PENDING forever)
    failed_versions: list[str] = field(default_factory=list)  # report FAILED
    smoke_fail_versions: list[str] = field(default_factory=list)
    firing_alarms: list[str] = field(default_factory=list)  # alarms in ALARM right now
    alarm_notes: list[str] = field(default_factory=list)  # what the alarms cannot judge (no published data)
    stale_readbacks: int = 0  # the next N read-backs return the weights from before the change
    lost_changes: int = 0  # the next N weight changes are accepted but never applied
    fail_calls: dict[str, int] = field(default_factory=dict)  # method name -> failures to raise
    old_colour_headroom: bool = True
    forwarding_rule: str = ""  # a listener rule outside bluegreen that still forwards to the old colour
    # version -> metric -> {values: [...], errors: n, requests: n}: what the canary analysis reads
    analysis_samples: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)


@dataclass
class World:
    """Everything the simulated platform knows, plus a log of what was done to it."""

    images: dict[str, str] = field(default_factory=dict)  # source hash -> image id
    colours: dict[str, dict[str, Any]] = field(default_factory=dict)  # colour -> version, image, polls
    weights: dict[str, int] = field(default_factory=lambda: {"blue": 100, "green": 0})
    previous_weights: dict[str, int] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    log: list[list[Any]] = field(default_factory=list)

    # -- the ports -------------------------------------------------------------
    def _maybe_fail(self, name: str) -> None:
        left = self.faults.fail_calls.get(name, 0)
        if left > 0:
            self.faults.fail_calls[name] = left - 1
            raise AdapterError(f"simulated failure of {name}", where="simulated platform")

    def bake(self, environment: str, version: str, *, force: bool = False) -> BakeResult:
        self._maybe_fail("bake")
        source_hash = hashlib.sha256(f"{environment}:{version}".encode()).hexdigest()
        reused = source_hash in self.images and not force
        if not reused:
            self.images[source_hash] = f"ami-sim{source_hash[:12]}{len(self.images)}"
        self.log.append(["bake", version, reused])
        return BakeResult(ami=self.images[source_hash], source_hash=source_hash, reused=reused)

    def check_image(self, image: str) -> None:
        pass  # the simulated world runs any image it is given

    def provision(self, colour: Colour, release: Release) -> ProvisionResult:
        self._maybe_fail("provision")
        self.colours[colour.value] = {"version": release.version, "image": release.ami, "polls": 0}
        self.log.append(["provision", colour.value, release.version])
        return ProvisionResult(details={"group": f"sim-{colour.value}", "version": release.version})

    def destroy(self, colour: Colour) -> None:
        self._maybe_fail("destroy")
        others = [c for c in self.colours if c != colour.value]
        if self.weights.get(colour.value, 0) > 0 and others:
            # Users would be cut off while another colour could serve them:
            # the engine must never ask for this.
            raise AdapterError(f"refusing to destroy {colour}: it still has {self.weights[colour.value]}% of traffic")
        self.colours.pop(colour.value, None)
        self.log.append(["destroy", colour.value])

    def check(self, colour: Colour) -> HealthSnapshot:
        self._maybe_fail("check")
        slot = self.colours.get(colour.value)
        if slot is None:
            return HealthSnapshot(HealthState.FAILED, 0, 1, reason=f"{colour} has no capacity")
        slot["polls"] += 1
        version = slot["version"]
        if version in self.faults.failed_versions:
            target = TargetHealth("i-sim", "unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with 500")
            return HealthSnapshot(HealthState.FAILED, 1, 1, (target,), reason="target unhealthy")
        if version in self.faults.unhealthy_versions or slot["polls"] <= self.faults.healthy_after_polls - 1:
            target = TargetHealth("i-sim", "initial", "Elb.InitialHealthChecking")
            return HealthSnapshot(HealthState.PENDING, 1, 1, (target,))
        return HealthSnapshot(HealthState.HEALTHY, 1, 1, (TargetHealth("i-sim", "healthy"),))

    def headroom(self, colour: Colour) -> Headroom:
        self._maybe_fail("headroom")
        if colour.value not in self.colours:
            return Headroom(False, f"{colour} has no capacity")
        if not self.faults.old_colour_headroom:
            return Headroom(False, f"{colour} has 0/1 instances in service")
        return Headroom(True)

    def drain_state(self, colour: Colour, *, deregister: bool = False) -> DrainState:
        self._maybe_fail("drain_state")
        if self.faults.forwarding_rule and not deregister:
            return DrainState(True, f"rule {self.faults.forwarding_rule} forwards to {colour}", blocked=True)
        serving = self.weights.get(colour.value, 0) > 0
        return DrainState(serving, f"{self.weights.get(colour.value, 0)}% of traffic" if serving else "")

    def set_weights(self, weights: Weights) -> None:
        self._maybe_fail("set_weights")
        new = weights.to_json()
        for colour, w in new.items():
            if w > 0 and colour not in self.colours:
                raise AdapterError(f"cannot send traffic to {colour}: it has no capacity")
        if self.faults.lost_changes > 0:
            self.faults.lost_changes -= 1
            return
        self.previous_weights = dict(self.weights)
        self.weights = {**self.weights, **new}
        self.log.append(["weights", dict(self.weights)])

    def read_weights(self) -> Weights:
        self._maybe_fail("read_weights")
        if self.faults.stale_readbacks > 0 and self.previous_weights:
            self.faults.stale_readbacks -= 1
            return Weights.from_json(self.previous_weights) or Weights()
        return Weights.from_json(self.weights) or Weights()

    def smoke(self, colour: Colour, release: str = "") -> SmokeResult:
        self._maybe_fail("smoke")
        slot = self.colours.get(colour.value)
        if slot is None:
            return SmokeResult(False, f"{colour} has no capacity")
        self.log.append(["smoke", colour.value])
        if slot["version"] in self.faults.smoke_fail_versions:
            return SmokeResult(False, f"GET /version on {colour}: expected text {slot['version']!r} not found")
        return SmokeResult(True, "1 check passed")

    def firing(self, colour: Colour) -> Sequence[Alarm]:
        self._maybe_fail("firing")
        return [Alarm(name, "Threshold Crossed: 1 datapoint [5.0] > 1.0") for name in self.faults.firing_alarms]

    def evaluate(self, colour: Colour, since: float | None = None) -> AlarmCheck:
        return AlarmCheck(tuple(self.firing(colour)), tuple(self.faults.alarm_notes))

    def samples(
        self, colour: Colour, metrics: Sequence[AnalysisMetric], start: float, end: float, interval_s: float
    ) -> Mapping[str, Samples]:
        """The samples configured for the version the colour runs (the window does not matter here)."""
        self._maybe_fail("samples")
        version = self.colours.get(colour.value, {}).get("version", "")
        data = self.faults.analysis_samples.get(version, {})
        return {
            m.name: Samples(
                values=tuple(float(v) for v in data[m.name].get("values", ())),
                errors=int(data[m.name].get("errors", 0)),
                requests=int(data[m.name].get("requests", 0)),
            )
            for m in metrics
            if m.name in data
        }

    # -- persistence ---------------------------------------------------------------
    def to_json(self) -> str:
        d = {
            "images": self.images,
            "colours": self.colours,
            "weights": self.weights,
            "previous_weights": self.previous_weights,
            "faults": self.faults.__dict__,
            "log": self.log,
        }
        return json.dumps(d, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> World:
        d = json.loads(text)
        return cls(
            images=d["images"],
            colours=d["colours"],
            weights=d["weights"],
            previous_weights=d.get("previous_weights", {}),
            faults=Faults(**d.get("faults", {})),
            log=d.get("log", []),
        )


def world_platform(world: World) -> Platform:
    """The in-memory world as a Platform (it implements every port itself)."""
    return Platform("simulated", world, world, world, world, world, world, world)


class FileWorld:
    """The World kept in a JSON file, locked around each call (processes share it)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def open(self) -> Iterator[World]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            world = World.from_json(self.path.read_text()) if self.path.exists() else World()
            yield world
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(world.to_json())
            tmp.replace(self.path)

    def _call(self, fn: Callable[[World], T]) -> T:
        with self.open() as world:
            return fn(world)

    def bake(self, environment: str, version: str, *, force: bool = False) -> BakeResult:
        return self._call(lambda w: w.bake(environment, version, force=force))

    def check_image(self, image: str) -> None:
        pass  # the simulated world runs any image it is given

    def provision(self, colour: Colour, release: Release) -> ProvisionResult:
        return self._call(lambda w: w.provision(colour, release))

    def destroy(self, colour: Colour) -> None:
        self._call(lambda w: w.destroy(colour))

    def check(self, colour: Colour) -> HealthSnapshot:
        return self._call(lambda w: w.check(colour))

    def headroom(self, colour: Colour) -> Headroom:
        return self._call(lambda w: w.headroom(colour))

    def drain_state(self, colour: Colour, *, deregister: bool = False) -> DrainState:
        return self._call(lambda w: w.drain_state(colour, deregister=deregister))

    def set_weights(self, weights: Weights) -> None:
        self._call(lambda w: w.set_weights(weights))

    def read_weights(self) -> Weights:
        return self._call(lambda w: w.read_weights())

    def smoke(self, colour: Colour, release: str = "") -> SmokeResult:
        return self._call(lambda w: w.smoke(colour, release))

    def evaluate(self, colour: Colour, since: float | None = None) -> AlarmCheck:
        return self._call(lambda w: w.evaluate(colour, since))

    def samples(
        self, colour: Colour, metrics: Sequence[AnalysisMetric], start: float, end: float, interval_s: float
    ) -> Mapping[str, Samples]:
        return self._call(lambda w: w.samples(colour, metrics, start, end, interval_s))


def file_platform(path: Path) -> Platform:
    fw = FileWorld(path)
    return Platform("simulated", fw, fw, fw, fw, fw, fw, fw)
