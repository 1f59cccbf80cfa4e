"""The ports: what the engine needs from the world, as Protocols; and the pipeline that uses them.

The pipeline, the one place it is told (bluegreen/__init__.py points here).
planner.py orders one deployment's steps and freezes them into its record;
machine.py decides each next command from the record alone (pure); runner.py
runs the command through these ports and records every step before and after:

    bake       Baker: reuse or bake the release's image (skipped with --ami)
    provision  Provisioner: the idle colour's instances, with the release
    healthy    Health.check, polled until the threshold passes (FAILED or the deadline: roll back)
    smoke      Verifier: checks against the new colour alone (a test listener)
    headroom   Health.headroom: the old colour could take all traffic back (not on a first deploy)
    shift      Traffic.set_weights, then read back from the load balancer; each step held
               while Alarms.evaluate is watched (all-at-once, canary or linear steps); with metric
               thresholds, after the hold it waits out the metrics' publication lag and checks once
               more, so the step's last minutes are judged before it advances
    gate       wait for `bluegreen promote` (promotion: manual), before 100% or after the last step
    observe    the bake time at 100%, Alarms still watched
    retire     Health.drain_state says nothing routes to the old colour any more (a listener rule
               still forwarding to it blocks: the operator fixes it and resumes); past the point of
               no return, drain_state(deregister=True) until its targets drained; Provisioner.destroy(old)

Abort (`bluegreen abort`, a failed check or a firing alarm, from any step
before retire): rollback_traffic (Traffic.set_weights: everything back to the
old colour in one change, read back), then decommission (Provisioner.destroy
of the new colour), ending rolled_back. A rollback that cannot finish ends
rollback_incomplete and says what to run; once retiring has begun it is too
late to abort, the deployment goes forward.

Only adapters implement these (bluegreen/adapters/...); only adapters import
boto3 or start processes. Every method is idempotent: the runner re-issues a
command whose outcome was not recorded (the process was killed), so doing it
twice must be harmless.

Errors: an adapter raises `bluegreen.errors.AdapterError` (or a subclass)
with what failed, where and what to run next. Anything else is a bug.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from bluegreen.errors import LockedError
from bluegreen.model import Colour, Record, Release, Weights
from bluegreen.release_record import ReleaseRecord
from bluegreen.settings import AnalysisMetric

# -- values the ports return -------------------------------------------------


@dataclass(frozen=True)
class BakeResult:
    ami: str
    source_hash: str
    reused: bool


@dataclass(frozen=True)
class ProvisionResult:
    """What a new colour is, to be kept in the record (`record.slots[colour]`).

    For AWS: the ASG name, launch template id; for the local platform: the
    process address and PID (published only once it listens).
    """

    details: Mapping[str, Any] = field(default_factory=dict)


class HealthState(StrEnum):
    HEALTHY = "healthy"  # every instance in service and every target healthy now
    PENDING = "pending"  # not there yet, may still get there
    FAILED = "failed"  # will not get there without intervention


@dataclass(frozen=True)
class TargetHealth:
    """One instance/target as the platform reports it (for the operator)."""

    id: str
    state: str  # the platform's own word: healthy, initial, unhealthy, InService, ...
    reason: str = ""
    description: str = ""


@dataclass(frozen=True)
class HealthSnapshot:
    """One poll of a colour's health. The engine counts consecutive HEALTHY polls."""

    state: HealthState
    in_service: int
    desired: int
    targets: tuple[TargetHealth, ...] = ()
    reason: str = ""

    def describe(self) -> str:
        bad = [t for t in self.targets if t.state not in ("healthy", "InService")]
        detail = "; ".join(f"{t.id}: {t.state}" + (f" ({t.reason})" if t.reason else "") for t in bad)
        text = f"{self.in_service}/{self.desired} in service"
        if self.reason:
            text += f", {self.reason}"
        return text + (f"; {detail}" if detail else "")


@dataclass(frozen=True)
class Headroom:
    """Could this colour take all the traffic back right now?"""

    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class DrainState:
    """Evidence for retiring: does this colour still serve anything?

    `blocked`: it would serve again without an operator (a listener or rule
    outside bluegreen's still forwards to it): waiting cannot fix that.
    """

    serving: bool
    reason: str = ""
    blocked: bool = False


@dataclass(frozen=True)
class SmokeResult:
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class Alarm:
    name: str
    reason: str = ""


@dataclass(frozen=True)
class AlarmCheck:
    """One look at the alarms: those firing, and what could not be judged (said, never passed in silence)."""

    firing: tuple[Alarm, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Samples:
    """One colour's data for one analysis metric over a window."""

    values: tuple[float, ...] = ()  # latency-like: one value per sample interval
    errors: int = 0  # count-like
    requests: int = 0


# -- the ports ------------------------------------------------------------------


class Baker(Protocol):
    def bake(self, environment: str, version: str, *, force: bool = False) -> BakeResult:
        """Bake (or reuse, by source hash) the image for `version`."""
        ...

    def check_image(self, image: str) -> None:
        """An image given by hand (`deploy --ami`) can be deployed, or a UsageError; nothing changes."""
        ...


class Provisioner(Protocol):
    def provision(self, colour: Colour, release: Release) -> ProvisionResult:
        """Create (or bring up to date) the colour's capacity running `release`."""
        ...

    def destroy(self, colour: Colour) -> None:
        """Remove the colour's capacity; a colour that is already gone is fine."""
        ...


class Health(Protocol):
    def check(self, colour: Colour) -> HealthSnapshot: ...

    def headroom(self, colour: Colour) -> Headroom: ...

    def drain_state(self, colour: Colour, *, deregister: bool = False) -> DrainState:
        """Does `colour` still serve? With `deregister` (retiring has begun), first take its
        targets out of the load balancer, so what is in flight drains, and report until it has."""
        ...


class Traffic(Protocol):
    def set_weights(self, weights: Weights) -> None:
        """Apply percent weights (summing to 100) in one change."""
        ...

    def read_weights(self) -> Weights:
        """Read the weights back from the load balancer/proxy itself."""
        ...


class Verifier(Protocol):
    def smoke(self, colour: Colour, release: str = "") -> SmokeResult:
        """Run the configured smoke checks against this colour only (`{release}` in a check is `release`)."""
        ...


class Alarms(Protocol):
    def evaluate(self, colour: Colour, since: float | None = None) -> AlarmCheck:
        """The configured alarms (and metric thresholds, judged on what was published since `since`) in ALARM."""
        ...


class AnalysisSource(Protocol):
    def samples(
        self, colour: Colour, metrics: Sequence[AnalysisMetric], start: float, end: float, interval_s: float
    ) -> Mapping[str, Samples]:
        """Each metric's samples of `colour` between `start` and `end` (epoch seconds), one per interval.

        A metric the platform has no data for is left out: the judge calls it inconclusive.
        """
        ...


class NoAnalysisSource:
    """A platform without per-colour metrics: every analysis is inconclusive (then the configured action)."""

    def samples(
        self, colour: Colour, metrics: Sequence[AnalysisMetric], start: float, end: float, interval_s: float
    ) -> Mapping[str, Samples]:
        return {}


NO_ANALYSIS = NoAnalysisSource()


class Notifier(Protocol):
    def notify(self, event: str, record: Record, message: str) -> None:
        """Tell the outside world; must never raise."""
        ...


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class Platform:
    """The adapters for one environment, built by the composition root."""

    name: str
    baker: Baker
    provisioner: Provisioner
    health: Health
    traffic: Traffic
    verifier: Verifier
    alarms: Alarms
    analysis: AnalysisSource = NO_ANALYSIS


# -- the store ------------------------------------------------------------------


@dataclass(frozen=True)
class LockInfo:
    """Who holds an environment.

    `deployment_id` stays set while the deployment is not finished (a second
    deploy is refused even when no process runs it, e.g. paused at a gate);
    `owner`/`lease_until` say which process is executing it right now.
    """

    environment: str
    deployment_id: str
    owner: str
    acquired_at: float
    lease_until: float

    def live(self, now: float) -> bool:
        return bool(self.owner) and self.lease_until > now

    def refusal(self, now: float, started_by: str = "") -> LockedError:
        """The error every store raises when this holder keeps someone out (`started_by`: who, when known)."""
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.acquired_at))
        running = f"running in {self.owner}" if self.live(now) else "no process is running it now"
        env = self.environment
        by = f", started by {started_by}," if started_by else ""
        return LockedError(
            f"environment {env} is held by deployment {self.deployment_id}{by} since {since} ({running})",
            where=f"environment {env}",
            hint=(
                f"wait for it, or see it with `bluegreen status {env}`; promote, abort or resume it; "
                f"as a last resort `bluegreen unlock {env} --force --reason TEXT`"
            ),
        )


class Store(Protocol):
    def create(self, record: Record) -> Record:
        """Insert a new record (revision 1)."""
        ...

    def load(self, deployment_id: str) -> Record: ...

    def save(self, record: Record) -> Record:
        """Write if the stored revision equals `record.revision`; return it with revision+1.

        Raises ConflictError when somebody else wrote first.
        """
        ...

    def latest(self, environment: str) -> Record | None: ...

    def history(self, environment: str, limit: int = 20) -> list[Record]: ...

    # The lock: one deployment per environment.
    def acquire(self, environment: str, deployment_id: str, owner: str, now: float, lease_s: float) -> LockInfo:
        """Take the environment for `deployment_id` and the lease for `owner`.

        Succeeds when the environment is free, or already held by the same
        deployment whose lease is expired or is ours. Raises LockedError
        naming the holder otherwise.
        """
        ...

    def renew(self, environment: str, deployment_id: str, owner: str, now: float, lease_s: float) -> None:
        """Extend our lease; raises LockedError if we lost it."""
        ...

    def release_lease(self, environment: str, deployment_id: str, owner: str) -> None:
        """Stop executing but keep the environment for the deployment (paused)."""
        ...

    def release(self, environment: str, deployment_id: str) -> None:
        """The deployment is finished: free the environment."""
        ...

    def lock_info(self, environment: str) -> LockInfo | None: ...

    # Release records (many environments through waves): written conditionally on `revision` as well.
    def create_release(self, release: ReleaseRecord) -> ReleaseRecord:
        """Insert a new release record (revision 1); ConflictError if its id exists."""
        ...

    def load_release(self, release_id: str) -> ReleaseRecord: ...

    def save_release(self, release: ReleaseRecord) -> ReleaseRecord:
        """Write if the stored revision equals `release.revision`; ConflictError otherwise."""
        ...

    def releases(self, name: str, limit: int = 20) -> list[ReleaseRecord]:
        """The releases of that name, newest first."""
        ...

    def break_lock(self, environment: str) -> LockInfo | None:
        """Free the environment whoever holds it; returns what was there."""
        ...
