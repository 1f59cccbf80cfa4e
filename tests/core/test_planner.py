from __future__ import annotations

from pathlib import Path

import pytest

from bluegreen.errors import ConfigError
from bluegreen.model import StepKind
from bluegreen.planner import plan
from tests.core.envs import CANARY, LINEAR, environment


def kinds(steps: tuple) -> list[str]:  # type: ignore[type-arg]
    return [s.kind.value + (f":{s.weight}" if s.weight is not None else "") for s in steps]


def test_all_at_once_with_bake_and_retire(tmp_path: Path) -> None:
    env = environment()
    assert kinds(plan(env, first_deploy=False, bake=True)) == [
        "bake", "provision", "wait_healthy", "smoke", "headroom", "shift:100", "headroom", "retire",
    ]  # fmt: skip


def test_first_deploy_has_nothing_to_shift_from_or_retire(tmp_path: Path) -> None:
    env = environment(traffic=CANARY, promotion="manual")
    assert kinds(plan(env, first_deploy=True, bake=False)) == ["provision", "wait_healthy", "smoke", "shift:100"]


def test_canary_steps_end_at_full_with_gate_before_full(tmp_path: Path) -> None:
    env = environment(traffic=CANARY, promotion="manual", bake_time="5m")
    steps = plan(env, first_deploy=False, bake=True)
    assert kinds(steps)[4:] == [
        "headroom",
        "shift:10",
        "shift:50",
        "gate",
        "shift:100",
        "observe",
        "headroom",
        "retire",
    ]
    assert [s.wait_s for s in steps if s.kind is StepKind.SHIFT] == [60, 60, 0]
    assert next(s for s in steps if s.kind is StepKind.OBSERVE).wait_s == 300


def test_gate_after_last_step_sits_before_retire(tmp_path: Path) -> None:
    env = environment(traffic=CANARY, promotion="manual", gate="after-last-step", bake_time=30)
    assert kinds(plan(env, first_deploy=False, bake=False))[-5:] == [
        "shift:100",
        "observe",
        "gate",
        "headroom",
        "retire",
    ]


def test_linear_steps(tmp_path: Path) -> None:
    env = environment(traffic=LINEAR)
    steps = plan(env, first_deploy=False, bake=False)
    assert [s.weight for s in steps if s.kind is StepKind.SHIFT] == [25, 50, 75, 100]
    assert [s.wait_s for s in steps if s.kind is StepKind.SHIFT] == [30, 30, 30, 0]


def test_strategy_override_on_the_command_line(tmp_path: Path) -> None:
    env = environment(traffic=CANARY)
    assert kinds(plan(env, first_deploy=False, bake=False, strategy="all-at-once")).count("shift:100") == 1
    with pytest.raises(ConfigError, match="linear needs"):
        plan(env, first_deploy=False, bake=False, strategy="linear")


def test_health_step_carries_threshold_poll_and_deadline(tmp_path: Path) -> None:
    env = environment(health_check={"interval": 15, "timeout": 5, "healthy_threshold": 3, "deadline": "4m"})
    step = next(s for s in plan(env, first_deploy=False, bake=False) if s.kind is StepKind.WAIT_HEALTHY)
    assert (step.threshold, step.poll_s, step.timeout_s) == (3, 15, 240)


def test_canary_with_a_full_step_holds_there_and_never_shifts_to_full_twice() -> None:
    env = environment(traffic={"strategy": "canary", "steps": [{"weight": 10, "wait": 5}, {"weight": 100, "wait": 20}]})
    shifts = [(s.weight, s.wait_s) for s in plan(env, first_deploy=False, bake=False) if s.kind is StepKind.SHIFT]
    assert shifts == [(10, 5), (100, 20)]


def test_an_unknown_strategy_and_a_canary_on_a_classic_elb_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"strategy canary needs steps in environments\.web\.traffic\.steps"):
        plan(environment(), first_deploy=False, bake=False, strategy="canary")
    with pytest.raises(ConfigError, match="unknown strategy 'blue-sky'"):
        plan(environment(), first_deploy=False, bake=False, strategy="blue-sky")
    with pytest.raises(ConfigError, match="needs weighted routing, which a classic ELB does not have"):
        plan(environment(load_balancer={"type": "elb"}), first_deploy=False, bake=False, strategy="canary")
    assert kinds(plan(environment(load_balancer={"type": "elb"}), first_deploy=False, bake=False)).count("shift:100")


def test_every_step_carries_its_timings_and_the_metric_lag_only_where_it_holds() -> None:
    env = environment(
        traffic={"strategy": "canary", "steps": [{"weight": 5, "wait": 0}, {"weight": 50, "wait": 30}],
                 "check_every": 7, "readback_retries": 4},
        health_check={"interval": 15, "timeout": 5, "poll": 4},
        metrics={"max_5xx": 5, "publication_lag": 90},
        bake_time=1,
        scale_down_delay=12,
    )  # fmt: skip
    steps = plan(env, first_deploy=False, bake=False)
    by_kind = {s.kind: s for s in steps}
    assert by_kind[StepKind.WAIT_HEALTHY].poll_s == 4
    shifts = [s for s in steps if s.kind is StepKind.SHIFT]
    assert [(s.weight, s.wait_s, s.poll_s, s.retries) for s in shifts] == [(5, 0, 7, 4), (50, 30, 7, 4), (100, 0, 7, 4)]
    # Only a step that holds waits for its last metrics: 90 s after the 60 s period holding its end.
    assert [(s.settle_s, s.metric_period_s) for s in shifts] == [(0, 0), (90, 60), (0, 0)]
    observe = by_kind[StepKind.OBSERVE]
    assert (observe.wait_s, observe.poll_s, observe.settle_s, observe.metric_period_s) == (1, 7, 90, 60)
    retire = by_kind[StepKind.RETIRE]
    assert (retire.wait_s, retire.poll_s) == (12, 7)


def test_without_metric_thresholds_no_step_waits_for_metrics() -> None:
    env = environment(traffic=CANARY, bake_time=30)
    steps = plan(env, first_deploy=False, bake=False)
    assert all(s.settle_s == 0 and s.metric_period_s == 0 for s in steps)


def test_the_gate_sits_only_where_configured_and_only_with_manual_promotion() -> None:
    after = environment(traffic=CANARY, promotion="manual", gate="after-last-step")
    assert kinds(plan(after, first_deploy=False, bake=False)).count("gate") == 1
    auto = environment(traffic=CANARY, gate="after-last-step", bake_time=30)
    assert "gate" not in kinds(plan(auto, first_deploy=False, bake=False))


def test_a_first_deploy_shifts_at_once_and_is_not_judged() -> None:
    env = environment(traffic=CANARY, analysis={"interval": "60s"}, metrics={"max_5xx": 5})
    steps = plan(env, first_deploy=True, bake=False)
    shift = next(s for s in steps if s.kind is StepKind.SHIFT)
    assert (shift.weight, shift.wait_s, shift.analyse) == (100, 0, False)
    judged = plan(env, first_deploy=False, bake=False)
    assert [s.analyse for s in judged if s.kind is StepKind.SHIFT] == [True, True, False]


def test_the_first_record_starts_at_the_first_step_with_the_plan_frozen_in() -> None:
    from bluegreen.model import Actor, Colour, Phase, Release, Weights
    from bluegreen.planner import new_record

    env = environment(traffic=CANARY, analysis={"interval": "60s"})
    actor = Actor("ann", "box")
    rec = new_record(env, "v2", live_colour=Colour.GREEN, live_release=Release("v1"), actor=actor, now=1_700_000_000,
                     token="t1", ami="ami-9", force_bake=True)  # fmt: skip
    assert rec.id == "web-20231114-221320-t1" and (rec.environment, rec.platform) == ("web", "simulated")
    assert (rec.from_colour, rec.to_colour, rec.phase) == (Colour.GREEN, Colour.BLUE, Phase.PROVISION)
    assert rec.release == Release("v2", "ami-9") and rec.weights == Weights.all_on(Colour.GREEN)
    assert (rec.created_at, rec.updated_at, rec.started_by, rec.force_bake) == (
        1_700_000_000,
        1_700_000_000,
        actor,
        True,
    )
    assert rec.analysis == env.analysis and rec.steps == plan(env, first_deploy=False, bake=False)
    assert rec.events[-1].message == "ann@box deploys v2 to blue, from green (v1)"
    first = new_record(env, "v1", live_colour=None, live_release=None, actor=actor, now=0, token="t")
    assert (first.to_colour, first.phase, first.weights, first.analysis) == (Colour.BLUE, Phase.BAKE, None, None)


def test_all_at_once_on_the_command_line_ignores_the_canarys_hold_at_full() -> None:
    env = environment(traffic={"strategy": "canary", "steps": [{"weight": 10, "wait": 5}, {"weight": 100, "wait": 20}]})
    shifts = [(s.weight, s.wait_s) for s in plan(env, first_deploy=False, bake=False, strategy="all-at-once")]
    assert [w for w in shifts if w[0] is not None] == [(100, 0)]


def test_a_hold_of_one_second_still_waits_for_its_metrics() -> None:
    env = environment(traffic={"strategy": "canary", "steps": [{"weight": 10, "wait": 1}]}, metrics={"max_5xx": 5})
    shift = next(s for s in plan(env, first_deploy=False, bake=False) if s.kind is StepKind.SHIFT)
    assert (shift.wait_s, shift.settle_s > 0, shift.metric_period_s) == (1, True, 60)
