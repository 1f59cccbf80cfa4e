"""Runs releases: each wave's environments in parallel through the same engine, then the next wave.

Every environment is one ordinary deployment (its own record, lock and
rollback), run by `Engine.deploy`/`resume` on a thread of its own; the
release record says which deployment carries each environment. What to do
next is `release_machine.decide`; this module only acts on it and records the
outcome, before and after, so a killed process's release is continued by
`resume` from the record.

One process drives a release, holding the lease on `release:NAME` in the
environment locks. With `--only ENV` (one CI job per environment, `split`),
no process drives it: each job waits until `decide` lets its environment
start, runs it, and records it; the store's conditional writes coordinate
the jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass
from functools import partial

from bluegreen.engine import Engine
from bluegreen.errors import BluegreenError, ConflictError, LockedError, UsageError
from bluegreen.model import Record, Status
from bluegreen.ports import Store
from bluegreen.release_machine import decide, finish
from bluegreen.release_record import EnvState, ReleaseRecord, ReleaseStatus
from bluegreen.reporting import next_action
from bluegreen.settings import ReleaseSettings

OPERATOR_NEEDED = (Status.BLOCKED, Status.ROLLBACK_INCOMPLETE, Status.ABANDONED)


def _noted(rel: ReleaseRecord, env: str, note: str) -> ReleaseRecord:
    return rel.with_entry(env, note=note)


def lock_key(name: str) -> str:
    """The release's lease lives among the environment locks, under a name no environment can have."""
    return f"release:{name}"


@dataclass
class Releases:
    engine: Engine
    say: Callable[[str], None] = lambda line: None

    @property
    def store(self) -> Store:
        return self.engine.store

    def now(self) -> float:
        return self.engine.clock.now()

    # -- reading ---------------------------------------------------------------------
    def settings(self, name: str) -> ReleaseSettings:
        found = self.engine.config.release(name)
        if found is None:
            raise UsageError(
                f"no release named {name!r} in {self.engine.config.path}",
                where=f"{self.engine.config.path}: releases",
                hint=f"use one of: {', '.join(sorted(self.engine.config.releases)) or '(none)'}",
            )
        return found

    def latest(self, name: str) -> ReleaseRecord | None:
        self.settings(name)
        found = self.store.releases(name, 1)
        return found[0] if found else None

    def require_active(self, name: str, verb: str) -> ReleaseRecord:
        rel = self.latest(name)
        if rel is None or rel.status.terminal:
            raise UsageError(
                f"no release of {name} is in progress: nothing to {verb}",
                where=f"release {name}",
                hint=f"see the last one: bluegreen status {name}",
            )
        return rel

    def deployment(self, rel: ReleaseRecord, environment: str) -> Record | None:
        dep = rel.entry(environment).deployment_id
        return self.store.load(dep) if dep else None

    # -- the verbs -------------------------------------------------------------------
    def start(
        self, name: str, version: str, *, wait: bool = True, only: str | None = None, turn_timeout_s: float = 3600
    ) -> ReleaseRecord:
        settings = self.settings(name)
        if only is not None and only not in {e for w in settings.waves for e in w}:
            raise UsageError(
                f"environment {only!r} is not in release {name}",
                where=f"bluegreen release {name} --only {only}",
                hint=f"use one of: {', '.join(e for w in settings.waves for e in w)}",
            )
        rel = self._join_or_create(settings, version, split=only is not None)
        if only is not None:
            return self._run_one(rel, only, wait=wait, turn_timeout_s=turn_timeout_s)
        return self._run_or_follow(rel, wait=wait)

    def resume(self, name: str, *, wait: bool = True) -> ReleaseRecord:
        rel = self.require_active(name, "resume")
        self._refuse_split(rel, "resume")
        return self._run_or_follow(rel, wait=wait)

    def promote(self, name: str, *, wait: bool = True) -> ReleaseRecord:
        rel = self.require_active(name, "promote")
        nxt = decide(rel)
        if not nxt.gate:
            raise UsageError(
                f"release {rel.id} is not waiting at a gate between waves (wave {nxt.wave + 1} of {len(rel.waves)})",
                where=f"release {name}",
                hint=f"an environment paused at its own gate: bluegreen promote ENV; see bluegreen status {name}",
            )
        who = self.engine.actor.describe()
        rel = self._update(
            rel.id,
            lambda r: r.replace(promoted=(*r.promoted, nxt.wave), status=ReleaseStatus.RUNNING).with_event(
                self.now(), "release_promoted", f"wave {nxt.wave + 1} promoted by {who}"
            ),
        )
        if rel.split:
            return rel  # each CI job starts its own environment
        return self._run_or_follow(rel, wait=wait)

    def abort(self, name: str, *, reason: str = "", wait: bool = True) -> ReleaseRecord:
        rel = self.require_active(name, "abort")
        why = reason or f"aborted by {self.engine.actor.describe()}"
        rel = self._update(
            rel.id,
            lambda r: r.replace(abort_requested=why).with_event(self.now(), "release_abort_requested", why),
        )
        if not rel.split:
            return self._run_or_follow(rel, wait=wait)
        for env in rel.environments:
            if rel.entry(env).state is EnvState.RUNNING and self.engine.active(env) is not None:
                self._record_outcome(rel.id, env, self.engine.abort(env, reason=why, wait=wait))
        return self._settle(rel.id)

    # -- one process drives the release ----------------------------------------------
    def _run_or_follow(self, rel: ReleaseRecord, *, wait: bool) -> ReleaseRecord:
        while True:
            try:
                self._take_lease(rel)
            except LockedError:
                if not wait:
                    return self.store.load_release(rel.id)
                rel = self._follow(rel)
                if rel.status.terminal:
                    return rel
                continue
            return self._drive(rel, wait=wait)

    def _take_lease(self, rel: ReleaseRecord) -> None:
        e, key, now = self.engine, lock_key(rel.name), self.now()
        info = self.store.lock_info(key)
        if info is not None and info.live(now) and e.owner_gone(info.owner):
            self.store.release_lease(key, rel.id, info.owner)  # its process is gone from this host
        self.store.acquire(key, rel.id, e.owner, now, e.lease_s)

    def _follow(self, rel: ReleaseRecord) -> ReleaseRecord:
        """Print another process's progress on the release until it stops driving it."""
        seen = len(rel.events)
        while True:
            rel = self.store.load_release(rel.id)
            for ev in rel.events[seen:]:
                self.say(f"{rel.name}: {ev.message}")
            seen = len(rel.events)
            info = self.store.lock_info(lock_key(rel.name))
            if rel.status.terminal or not self.engine._running(info):
                return rel
            self.engine.clock.sleep(self.engine.poll_s)

    def _drive(self, rel: ReleaseRecord, *, wait: bool) -> ReleaseRecord:
        e = self.engine
        key = lock_key(rel.name)
        futures: dict[str, Future[None]] = {}
        asked: set[str] = set()  # aborts requested
        parked: set[str] = set()  # left running here (paused at their own gate with --no-wait)
        with ThreadPoolExecutor(max_workers=max(1, len(rel.environments)), thread_name_prefix="release") as pool:
            while True:
                e.store.renew(key, rel.id, e.owner, self.now(), e.lease_s)
                for env, fut in list(futures.items()):
                    if fut.done():
                        fut.result()  # a bug in a thread is a bug here
                        del futures[env]
                        parked.add(env)
                rel = self.store.load_release(rel.id)
                nxt = decide(rel)
                for env in nxt.abort:
                    if env not in asked:
                        asked.add(env)
                        parked.discard(env)
                        self._ask_abort(rel, env)
                for env in nxt.start:
                    rel = self._start(rel.id, env)
                for env in rel.environments:
                    if rel.entry(env).state is EnvState.RUNNING and env not in futures and env not in parked:
                        futures[env] = pool.submit(self._carry, rel.id, env, wait)
                if futures:
                    wait_for(list(futures.values()), timeout=e.poll_s, return_when=FIRST_COMPLETED)
                    continue
                if nxt.finished is not None:
                    rel = self._settle(rel.id)
                    self.store.release(key, rel.id)
                    return rel
                if nxt.gate and rel.status is not ReleaseStatus.PAUSED:
                    rel = self._update(rel.id, partial(self._at_gate, wave=nxt.wave))
                if (nxt.gate and not wait) or (parked and not nxt.start and not nxt.gate):
                    self.store.release_lease(key, rel.id, e.owner)
                    return rel
                e.clock.sleep(e.poll_s)

    def _start(self, rel_id: str, env: str) -> ReleaseRecord:
        return self._update(rel_id, lambda r: self._started(r, env))

    def _started(self, rel: ReleaseRecord, env: str) -> ReleaseRecord:
        if rel.entry(env).state is not EnvState.PENDING:
            return rel
        self.say(f"{rel.name}: wave {rel.waves.index(next(w for w in rel.waves if env in w)) + 1}: {env} starts")
        return rel.with_entry(env, state=EnvState.RUNNING, started_at=self.now()).with_event(
            self.now(), "environment_started", f"{env}: deploying {rel.version}"
        )

    def _at_gate(self, rel: ReleaseRecord, wave: int) -> ReleaseRecord:
        msg = f"wave {wave} done; waiting at the gate before wave {wave + 1}: bluegreen promote {rel.name}"
        self.say(f"{rel.name}: {msg}")
        return rel.replace(status=ReleaseStatus.PAUSED).with_event(self.now(), "release_gate", msg)

    def _ask_abort(self, rel: ReleaseRecord, env: str) -> None:
        try:
            self.engine.request_abort(env, reason=rel.abort_requested or f"release {rel.name} stopped")
        except UsageError as err:
            self.say(f"{rel.name}: {env}: not aborted: {err.what}")

    # -- one environment of a release ------------------------------------------------
    def _carry(self, rel_id: str, env: str, wait: bool) -> None:
        """Run (or continue) one environment's deployment and record how it ended."""
        rel = self.store.load_release(rel_id)
        try:
            rec = self._existing(rel, env)
            if rec is None and env in decide(rel).abort:
                self._record(rel_id, env, EnvState.ABORTED, note="the release stopped before it began")
                return
            if rec is None:
                rec = self._deploy(rel, env, wait=wait)
            elif not rec.status.terminal:
                rec = self.engine.resume(env, wait=wait)
        except LockedError as err:
            self._record(rel_id, env, EnvState.FAILED, note=err.what, deployment_status="locked")
            return
        except BluegreenError as err:
            self._record(rel_id, env, EnvState.FAILED, note=err.what, deployment_status="error")
            return
        self._record_outcome(rel_id, env, rec)

    def _existing(self, rel: ReleaseRecord, env: str) -> Record | None:
        """The deployment this release already started in `env`, if any (also one it did not get to record)."""
        rec = self.deployment(rel, env)
        if rec is not None:
            return rec
        active = self.engine.active(env)
        entry = rel.entry(env)
        if active is not None and active.release.version == rel.version and active.created_at >= entry.started_at:
            self._update(rel.id, lambda r: r.with_entry(env, deployment_id=active.id))
            return active
        return None

    def _deploy(self, rel: ReleaseRecord, env: str, *, wait: bool) -> Record:
        settings = self.settings(rel.name)
        deadline = self.now() + settings.lock_wait_s
        told = False

        def created(rec: Record) -> None:
            self._update(rel.id, lambda r: r.with_entry(env, deployment_id=rec.id))

        while True:
            try:
                return self.engine.deploy(env, rel.version, wait=wait, on_created=created)
            except LockedError as refused:
                err = refused
                if settings.when_locked != "wait" or self.now() >= deadline:
                    raise
                if self.store.load_release(rel.id).abort_requested:
                    raise
                if not told:
                    told = True
                    self.say(f"{rel.name}: {env}: waiting (up to {settings.lock_wait_s:g}s): {err.what}")
                    self._update(rel.id, partial(_noted, env=env, note=f"waiting: {err.what}"))
                self.engine.clock.sleep(min(1.0, max(0.05, deadline - self.now())))

    def _record_outcome(self, rel_id: str, env: str, rec: Record) -> None:
        if rec.status is Status.SUCCEEDED:
            state, note = EnvState.SUCCEEDED, ""
        elif rec.status is Status.ROLLED_BACK:
            state = EnvState.ABORTED if rec.abort is not None else EnvState.FAILED
            note = rec.failure or (rec.abort.reason if rec.abort else "") or "rolled back"
        elif rec.status in OPERATOR_NEEDED:
            state, note = EnvState.FAILED, f"{rec.status.value}: {next_action(rec, env, running=False)}"
        else:
            state, note = EnvState.RUNNING, f"{rec.status.value}: {next_action(rec, env)}"
        self._record(rel_id, env, state, note=note, deployment_status=rec.status.value, deployment_id=rec.id)

    def _record(self, rel_id: str, env: str, state: EnvState, **changes: str) -> None:
        def change(r: ReleaseRecord) -> ReleaseRecord:
            out = r.with_entry(env, state=state, **changes)
            if state.finished:
                out = out.with_entry(env, finished_at=self.now())
                out = out.with_event(self.now(), f"environment_{state.value}", f"{env}: {state.value}")
            return out

        self.say(f"{env}: {state.value}" + (f" ({changes['note']})" if changes.get("note") else ""))
        self._update(rel_id, change)

    # -- one CI job per environment --------------------------------------------------
    def _join_or_create(self, settings: ReleaseSettings, version: str, *, split: bool) -> ReleaseRecord:
        for _ in range(5):
            found = self.store.releases(settings.name, 1)
            last = found[0] if found else None
            if last is not None and not last.status.terminal:
                if split and last.split and last.version == version:
                    return last
                raise LockedError(
                    f"release {last.name} is in progress: {last.id} of version {last.version}, "
                    f"started by {last.started_by.describe()}",
                    where=f"release {last.name}",
                    hint=f"see it: bluegreen status {last.name}; continue it: bluegreen resume {last.name}; "
                    f"or stop it: bluegreen abort {last.name}",
                )
            number = int(last.id.rsplit(".", 1)[-1]) + 1 if last is not None else 1
            now = self.now()
            rel = ReleaseRecord(
                id=f"{settings.name}.{number}",
                name=settings.name,
                version=version,
                waves=settings.waves,
                parallelism=settings.parallelism,
                on_failure=settings.on_failure,
                promotion=settings.promotion,
                started_by=self.engine.actor,
                created_at=now,
                updated_at=now,
                split=split,
            ).with_event(now, "release_started", f"release {settings.name} of {version} started")
            try:
                rel = self.store.create_release(rel)
            except ConflictError:
                continue  # another CI job of the same release created it first: join it
            self.say(f"{settings.name}: release {rel.id} of {version}")
            return rel
        raise ConflictError(f"release {settings.name} keeps changing under us", where=settings.name, hint="try again")

    def _run_one(self, rel: ReleaseRecord, env: str, *, wait: bool, turn_timeout_s: float) -> ReleaseRecord:
        deadline = self.now() + turn_timeout_s
        told = False
        while True:
            rel = self.store.load_release(rel.id)
            entry, nxt = rel.entry(env), decide(rel)
            if entry.state is EnvState.PENDING and env in nxt.start:
                try:
                    rel = self.store.save_release(self._started(rel, env))
                except ConflictError:
                    continue
                entry = rel.entry(env)
            if entry.state is EnvState.RUNNING:
                self._carry(rel.id, env, wait)
                return self._settle(rel.id)
            if entry.state.finished or nxt.finished is not None:
                return self._settle(rel.id)
            if self.now() >= deadline:
                raise LockedError(
                    f"{env}'s turn in release {rel.id} did not come within {turn_timeout_s:g}s "
                    f"(wave {nxt.wave + 1} of {len(rel.waves)} is in progress"
                    + (", at its gate)" if nxt.gate else ")"),
                    where=f"release {rel.name}",
                    hint=f"see it: bluegreen status {rel.name}"
                    + (f"; bluegreen promote {rel.name}" if nxt.gate else ""),
                )
            if not told:
                told = True
                self.say(f"{rel.name}: {env} waits for wave {nxt.wave + 1}" + (" (at its gate)" if nxt.gate else ""))
            self.engine.clock.sleep(self.engine.poll_s)

    def _settle(self, rel_id: str) -> ReleaseRecord:
        """Finish the release once nothing runs and `decide` says it is over (any process may: the write decides)."""

        def change(r: ReleaseRecord) -> ReleaseRecord:
            nxt = decide(r)
            if (
                r.status.terminal
                or nxt.finished is None
                or any(r.entry(e).state is EnvState.RUNNING for e in r.environments)
            ):
                return r
            self.say(f"{r.name}: {nxt.finished.value}")
            return finish(r, nxt, self.now())

        return self._update(rel_id, change)

    def _refuse_split(self, rel: ReleaseRecord, verb: str) -> None:
        if rel.split:
            raise UsageError(
                f"release {rel.id} runs one CI job per environment: no process drives it to {verb}",
                where=f"release {rel.name}",
                hint=f"run the environment's job again: bluegreen release {rel.name} --version {rel.version} --only ENV",
            )

    def _update(self, rel_id: str, change: Callable[[ReleaseRecord], ReleaseRecord]) -> ReleaseRecord:
        for _ in range(50):
            rel = self.store.load_release(rel_id)
            new = change(rel)
            if new is rel:
                return rel
            try:
                saved: ReleaseRecord = self.store.save_release(new)
                return saved
            except ConflictError:
                continue
        raise ConflictError(f"release {rel_id} keeps changing under us", where=rel_id, hint="try again")
