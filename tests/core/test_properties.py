"""Property tests: random plans, faults, aborts and kills against the invariants.

- traffic never reaches a colour that has not passed health and smoke checks;
- the old colour is never retired before the new one serves 100% (read back)
  and the bake time has passed;
- an abort in any phase before retiring ends with 100% on the old colour;
- a kill-and-resume at any command reaches the same end state as a run that
  was never interrupted;
- with only transient faults (errors a retry fixes, stale read-backs, slow
  drains, kills) every deployment succeeds;
- once retiring began, traffic never moves again and nothing rolls back;
- a rollback removes the new colour only once the load balancer has 100% on
  the old one, read back (lost and stale read-backs during the rollback);
- the old colour is never destroyed while the last drain answer said it serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bluegreen.adapters.simulated import World
from bluegreen.commands import Command, Destroy, SetWeights
from bluegreen.machine import ROLLBACK_ATTEMPTS, request_abort, request_promote, request_resume
from bluegreen.model import Colour, Record, Status, Weights
from bluegreen.runner import execute
from tests.core.envs import environment
from tests.core.sim import (
    ACTOR,
    FakeClock,
    Killed,
    SlowDrain,
    Trace,
    drive,
    live_world,
    new_record,
    slow_drain_platform,
)

TRAFFIC = st.sampled_from(
    [
        {"strategy": "all-at-once"},
        {"strategy": "canary", "steps": [{"weight": 10, "wait": 30}, {"weight": 50, "wait": 30}], "check_every": 10},
        {"strategy": "canary", "steps": [{"weight": 5, "wait": 0}, {"weight": 100, "wait": 20}], "check_every": 5},
        {"strategy": "linear", "step": 30, "every": 20, "check_every": 10},
    ]
)


@dataclass(frozen=True)
class Scenario:
    settings: dict[str, Any]
    first_deploy: bool
    healthy_after: int
    never_healthy: bool
    fails_health: bool
    fails_smoke: bool
    alarm_at: int | None  # command index from which an alarm fires
    flaky: dict[str, int]  # transient failures per port method
    stale_readbacks: int
    abort_at: int | None  # step index at which an operator aborts (in the record, so it survives kills)
    promote: bool
    # Faults after traffic moved:
    rollback_stale: int = 0  # read-backs during the rollback that show the weights from before
    rollback_lost: int = 0  # traffic changes during the rollback the load balancer accepts but does not apply
    slow_drain: int = 0  # drain answers saying the old colour still serves after it stopped getting traffic
    retire_failures: int = 0  # failures of the old colour's destroy (beyond the retry budget: blocked, resumed)
    kill_at: int | None = None  # command index at which the process dies (then resumed)


@st.composite
def scenarios(draw: st.DrawFn, *, deterministic: bool = False) -> Scenario:
    first = draw(st.booleans()) if not deterministic else False
    settings_ = {
        "traffic": draw(TRAFFIC),
        "promotion": draw(st.sampled_from(["auto", "manual"])),
        "gate": draw(st.sampled_from(["before-full", "after-last-step"])),
        "bake_time": draw(st.sampled_from([0, 45])),
        "scale_down_delay": draw(st.sampled_from([0, 30])),
        "metrics": draw(st.sampled_from([{}, {"max_5xx": 5, "publication_lag": 60}])),
        "health_check": {
            "interval": 10,
            "timeout": 2,
            "healthy_threshold": draw(st.integers(1, 3)),
            "deadline": 120,
        },
    }
    # A stale read-back after a lost change may show the very weights the rollback asked for: nothing
    # could tell that from the truth, so a rollback meets one of the two.
    stale = 0 if deterministic else draw(st.integers(0, 3))
    methods = ["check", "firing", "read_weights", "set_weights", "destroy", "drain_state", "provision", "bake"]
    return Scenario(
        settings=settings_,
        first_deploy=first,
        healthy_after=draw(st.integers(1, 4)),
        never_healthy=draw(st.booleans()) and draw(st.booleans()),
        fails_health=draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans()),
        fails_smoke=draw(st.booleans()) and draw(st.booleans()),
        alarm_at=None if deterministic else draw(st.none() | st.integers(0, 40)),
        flaky={} if deterministic else draw(st.dictionaries(st.sampled_from(methods), st.integers(1, 3), max_size=2)),
        stale_readbacks=0 if deterministic else draw(st.integers(0, 2)),
        abort_at=draw(st.none() | st.integers(0, 10)),
        promote=draw(st.booleans()),
        rollback_stale=stale,
        rollback_lost=0 if deterministic or stale else draw(st.integers(0, 3)),
        slow_drain=0 if deterministic else draw(st.integers(0, 3)),
        retire_failures=0 if deterministic else draw(RETIRE_FAILURES),
    )


RETIRE_FAILURES = st.sampled_from([0, 1, ROLLBACK_ATTEMPTS + 1])


@st.composite
def transient_scenarios(draw: st.DrawFn) -> Scenario:
    """Only faults that a retry, a wait or a resume gets past: every deployment must succeed."""
    base = draw(scenarios())
    # Polls are retried; a failed traffic change, provision or bake rolls back by design.
    polls = ["check", "firing", "drain_state"]
    return Scenario(
        settings=base.settings,
        first_deploy=base.first_deploy,
        healthy_after=base.healthy_after,
        never_healthy=False,
        fails_health=False,
        fails_smoke=False,
        alarm_at=None,
        flaky=draw(st.dictionaries(st.sampled_from(polls), st.integers(1, ROLLBACK_ATTEMPTS - 1), max_size=2)),
        stale_readbacks=draw(st.integers(0, 3)),  # the default readback_retries
        abort_at=None,
        promote=True,
        slow_drain=draw(st.integers(0, 4)),
        retire_failures=draw(RETIRE_FAILURES),
        kill_at=draw(st.none() | st.integers(0, 40)),
    )


def setup(s: Scenario) -> tuple[Record, World]:
    env = environment(**s.settings)
    world = World() if s.first_deploy else live_world()
    world.faults.healthy_after_polls = s.healthy_after
    world.faults.unhealthy_versions = ["v2"] if s.never_healthy else []
    world.faults.failed_versions = ["v2"] if s.fails_health else []
    world.faults.smoke_fail_versions = ["v2"] if s.fails_smoke else []
    world.faults.fail_calls = dict(s.flaky)
    world.faults.stale_readbacks = s.stale_readbacks
    return new_record(env, "v2", live=None if s.first_deploy else Colour.BLUE), world


def run(s: Scenario, rec: Record, world: World, clock: FakeClock, trace: Trace, kill_at: int | None = None,
        run_killed_command: bool = False) -> Record:  # fmt: skip
    """Drive to the end, promoting at the gate when the scenario says so (else aborting there)."""
    count = {"i": 0}
    drain = SlowDrain(world, s.slow_drain)
    platform = slow_drain_platform(drain)
    kill_at = s.kill_at if kill_at is None else kill_at
    seen = Seen()

    def hook(i: int, r: Record, cmd: Command) -> Record:
        n = count["i"]
        count["i"] += 1
        check_invariants(r, cmd, world, clock, trace)
        check_after_traffic_moved(r, cmd, world, drain, seen)
        inject_late_faults(s, r, cmd, world, seen)
        if s.alarm_at is not None and n >= s.alarm_at:
            world.faults.firing_alarms = ["web-errors"]
        if kill_at is not None and n == kill_at:
            if run_killed_command:
                assert r.inflight is not None
                execute(platform, cmd, r.inflight.seq)
            raise Killed(r)
        if s.abort_at is not None and r.step_index >= s.abort_at and r.abort is None and not r.retiring:
            return request_abort(r, ACTOR, clock.now(), "property test")
        return r

    stored = rec
    for _ in range(10):
        try:
            stored = drive(stored, world, clock, hook=hook, trace=trace, platform=platform)
        except Killed as k:
            stored, kill_at = k.record, None  # resume from the record, as `bluegreen resume` does
            continue
        if stored.status is Status.PAUSED:
            if s.promote:
                stored = request_promote(stored, ACTOR, clock.now())
            else:
                stored = request_abort(stored, ACTOR, clock.now(), "not promoted")
            continue
        # What the operator is told to run when the retries ran out (faults are finite).
        if stored.status is Status.ROLLBACK_INCOMPLETE:
            stored = request_abort(stored, ACTOR, clock.now(), "retry the rollback")
            continue
        if stored.status is Status.BLOCKED:
            stored = request_resume(stored, ACTOR, clock.now())
            continue
        return stored
    raise AssertionError("did not finish")


def check_invariants(r: Record, cmd: Command, world: World, clock: FakeClock, trace: Trace) -> None:
    new = r.to_colour.value
    if isinstance(cmd, SetWeights) and not r.in_rollback and cmd.weights.of(r.to_colour) > 0:
        assert r.healthy_passed and r.smoke_passed, "traffic to a colour that has not proven itself"
    if isinstance(cmd, Destroy) and not r.in_rollback:
        assert cmd.colour == r.from_colour
        assert r.weights is not None and r.weights.of(r.to_colour) == 100 and world.weights.get(new) == 100, (
            "retiring before 100% read back"
        )
        assert trace.full_at is not None
        bake = sum(s.wait_s + s.settle_s for s in r.steps if s.kind.value == "observe")
        assert clock.now() >= trace.full_at + bake, "retiring before the bake time (and the metric lag) passed"
    if isinstance(cmd, SetWeights) and not r.in_rollback and r.step is not None and r.step_index > 0:
        before = r.steps[r.step_index - 1]
        if before.kind.value == "shift" and before.settle_s > 0:
            # The step before held its traffic until its last minutes were published and judged.
            last = [e.message for e in r.events if e.kind == "step_finished"][-1]
            assert "checked again after" in last, "a held step advanced without a check after the metric lag"


@dataclass
class Seen:
    """What a run has done so far, for the checks that look back."""

    retiring: bool = False
    rollback_faults: bool = False
    retire_faults: bool = False


def check_after_traffic_moved(r: Record, cmd: Command, world: World, drain: SlowDrain, seen: Seen) -> None:
    seen.retiring = seen.retiring or r.retiring
    if seen.retiring:
        assert not isinstance(cmd, SetWeights), "traffic moved after retiring began"
        assert not r.in_rollback, "a rollback after retiring began (onto a half-destroyed colour)"
    if isinstance(cmd, Destroy) and r.in_rollback and r.from_colour is not None:
        old = r.from_colour
        assert r.weights == Weights.all_on(old), f"rollback removes {cmd.colour} on a read-back of {r.weights}"
        assert world.weights.get(old.value) == 100, "rollback removes the new colour before traffic is back"
    if isinstance(cmd, Destroy) and not r.in_rollback:
        assert drain.last is not None and not drain.last.serving, "old colour destroyed while it serves"


def inject_late_faults(s: Scenario, r: Record, cmd: Command, world: World, seen: Seen) -> None:
    """Faults that hit only once traffic has moved: during the rollback, or while retiring."""
    if r.in_rollback and not seen.rollback_faults:
        seen.rollback_faults = True
        world.faults.stale_readbacks, world.faults.lost_changes = s.rollback_stale, s.rollback_lost
    if isinstance(cmd, Destroy) and r.retiring and not seen.retire_faults:
        seen.retire_faults = True
        world.faults.fail_calls["destroy"] = s.retire_failures


def end_state(rec: Record, world: World) -> tuple[Any, ...]:
    return (
        rec.status,
        rec.phase,
        {k: v for k, v in world.weights.items() if v},
        sorted((c, v["version"]) for c, v in world.colours.items()),
    )


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_invariants_hold_under_random_faults(s: Scenario) -> None:
    rec, world = setup(s)
    clock, trace = FakeClock(), Trace()
    end = run(s, rec, world, clock, trace)
    assert end.status in (Status.SUCCEEDED, Status.ROLLED_BACK), (end.status, end.note)
    old, new = "blue", "green"
    if s.first_deploy:
        old, new = "", "blue"
    if end.status is Status.SUCCEEDED:
        assert world.weights.get(new) == 100 and list(world.colours) == [new]
        assert not (s.fails_smoke or s.fails_health or s.never_healthy)
    else:
        if old:
            assert world.weights.get(old) == 100, "a rollback must end with all traffic on the old colour"
            assert world.colours[old]["version"] == "v1"
        assert new not in world.colours


@settings(max_examples=200, deadline=None)
@given(transient_scenarios())
def test_only_transient_faults_end_succeeded(s: Scenario) -> None:
    rec, world = setup(s)
    end = run(s, rec, world, FakeClock(), Trace())
    new = "blue" if s.first_deploy else "green"
    assert end.status is Status.SUCCEEDED, (end.status, end.failure, end.note)
    assert world.weights.get(new) == 100 and list(world.colours) == [new]


@settings(max_examples=300, deadline=None)
@given(scenarios(deterministic=True), st.integers(0, 40), st.booleans())
def test_kill_and_resume_reaches_the_same_end(s: Scenario, kill_at: int, ran: bool) -> None:
    rec, world = setup(s)
    straight = run(s, rec, world, FakeClock(), Trace())
    rec2, world2 = setup(s)
    killed = run(s, rec2, world2, FakeClock(), Trace(), kill_at=kill_at, run_killed_command=ran)
    assert end_state(killed, world2) == end_state(straight, world)
