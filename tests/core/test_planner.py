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
