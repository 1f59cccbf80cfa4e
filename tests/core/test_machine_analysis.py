"""Canary analysis in the state machine: each verdict's move, against the in-memory world and a fake clock."""

from __future__ import annotations

import itertools
import math
from typing import Any

from bluegreen.commands import Analyse, SetWeights
from bluegreen.machine import request_promote
from bluegreen.model import Colour, Record, Status
from tests.core.envs import CANARY, environment
from tests.core.sim import ACTOR, FakeClock, Trace, drive, live_world, new_record, release_data

BLUE, GREEN = Colour.BLUE, Colour.GREEN


def analysed_env(**analysis: Any) -> Any:
    return environment(traffic=CANARY, bake_time="2m", analysis={"interval": "60s", **analysis})


def world_with(**versions: dict[str, Any]) -> Any:
    world = live_world()
    world.faults.analysis_samples = dict(versions)
    return world


def analyses(trace: Trace) -> list[Analyse]:
    return [cmd for _, cmd, _ in trace.commands if isinstance(cmd, Analyse)]


def test_an_identical_release_passes_every_analysis_with_its_score() -> None:
    world, clock, trace = world_with(v1=release_data(1), v2=release_data(2)), FakeClock(), Trace()
    rec = drive(new_record(analysed_env(), "v2"), world, clock, trace=trace)
    assert rec.status is Status.SUCCEEDED, rec.failure
    # After the 10% and 50% holds, and after the bake time at 100%.
    judged = analyses(trace)
    assert [(a.new, a.old) for a in judged] == [(GREEN, BLUE)] * 3
    events = [e for e in rec.events if e.kind == "analysis"]
    assert len(events) == 3 and all(e.data["verdict"] == "pass" and e.data["score"] == 100.0 for e in events)
    assert rec.verdict["verdict"] == "pass" and {m["name"] for m in rec.verdict["metrics"]} == {
        "5xx_ratio",
        "response_time",
        "response_time_p99",
    }


def test_canary_steps_compare_the_same_window_and_the_bake_time_the_old_colours_previous_period() -> None:
    world, clock, trace = world_with(v1=release_data(1), v2=release_data(2)), FakeClock(), Trace()
    drive(new_record(analysed_env(), "v2"), world, clock, trace=trace)
    first, second, bake = analyses(trace)
    assert first.new_window == first.old_window and first.new_window[1] - first.new_window[0] >= 60
    assert second.new_window[0] >= first.new_window[1]
    (b0, b1), (o0, o1) = bake.new_window, bake.old_window
    assert o1 == b0 and o1 - o0 == b1 - b0 >= 120


def test_with_a_metric_lag_each_analysis_waits_for_the_holds_last_period_to_be_published() -> None:
    env = environment(
        traffic=CANARY,
        bake_time="2m",
        analysis={"interval": "60s"},
        metrics={"max_5xx": 5, "publication_lag": "60s"},
    )
    world, clock, trace = world_with(v1=release_data(1), v2=release_data(2)), FakeClock(), Trace()
    rec = drive(new_record(env, "v2"), world, clock, trace=trace)
    assert rec.status is Status.SUCCEEDED, rec.failure
    judged = [(at, cmd) for at, cmd, _ in trace.commands if isinstance(cmd, Analyse)]
    # After the 10% and 50% holds (60 s), and after the bake time (120 s).
    for (at, cmd), hold in zip(judged, (60, 60, 120), strict=True):
        # The period holding the hold's end, then its publication: the end an unjudged step waits for too.
        assert at >= math.ceil((cmd.new_window[0] + hold) / 60) * 60 + 60
    holds = [e.message for e in rec.events if e.kind == "hold"]
    assert len(holds) == 3 and all(m.endswith("(60s publication lag), then the analysis") for m in holds)


def test_a_slower_release_is_rolled_back_after_the_first_step_naming_both_colours_figures() -> None:
    world, clock, trace = world_with(v1=release_data(1), v2=release_data(2, slower=1.3)), FakeClock(), Trace()
    rec = drive(new_record(analysed_env(), "v2"), world, clock, trace=trace)
    assert rec.status is Status.ROLLED_BACK
    assert world.weights == {"blue": 100, "green": 0}
    assert [c.weights.of(GREEN) for _, c, _ in trace.commands if isinstance(c, SetWeights)] == [10, 0]
    assert rec.failure is not None and "canary analysis failed" in rec.failure
    assert "response_time slower by" in rec.failure and "green (new)" in rec.failure and "blue (old)" in rec.failure
    assert rec.verdict["verdict"] == "fail"


def test_errors_on_few_requests_are_judged_on_the_counts() -> None:
    world = world_with(v1=release_data(1, requests=2000), v2=release_data(2, errors=3, requests=200))
    rec = drive(new_record(analysed_env(), "v2"), world, FakeClock())
    assert rec.status is Status.ROLLED_BACK and rec.failure is not None and "5xx_ratio 3/200" in rec.failure


def test_marginal_pauses_until_promoted() -> None:
    metrics = [
        {"name": "response_time", "metric": "TargetResponseTime", "weight": 9},
        {"name": "response_time_p99", "metric": "TargetResponseTime", "statistic": "p99", "weight": 1},
    ]
    slow_tail = release_data(2)
    slow_tail["response_time_p99"] = release_data(3, slower=1.5)["response_time_p99"]
    world, clock = world_with(v1=release_data(1), v2=slow_tail), FakeClock()
    rec = drive(new_record(analysed_env(metrics=metrics), "v2"), world, clock)
    assert (rec.status, rec.analysis_hold) == (Status.PAUSED, True)
    assert rec.verdict["verdict"] == "marginal" and rec.verdict["score"] == 90.0
    assert "bluegreen promote web" in rec.note and world.weights == {"blue": 90, "green": 10}
    promoted = request_promote(rec, ACTOR, clock.now())
    rec = drive(promoted, world, clock)
    # Every later step is marginal too: each waits for its own promote.
    assert rec.status is Status.PAUSED and world.weights == {"blue": 50, "green": 50}


def test_marginal_rolls_back_when_configured() -> None:
    metrics = [
        {"name": "a", "metric": "TargetResponseTime", "weight": 9},
        {"name": "b", "metric": "TargetResponseTime", "weight": 1},
    ]
    v1 = {"a": release_data(1)["response_time"], "b": release_data(1)["response_time"]}
    v2 = {"a": release_data(2)["response_time"], "b": release_data(3, slower=1.5)["response_time"]}
    rec = drive(new_record(analysed_env(metrics=metrics, on_marginal="rollback"), "v2"), world_with(v1=v1, v2=v2),
                FakeClock())  # fmt: skip
    assert rec.status is Status.ROLLED_BACK and rec.failure is not None and "marginal" in rec.failure


def inconclusive_run(action: str) -> tuple[Record, FakeClock, Trace]:
    few = release_data(2, requests=20)  # under min_requests
    world, clock, trace = world_with(v1=release_data(1), v2=few), FakeClock(), Trace()
    env = analysed_env(on_inconclusive=action, inconclusive_limit="5m")
    return drive(new_record(env, "v2"), world, clock, trace=trace), clock, trace


def test_inconclusive_asks_again_every_interval_then_rolls_back_at_the_limit() -> None:
    rec, _, trace = inconclusive_run("rollback")
    assert rec.status is Status.ROLLED_BACK and rec.failure is not None and "still inconclusive after 5m" in rec.failure
    times = [t for t, c, _ in trace.commands if isinstance(c, Analyse)]
    assert len(times) == 6 and all(b - a >= 60 for a, b in itertools.pairwise(times))
    assert times[-1] - times[0] >= 300


def test_inconclusive_goes_on_when_configured_and_pauses_by_default() -> None:
    rec, _, _ = inconclusive_run("continue")
    assert rec.status is Status.SUCCEEDED
    rec, _, _ = inconclusive_run("pause")
    assert rec.status is Status.PAUSED and rec.analysis_hold and rec.verdict["verdict"] == "inconclusive"


def test_an_abort_during_an_analysis_pause_rolls_back() -> None:
    from bluegreen.machine import request_abort

    rec, clock, _ = inconclusive_run("pause")
    world = world_with(v1=release_data(1), v2=release_data(2, requests=20))
    world.colours["green"] = {"version": "v2", "image": "ami-new", "polls": 99}
    world.weights = {"blue": 90, "green": 10}
    rec = drive(request_abort(rec, ACTOR, clock.now(), "too quiet"), world, clock)
    assert rec.status is Status.ROLLED_BACK and world.weights == {"blue": 100, "green": 0}
    assert not rec.analysis_hold and rec.failure is not None and "too quiet" in rec.failure


def test_a_platform_error_while_reading_metrics_is_retried() -> None:
    world = world_with(v1=release_data(1), v2=release_data(2))
    world.faults.fail_calls = {"samples": 2}
    rec = drive(new_record(analysed_env(), "v2"), world, FakeClock())
    assert rec.status is Status.SUCCEEDED
    assert sum(e.kind == "command_failed" and "Analyse" in e.message for e in rec.events) == 2


def test_no_analysis_without_the_key_and_none_on_a_first_deploy() -> None:
    world, trace = world_with(v1=release_data(1), v2=release_data(2)), Trace()
    drive(new_record(environment(traffic=CANARY), "v2"), world, FakeClock(), trace=trace)
    assert analyses(trace) == []
    first = new_record(analysed_env(), "v1", live=None)
    assert first.analysis is None and not any(s.analyse for s in first.steps)


def test_each_step_counts_its_own_inconclusive_limit() -> None:
    """Step 1 inconclusive for 4 minutes then passing; step 2 inconclusive once: its limit starts at step 2."""
    few, plenty = release_data(2, requests=20), release_data(2)
    world, clock, trace = world_with(v1=release_data(1), v2=few), FakeClock(), Trace()
    env = analysed_env(on_inconclusive="rollback", inconclusive_limit="5m")
    few_at = {1, 2, 3, 4, 6}  # the Analyse calls answered from too few requests: step 1's first four, step 2's first

    def data(i: int, rec: Record, cmd: Any) -> Record:
        if isinstance(cmd, Analyse):
            world.faults.analysis_samples["v2"] = few if len(analyses(trace)) + 1 in few_at else plenty
        return rec

    rec = drive(new_record(env, "v2"), world, clock, trace=trace, hook=data)
    assert rec.status is Status.SUCCEEDED, rec.failure
    verdicts = [e.data["verdict"] for e in rec.events if e.kind == "analysis"]
    assert verdicts == ["inconclusive"] * 4 + ["pass", "inconclusive", "pass", "pass"], verdicts
