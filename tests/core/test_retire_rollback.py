"""After traffic moved: retiring the old colour, rolling back, aborts that come late, and when things happen.

The way forward is in test_machine.py; here is what follows it. Retiring is past
the point of no return: it retries, waits for the old colour to drain, and stops
for an operator rather than turn back onto a half-destroyed colour. A rollback
believes only a read-back of all traffic on the old colour, and gives up (saying
so) instead of retrying forever.
"""

from __future__ import annotations

import itertools

import pytest

from bluegreen.commands import CheckAlarms, CheckDrain, CheckHealth, Command, Destroy, SetWeights
from bluegreen.errors import UsageError
from bluegreen.machine import ROLLBACK_ATTEMPTS, request_abort, request_promote, request_resume
from bluegreen.model import Colour, Phase, Record, Request, Status, Weights
from bluegreen.step_rules import RETRY_BACKOFF_S
from tests.core.envs import CANARY, environment
from tests.core.sim import (
    ACTOR,
    FakeClock,
    SlowDrain,
    Trace,
    destroys,
    drive,
    live_world,
    new_record,
    slow_drain_platform,
)

BLUE, GREEN = Colour.BLUE, Colour.GREEN
CALL_S = 0.5  # what each platform call takes on the simulated clock (sim.drive)


def times(trace: Trace, kind: type) -> list[float]:
    return [t for t, cmd, _ in trace.commands if isinstance(cmd, kind)]


def gaps(at: list[float]) -> list[float]:
    """The waits between commands, without the time each command took."""
    return [b - a - CALL_S for a, b in itertools.pairwise(at)]


def events(rec: Record, kind: str) -> list[str]:
    return [e.message for e in rec.events if e.kind == kind]


def fail_retire_destroys(world: object, count: int) -> object:
    """A hook: the old colour's destroy fails `count` times once retiring reaches it."""
    armed = {"done": False}

    def hook(i: int, rec: Record, cmd: Command) -> Record:
        if isinstance(cmd, Destroy) and rec.retiring and not armed["done"]:
            armed["done"] = True
            world.faults.fail_calls["destroy"] = count  # type: ignore[attr-defined]
        return rec

    return hook


# -- retiring --------------------------------------------------------------------------


def test_a_destroy_that_fails_once_while_retiring_is_retried_never_rolled_back() -> None:
    world, trace = live_world(), Trace()
    rec = drive(new_record(environment(), "v2"), world, FakeClock(), hook=fail_retire_destroys(world, 1), trace=trace)
    assert rec.status is Status.SUCCEEDED and not rec.in_rollback and rec.failure is None
    assert destroys(trace) == [BLUE, BLUE]
    assert world.weights == {"blue": 0, "green": 100} and list(world.colours) == ["green"]
    assert gaps(times(trace, Destroy)) == [RETRY_BACKOFF_S]
    assert not events(rec, "rollback_started")


def test_a_retire_that_keeps_failing_stops_for_an_operator_then_resume_finishes() -> None:
    world, clock, trace = live_world(), FakeClock(), Trace()
    hook = fail_retire_destroys(world, 50)
    rec = drive(new_record(environment(), "v2"), world, clock, hook=hook, trace=trace)
    assert (rec.status, rec.phase) == (Status.BLOCKED, Phase.RETIRE)
    assert rec.note.startswith("retiring blue failed: simulated failure of destroy")
    assert rec.note.endswith("then run: bluegreen resume web")
    # The new colour keeps all traffic: no rollback onto what is left of the old one.
    assert world.weights == {"blue": 0, "green": 100} and not rec.in_rollback
    assert [c.weights.of(GREEN) for _, c, _ in trace.commands if isinstance(c, SetWeights)] == [100]
    # Five tries, each waiting longer than the one before.
    assert ROLLBACK_ATTEMPTS == 5 and gaps(times(trace, Destroy)) == [1, 2, 3, 4]
    with pytest.raises(UsageError, match="too late to abort"):
        request_abort(rec, ACTOR, clock.now())
    # A resume gets a fresh budget of tries: the fault is still there, so it stops again after five more.
    resumed = request_resume(rec, ACTOR, clock.now())
    assert (resumed.status, resumed.note, resumed.attempts) == (Status.RUNNING, "", 0)
    assert resumed.events[-1].message == "resumed by tester@test"
    again = Trace()
    rec = drive(resumed, world, clock, trace=again)
    assert rec.status is Status.BLOCKED and len(times(again, Destroy)) == 5
    world.faults.fail_calls = {}
    rec = drive(request_resume(rec, ACTOR, clock.now()), world, clock)
    assert rec.status is Status.SUCCEEDED and list(world.colours) == ["green"]
    assert (rec.phase, rec.slots.keys()) == (Phase.DONE, {"green"})


def test_the_old_colour_is_destroyed_only_once_its_drain_says_it_serves_nothing() -> None:
    world, clock, trace = live_world(), FakeClock(), Trace()
    drain = SlowDrain(world, answers=1)

    def slow_after_deregistering(i: int, rec: Record, cmd: Command) -> Record:
        if isinstance(cmd, CheckDrain) and cmd.deregister and drain.last is not None and not drain.last.serving:
            drain.answers = 2 if len(times(trace, CheckDrain)) == 2 else drain.answers
        return rec

    env = environment(traffic={"check_every": "15s"})
    platform = slow_drain_platform(drain)
    rec = drive(new_record(env, "v2"), world, clock, hook=slow_after_deregistering, trace=trace, platform=platform)
    assert rec.status is Status.SUCCEEDED and rec.drained
    checks = [(t, c.deregister) for t, c, _ in trace.commands if isinstance(c, CheckDrain)]
    # Before retiring: serving, then nothing. Then deregistered: serving twice, then drained.
    assert [d for _, d in checks] == [False, False, True, True, True]
    assert gaps([t for t, _ in checks]) == [15, 0, 15, 15]
    assert times(trace, Destroy)[0] == checks[-1][0] + CALL_S
    # The same wait is told once, not at every check.
    assert events(rec, "drain") == [
        "waiting for blue to stop serving: requests in flight",
        "blue serves nothing",
        "waiting for blue to stop serving: requests in flight",
        "blue drained",
    ]


def test_an_abort_that_reaches_the_record_after_retiring_began_is_not_taken() -> None:
    world, clock, trace = live_world(), FakeClock(), Trace()

    def abort_sneaks_in(i: int, rec: Record, cmd: Command) -> Record:
        # Written by another process that read the record before retiring began.
        if rec.retiring and rec.abort is None:
            return rec.replace(abort=Request(by=ACTOR, at=clock.now(), reason="late"))
        return rec

    rec = drive(new_record(environment(), "v2"), world, clock, hook=abort_sneaks_in, trace=trace)
    assert rec.status is Status.SUCCEEDED and rec.abort is not None
    assert world.weights == {"blue": 0, "green": 100} and destroys(trace) == [BLUE]


def test_an_abort_while_blocked_moves_no_traffic_onto_an_old_colour_without_headroom() -> None:
    world, clock, trace = live_world(), FakeClock(), Trace()

    def old_colour_breaks_at_full(i: int, rec: Record, cmd: Command) -> Record:
        if rec.weights == Weights.all_on(GREEN):
            world.faults.old_colour_headroom = False
        return rec

    rec = drive(new_record(environment(), "v2"), world, clock, hook=old_colour_breaks_at_full, trace=trace)
    assert rec.status is Status.BLOCKED
    rec = drive(request_abort(rec, ACTOR, clock.now(), "give up"), world, clock, trace=trace)
    assert rec.status is Status.BLOCKED and not rec.in_rollback
    assert world.weights == {"blue": 0, "green": 100}
    assert len(times(trace, SetWeights)) == 1
    # Once the operator fixed the old colour and resumes, the abort is taken.
    world.faults.old_colour_headroom = True
    rec = drive(request_resume(rec, ACTOR, clock.now()), world, clock)
    assert rec.status is Status.ROLLED_BACK and world.weights == {"blue": 100, "green": 0}


def test_requests_on_a_finished_deployment_are_refused() -> None:
    world, clock = live_world(), FakeClock()
    rec = drive(new_record(environment(), "v2"), world, clock)
    assert rec.status is Status.SUCCEEDED
    with pytest.raises(UsageError, match="has already succeeded; there is nothing to abort"):
        request_abort(rec, ACTOR, clock.now())
    with pytest.raises(UsageError, match="has already succeeded; there is nothing to resume"):
        request_resume(rec, ACTOR, clock.now())
    with pytest.raises(UsageError, match="not at the promotion gate"):
        request_promote(rec, ACTOR, clock.now())


# -- rolling back ------------------------------------------------------------------------


def alarm_at_ten_percent(world: object, **rollback_faults: int) -> object:
    """A hook: an alarm fires in the 10% step; the rollback then meets `rollback_faults` (Faults fields)."""
    state = {"armed": False}

    def hook(i: int, rec: Record, cmd: Command) -> Record:
        if rec.weights == Weights.split(GREEN, 10):
            world.faults.firing_alarms = ["web-5xx"]  # type: ignore[attr-defined]
        if rec.in_rollback and not state["armed"]:
            state["armed"] = True
            for name, value in rollback_faults.items():
                setattr(world.faults, name, value)  # type: ignore[attr-defined]
        return rec

    return hook


@pytest.mark.parametrize("fault", ["lost_changes", "stale_readbacks"])
def test_a_rollback_removes_the_new_colour_only_after_reading_back_all_traffic_on_the_old(fault: str) -> None:
    world, clock, trace = live_world(), FakeClock(), Trace()
    hook = alarm_at_ten_percent(world, **{fault: 2})
    rec = drive(new_record(environment(traffic=CANARY), "v2"), world, clock, hook=hook, trace=trace)
    assert rec.status is Status.ROLLED_BACK and world.weights == {"blue": 100, "green": 0}
    mismatches = [e for e in rec.events if e.kind == "traffic_mismatch"]
    assert len(mismatches) in (1, 2) and all(e.data["weights"] == {"blue": 90, "green": 10} for e in mismatches)
    back = [(t, r) for t, c, r in trace.commands if isinstance(c, SetWeights) and r.in_rollback]
    assert len(back) == len(mismatches) + 1
    assert {r.status for _, r in back} == {Status.ROLLING_BACK}
    assert gaps([t for t, _ in back]) == [RETRY_BACKOFF_S] * len(mismatches)
    (removed_at, removing), *_ = [(t, r) for t, c, r in trace.commands if isinstance(c, Destroy)]
    assert removed_at > back[-1][0] and removing.weights == Weights.all_on(BLUE)
    assert events(rec, "rollback")[-1] == "all traffic is back on blue"


def test_a_rollback_whose_read_back_never_agrees_stops_as_incomplete_then_abort_retries() -> None:
    world, clock, trace = live_world(), FakeClock(), Trace()
    hook = alarm_at_ten_percent(world, lost_changes=100)
    rec = drive(new_record(environment(traffic=CANARY), "v2"), world, clock, hook=hook, trace=trace)
    assert (rec.status, rec.phase) == (Status.ROLLBACK_INCOMPLETE, Phase.ROLLBACK_TRAFFIC)
    assert rec.note.startswith("rollback incomplete: traffic could not be restored to blue: load balancer reports")
    assert rec.note.endswith("then run: bluegreen abort web")
    back = [t for t, c, r in trace.commands if isinstance(c, SetWeights) and r.in_rollback]
    assert len(back) == ROLLBACK_ATTEMPTS + 1  # one try and its retries, not forever
    assert destroys(trace) == [] and "green" in world.colours and rec.slots["green"]["version"] == "v2"
    assert sum(e.kind == "rollback_started" for e in rec.events) == 1
    # An abort retries the rollback with a fresh budget: one try and five retries again.
    retried = request_abort(rec, ACTOR, clock.now())
    assert (retried.status, retried.note, retried.attempts) == (Status.ROLLING_BACK, "", 0)
    assert retried.events[-1].message == "tester@test retries the rollback"
    again = Trace()
    rec = drive(retried, world, clock, trace=again)
    assert rec.status is Status.ROLLBACK_INCOMPLETE and len(times(again, SetWeights)) == 6
    # The operator fixed the load balancer.
    world.faults.lost_changes = 0
    rec = drive(request_abort(rec, ACTOR, clock.now()), world, clock)
    assert (rec.status, rec.phase) == (Status.ROLLED_BACK, Phase.ROLLED_BACK)
    assert world.weights == {"blue": 100, "green": 0} and list(world.colours) == ["blue"]
    assert rec.slots == {}  # green's slot, provisioned by this deployment, is gone with it


def test_a_failing_traffic_change_during_rollback_backs_off_then_gives_up() -> None:
    world, trace = live_world(), Trace()
    hook = alarm_at_ten_percent(world, fail_calls={"set_weights": 50})
    rec = drive(new_record(environment(traffic=CANARY), "v2"), world, FakeClock(), hook=hook, trace=trace)
    assert rec.status is Status.ROLLBACK_INCOMPLETE and world.weights == {"blue": 90, "green": 10}
    back = [t for t, c, r in trace.commands if isinstance(c, SetWeights) and r.in_rollback]
    assert gaps(back) == [RETRY_BACKOFF_S * n for n in range(1, ROLLBACK_ATTEMPTS)]
    assert rec.weights is None  # the last change failed: what the load balancer has is unknown


# -- when things happen -------------------------------------------------------------------


def test_a_failed_health_poll_rolls_back_at_once_not_at_the_deadline() -> None:
    env = environment(health_check={"interval": 10, "timeout": 2, "deadline": "10m"})
    world, clock, trace = live_world(), FakeClock(), Trace()
    world.faults.failed_versions = ["v2"]
    rec = drive(new_record(env, "v2"), world, clock, trace=trace)
    assert rec.status is Status.ROLLED_BACK and "green is unhealthy" in (rec.failure or "")
    polls = times(trace, CheckHealth)
    assert len(polls) == 1
    rolled = next(e.at for e in rec.events if e.kind == "rollback_started")
    assert rolled == polls[0] + CALL_S


def test_a_pending_then_failed_colour_rolls_back_at_the_failed_poll() -> None:
    env = environment(health_check={"interval": 10, "timeout": 2, "deadline": "10m"})
    world, clock, trace = live_world(), FakeClock(), Trace()
    world.faults.healthy_after_polls = 5

    def fails_on_third_poll(i: int, rec: Record, cmd: Command) -> Record:
        if isinstance(cmd, CheckHealth) and len(times(trace, CheckHealth)) == 2:
            world.faults.failed_versions = ["v2"]
        return rec

    rec = drive(new_record(env, "v2"), world, clock, hook=fails_on_third_poll, trace=trace)
    assert rec.status is Status.ROLLED_BACK
    polls = times(trace, CheckHealth)
    assert len(polls) == 3 and gaps(polls) == [10, 10]
    assert next(e.at for e in rec.events if e.kind == "rollback_started") == polls[-1] + CALL_S


N = ROLLBACK_ATTEMPTS
POLL_ERRORS = {  # pattern: which health polls fail (1-based), and whether the deploy must still succeed
    "every other poll": (lambda n: n % 2 == 1, True),
    f"{N - 1} in a row, again and again": (lambda n: n % N != 0, True),
    f"one, an answer, then {N} in a row": (lambda n: n == 1 or 3 <= n <= N + 2, False),
}


@pytest.mark.parametrize("pattern", list(POLL_ERRORS))
def test_poll_errors_give_up_only_when_they_come_in_a_row(pattern: str) -> None:
    """A long health wait on AWS sees throttling now and then: only ROLLBACK_ATTEMPTS errors in a row end it."""
    fails, succeeds = POLL_ERRORS[pattern]
    env = environment(health_check={"interval": 10, "timeout": 2, "deadline": "10m"})
    world, clock, trace = live_world(), FakeClock(), Trace()
    world.faults.healthy_after_polls = 3 * N  # PENDING long enough for many errors
    tries = {"n": 0}

    def errors(i: int, rec: Record, cmd: Command) -> Record:
        if isinstance(cmd, CheckHealth):
            tries["n"] += 1
            world.faults.fail_calls["check"] = 1 if fails(tries["n"]) else 0
        return rec

    rec = drive(new_record(env, "v2"), world, clock, hook=errors, trace=trace)
    failed = [e for e in rec.events if e.kind == "command_failed"]
    if succeeds:
        assert len(failed) > N  # more errors in all than the limit, never that many in a row
        assert rec.status is Status.SUCCEEDED, rec.failure
    else:
        assert rec.status is Status.ROLLED_BACK and len(failed) == N + 1, [e.message for e in failed]


@pytest.mark.parametrize(("hold", "every"), [(25, 10), (7, 10), (30, 10)])
def test_a_hold_ends_on_time_whatever_the_check_interval(hold: int, every: int) -> None:
    traffic = {"strategy": "canary", "steps": [{"weight": 10, "wait": hold}], "check_every": every}
    world, trace = live_world(), Trace()
    rec = drive(new_record(environment(traffic=traffic), "v2"), world, FakeClock(), trace=trace)
    assert rec.status is Status.SUCCEEDED
    first, full = times(trace, SetWeights)
    held_from = first + CALL_S  # the 10% read back
    assert full == held_from + hold
    # Alarms are looked at every interval (after each answer) while the hold lasts, never past its end.
    expected, t = [], float(every)
    while t < hold:
        expected.append(t)
        t += every + CALL_S
    assert [t - held_from for t in times(trace, CheckAlarms)] == expected


def test_after_the_scale_down_delay_a_serving_old_colour_is_checked_every_interval_not_after_another_delay() -> None:
    world, clock, trace = live_world(), FakeClock(), Trace()
    drain = SlowDrain(world, answers=1)
    env = environment(traffic={"check_every": "15s"}, scale_down_delay="60s")
    rec = drive(new_record(env, "v2"), world, clock, trace=trace, platform=slow_drain_platform(drain))
    assert rec.status is Status.SUCCEEDED
    checks = times(trace, CheckDrain)
    retire_started = next(e.at for e in rec.events if e.kind == "step_started" and "retire" in e.message)
    assert checks[0] == retire_started + 60 and gaps(checks)[0] == 15
