"""The state machine, scenario by scenario, against the in-memory world."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from bluegreen.adapters.simulated import World
from bluegreen.commands import Bake, CheckAlarms, CheckHealth, Command, Destroy, SetWeights
from bluegreen.errors import UsageError
from bluegreen.machine import decide, request_abort, request_promote, request_resume
from bluegreen.model import Colour, Phase, Record, Status, StepKind, Weights, record_from_dict, record_to_dict
from tests.core.envs import CANARY, LINEAR, environment
from tests.core.sim import ACTOR, FakeClock, Killed, Trace, destroys, drive, live_world, new_record

BLUE, GREEN = Colour.BLUE, Colour.GREEN


def weights_set(trace: Trace) -> list[dict[str, int]]:
    return [cmd.weights.to_json() for _, cmd, _ in trace.commands if isinstance(cmd, SetWeights)]


def test_all_at_once_deploy_moves_traffic_then_retires_old(tmp_path: Path) -> None:
    env = environment(scale_down_delay="30s")
    world, clock, trace = live_world(), FakeClock(), Trace()
    rec = drive(new_record(env, "v2"), world, clock, trace=trace)
    assert (rec.status, rec.phase) == (Status.SUCCEEDED, Phase.DONE)
    assert world.weights == {"blue": 0, "green": 100}
    assert list(world.colours) == ["green"]
    assert weights_set(trace) == [{"blue": 0, "green": 100}]
    assert destroys(trace) == [BLUE]
    assert rec.release.ami and rec.release.source_hash
    retire_started = next(e.at for e in rec.events if e.kind == "step_started" and "retire" in e.message)
    destroyed_at = next(t for t, c, _ in trace.commands if isinstance(c, Destroy))
    assert destroyed_at >= retire_started + 30


def test_canary_steps_each_read_back_and_held(tmp_path: Path) -> None:
    env = environment(traffic=CANARY)
    world, clock, trace = live_world(), FakeClock(), Trace()
    start = clock.now()
    rec = drive(new_record(env, "v2"), world, clock, trace=trace)
    assert rec.status is Status.SUCCEEDED
    assert weights_set(trace) == [{"blue": 90, "green": 10}, {"blue": 50, "green": 50}, {"blue": 0, "green": 100}]
    assert clock.now() - start >= 120
    assert [e.message for e in rec.events if e.kind == "traffic"] == [
        "blue 90% / green 10% (read back)",
        "blue 50% / green 50% (read back)",
        "blue 0% / green 100% (read back)",
    ]


def test_linear_reaches_full_in_steps(tmp_path: Path) -> None:
    env = environment(traffic=LINEAR)
    world, trace = live_world(), Trace()
    drive(new_record(env, "v2"), world, FakeClock(), trace=trace)
    assert [w["green"] for w in weights_set(trace)] == [25, 50, 75, 100]


def test_first_deploy_sends_all_traffic_to_blue(tmp_path: Path) -> None:
    from bluegreen.adapters.simulated import World

    env = environment()
    world = World()
    rec = drive(new_record(env, "v1", live=None), world, FakeClock())
    assert rec.status is Status.SUCCEEDED and rec.to_colour is BLUE
    assert world.weights == {"blue": 100, "green": 0}


def test_health_needs_consecutive_healthy_polls(tmp_path: Path) -> None:
    env = environment(health_check={"interval": 10, "timeout": 2, "healthy_threshold": 3})
    world, trace = live_world(), Trace()
    world.faults.healthy_after_polls = 2  # one PENDING poll first
    drive(new_record(env, "v2"), world, FakeClock(), trace=trace)
    polls = [t for t, c, _ in trace.commands if isinstance(c, CheckHealth)]
    assert len(polls) == 4  # 1 pending + 3 healthy in a row
    assert all(b - a >= 10 for a, b in itertools.pairwise(polls))


def test_never_healthy_rolls_back_at_the_deadline_without_traffic(tmp_path: Path) -> None:
    env = environment(health_check={"interval": 10, "timeout": 2, "deadline": "2m"})
    world, clock, trace = live_world(), FakeClock(), Trace()
    world.faults.unhealthy_versions = ["v2"]
    start = clock.now()
    rec = drive(new_record(env, "v2"), world, clock, trace=trace)
    assert rec.status is Status.ROLLED_BACK
    assert "not healthy within 120s" in (rec.failure or "")
    assert "initial (Elb.InitialHealthChecking)" in (rec.failure or "")
    assert 120 <= clock.now() - start < 140
    assert world.weights == {"blue": 100, "green": 0} and list(world.colours) == ["blue"]
    assert all(w["green"] == 0 for w in weights_set(trace))


def test_failed_health_rolls_back_at_once_naming_the_reason(tmp_path: Path) -> None:
    env = environment()
    world = live_world()
    world.faults.failed_versions = ["v2"]
    rec = drive(new_record(env, "v2"), world, FakeClock())
    assert rec.status is Status.ROLLED_BACK
    assert "Target.ResponseCodeMismatch" in (rec.failure or "")


def test_smoke_failure_never_sends_traffic(tmp_path: Path) -> None:
    env = environment(traffic=CANARY)
    world, trace = live_world(), Trace()
    world.faults.smoke_fail_versions = ["v2"]
    rec = drive(new_record(env, "v2"), world, FakeClock(), trace=trace)
    assert rec.status is Status.ROLLED_BACK and "smoke checks failed" in (rec.failure or "")
    assert all(w["green"] == 0 for w in weights_set(trace))
    assert list(world.colours) == ["blue"]


def test_alarm_during_canary_rolls_back_naming_the_alarm(tmp_path: Path) -> None:
    env = environment(traffic=CANARY)
    world, trace = live_world(), Trace()

    def fire_in_step_two(i: int, rec: Record, cmd: Command) -> Record:
        if rec.step is not None and rec.step.weight == 50:
            world.faults.firing_alarms = ["web-5xx"]
        return rec

    rec = drive(new_record(env, "v2"), world, FakeClock(), hook=fire_in_step_two, trace=trace)
    assert rec.status is Status.ROLLED_BACK
    assert rec.failure is not None and rec.failure.startswith("alarm web-5xx is in ALARM: Threshold Crossed")
    assert world.weights == {"blue": 100, "green": 0}
    assert weights_set(trace)[-1] == {"blue": 100, "green": 0}


def test_stale_readback_is_retried_then_confirmed(tmp_path: Path) -> None:
    env = environment()
    world = live_world()
    world.faults.stale_readbacks = 1
    rec = drive(new_record(env, "v2"), world, FakeClock())
    assert rec.status is Status.SUCCEEDED
    assert sum(e.kind == "traffic_mismatch" for e in rec.events) == 1
    assert [e.message for e in rec.events if e.kind == "traffic"] == ["blue 0% / green 100% (read back)"]


def test_readback_that_never_agrees_fails_into_rollback(tmp_path: Path) -> None:
    env = environment(traffic={"readback_retries": 2})
    world = live_world()
    world.faults.lost_changes = 3  # the load balancer takes the change but never applies it
    rec = drive(new_record(env, "v2"), world, FakeClock())
    assert rec.status is Status.ROLLED_BACK
    assert "traffic change not confirmed: load balancer reports blue 100% / green 0%" in (rec.failure or "")
    assert sum(e.kind == "traffic_mismatch" for e in rec.events) == 3
    assert world.weights == {"blue": 100, "green": 0}


def test_manual_promotion_pauses_at_gate_then_continues(tmp_path: Path) -> None:
    env = environment(traffic=CANARY, promotion="manual")
    world, clock = live_world(), FakeClock()
    rec = drive(new_record(env, "v2"), world, clock)
    assert (rec.status, rec.phase) == (Status.PAUSED, Phase.GATE)
    assert world.weights == {"blue": 50, "green": 50}
    assert "bluegreen promote web" in rec.note
    rec = request_promote(rec, ACTOR, clock.now())
    rec = drive(rec, world, clock)
    assert rec.status is Status.SUCCEEDED and world.weights["green"] == 100


def test_promote_outside_the_gate_is_refused(tmp_path: Path) -> None:
    env = environment()
    with pytest.raises(UsageError, match="not at the promotion gate"):
        request_promote(new_record(env, "v2"), ACTOR, 0)


@pytest.mark.parametrize("kind", list(StepKind))
def test_abort_in_each_phase_ends_on_the_old_colour(tmp_path: Path, kind: StepKind) -> None:
    env = environment(traffic=CANARY, promotion="manual", bake_time=60, scale_down_delay=60)
    world, clock = live_world(), FakeClock()

    def abort_at_kind(i: int, rec: Record, cmd: Command) -> Record:
        if rec.step is not None and rec.step.kind is kind and rec.abort is None:
            # RETIRE: after the scale-down delay, before the old colour's destroy begins.
            return request_abort(rec, ACTOR, clock.now(), "operator said so")
        return rec

    rec = drive(new_record(env, "v2"), world, clock, hook=abort_at_kind)
    if rec.status is Status.PAUSED:
        if kind is StepKind.GATE:  # the abort arrives while it waits at the gate
            rec = request_abort(rec, ACTOR, clock.now())
        else:
            rec = request_promote(rec, ACTOR, clock.now())
        rec = drive(rec, world, clock, hook=abort_at_kind)
    assert rec.status is Status.ROLLED_BACK, (kind, rec.phase, rec.note)
    assert world.weights == {"blue": 100, "green": 0}
    assert list(world.colours) == ["blue"]
    assert "aborted by tester@test" in (rec.failure or "")


def test_abort_after_retire_began_is_refused(tmp_path: Path) -> None:
    env = environment()
    rec = new_record(env, "v2").replace(phase=Phase.RETIRE, retiring=True)
    with pytest.raises(UsageError, match="too late to abort"):
        request_abort(rec, ACTOR, 0)


def test_rollback_that_cannot_restore_traffic_says_so_then_abort_retries(tmp_path: Path) -> None:
    env = environment()
    world, clock = live_world(), FakeClock()
    world.faults.smoke_fail_versions = ["v2"]
    world.faults.fail_calls = {"set_weights": 50}
    rec = drive(new_record(env, "v2"), world, clock)
    assert rec.status is Status.ROLLBACK_INCOMPLETE
    assert "traffic could not be restored to blue" in rec.note and "bluegreen abort web" in rec.note
    world.faults.fail_calls = {}
    rec = drive(request_abort(rec, ACTOR, clock.now()), world, clock)
    assert rec.status is Status.ROLLED_BACK and list(world.colours) == ["blue"]


def test_failed_decommission_leaves_traffic_on_old_and_asks_for_operator(tmp_path: Path) -> None:
    env = environment()
    world, clock = live_world(), FakeClock()
    world.faults.smoke_fail_versions = ["v2"]
    world.faults.fail_calls = {"destroy": 50}
    rec = drive(new_record(env, "v2"), world, clock)
    assert rec.status is Status.ROLLBACK_INCOMPLETE
    assert "traffic is back on blue, but removing green failed" in rec.note
    assert world.weights == {"blue": 100, "green": 0}


def test_a_failed_traffic_change_leaves_the_weights_unknown_until_read_back(tmp_path: Path) -> None:
    from bluegreen.commands import Failed

    env = environment()
    rec = new_record(env, "v2", ami="ami-1")
    clock = FakeClock()
    world = live_world()
    # Drive to the first traffic change, then answer it with a failure (it may have landed anyway).
    with pytest.raises(_AtShift) as stopped:
        drive(rec, world, clock, hook=lambda i, r, c: _stop_at_shift(r, c))
    rec = stopped.value.rec
    assert rec.weights == Weights(blue=100, green=0)
    assert rec.inflight is not None and rec.inflight.name == "SetWeights"
    after = decide(rec, Failed(rec.inflight.seq, "no answer from the load balancer"), clock.now()).record
    assert after.weights is None  # unknown, not the weights from before the change
    assert after.in_rollback


def _stop_at_shift(rec: Record, cmd: Command) -> Record:
    if isinstance(cmd, SetWeights):
        raise _AtShift(rec)
    return rec


class _AtShift(Exception):
    def __init__(self, rec: Record) -> None:
        self.rec = rec


def test_transient_errors_in_polls_are_retried(tmp_path: Path) -> None:
    env = environment()
    world = live_world()
    world.faults.fail_calls = {"check": 2}
    rec = drive(new_record(env, "v2"), world, FakeClock())
    assert rec.status is Status.SUCCEEDED


def test_headroom_missing_refuses_to_shift(tmp_path: Path) -> None:
    env = environment()
    world, trace = live_world(), Trace()
    world.faults.old_colour_headroom = False
    rec = drive(new_record(env, "v2"), world, FakeClock(), trace=trace)
    assert rec.status is Status.ROLLED_BACK and "refusing to shift" in (rec.failure or "")
    assert all(w["green"] == 0 for w in weights_set(trace))


def test_old_colour_losing_headroom_before_retire_blocks_instead_of_retiring(tmp_path: Path) -> None:
    env = environment()
    world, clock, trace = live_world(), FakeClock(), Trace()

    def break_old_colour_at_full(i: int, rec: Record, cmd: Command) -> Record:
        if rec.weights == Weights.all_on(GREEN):
            world.faults.old_colour_headroom = False
        return rec

    rec = drive(new_record(env, "v2"), world, clock, hook=break_old_colour_at_full, trace=trace)
    assert rec.status is Status.BLOCKED and "not retiring it" in rec.note and "bluegreen resume web" in rec.note
    assert destroys(trace) == [] and world.weights == {"blue": 0, "green": 100}
    world.faults.old_colour_headroom = True
    from bluegreen.machine import request_resume

    rec = drive(request_resume(rec, ACTOR, clock.now()), world, clock)
    assert rec.status is Status.SUCCEEDED and list(world.colours) == ["green"]


def test_an_answer_to_an_older_command_is_ignored(tmp_path: Path) -> None:
    from bluegreen.commands import Smoked
    from bluegreen.ports import SmokeResult

    env = environment()
    rec = new_record(env, "v2", ami="ami-1")
    d = decide(rec, None, 0)
    stale = Smoked(seq=d.record.seq + 7, result=SmokeResult(True))
    again = decide(d.record, stale, 1)
    assert again.record.inflight == d.record.inflight or again.record.step_index == d.record.step_index
    assert not again.record.smoke_passed


def test_killed_after_a_command_ran_resumes_by_running_it_again(tmp_path: Path) -> None:
    env = environment()
    world, clock = live_world(), FakeClock()
    rec = new_record(env, "v2")
    d = decide(rec, None, clock.now())  # bake is in flight; the process dies before recording it
    world.bake("web", "v2")
    resumed = drive(d.record, world, clock)
    assert resumed.status is Status.SUCCEEDED
    assert any(e.kind == "resumed" for e in resumed.events)
    assert [entry for entry in world.log if entry[0] == "bake"] == [["bake", "v2", False], ["bake", "v2", True]]


def test_blue_to_green_then_green_to_blue(tmp_path: Path) -> None:
    env = environment()
    world, clock = live_world(), FakeClock()
    drive(new_record(env, "v2", live=BLUE), world, clock)
    rec = drive(new_record(env, "v3", live=GREEN), world, clock)
    assert rec.status is Status.SUCCEEDED and world.weights == {"blue": 100, "green": 0}
    assert world.colours["blue"]["version"] == "v3"


def test_a_killed_force_bake_deploy_bakes_again_when_resumed(tmp_path: Path) -> None:
    env = environment()
    world, clock = live_world(), FakeClock()
    first = world.bake("web", "v2").ami  # an image of the same source exists: without force it would be reused

    def kill_at_bake(i: int, rec: Record, cmd: Command) -> Record:
        if isinstance(cmd, Bake):
            raise Killed(rec)  # the process dies with the bake in flight
        return rec

    with pytest.raises(Killed) as killed:
        drive(new_record(env, "v2", force_bake=True), world, clock, hook=kill_at_bake)
    stored = record_from_dict(record_to_dict(killed.value.record))  # what the store kept
    assert stored.force_bake and stored.inflight is not None and stored.inflight.name == "Bake"

    rec = drive(stored, world, clock)  # `bluegreen resume`: a new process, nothing but the record
    assert rec.status is Status.SUCCEEDED
    assert [entry for entry in world.log if entry[0] == "bake"] == [["bake", "v2", False], ["bake", "v2", False]]
    assert rec.release.ami != first and world.colours["green"]["image"] == rec.release.ami


# -- metrics read after they are published ---------------------------------------------

LAGGED = {"strategy": "canary", "steps": [{"weight": 10, "wait": "60s"}], "check_every": "10s"}


def _publish_5xx_late(world: World, clock: FakeClock, delay: float) -> Callable[[int, Record, Command], Record]:
    """The 10% step's 5xx reach CloudWatch `delay` after the step started: its alarms fire from then on."""

    def hook(i: int, rec: Record, cmd: Command) -> Record:
        step = rec.step
        started = rec.step_started_at if step is not None and step.weight == 10 else None
        if started is not None and clock.now() >= started + delay:
            world.faults.firing_alarms = ["max_5xx"]
        return rec

    return hook


@pytest.mark.parametrize("lag", [0, 60])
def test_the_last_minute_of_a_hold_is_judged_after_the_publication_lag(lag: int) -> None:
    # 5xx during the hold's last minute are published 30 s after the hold ended.
    env = environment(traffic=LAGGED, metrics={"max_5xx": 5, "publication_lag": f"{lag}s"})
    world, clock = live_world(), FakeClock()
    rec = drive(new_record(env, "v2"), world, clock, hook=_publish_5xx_late(world, clock, 60 + 30))
    if lag == 0:
        # Without waiting for the lag, the step advances before its last minute is published: never judged.
        assert rec.status is Status.SUCCEEDED
        return
    assert rec.status is Status.ROLLED_BACK, rec.note
    assert rec.failure is not None and rec.failure.startswith("alarm max_5xx is in ALARM")
    assert world.weights == {"blue": 100, "green": 0}
    assert any(e.kind == "hold" and "(60s publication lag)" in e.message for e in rec.events)


def test_a_clean_step_advances_only_on_a_check_after_the_lag() -> None:
    env = environment(traffic=LAGGED, metrics={"max_5xx": 5, "publication_lag": "60s"})
    trace = Trace()
    rec = drive(new_record(env, "v2"), live_world(), FakeClock(), trace=trace)
    assert rec.status is Status.SUCCEEDED
    shift = next(e for e in rec.events if e.kind == "step_finished" and "shift 10%" in e.message)
    assert "checked again after the 60s lag" in shift.message
    full = next(at for at, cmd, _ in trace.commands if isinstance(cmd, SetWeights) and cmd.weights.green == 100)
    first = next(at for at, cmd, _ in trace.commands if isinstance(cmd, SetWeights))
    assert full - first >= 60 + 60
    checks = [cmd for _, cmd, _ in trace.commands if isinstance(cmd, CheckAlarms)]
    assert checks and all(c.since is not None for c in checks)


def test_what_the_metrics_could_not_judge_is_recorded_once() -> None:
    env = environment(traffic=LAGGED, metrics={"max_5xx": 5, "publication_lag": "60s"})
    world = live_world()
    note = "no requests published for target group web-green from 10:00 to 10:01: nothing judged"
    world.faults.alarm_notes = [note]
    rec = drive(new_record(env, "v2"), world, FakeClock())
    assert rec.status is Status.SUCCEEDED
    assert [e.message for e in rec.events if e.kind == "metrics"] == [note]


def test_a_rule_still_forwarding_to_the_old_colour_blocks_retiring_until_resumed() -> None:
    env = environment()
    world, clock = live_world(), FakeClock()
    world.faults.forwarding_rule = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/web/1/2/3"
    rec = drive(new_record(env, "v2"), world, clock)
    assert rec.status is Status.BLOCKED and rec.phase is Phase.RETIRE and not rec.retiring
    assert f"rule {world.faults.forwarding_rule} forwards to blue" in rec.note
    assert rec.note.endswith("then run: bluegreen resume web")
    assert "blue" in world.colours  # nothing deregistered or destroyed
    world.faults.forwarding_rule = ""
    rec = drive(request_resume(rec, ACTOR, clock.now()), world, clock)
    assert rec.status is Status.SUCCEEDED and rec.drained
    drains = [e.message for e in rec.events if e.kind == "drain"]
    assert drains[-2:] == ["blue serves nothing", "blue drained"]


def test_a_failed_step_is_told_once_and_a_first_deploy_rolls_back_to_nothing(tmp_path: Path) -> None:
    from bluegreen.adapters.simulated import World

    world = World()
    world.faults.fail_calls = {"provision": 1}
    rec = drive(new_record(environment(), "v1", live=None), world, FakeClock())
    assert (rec.status, rec.to_colour, rec.from_colour) == (Status.ROLLED_BACK, BLUE, None)
    # A tool's error runs to many lines: one event carries it (the rollback's reason), not two.
    told = [e.kind for e in rec.events if "simulated failure of provision" in e.message]
    assert told == ["rollback_started"]
    assert rec.events[-1].message == "rolled back: blue removed"


def test_a_first_deploy_whose_new_colour_cannot_be_removed_names_no_old_colour(tmp_path: Path) -> None:
    from bluegreen.adapters.simulated import World

    world = World()
    world.faults.fail_calls = {"provision": 1, "destroy": 50}
    rec = drive(new_record(environment(), "v1", live=None), world, FakeClock())
    assert rec.status is Status.ROLLBACK_INCOMPLETE
    assert rec.note.startswith("rollback incomplete: removing blue failed: simulated failure of destroy"), rec.note
    assert "None" not in rec.note


def test_a_tool_error_is_recorded_with_where_and_what_to_do() -> None:
    from bluegreen.errors import ToolError
    from bluegreen.runner import failure_text

    tool = ToolError(
        "terraform", ["terraform", "init"], 1, "Error: no provider\n\n  - /srv/mirror", where="slot x", hint="set M"
    )
    assert failure_text(tool).endswith("  - /srv/mirror\nwhere: slot x\nnext: set M")
    assert failure_text(UsageError("bad", where="here")) == "bad (here)"
