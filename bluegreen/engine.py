"""The operator's verbs: deploy, plan, resume, promote, abort, status, history, unlock.

Each verb reads the record, writes a request or a new record (conditionally),
and, when no live process is executing the deployment, takes the
environment's lease and runs it here. A process that dies leaves its lease
to expire (at once, when it ran on this host and its PID is gone); the next
verb that needs a runner takes over from the record.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bluegreen import planner
from bluegreen.config import Config, Environment
from bluegreen.errors import ConflictError, LockedError, NotFoundError, UsageError
from bluegreen.machine import request_abort, request_promote, request_resume
from bluegreen.model import Actor, Colour, Event, Phase, Record, Release, Status, Step, StepKind
from bluegreen.ports import Clock, LockInfo, Notifier, Platform, Store
from bluegreen.runner import Runner

ACTIVE = (Status.RUNNING, Status.ROLLING_BACK)


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def current_actor(env: Mapping[str, str] | None = None) -> Actor:
    """Who is running this command: a person, or a CI job (CircleCI's variables, or BLUEGREEN_CI_*)."""
    env = os.environ if env is None else env
    user = env.get("BLUEGREEN_ACTOR") or env.get("USER") or env.get("LOGNAME") or "unknown"
    return Actor(
        user=user,
        host=socket.gethostname(),
        pid=os.getpid(),
        ci_job=env.get("BLUEGREEN_CI_JOB") or env.get("CIRCLE_JOB", ""),
        ci_pipeline=env.get("BLUEGREEN_CI_PIPELINE") or env.get("CIRCLE_PIPELINE_NUMBER", "")
        or env.get("CIRCLE_BUILD_NUM", ""),
    )  # fmt: skip


@dataclass(frozen=True)
class LiveState:
    colour: Colour | None
    release: Release | None


@dataclass
class Engine:
    config: Config
    store: Store
    platform_for: Callable[[Environment], Platform]
    clock: Clock = field(default_factory=SystemClock)
    actor: Actor = field(default_factory=current_actor)
    lease_s: float = 60.0
    poll_s: float = 0.25
    on_event: Callable[[Record, Event], None] = lambda rec, ev: None
    on_wait: Callable[[Record, float], None] = lambda rec, until: None
    notifier: Notifier | None = None
    preflight: Callable[..., None] = lambda env, baking: None  # raises when a needed tool is missing

    @property
    def owner(self) -> str:
        return f"{self.actor.user}@{self.actor.host}:{self.actor.pid}"

    # -- reading ------------------------------------------------------------------
    def live(self, environment: str) -> LiveState:
        """What serves users when no deployment is in progress: the last success."""
        for rec in self.store.history(environment, limit=200):
            if rec.status is Status.SUCCEEDED:
                return LiveState(rec.to_colour, rec.release)
        return LiveState(None, None)

    def active(self, environment: str) -> Record | None:
        """The deployment that holds the environment, if any (stale holders are cleared)."""
        info = self.store.lock_info(environment)
        if info is None or not info.deployment_id:
            return None
        try:
            rec = self.store.load(info.deployment_id)
        except NotFoundError:
            rec = None
        if rec is None or rec.status.terminal:
            # The holder finished (or never got recorded) without freeing it.
            self.store.release(environment, info.deployment_id)
            return None
        return rec

    def require_active(self, environment: str, verb: str) -> Record:
        rec = self.active(environment)
        if rec is None:
            raise UsageError(
                f"no deployment is in progress in {environment}: nothing to {verb}",
                where=f"environment {environment}",
                hint=f"see the history: bluegreen history {environment}",
            )
        return rec

    def plan(self, environment: str, version: str, *, ami: str | None = None, strategy: str | None = None) -> Record:
        """The record `deploy` would start with (nothing is written)."""
        env = self.config.environment(environment)
        live = self.live(environment)
        steps = planner.plan(env, first_deploy=live.colour is None, bake=ami is None, strategy=strategy)
        return self._new_record(env, version, ami, live, steps)

    def status(self, environment: str, *, read_traffic: bool = False) -> dict[str, Any]:
        env = self.config.environment(environment)
        live = self.live(environment)
        active = self.active(environment)
        latest = self.store.latest(environment)
        weights: Mapping[str, int] = {}
        source = "record"
        if read_traffic:
            weights = {c.value: w for c, w in self.platform_for(env).traffic.read_weights().items()}
            source = "load_balancer"
        elif active is not None and (active.weights or active.from_colour is not None):
            weights = active.weights
            if not weights:
                source = "unknown"  # a traffic change failed: nothing read back since
        elif live.colour is not None:
            weights = {live.colour.value: 100, live.colour.other.value: 0}
        info = self.store.lock_info(environment)
        return {
            "environment": environment,
            "platform": env.platform,
            "live_colour": live.colour.value if live.colour else None,
            "weights": {c: int(weights.get(c, 0)) for c in ("blue", "green")} if weights else {},
            "weights_source": source,
            "release": _release_dict(live.release),
            "deployment": deployment_summary(active) if active else None,
            "last_deployment": deployment_summary(latest) if latest else None,
            "lock": _lock_dict(info, self.clock.now()) if info else None,
            "next": next_action(active or latest, environment),
        }

    def history(self, environment: str, limit: int = 20) -> list[Record]:
        self.config.environment(environment)
        return self.store.history(environment, limit)

    # -- changing -----------------------------------------------------------------
    def deploy(
        self,
        environment: str,
        version: str,
        *,
        ami: str | None = None,
        strategy: str | None = None,
        wait: bool = True,
        force_bake: bool = False,
    ) -> Record:
        env = self.config.environment(environment)
        holder = self.active(environment)
        if holder is not None:
            info = self.store.lock_info(environment)
            assert info is not None
            raise info.refusal(self.clock.now())
        rec = self.plan(environment, version, ami=ami, strategy=strategy)
        self.preflight(env, baking=ami is None)
        runner = self._runner(env, force_bake=force_bake)  # builds the adapters: fails here, before any write
        self.store.acquire(environment, rec.id, self.owner, self.clock.now(), self.lease_s)
        rec = self.store.create(rec)
        self.on_event(rec, rec.events[-1])
        if self.notifier is not None:
            self.notifier.notify("deployment_started", rec, rec.events[-1].message)
        return runner.run(rec, wait_at_gate=wait)

    def resume(self, environment: str, *, wait: bool = True) -> Record:
        rec = self.require_active(environment, "resume")
        self._take_lease(rec)
        rec = self._update(rec, lambda r: request_resume(r, self.actor, self.clock.now()))
        return self._runner(self.config.environment(environment)).run(rec, wait_at_gate=wait)

    def promote(self, environment: str, *, wait: bool = True) -> Record:
        rec = self.require_active(environment, "promote")
        rec = self._update(rec, lambda r: request_promote(r, self.actor, self.clock.now()))
        return self._run_or_follow(rec, wait=wait)

    def abort(self, environment: str, *, reason: str = "", wait: bool = True) -> Record:
        rec = self.require_active(environment, "abort")
        rec = self._update(rec, lambda r: request_abort(r, self.actor, self.clock.now(), reason))
        return self._run_or_follow(rec, wait=wait)

    def unlock(self, environment: str, *, reason: str) -> LockInfo | None:
        if not reason.strip():
            raise UsageError("unlock needs --reason TEXT", where="bluegreen unlock", hint="say why, for the record")
        info = self.store.break_lock(environment)
        if info is not None and info.deployment_id:
            try:
                rec = self.store.load(info.deployment_id)
            except NotFoundError:
                return info
            if not rec.status.terminal:
                note = f"lock broken by {self.actor.describe()}: {reason}"
                self._update(
                    rec,
                    lambda r: r.replace(status=Status.ABANDONED, note=note).with_event(
                        self.clock.now(), "unlocked", note
                    ),
                )
        return info

    # -- internals -------------------------------------------------------------------
    def _runner(self, env: Environment, *, force_bake: bool = False) -> Runner:
        return Runner(
            store=self.store,
            platform=self.platform_for(env),
            clock=self.clock,
            owner=self.owner,
            lease_s=self.lease_s,
            poll_s=self.poll_s,
            force_bake=force_bake,
            on_event=self.on_event,
            on_wait=self.on_wait,
            notifier=self.notifier,
        )

    def _take_lease(self, rec: Record) -> None:
        info = self.store.lock_info(rec.environment)
        if info is not None and info.live(self.clock.now()) and _dead_local_owner(info.owner):
            # Its process is gone from this host: no need to wait for the lease to run out.
            self.store.release_lease(rec.environment, rec.id, info.owner)
        self.store.acquire(rec.environment, rec.id, self.owner, self.clock.now(), self.lease_s)

    def _run_or_follow(self, rec: Record, *, wait: bool) -> Record:
        """Run the deployment here, or, if a live process runs it, watch it (taking over if it dies)."""
        while True:
            try:
                self._take_lease(rec)
            except LockedError:
                if not wait:
                    return rec
                rec = self._follow(rec)
                if rec.status not in ACTIVE:
                    return rec
                continue
            return self._runner(self.config.environment(rec.environment)).run(rec, wait_at_gate=wait)

    def _follow(self, rec: Record) -> Record:
        """Print another process's progress until it stops running the deployment."""
        seen = len(rec.events)
        while True:
            fresh = self.store.load(rec.id)
            for ev in fresh.events[seen:]:
                self.on_event(fresh, ev)
            seen = len(fresh.events)
            info = self.store.lock_info(rec.environment)
            running = info is not None and info.live(self.clock.now()) and not _dead_local_owner(info.owner)
            if fresh.status not in ACTIVE or not running:
                return fresh
            self.on_wait(fresh, self.clock.now() + self.poll_s)
            self.clock.sleep(self.poll_s)

    def _update(self, rec: Record, change: Callable[[Record], Record]) -> Record:
        for _ in range(20):
            new = change(rec)
            if new is rec:
                return rec
            try:
                saved = self.store.save(new)
            except ConflictError:
                rec = self.store.load(rec.id)
                continue
            for ev in new.events[len(rec.events) :]:
                self.on_event(saved, ev)
            return saved
        raise ConflictError(f"deployment {rec.id} keeps changing under us", where=rec.environment, hint="try again")

    def _new_record(
        self, env: Environment, version: str, ami: str | None, live: LiveState, steps: tuple[Step, ...]
    ) -> Record:
        now = self.clock.now()
        to = live.colour.other if live.colour else Colour.BLUE
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
        rec = Record(
            id=f"{env.name}-{stamp}-{secrets.token_hex(2)}",
            environment=env.name,
            platform=env.platform,
            release=Release(version=version, ami=ami),
            from_colour=live.colour,
            to_colour=to,
            steps=steps,
            started_by=self.actor,
            created_at=now,
            updated_at=now,
            phase=Phase(steps[0].kind.value),
            weights={live.colour.value: 100, to.value: 0} if live.colour else {},
        )
        origin = f"from {live.colour} ({live.release.version})" if live.colour and live.release else "first deploy"
        return rec.with_event(now, "deployment_started", f"{self.actor.describe()} deploys {version} to {to}, {origin}")


def _dead_local_owner(owner: str) -> bool:
    """True when the owner ran on this host and its process no longer exists."""
    host, _, pid = owner.rpartition(":")
    if not pid.isdigit() or host.rpartition("@")[2] != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _release_dict(release: Release | None) -> dict[str, Any] | None:
    if release is None:
        return None
    return {"version": release.version, "ami": release.ami, "source_hash": release.source_hash}


def _lock_dict(info: LockInfo, now: float) -> dict[str, Any]:
    return {
        "deployment_id": info.deployment_id,
        "owner": info.owner or None,
        "since": info.acquired_at,
        "lease_until": info.lease_until,
        "process_running": info.live(now),
    }


def deployment_summary(rec: Record) -> dict[str, Any]:
    step = rec.step
    return {
        "id": rec.id,
        "status": rec.status.value,
        "phase": rec.phase.value,
        "step": {
            "index": rec.step_index + 1,
            "total": len(rec.steps),
            "kind": step.kind.value,
            "description": step.describe(),
        }
        if step is not None
        else None,
        "from_colour": rec.from_colour.value if rec.from_colour else None,
        "to_colour": rec.to_colour.value,
        "release": _release_dict(rec.release),
        "weights": dict(rec.weights),
        "started_by": rec.started_by.describe(),
        "created_at": rec.created_at,
        "updated_at": rec.updated_at,
        "failure": rec.failure,
        "note": rec.note,
        "abort_requested": rec.abort is not None,
        "promote_requested": rec.promote is not None,
    }


def next_action(rec: Record | None, environment: str) -> str:
    """One line: what the operator can run next."""
    if rec is None:
        return f"bluegreen deploy {environment} --version VERSION"
    if rec.note and rec.status in (Status.PAUSED, Status.BLOCKED, Status.ROLLBACK_INCOMPLETE):
        return rec.note
    match rec.status:
        case Status.RUNNING | Status.ROLLING_BACK:
            return f"watch it: bluegreen status {environment}; stop it: bluegreen abort {environment}"
        case Status.PAUSED:
            return f"bluegreen promote {environment}  (or bluegreen abort {environment})"
        case Status.ABANDONED:
            return f"check the load balancer by hand (bluegreen status {environment} --live), then deploy again"
    return f"bluegreen deploy {environment} --version VERSION"


def plan_lines(rec: Record) -> list[str]:
    """What `bluegreen plan` prints: every step, wait, gate, image and what will be destroyed."""
    lines = [
        f"deploy {rec.release.version} to {rec.environment} ({rec.platform})",
        f"  from: {rec.from_colour or 'nothing live (first deploy)'}   to: {rec.to_colour}",
        f"  image: {rec.release.ami or 'baked from source (reused if the source hash matches)'}",
    ]
    for i, step in enumerate(rec.steps, 1):
        lines.append(f"  {i:>2}. {step.describe()}")
    if rec.from_colour is not None and any(s.kind is StepKind.RETIRE for s in rec.steps):
        lines.append(f"  destroys: {rec.from_colour} (after the scale-down delay, once it serves nothing)")
    else:
        lines.append("  destroys: nothing")
    lines.append(f"  on failure or abort: traffic back to {rec.from_colour or '(none)'}, then {rec.to_colour} removed")
    return lines
