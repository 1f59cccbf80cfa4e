"""CloudWatchAlarms: recorded describe_alarms pages, then alarms and metrics in moto."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from bluegreen.adapters.aws.alarms import CloudWatchAlarms, alarms_in_alarm, threshold_breaches
from bluegreen.adapters.aws.cloudwatch import (
    PublishedWindow,
    arn_resource,
    load_balancer_dimension,
    metric_window,
    published_window,
    total,
    weighted_average,
)
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.commands import Command
from bluegreen.config import MetricThresholds
from bluegreen.errors import AdapterError
from bluegreen.model import Colour, Record, Status
from bluegreen.ports import Alarm, AlarmCheck, Platform
from tests.aws.lb_world import client
from tests.aws.recorded import recorded
from tests.core.envs import environment
from tests.core.sim import FakeClock, drive, live_world, new_record

BLUE, GREEN = Colour.BLUE, Colour.GREEN

# -- pure --------------------------------------------------------------------------------------------


def test_named_alarms_in_alarm_from_a_recorded_page() -> None:
    names = ["web-prod-5xx", "web-prod-latency", "web-prod-no-data", "web-prod-composite", "web-prod-typo"]
    firing, missing = alarms_in_alarm([recorded("describe_alarms")], names)
    assert [a.name for a in firing] == ["web-prod-5xx", "web-prod-composite"]
    assert firing[0].reason.startswith("Threshold Crossed: 1 out of the last 1 datapoints [12.0")
    assert missing == ["web-prod-typo"]


def test_arn_parts() -> None:
    listener = (
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web-prod/50dc6c495c0c9188/f2f7dc8efc522ab2"
    )
    assert load_balancer_dimension(listener) == "app/web-prod/50dc6c495c0c9188"
    group = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-prod-green/6d0ecf831eec9f09"
    assert arn_resource(group) == "targetgroup/web-prod-green/6d0ecf831eec9f09"
    with pytest.raises(ValueError, match="not a load balancer listener"):
        load_balancer_dimension(group)


def test_aggregates() -> None:
    assert total([]) is None
    assert total([{"Sum": 3.0}, {"Sum": 4.0}]) == 7.0
    assert weighted_average([]) is None
    # 10 requests at 1s and 30 at 0.2s average 0.4s, not 0.6s
    assert weighted_average(
        [{"Average": 1.0, "SampleCount": 10.0}, {"Average": 0.2, "SampleCount": 30.0}]
    ) == pytest.approx(0.4)
    assert [metric_window(s) for s in (1, 60, 61, 300)] == [60, 60, 120, 300]


def test_threshold_breaches() -> None:
    limits = MetricThresholds(max_5xx=5, max_response_time_s=0.5)
    window = "10:00:00 to 10:05:00 UTC"
    assert threshold_breaches(None, None, limits, where="tg", window=window) == []
    assert threshold_breaches(5, 0.5, limits, where="tg", window=window) == []
    breaches = threshold_breaches(6, 0.75, limits, where="target group web-green", window=window)
    assert [b.name for b in breaches] == ["max_5xx", "max_response_time"]
    assert "6 5xx responses from 10:00:00 to 10:05:00 UTC on target group web-green" in breaches[0].reason
    assert "0.750s" in breaches[1].reason


# -- against moto -------------------------------------------------------------------------------------


def put_alarm(target: AwsTarget, name: str) -> None:
    client(target, "cloudwatch").put_metric_alarm(
        AlarmName=name,
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5.0,
        ComparisonOperator="GreaterThanThreshold",
    )


def test_firing_reports_configured_alarms_in_alarm(
    new_alb: Callable[..., AwsEnvironment], aws_target: AwsTarget
) -> None:
    env = new_alb()
    for name in ("web-5xx", "web-latency"):
        put_alarm(aws_target, name)
    alarms = CloudWatchAlarms.from_target(env, aws_target, alarm_names=["web-5xx", "web-latency"])
    assert alarms.firing(GREEN) == []
    client(aws_target, "cloudwatch").set_alarm_state(
        AlarmName="web-5xx", StateValue="ALARM", StateReason="Threshold Crossed: 12 5xx in 1 minute"
    )
    assert alarms.firing(GREEN) == [Alarm("web-5xx", "Threshold Crossed: 12 5xx in 1 minute")]


def test_unknown_alarm_name_is_an_error(new_alb: Callable[..., AwsEnvironment], aws_target: AwsTarget) -> None:
    env = new_alb()
    put_alarm(aws_target, "web-errors")
    alarms = CloudWatchAlarms(env, client(aws_target, "cloudwatch"), alarm_names=["web-errors", "web-erors"])
    with pytest.raises(AdapterError) as e:
        alarms.firing(GREEN)
    assert "'web-erors'" in e.value.what
    assert "web-errors'" not in e.value.what
    assert e.value.where == f"environments.{env.name}.alarms"


def put_metric(
    target: AwsTarget, env: AwsEnvironment, colour: Colour, name: str, points: list[tuple[float, float]]
) -> None:
    """(timestamp, value) datapoints of one of the colour's target group metrics, as the ALB publishes them."""
    data: list[dict[str, Any]] = [
        {
            "MetricName": name,
            "Dimensions": [
                {"Name": "TargetGroup", "Value": arn_resource(env.target_group(colour))},
                {"Name": "LoadBalancer", "Value": load_balancer_dimension(env.listener_arn)},
            ],
            "Timestamp": datetime.fromtimestamp(at, UTC),
            "Value": value,
        }
        for at, value in points
    ]
    client(target, "cloudwatch").put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data)


def minute_ago(n: int) -> float:
    """A period boundary `n` minutes back: where a step started, for a fixed clock to count from."""
    return float(int(time.time()) // 60 * 60 - n * 60)


def test_published_window() -> None:
    t0 = 1_800_000_000.0  # a period boundary
    assert published_window(t0 + 10, t0 + 100, 60).empty  # the first minute is not published yet
    assert published_window(t0 + 10, t0 + 125, 60) == PublishedWindow(t0, t0 + 60)
    assert published_window(t0 + 10, t0 + 185, 60) == PublishedWindow(t0, t0 + 120)
    assert published_window(t0 + 10, t0 + 65, 0) == PublishedWindow(t0, t0 + 60)


def test_metric_thresholds_on_the_new_colour_only(
    new_alb: Callable[..., AwsEnvironment], aws_target: AwsTarget
) -> None:
    env = new_alb()
    t0 = minute_ago(30)
    limits = MetricThresholds(max_5xx=5, max_response_time_s=0.5)
    alarms = CloudWatchAlarms(env, client(aws_target, "cloudwatch"), thresholds=limits, now=lambda: t0 + 300)
    check = alarms.evaluate(GREEN, since=t0)
    assert check.firing == ()
    assert check.notes == (
        f"metrics of target group {env.name}-green: no requests published from "
        f"{PublishedWindow(t0, t0 + 240).describe()}: nothing judged",
    )
    put_metric(aws_target, env, GREEN, "RequestCount", [(t0 + 10, 40.0), (t0 + 70, 40.0)])
    put_metric(aws_target, env, GREEN, "HTTPCode_Target_5XX_Count", [(t0 + 10, 4.0), (t0 + 70, 3.0)])
    put_metric(aws_target, env, GREEN, "TargetResponseTime", [(t0 + 10, 0.1), (t0 + 70, 0.2)])
    put_metric(aws_target, env, BLUE, "RequestCount", [(t0 + 10, 10.0)])
    put_metric(aws_target, env, BLUE, "TargetResponseTime", [(t0 + 10, 3.0)])
    check = alarms.evaluate(GREEN, since=t0)
    assert [a.name for a in check.firing] == ["max_5xx"] and check.notes == ()
    window = PublishedWindow(t0, t0 + 240).describe()
    assert f"7 5xx responses from {window} on target group {env.name}-green" in check.firing[0].reason
    assert [a.name for a in alarms.firing(BLUE, since=t0)] == ["max_response_time"]


def test_a_5xx_release_breaches_only_on_published_data(
    new_alb: Callable[..., AwsEnvironment], aws_target: AwsTarget
) -> None:
    """A 60 s publication lag: 5xx of the step's second minute count only once that minute is published."""
    env = new_alb()
    t0 = minute_ago(30)  # the step started here
    clock = {"now": t0}
    limits = MetricThresholds(max_5xx=5, publication_lag_s=60)
    alarms = CloudWatchAlarms(env, client(aws_target, "cloudwatch"), thresholds=limits, now=lambda: clock["now"])
    # First minute: requests, no 5xx (the ALB publishes no HTTPCode_Target_5XX_Count for it). Second: 20 5xx.
    put_metric(aws_target, env, GREEN, "RequestCount", [(t0 + 10, 50.0), (t0 + 70, 50.0)])
    put_metric(aws_target, env, GREEN, "HTTPCode_Target_5XX_Count", [(t0 + 75, 20.0)])

    clock["now"] = t0 + 100  # nothing of the step is published yet: said, not passed in silence
    check = alarms.evaluate(GREEN, since=t0)
    assert check.firing == () and "no whole 60s period since the step started is published yet" in check.notes[0]
    clock["now"] = t0 + 125  # the first minute is published: requests, zero 5xx
    assert alarms.evaluate(GREEN, since=t0) == AlarmCheck()
    clock["now"] = t0 + 185  # the second minute is published: 20 5xx
    check = alarms.evaluate(GREEN, since=t0)
    assert [a.name for a in check.firing] == ["max_5xx"]
    assert "20 5xx responses" in check.firing[0].reason


@pytest.mark.parametrize("lag", [0, 60])
def test_the_gate_rolls_back_a_5xx_release_only_on_published_data(
    new_alb: Callable[..., AwsEnvironment], aws_target: AwsTarget, lag: int
) -> None:
    """The engine (fake clock) with the CloudWatch gate on moto; the ALB's 5xx reach CloudWatch a minute late.

    The 10% step's 5xx happen 50 s into its 60 s hold and are published 60 s
    later, as ALB metrics are. Waiting out the lag after the hold sees them and
    rolls back; advancing at the hold's end (lag 0) would never have judged them.
    """
    aws = new_alb()
    env = environment(
        traffic={"strategy": "canary", "steps": [{"weight": 10, "wait": "60s"}], "check_every": "10s"},
        metrics={"max_5xx": 5, "publication_lag": f"{lag}s"},
    )
    world, clock = live_world(), FakeClock(t=minute_ago(30) + 5)
    cloudwatch = CloudWatchAlarms(aws, client(aws_target, "cloudwatch"), thresholds=env.metrics, now=clock.now)
    platform = Platform("aws-gate", world, world, world, world, world, cloudwatch)
    pending: list[tuple[float, str, float]] = []  # (at, metric, value) the ALB measured, not yet published

    def alb(i: int, rec: Record, cmd: Command) -> Record:
        step = rec.step
        if step is not None and step.weight == 10 and rec.step_started_at is not None and not pending:
            at = rec.step_started_at + 50
            pending.extend([(rec.step_started_at + 1, "RequestCount", 100.0), (at, "RequestCount", 100.0)])
            pending.append((at, "HTTPCode_Target_5XX_Count", 30.0))
        for item in [p for p in pending if p[0] + 60 <= clock.now()]:  # published a minute after
            put_metric(aws_target, aws, GREEN, item[1], [(item[0], item[2])])
            pending.remove(item)
            pending.append((float("inf"), "", 0.0))  # keeps `pending` non-empty once the step began
        return rec

    rec = drive(new_record(env, "v2"), world, clock, hook=alb, platform=platform)
    if lag == 0:
        assert rec.status is Status.SUCCEEDED
        return
    assert rec.status is Status.ROLLED_BACK, rec.note
    assert rec.failure is not None and rec.failure.startswith("alarm max_5xx is in ALARM: 30 5xx responses")
    assert world.weights == {"blue": 100, "green": 0}
