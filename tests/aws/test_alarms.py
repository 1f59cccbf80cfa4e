"""CloudWatchAlarms: recorded describe_alarms pages, then alarms and metrics in moto."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from bluegreen.adapters.aws.alarms import CloudWatchAlarms, alarms_in_alarm, threshold_breaches
from bluegreen.adapters.aws.cloudwatch import (
    arn_resource,
    load_balancer_dimension,
    metric_window,
    total,
    weighted_average,
)
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.config import MetricThresholds
from bluegreen.errors import AdapterError
from bluegreen.model import Colour
from bluegreen.ports import Alarm
from tests.aws.lb_world import client
from tests.aws.recorded import recorded

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
    assert threshold_breaches(None, None, limits, where="tg", window_s=300) == []
    assert threshold_breaches(5, 0.5, limits, where="tg", window_s=300) == []
    breaches = threshold_breaches(6, 0.75, limits, where="target group web-green", window_s=300)
    assert [b.name for b in breaches] == ["max_5xx", "max_response_time"]
    assert "6 5xx responses in the last 300s on target group web-green" in breaches[0].reason
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


def put_metric(target: AwsTarget, env: AwsEnvironment, colour: Colour, name: str, values: list[float]) -> None:
    data: list[dict[str, Any]] = [
        {
            "MetricName": name,
            "Dimensions": [
                {"Name": "TargetGroup", "Value": arn_resource(env.target_group(colour))},
                {"Name": "LoadBalancer", "Value": load_balancer_dimension(env.listener_arn)},
            ],
            "Timestamp": datetime.fromtimestamp(time.time() - 20 * (i + 1), UTC),
            "Value": value,
        }
        for i, value in enumerate(values)
    ]
    client(target, "cloudwatch").put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data)


def test_metric_thresholds_on_the_new_colour_only(
    new_alb: Callable[..., AwsEnvironment], aws_target: AwsTarget
) -> None:
    env = new_alb()
    limits = MetricThresholds(max_5xx=5, max_response_time_s=0.5)
    alarms = CloudWatchAlarms(env, client(aws_target, "cloudwatch"), thresholds=limits, window_s=300)
    assert alarms.firing(GREEN) == []  # no data: no traffic, no breach
    put_metric(aws_target, env, GREEN, "HTTPCode_Target_5XX_Count", [4.0, 3.0])
    put_metric(aws_target, env, GREEN, "TargetResponseTime", [0.1, 0.2])
    put_metric(aws_target, env, BLUE, "TargetResponseTime", [3.0])
    firing = alarms.firing(GREEN)
    assert [a.name for a in firing] == ["max_5xx"]
    assert f"7 5xx responses in the last 300s on target group {env.name}-green" in firing[0].reason
    blue = alarms.firing(BLUE)
    assert [a.name for a in blue] == ["max_response_time"]
