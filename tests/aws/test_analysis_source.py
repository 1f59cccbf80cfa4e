"""The canary analysis's CloudWatch source: per target group, per period, against a moto server.

The metrics are put with PutMetricData the way ALB (and the sandbox's data
plane) publishes them: namespace AWS/ApplicationELB, dimensions TargetGroup
and LoadBalancer, TargetResponseTime per request, the counts per period.
Percentiles (`p99`) are computed by CloudWatch itself, which moto does not
do: their parsing is checked on a response shaped like AWS's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from bluegreen.adapters.aws.analysis_source import CloudWatchAnalysisSource, queries, samples_from, series
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.session import AwsTarget, client
from bluegreen.model import Colour
from bluegreen.settings import DEFAULT_ANALYSIS_METRICS, AnalysisMetric

AVERAGE_AND_ERRORS = (DEFAULT_ANALYSIS_METRICS[0], DEFAULT_ANALYSIS_METRICS[1])
MINUTES = 12


def publish(target: AwsTarget, source: CloudWatchAnalysisSource, colour: Colour, *, latency: float, errors: int,
            requests: int, start: float) -> None:  # fmt: skip
    """One minute at a time: a few per-request response times, the request and 5xx counts."""
    cw = client(target, "cloudwatch")
    dims = [{"Name": k, "Value": v} for k, v in source.dimensions(colour).items()]
    for minute in range(MINUTES):
        at = datetime.fromtimestamp(start + 60 * minute + 5, UTC)
        data = [
            {"MetricName": "TargetResponseTime", "Dimensions": dims, "Timestamp": at, "Value": latency * f,
             "Unit": "Seconds"}
            for f in (0.9, 1.0, 1.1)
        ] + [
            {"MetricName": "RequestCount", "Dimensions": dims, "Timestamp": at, "Value": requests, "Unit": "Count"},
            {"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dims, "Timestamp": at, "Value": errors,
             "Unit": "Count"},
        ]  # fmt: skip
        cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data)


def test_each_colour_reads_its_own_target_group_per_period(
    aws_target: AwsTarget, new_alb: Callable[..., AwsEnvironment]
) -> None:
    env = new_alb()
    source = CloudWatchAnalysisSource.from_target(env, aws_target)
    start = (time.time() // 60 - MINUTES - 1) * 60
    publish(aws_target, source, Colour.BLUE, latency=0.2, errors=0, requests=100, start=start)
    publish(aws_target, source, Colour.GREEN, latency=0.3, errors=2, requests=50, start=start)
    end = start + 60 * MINUTES
    blue = source.samples(Colour.BLUE, AVERAGE_AND_ERRORS, start, end, 60)
    green = source.samples(Colour.GREEN, AVERAGE_AND_ERRORS, start, end, 60)
    assert len(blue["response_time"].values) == MINUTES
    assert all(abs(v - 0.2) < 1e-9 for v in blue["response_time"].values)
    assert all(abs(v - 0.3) < 1e-9 for v in green["response_time"].values)
    assert (blue["5xx_ratio"].errors, blue["5xx_ratio"].requests) == (0, 100 * MINUTES)
    assert (green["5xx_ratio"].errors, green["5xx_ratio"].requests) == (2 * MINUTES, 50 * MINUTES)
    # Only the window asked for.
    half = source.samples(Colour.GREEN, AVERAGE_AND_ERRORS, start, start + 60 * (MINUTES // 2), 60)
    assert len(half["response_time"].values) in (MINUTES // 2, MINUTES // 2 + 1)


def test_the_dimensions_are_the_ones_alb_publishes(
    aws_target: AwsTarget, new_alb: Callable[..., AwsEnvironment]
) -> None:
    env = new_alb()
    dims = CloudWatchAnalysisSource.from_target(env, aws_target).dimensions(Colour.GREEN)
    assert dims["TargetGroup"].startswith(f"targetgroup/{env.name}-green/")
    assert dims["LoadBalancer"].startswith(f"app/{env.name}/") and dims["LoadBalancer"].count("/") == 2


def test_a_window_without_traffic_has_no_samples(aws_target: AwsTarget, new_alb: Callable[..., AwsEnvironment]) -> None:
    env = new_alb()
    source = CloudWatchAnalysisSource.from_target(env, aws_target)
    now = time.time()
    got = source.samples(Colour.BLUE, AVERAGE_AND_ERRORS, now - 600, now, 60)
    assert got["response_time"].values == () and got["5xx_ratio"].requests == 0


def test_percentiles_and_paging_from_a_response_shaped_like_aws() -> None:
    """GetMetricData answers p99 per period; a long window comes in pages (NextToken), possibly out of order."""
    p99 = AnalysisMetric(name="response_time_p99", metric="TargetResponseTime", statistic="p99")
    metrics = (DEFAULT_ANALYSIS_METRICS[0], p99)
    t = [datetime(2026, 1, 1, 12, m, tzinfo=UTC) for m in range(4)]
    pages = [
        {"MetricDataResults": [
            {"Id": "q0e", "Label": "HTTPCode_Target_5XX_Count", "Timestamps": [t[0], t[1]], "Values": [1.0, 0.0],
             "StatusCode": "PartialData"},
            {"Id": "q0r", "Label": "RequestCount", "Timestamps": [t[0], t[1]], "Values": [120.0, 80.0],
             "StatusCode": "PartialData"},
            {"Id": "q1", "Label": "TargetResponseTime", "Timestamps": [t[1], t[0]], "Values": [0.9, 0.8],
             "StatusCode": "PartialData"},
        ], "NextToken": "abc", "Messages": []},
        {"MetricDataResults": [
            {"Id": "q0r", "Timestamps": [t[2]], "Values": [100.0], "StatusCode": "Complete"},
            {"Id": "q1", "Timestamps": [t[2], t[3]], "Values": [1.2, 0.7], "StatusCode": "Complete"},
        ], "Messages": []},
    ]  # fmt: skip
    got = samples_from(metrics, series(pages))
    assert got["response_time_p99"].values == (0.8, 0.9, 1.2, 0.7)
    assert (got["5xx_ratio"].errors, got["5xx_ratio"].requests) == (1, 300)
    qs = queries(metrics, {"TargetGroup": "targetgroup/web-green/1", "LoadBalancer": "app/web/2"}, 60)
    assert [q["MetricStat"]["Stat"] for q in qs] == ["Sum", "Sum", "p99"]
    assert qs[2]["MetricStat"]["Metric"]["Dimensions"] == [
        {"Name": "TargetGroup", "Value": "targetgroup/web-green/1"},
        {"Name": "LoadBalancer", "Value": "app/web/2"},
    ]


def test_a_metric_math_expression_gets_the_colours_dimensions() -> None:
    m = AnalysisMetric(
        name="slow", expression="SEARCH('TargetGroup=\"{TargetGroup}\" LoadBalancer=\"{LoadBalancer}\"', 'Sum', 60)"
    )
    (q,) = queries((m,), {"TargetGroup": "targetgroup/web-blue/1", "LoadBalancer": "app/web/2"}, 60)
    assert q["Expression"] == "SEARCH('TargetGroup=\"targetgroup/web-blue/1\" LoadBalancer=\"app/web/2\"', 'Sum', 60)"
