"""What the state machine writes into the record on the way: events once per change, slots, timestamps, edges.

The pictures, the live panel and `status` read the record; these tests pin what
they rely on, and the edges of the rules (a deadline met exactly, two alarms,
an answer that arrives when nothing is in flight).
"""

from __future__ import annotations

import pytest

from bluegreen.commands import CheckHealth, DrainChecked, HeadroomChecked, HealthPolled, SetWeights
from bluegreen.machine import decide
from bluegreen.model import Colour, Inflight, Phase, Record, Status, StepKind, Weights
from bluegreen.ports import DrainState, Headroom, HealthSnapshot, HealthState
from tests.core.envs import CANARY, environment
from tests.core.sim import FakeClock, Trace, drive, live_world, new_record, release_data

BLUE, GREEN = Colour.BLUE, Colour.GREEN


def at_step(rec: Record, kind: StepKind, **changes: object) -> Record:
    """The record at the first step of `kind`, that step's command in flight."""
    index = next(i for i, s in enumerate(rec.steps) if s.kind is kind)
    inflight = Inflight(seq=rec.seq + 1, name="X", started_at=0.0)
    return rec.replace(step_index=index, phase=Phase(kind.value), step_started_at=0.0, inflight=inflight, **changes)


def test_a_deployment_tells_each_command_that_finished_but_not_each_poll() -> None:
    rec = drive(new_record(environment(), "v2"), live_world(), FakeClock())
    assert rec.status is Status.SUCCEEDED
    finished = [e.message for e in rec.events if e.kind == "command_finished"]
    assert finished == [
        "Bake finished",
        "Provision finished",
        "Smoke finished",
        "CheckHeadroom finished",
        "SetWeights finished",
        "CheckHeadroom finished",
        "Destroy finished",
    ]
    started = [e.message.split(" ")[0] for e in rec.events if e.kind == "command_started"]
    assert started == ["baking", "provisioning", "smoke", "checking", "setting", "checking", "removing"]
    steps = [e.message for e in rec.events if e.kind == "step_finished"]
    assert steps[0].startswith("baked image ami-") and steps[1] == "green provisioned"


def test_the_new_colours_slot_is_kept_until_it_is_removed() -> None:
    world, clock = live_world(), FakeClock()
    world.faults.smoke_fail_versions = ["v2"]
    trace = Trace()
    rec = drive(new_record(environment(), "v2"), world, clock, trace=trace)
    provisioned = next(r for _, c, r in trace.commands if r.phase is Phase.SMOKE)
    assert provisioned.slots == {"green": {"group": "sim-green", "version": "v2"}}
    assert (rec.status, rec.phase, rec.slots) == (Status.ROLLED_BACK, Phase.ROLLED_BACK, {})


def test_health_is_recorded_when_it_changes_not_at_every_poll() -> None:
    env = environment(health_check={"interval": 10, "timeout": 2, "healthy_threshold": 3})
    world = live_world()
    world.faults.healthy_after_polls = 3  # two polls initial, then healthy
    rec = drive(new_record(env, "v2"), world, FakeClock())
    health = [e for e in rec.events if e.kind == "health"]
    assert [e.data["state"] for e in health] == ["pending", "healthy"]
    assert rec.healthy_passed


def test_the_health_deadline_met_exactly_rolls_back() -> None:
    # A poll every 10 s, each answer 0.5 s late: the third poll would be due at 21 s, the deadline.
    env = environment(health_check={"interval": 10, "timeout": 2, "deadline": "21s"})
    world, trace = live_world(), Trace()
    world.faults.unhealthy_versions = ["v2"]
    rec = drive(new_record(env, "v2"), world, FakeClock(), trace=trace)
    polls = [t for t, c, _ in trace.commands if isinstance(c, CheckHealth)]
    started = next(e.at for e in rec.events if e.kind == "step_started" and "healthy" in e.message)
    assert polls == [started, started + 10.5]
    assert next(e.at for e in rec.events if e.kind == "rollback_started") == started + 21


def test_of_two_alarms_the_first_is_named() -> None:
    world = live_world()
    world.faults.firing_alarms = ["web-5xx", "web-latency"]
    rec = drive(new_record(environment(traffic=CANARY), "v2"), world, FakeClock())
    assert rec.status is Status.ROLLED_BACK
    assert rec.failure is not None and rec.failure.startswith("alarm web-5xx is in ALARM")


def test_an_answer_when_nothing_is_in_flight_is_ignored() -> None:
    rec = new_record(environment(), "v2", ami="ami-1")
    answer = HealthPolled(seq=1, snapshot=HealthSnapshot(HealthState.FAILED, 0, 1))
    d = decide(rec, answer, 5.0)
    assert not d.record.in_rollback and d.record.failure is None


def test_a_poll_answer_stamps_the_record_even_when_it_changes_nothing_else() -> None:
    rec = at_step(new_record(environment(), "v2", ami="ami-1"), StepKind.WAIT_HEALTHY)
    rec = rec.replace(step_started_at=1_000_090.0)  # well within the deadline
    snap = HealthSnapshot(HealthState.PENDING, 0, 1)
    for now in (1_000_100.0, 1_000_123.0):  # the second answer is the same: no event
        assert rec.inflight is not None
        rec = decide(rec, HealthPolled(rec.inflight.seq, snap), now).record
        assert rec.updated_at == now
        rec = rec.replace(inflight=Inflight(seq=rec.seq + 1, name="CheckHealth", started_at=now), seq=rec.seq + 1)
    assert [e.kind for e in rec.events].count("health") == 1 and not rec.in_rollback


def test_promote_and_resume_change_only_what_they_are_for() -> None:
    from bluegreen.errors import UsageError
    from bluegreen.machine import request_promote, request_resume
    from tests.core.sim import ACTOR

    world, clock = live_world(), FakeClock()
    rec = drive(new_record(environment(traffic=CANARY, promotion="manual"), "v2"), world, clock)
    assert rec.status is Status.PAUSED
    # Resuming a deployment paused at the gate does not pass the gate.
    resumed = request_resume(rec, ACTOR, clock.now())
    assert (resumed.status, resumed.note) == (Status.PAUSED, rec.note)
    # A second promote keeps the first one's request and says nothing more.
    once = request_promote(rec, ACTOR, clock.now())
    twice = request_promote(once, ACTOR.__class__("bob"), clock.now() + 5)
    assert twice == once
    # An abandoned deployment (its lock broken) cannot be promoted, even at the gate.
    with pytest.raises(UsageError, match="not at the promotion gate"):
        request_promote(rec.replace(status=Status.ABANDONED), ACTOR, clock.now())


def test_headroom_missing_with_the_weights_unknown_refuses_to_shift() -> None:
    rec = at_step(new_record(environment(), "v2", ami="ami-1"), StepKind.HEADROOM, weights=None)
    assert rec.inflight is not None
    after = decide(rec, HeadroomChecked(rec.inflight.seq, Headroom(False, "blue has 0/1 in service")), 1.0).record
    assert after.in_rollback and after.failure is not None and after.failure.endswith("refusing to shift")


def test_a_forwarding_rule_seen_once_retiring_began_is_waited_out_not_blocked() -> None:
    rec = at_step(new_record(environment(), "v2", ami="ami-1"), StepKind.RETIRE, retiring=True)
    rec = rec.replace(weights=Weights.all_on(GREEN))
    assert rec.inflight is not None
    drain = DrainState(True, "rule r1 forwards to blue", blocked=True)
    after = decide(rec, DrainChecked(rec.inflight.seq, drain), 100.0)
    assert after.record.status is Status.RUNNING and after.record.retiring
    assert "waiting for blue to stop serving" in after.record.note


def test_a_promote_at_the_gate_does_not_pass_a_later_analysis_pause() -> None:
    """Gate before 100%, then the bake time is judged: a marginal verdict there waits for its own promote."""
    from bluegreen.machine import request_promote
    from tests.core.sim import ACTOR

    metrics = [
        {"name": "response_time", "metric": "TargetResponseTime", "weight": 9},
        {"name": "response_time_p99", "metric": "TargetResponseTime", "statistic": "p99", "weight": 1},
    ]
    env = environment(
        traffic={"strategy": "all-at-once"},
        promotion="manual",
        bake_time="2m",
        analysis={"interval": "60s", "metrics": metrics},
    )
    slow_tail = release_data(2)
    slow_tail["response_time_p99"] = release_data(3, slower=1.5)["response_time_p99"]
    world, clock = live_world(), FakeClock()
    world.faults.analysis_samples = {"v1": release_data(1), "v2": slow_tail}
    rec = drive(new_record(env, "v2"), world, clock)
    assert (rec.status, rec.phase) == (Status.PAUSED, Phase.GATE)
    rec = drive(request_promote(rec, ACTOR, clock.now()), world, clock)
    assert (rec.status, rec.phase, rec.analysis_hold) == (Status.PAUSED, Phase.OBSERVE, True)
    assert rec.promote is None and world.weights == {"blue": 0, "green": 100} and "blue" in world.colours
    assert [e.kind for e in rec.events][-2:] == ["analysis", "gate"]


def test_the_gate_is_told_once_however_often_it_is_looked_at_and_its_note_goes_with_it() -> None:
    from bluegreen.machine import request_promote
    from tests.core.sim import ACTOR

    world, clock = live_world(), FakeClock()
    rec = drive(new_record(environment(traffic=CANARY, promotion="manual"), "v2"), world, clock)
    rec = drive(rec, world, clock)  # a second process looks, nobody promoted yet
    assert rec.status is Status.PAUSED and [e.kind for e in rec.events].count("gate") == 1
    trace = Trace()
    rec = drive(request_promote(rec, ACTOR, clock.now()), world, clock, trace=trace)
    assert (rec.status, rec.note) == (Status.SUCCEEDED, "")
    _, full, promoted = trace.commands[0]  # the shift to 100% right after the gate
    assert full == SetWeights(Weights.all_on(GREEN)) and (promoted.status, promoted.note) == (Status.RUNNING, "")


def test_a_rollback_after_failed_read_backs_gets_its_own_budget_of_tries() -> None:
    world, clock = live_world(), FakeClock()
    armed: set[str] = set()

    def lost_changes_at_50_then_in_the_rollback(i: int, rec: Record, cmd: object) -> Record:
        # The 50% change is never applied: three mismatches, then rollback, which meets five more.
        for name, now, count in (("shift", rec.step is not None and rec.step.weight == 50, 3),
                                 ("rollback", rec.in_rollback, 5)):  # fmt: skip
            if now and name not in armed:
                armed.add(name)
                world.faults.lost_changes = count
        return rec

    traffic = {**CANARY, "readback_retries": 2}
    rec = drive(
        new_record(environment(traffic=traffic), "v2"), world, clock, hook=lost_changes_at_50_then_in_the_rollback
    )
    assert rec.status is Status.ROLLED_BACK, rec.note
    assert sum(e.kind == "traffic_mismatch" for e in rec.events) == 3 + 5


def test_an_abort_during_a_hold_turns_back_at_once_not_at_the_next_check() -> None:
    from bluegreen.commands import SetWeights
    from bluegreen.model import Request
    from tests.core.sim import ACTOR

    rec = at_step(new_record(environment(traffic=CANARY), "v2", ami="ami-1"), StepKind.SHIFT)
    rec = rec.replace(inflight=None, weights=Weights.split(GREEN, 10), wait_until=160.0, next_check_at=110.0)
    rec = rec.replace(abort=Request(by=ACTOR, at=100.0))
    d = decide(rec, None, 100.0)
    assert d.record.in_rollback and d.command == SetWeights(Weights.all_on(BLUE))


@pytest.mark.parametrize(("failures", "status"), [(4, Status.SUCCEEDED), (5, Status.ROLLED_BACK)])
def test_a_poll_that_keeps_failing_before_traffic_moved_rolls_back_after_five_tries(
    failures: int, status: Status
) -> None:
    world = live_world()
    world.faults.fail_calls = {"check": failures}
    rec = drive(new_record(environment(), "v2"), world, FakeClock())
    assert rec.status is status and world.weights == (
        {"blue": 0, "green": 100} if failures == 4 else {"blue": 100, "green": 0}
    )
    if status is Status.ROLLED_BACK:
        assert rec.failure is not None and rec.failure.startswith("wait until healthy")
        assert rec.failure.endswith("failed: simulated failure of check (simulated platform)")
