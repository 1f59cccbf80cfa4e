"""The deployment record and the values it is made of.

The record is the state: every command reads and writes it, nothing
important lives only in a process's memory. It is a versioned JSON document
(`schema_version`); the store adds a `revision` number that every write is
conditional on, so two writers can never both win.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bluegreen.settings import AnalysisSettings, analysis_from_json

SCHEMA_VERSION = 1


class Colour(StrEnum):
    BLUE = "blue"
    GREEN = "green"

    @property
    def other(self) -> Colour:
        return Colour.GREEN if self is Colour.BLUE else Colour.BLUE


class StepKind(StrEnum):
    BAKE = "bake"
    PROVISION = "provision"
    WAIT_HEALTHY = "wait_healthy"
    SMOKE = "smoke"
    HEADROOM = "headroom"
    SHIFT = "shift"
    GATE = "gate"
    OBSERVE = "observe"
    RETIRE = "retire"


class Phase(StrEnum):
    """Where a deployment is; forward phases are the step kinds."""

    BAKE = "bake"
    PROVISION = "provision"
    WAIT_HEALTHY = "wait_healthy"
    SMOKE = "smoke"
    HEADROOM = "headroom"
    SHIFT = "shift"
    GATE = "gate"
    OBSERVE = "observe"
    RETIRE = "retire"
    DONE = "done"
    ROLLBACK_TRAFFIC = "rollback_traffic"
    DECOMMISSION = "decommission"
    ROLLED_BACK = "rolled_back"


class Status(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # waiting at the promotion gate
    SUCCEEDED = "succeeded"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_INCOMPLETE = "rollback_incomplete"
    BLOCKED = "blocked"  # cannot go on by itself; `note` says what the operator runs
    ABANDONED = "abandoned"  # the lock was broken by an operator

    @property
    def terminal(self) -> bool:
        return self in (Status.SUCCEEDED, Status.ROLLED_BACK, Status.ABANDONED)


@dataclass(frozen=True)
class Release:
    version: str
    ami: str | None = None
    source_hash: str | None = None


@dataclass(frozen=True)
class Step:
    """One planned step. Only the fields its kind uses are set."""

    kind: StepKind
    weight: int | None = None  # SHIFT: percent of traffic on the new colour
    wait_s: float = 0.0  # SHIFT/OBSERVE: hold time; RETIRE: scale-down delay
    timeout_s: float = 0.0  # WAIT_HEALTHY: deadline
    poll_s: float = 0.0  # how often to look while waiting
    threshold: int = 0  # WAIT_HEALTHY: consecutive healthy polls needed
    retries: int = 0  # SHIFT: read-backs that may disagree before the deploy fails
    # SHIFT/OBSERVE: after the hold, wait for the metric period holding its end to close and then this
    # long for it to be published, then check once more.
    settle_s: float = 0.0
    metric_period_s: float = 0.0
    analyse: bool = False  # SHIFT/OBSERVE: judge the new colour against the old one when the hold ends

    def describe(self) -> str:
        if self.kind is StepKind.SHIFT:
            hold = f", hold {fmt_seconds(self.wait_s)}" if self.wait_s else ""
            hold += f" + {fmt_seconds(self.settle_s)} metric lag" if self.settle_s else ""
            judged = ", then canary analysis" if self.analyse else ""
            return f"shift {self.weight}% to the new colour{hold}{judged}"
        if self.kind is StepKind.WAIT_HEALTHY:
            return (
                f"wait until healthy ({self.threshold} consecutive healthy polls "
                f"every {fmt_seconds(self.poll_s)}, deadline {fmt_seconds(self.timeout_s)})"
            )
        if self.kind is StepKind.OBSERVE:
            lag = f" + {fmt_seconds(self.settle_s)} metric lag" if self.settle_s else ""
            judged = ", then canary analysis against the old colour's previous period" if self.analyse else ""
            return f"observe alarms for {fmt_seconds(self.wait_s)} (bake time){lag}{judged}"
        if self.kind is StepKind.RETIRE:
            return f"retire the old colour after {fmt_seconds(self.wait_s)} and once it serves nothing"
        if self.kind is StepKind.GATE:
            return "wait for `bluegreen promote`"
        if self.kind is StepKind.HEADROOM:
            return "check the old colour could take all traffic back"
        return self.kind.value


def fmt_seconds(s: float) -> str:
    if s >= 60 and s % 60 == 0:
        return f"{int(s // 60)}m"
    return f"{s:g}s"


@dataclass(frozen=True)
class Weights:
    """Each colour's percent of the traffic: the one shape from the plan to the load balancer and back.

    What bluegreen sets sums to 100 (`split`, `all_on`). A read-back says what the
    load balancer has, which may not: 0/0 before anything is routed, 100/100 for a
    classic ELB in the middle of a switch, less than 100 when a foreign target
    group keeps a share. Such a reading differs from every target, so the
    comparison after a change notices.
    """

    blue: int = 0
    green: int = 0

    def __post_init__(self) -> None:
        for colour in Colour:
            w = self.of(colour)
            if not isinstance(w, int) or isinstance(w, bool) or not 0 <= w <= 100:
                raise ValueError(f"a traffic weight is a whole percent 0..100, got {colour}={w!r}")

    @classmethod
    def split(cls, colour: Colour, percent: int) -> Weights:
        """`percent` on `colour`, the rest on the other."""
        return cls(**{colour.value: percent, colour.other.value: 100 - percent})

    @classmethod
    def all_on(cls, colour: Colour) -> Weights:
        return cls.split(colour, 100)

    @classmethod
    def from_json(cls, d: Mapping[str, Any] | None) -> Weights | None:
        """The JSON form back; None for an empty one (nothing known)."""
        if not d:
            return None
        return cls(**{c.value: int(d.get(c.value, 0)) for c in Colour})

    def of(self, colour: Colour) -> int:
        w: int = getattr(self, colour.value)
        return w

    @property
    def complete(self) -> bool:
        """Sums to 100: something bluegreen can apply."""
        return self.blue + self.green == 100

    def items(self) -> tuple[tuple[Colour, int], ...]:
        return tuple((c, self.of(c)) for c in Colour)

    def describe(self) -> str:
        return " / ".join(f"{c} {w}%" for c, w in self.items())

    def to_json(self) -> dict[str, int]:
        return {c.value: w for c, w in self.items()}


def weights_json(weights: Weights | None) -> dict[str, int]:
    """The JSON form of what a record knows of the weights: {} when nothing."""
    return weights.to_json() if weights else {}


@dataclass(frozen=True)
class Actor:
    """Who asked: a person at a terminal, or a CI job."""

    user: str
    host: str = ""
    pid: int = 0
    ci_job: str = ""
    ci_pipeline: str = ""

    def describe(self) -> str:
        who = self.user + (f"@{self.host}" if self.host else "")
        if self.ci_job:
            who += f" (CI job {self.ci_job}, pipeline {self.ci_pipeline or '?'})"
        return who


@dataclass(frozen=True)
class Event:
    at: float
    kind: str  # e.g. step_started, step_finished, abort_requested, failed
    message: str
    step: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """An operator's request written into the record from any process."""

    by: Actor
    at: float
    reason: str = ""


@dataclass(frozen=True)
class Inflight:
    """The command that was started and has not yet been recorded as finished.

    `seq` is unique within a record, so an observation can name the command
    it answers and a stale one is ignored.
    """

    seq: int
    name: str
    started_at: float


@dataclass(frozen=True)
class Record:
    id: str
    environment: str
    platform: str
    release: Release
    from_colour: Colour | None
    to_colour: Colour
    steps: tuple[Step, ...]
    started_by: Actor
    created_at: float
    step_index: int = 0
    phase: Phase = Phase.BAKE
    status: Status = Status.RUNNING
    updated_at: float = 0.0
    step_started_at: float | None = None
    wait_until: float | None = None  # end of the current hold/delay
    next_check_at: float | None = None  # next poll (health, alarms, drain) within a step
    healthy_streak: int = 0
    attempts: int = 0  # retries of the current step (read-back mismatches, rollback)
    weights: Weights | None = None  # as last read back; None: nothing yet, or unknown since a change failed
    smoke_passed: bool = False
    healthy_passed: bool = False
    retiring: bool = False  # the old colour's destroy has begun: past the point of no return
    drained: bool = False  # retiring: the old colour's targets are out of the load balancer and drained
    note: str = ""  # what the deployment waits for, or what the operator should run next
    inflight: Inflight | None = None
    seq: int = 0
    abort: Request | None = None
    promote: Request | None = None
    failure: str | None = None
    slots: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    events: tuple[Event, ...] = ()
    force_bake: bool = False  # bake even when an image of the same source exists
    analysis: AnalysisSettings | None = None  # the canary analysis, frozen with the plan
    verdict: Mapping[str, Any] = field(default_factory=dict)  # the last analysis: verdict, score, metrics, step
    inconclusive_since: float | None = None  # the current step's analysis lacks data since then
    analysis_hold: bool = False  # paused by the analysis (marginal or inconclusive): promote goes on
    revision: int = 0  # the store's optimistic-concurrency counter
    schema_version: int = SCHEMA_VERSION

    @property
    def step(self) -> Step | None:
        if 0 <= self.step_index < len(self.steps):
            return self.steps[self.step_index]
        return None

    @property
    def in_rollback(self) -> bool:
        return self.phase in (Phase.ROLLBACK_TRAFFIC, Phase.DECOMMISSION, Phase.ROLLED_BACK)

    def replace(self, **changes: Any) -> Record:
        return dataclasses.replace(self, **changes)

    def with_event(self, at: float, kind: str, message: str, **data: Any) -> Record:
        ev = Event(at=at, kind=kind, message=message, step=self.step_index, data=data)
        return self.replace(events=(*self.events, ev), updated_at=at)


# -- JSON form -------------------------------------------------------------


def record_to_dict(rec: Record) -> dict[str, Any]:
    d = dataclasses.asdict(rec)
    d["events"] = [dataclasses.asdict(e) for e in rec.events]
    d["weights"] = weights_json(rec.weights)
    plain: dict[str, Any] = _plain(d)
    return plain


def _plain(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def record_from_dict(d: Mapping[str, Any]) -> Record:
    if d.get("schema_version") != SCHEMA_VERSION:
        from bluegreen.errors import BluegreenError

        raise BluegreenError(
            f"deployment record {d.get('id')} has schema_version {d.get('schema_version')}, "
            f"this bluegreen reads {SCHEMA_VERSION}",
            hint="upgrade bluegreen to the version that wrote this record",
        )

    def actor(a: Mapping[str, Any]) -> Actor:
        return Actor(**a)

    def request(r: Mapping[str, Any] | None) -> Request | None:
        if r is None:
            return None
        return Request(by=actor(r["by"]), at=r["at"], reason=r.get("reason", ""))

    inflight = d.get("inflight")
    return Record(
        id=d["id"],
        environment=d["environment"],
        platform=d["platform"],
        release=Release(**d["release"]),
        from_colour=Colour(d["from_colour"]) if d.get("from_colour") else None,
        to_colour=Colour(d["to_colour"]),
        steps=tuple(Step(**{**s, "kind": StepKind(s["kind"])}) for s in d["steps"]),
        started_by=actor(d["started_by"]),
        created_at=d["created_at"],
        step_index=d["step_index"],
        phase=Phase(d["phase"]),
        status=Status(d["status"]),
        updated_at=d["updated_at"],
        step_started_at=d.get("step_started_at"),
        wait_until=d.get("wait_until"),
        next_check_at=d.get("next_check_at"),
        healthy_streak=d.get("healthy_streak", 0),
        attempts=d.get("attempts", 0),
        weights=Weights.from_json(d.get("weights")),
        smoke_passed=d.get("smoke_passed", False),
        healthy_passed=d.get("healthy_passed", False),
        retiring=d.get("retiring", False),
        drained=d.get("drained", False),
        note=d.get("note", ""),
        inflight=Inflight(**inflight) if inflight else None,
        seq=d.get("seq", 0),
        abort=request(d.get("abort")),
        promote=request(d.get("promote")),
        failure=d.get("failure"),
        slots={k: dict(v) for k, v in d.get("slots", {}).items()},
        events=tuple(Event(**e) for e in d.get("events", [])),
        force_bake=d.get("force_bake", False),
        analysis=analysis_from_json(d.get("analysis")),
        verdict=dict(d.get("verdict") or {}),
        inconclusive_since=d.get("inconclusive_since"),
        analysis_hold=d.get("analysis_hold", False),
        # Records written before the counter was renamed call it `version`.
        revision=d.get("revision", d.get("version", 0)),
        schema_version=d["schema_version"],
    )
