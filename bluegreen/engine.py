"""The operator's verbs: deploy, plan, resume, promote, abort, status, history, unlock.

Each verb reads the record, writes a request or a new record (conditionally),
and, when no live process is executing the deployment, takes the
environment's lease and runs it here. A process that dies leaves its lease
to expire (at once, when it ran on this host and its PID is gone); the next
verb that needs a runner takes over from the record.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bluegreen import planner, reporting
from bluegreen.errors import BluegreenError, ConflictError, LockedError, NotFoundError, UsageError
from bluegreen.machine import request_abort, request_promote, request_resume
from bluegreen.model import Actor, Event, Record, Status, Weights
from bluegreen.ports import Clock, LockInfo, Notifier, Platform, Store
from bluegreen.reporting import Holder, LiveState
from bluegreen.runner import Runner
from bluegreen.settings import Config, Environment

ACTIVE = (Status.RUNNING, Status.ROLLING_BACK)


@dataclass
class Engine:
    config: Config
    store: Store
    platform_for: Callable[[Environment], Platform]
    clock: Clock
    actor: Actor
    # Whether a lease owner's process is known to be gone (it ran on this host and its PID is free).
    owner_gone: Callable[[str], bool] = lambda owner: False
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
        if rec is None and self._running(info):
            return None  # a deploy between its two writes (the lock, then the record): it is not ours to free
        if rec is None or rec.status.terminal:
            # The holder finished (or died before it was recorded) without freeing it.
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

    def plan(
        self,
        environment: str,
        version: str,
        *,
        ami: str | None = None,
        strategy: str | None = None,
        force_bake: bool = False,
    ) -> Record:
        """The record `deploy` would start with (nothing is written)."""
        env = self.config.environment(environment)
        live = self.live(environment)
        return planner.new_record(
            env,
            version,
            live_colour=live.colour,
            live_release=live.release,
            actor=self.actor,
            now=self.clock.now(),
            token=secrets.token_hex(2),
            ami=ami,
            strategy=strategy,
            force_bake=force_bake,
        )

    def status(self, environment: str, *, read_traffic: bool = False) -> dict[str, Any]:
        env = self.config.environment(environment)
        active = self.active(environment)
        read = self.read_weights(environment) if read_traffic else None
        info = self.store.lock_info(environment)
        holder = Holder(info, self._running(info)) if info else None
        return reporting.status_body(
            environment,
            env.platform,
            self.live(environment),
            active,
            self.store.latest(environment),
            read,
            holder,
        )

    def read_weights(self, environment: str) -> Weights:
        """The weights as the load balancer (or proxy) itself reports them now."""
        return self.platform_for(self.config.environment(environment)).traffic.read_weights()

    def look(self, environment: str) -> tuple[Record | None, Weights | None]:
        """The latest deployment, and the weights the load balancer reports now (None when it cannot say)."""
        self.config.environment(environment)
        try:
            read: Weights | None = self.read_weights(environment)
        except BluegreenError:
            read = None  # the view shows what the record last read back
        return self.store.latest(environment), read

    def deployment(self, environment: str, deployment_id: str | None = None) -> Record:
        """One deployment of `environment`: the one named, or the latest."""
        self.config.environment(environment)
        listed = f"list them: bluegreen history {environment}"
        if deployment_id is None:
            latest = self.store.latest(environment)
            if latest is None:
                raise UsageError(
                    f"{environment} has no deployment yet",
                    where=f"environment {environment}",
                    hint=f"bluegreen deploy {environment} --version VERSION",
                )
            return latest
        try:
            rec = self.store.load(deployment_id)
        except NotFoundError:
            rec = None
        if rec is None or rec.environment != environment:
            raise UsageError(
                f"no deployment {deployment_id} in {environment}", where=f"environment {environment}", hint=listed
            )
        return rec

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
        on_created: Callable[[Record], None] = lambda rec: None,
    ) -> Record:
        """`on_created`: told the new record once it is stored, before anything runs (a release records its id)."""
        env = self.config.environment(environment)
        holder = self.active(environment)
        if holder is not None:
            info = self.store.lock_info(environment)
            assert info is not None
            raise info.refusal(self.clock.now(), started_by=holder.started_by.describe())
        rec = self.plan(environment, version, ami=ami, strategy=strategy, force_bake=force_bake)
        self.preflight(env, baking=ami is None)
        runner = self._runner(env)  # builds the adapters: fails here, before any write
        if ami is not None:
            self.platform_for(env).baker.check_image(ami)  # an image that cannot run: refused before any write
        self.store.acquire(environment, rec.id, self.owner, self.clock.now(), self.lease_s)
        rec = self.store.create(rec)
        on_created(rec)
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

    def request_abort(self, environment: str, *, reason: str = "") -> Record:
        """Record an abort for the process that runs the deployment to carry out (it notices within a poll)."""
        rec = self.require_active(environment, "abort")
        return self._update(rec, lambda r: request_abort(r, self.actor, self.clock.now(), reason))

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
    def _runner(self, env: Environment) -> Runner:
        return Runner(
            store=self.store,
            platform=self.platform_for(env),
            clock=self.clock,
            owner=self.owner,
            lease_s=self.lease_s,
            poll_s=self.poll_s,
            on_event=self.on_event,
            on_wait=self.on_wait,
            notifier=self.notifier,
        )

    def _take_lease(self, rec: Record) -> None:
        info = self.store.lock_info(rec.environment)
        if info is not None and info.live(self.clock.now()) and self.owner_gone(info.owner):
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
            if fresh.status not in ACTIVE or not self._running(info):
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

    def _running(self, info: LockInfo | None) -> bool:
        """A live process executes the deployment now (its lease runs and it is not known to be gone)."""
        return info is not None and info.live(self.clock.now()) and not self.owner_gone(info.owner)
