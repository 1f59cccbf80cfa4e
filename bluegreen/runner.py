"""The runner: executes the state machine's commands through the ports.

Each pass: decide -> store the record (the command is marked in flight) ->
run the command -> feed its outcome to the next decide, whose record is
stored before anything else happens. Every write is conditional; when it
loses (an operator wrote an abort or promote request from another process)
the runner reloads and decides again on the newer record.

Waits are slices of `poll_s`: between slices the record is re-read, so an
abort or promote from anywhere is noticed within one poll, and the lease on
the environment is renewed.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from bluegreen.analysis import judge
from bluegreen.commands import (
    AlarmsChecked,
    Analyse,
    Analysed,
    AwaitPromotion,
    Bake,
    Baked,
    CheckAlarms,
    CheckDrain,
    CheckHeadroom,
    CheckHealth,
    Command,
    Destroy,
    Destroyed,
    DrainChecked,
    Failed,
    HeadroomChecked,
    HealthPolled,
    Observation,
    Provision,
    Provisioned,
    SetWeights,
    Sleep,
    Smoke,
    Smoked,
    WeightsRead,
)
from bluegreen.errors import BluegreenError, ConflictError
from bluegreen.machine import decide
from bluegreen.model import Event, Record, Status
from bluegreen.ports import Clock, Notifier, Platform, Store

log = logging.getLogger("bluegreen.runner")

# Statuses in which the runner stops but the environment stays with the deployment.
HOLDS_ENVIRONMENT = (Status.PAUSED, Status.BLOCKED, Status.ROLLBACK_INCOMPLETE)


@dataclass
class Runner:
    store: Store
    platform: Platform
    clock: Clock
    owner: str
    lease_s: float = 60.0
    poll_s: float = 0.25
    on_event: Callable[[Record, Event], None] = lambda rec, ev: None
    on_wait: Callable[[Record, float], None] = lambda rec, until: None
    notifier: Notifier | None = None

    def run(self, rec: Record, *, wait_at_gate: bool = True) -> Record:
        """Drive the deployment until it ends, or pauses at the gate when not waiting.

        The caller holds the environment's lease for this deployment.
        """
        obs: Observation | None = None
        try:
            while True:
                self._renew(rec)
                decision = decide(rec, obs, self.clock.now())
                if decision.record is not rec:
                    try:
                        rec = self._save(rec, decision.record)
                    except ConflictError:
                        rec = self.store.load(rec.id)  # keep `obs`: it names its command
                        continue
                obs = None
                cmd = decision.command
                if cmd is None:
                    break
                if isinstance(cmd, Sleep):
                    rec = self._wait(rec, cmd.until)
                elif isinstance(cmd, AwaitPromotion):
                    if not wait_at_gate:
                        break
                    rec = self._wait(rec, self.clock.now() + self.lease_s / 3)
                else:
                    assert rec.inflight is not None
                    obs = execute(self.platform, cmd, rec.inflight.seq)
        finally:
            self._let_go(rec)
        return rec

    # -- internals ---------------------------------------------------------------
    def _save(self, old: Record, new: Record) -> Record:
        saved = self.store.save(new)
        for ev in new.events[len(old.events) :]:
            self.on_event(saved, ev)
            if self.notifier is not None and ev.kind in NOTIFY:
                self.notifier.notify(ev.kind, saved, ev.message)
        return saved

    def _renew(self, rec: Record) -> None:
        self.store.renew(rec.environment, rec.id, self.owner, self.clock.now(), self.lease_s)

    def _wait(self, rec: Record, until: float) -> Record:
        """Sleep until `until`, returning early when someone else changed the record."""
        renewed = self.clock.now()
        while (left := until - self.clock.now()) > 0:
            self.on_wait(rec, until)
            self.clock.sleep(min(left, self.poll_s))
            if self.clock.now() - renewed > self.lease_s / 3:
                self._renew(rec)
                renewed = self.clock.now()
            fresh = self.store.load(rec.id)
            if fresh.revision != rec.revision:
                return fresh
        return rec

    def _let_go(self, rec: Record) -> None:
        try:
            if rec.status.terminal:
                self.store.release(rec.environment, rec.id)
            else:
                # Paused, blocked, or interrupted: the deployment keeps the
                # environment; only this process's lease ends.
                self.store.release_lease(rec.environment, rec.id, self.owner)
        except BluegreenError as e:
            log.warning("could not release the lock on %s: %s", rec.environment, e)


def execute(platform: Platform, cmd: Command, seq: int) -> Observation:
    """Run one command through the ports; every error becomes a `Failed` observation."""
    p = platform
    try:
        match cmd:
            case Bake(environment=env, version=v, force=force):
                return Baked(seq, p.baker.bake(env, v, force=force))
            case Provision(colour=c, release=r):
                return Provisioned(seq, p.provisioner.provision(c, r))
            case CheckHealth(colour=c):
                return HealthPolled(seq, p.health.check(c))
            case Smoke(colour=c, release=release):
                return Smoked(seq, p.verifier.smoke(c, release))
            case CheckHeadroom(colour=c):
                return HeadroomChecked(seq, p.health.headroom(c))
            case SetWeights():
                p.traffic.set_weights(cmd.weights)
                return WeightsRead(seq, p.traffic.read_weights())
            case CheckAlarms(colour=c, since=since):
                checked = p.alarms.evaluate(c, since)
                return AlarmsChecked(seq, list(checked.firing), tuple(checked.notes))
            case CheckDrain(colour=c, deregister=deregister):
                return DrainChecked(seq, p.health.drain_state(c, deregister=deregister))
            case Analyse(new=new, old=old, new_window=(n0, n1), old_window=(o0, o1), settings=s):
                fresh = p.analysis.samples(new, s.metrics, n0, n1, s.interval_s)
                before = p.analysis.samples(old, s.metrics, o0, o1, s.interval_s)
                return Analysed(seq, judge(s, fresh, before))
            case Destroy(colour=c):
                p.provisioner.destroy(c)
                return Destroyed(seq)
    except BluegreenError as e:
        return Failed(seq, failure_text(e))
    except Exception as e:  # a bug in an adapter must still roll the deployment back
        log.error("unexpected error in %s:\n%s", type(cmd).__name__, traceback.format_exc())
        return Failed(seq, f"unexpected {type(e).__name__}: {e}")
    raise AssertionError(f"no handler for {cmd!r}")


def failure_text(e: BluegreenError) -> str:
    """What the record keeps of an adapter's error: what, where, and what to do about it."""
    text = e.what
    if e.where:
        # After a tool's own multi-line words, a parenthesis would read as part of them.
        text += f"\nwhere: {e.where}" if "\n" in text else f" ({e.where})"
    return text + (f"\nnext: {e.hint}" if e.hint else "")


# Events the outside world hears about (webhook).
NOTIFY = frozenset(
    {"deployment_started", "step_finished", "gate", "succeeded", "rollback_started", "rolled_back",
     "rollback_incomplete", "blocked", "analysis"}
)  # fmt: skip
