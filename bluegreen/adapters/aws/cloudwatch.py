"""CloudWatch metrics of the load balancer: which metric of which resource, and its datapoints.

Shared by the alarms (thresholds on the new colour) and the health adapter
(requests still reaching an old colour). CloudWatch publishes ALB metrics
only for minutes that had requests, so "no datapoints" means "no traffic".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.session import api_errors
from bluegreen.model import Colour


@dataclass(frozen=True)
class MetricQuery:
    """One CloudWatch metric of one load balancer resource."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        return f"{self.namespace} {self.name} " + ",".join(f"{k}={v}" for k, v in self.dimensions)


def arn_resource(arn: str) -> str:
    """The ARN's resource part: `targetgroup/web-blue/73e2d6bc24d8a067`."""
    return arn.split(":", 5)[-1]


def target_group_name(arn: str) -> str:
    """`web-prod-green` from `...:targetgroup/web-prod-green/6d0ecf831eec9f09`."""
    parts = arn_resource(arn).split("/")
    return parts[1] if len(parts) > 2 else arn


def load_balancer_dimension(listener_arn: str) -> str:
    """`app/web/50dc6c495c0c9188` from `...:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2`."""
    parts = arn_resource(listener_arn).split("/")
    if len(parts) < 5 or parts[0] != "listener":
        raise ValueError(f"not a load balancer listener ARN: {listener_arn}")
    return "/".join(parts[1:4])


def target_group_metric(env: AwsEnvironment, colour: Colour, name: str) -> MetricQuery:
    """A per-target-group ALB metric (dimensions TargetGroup + LoadBalancer)."""
    return MetricQuery(
        namespace="AWS/ApplicationELB",
        name=name,
        dimensions=(
            ("TargetGroup", arn_resource(env.target_group(colour))),
            ("LoadBalancer", load_balancer_dimension(env.listener_arn)),
        ),
    )


def classic_elb_metric(env: AwsEnvironment, name: str) -> MetricQuery:
    return MetricQuery(namespace="AWS/ELB", name=name, dimensions=(("LoadBalancerName", env.load_balancer_name),))


def metric_window(window_s: float) -> int:
    """CloudWatch periods are whole minutes: the window rounded up to one."""
    return max(60, int(-(-window_s // 60)) * 60)


def fetch_datapoints(
    cloudwatch: Any, query: MetricQuery, statistics: Sequence[str], *, now: float, window_s: float
) -> list[dict[str, Any]]:
    period = metric_window(window_s)
    return fetch_between(cloudwatch, query, statistics, PublishedWindow(now - period, now, period))


PERIOD_S = 60  # ALB and classic ELB metrics: one datapoint per 60 s period, for periods that had requests


@dataclass(frozen=True)
class PublishedWindow:
    """The whole periods from `start` to `end` (epoch seconds): what can already be read."""

    start: float
    end: float
    period: int = PERIOD_S

    @property
    def empty(self) -> bool:
        return self.end <= self.start

    def describe(self) -> str:
        def hms(t: float) -> str:
            return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")

        return f"{hms(self.start)} to {hms(self.end)} UTC"


def published_window(since: float, now: float, lag_s: float, period_s: int = PERIOD_S) -> PublishedWindow:
    """From the period holding `since` to the last whole period published `lag_s` before `now`.

    CloudWatch aligns statistics to period boundaries, and a load balancer's
    period reaches CloudWatch about a minute after it ends (the lag): a later
    period may still be missing or partial, so it is left out rather than read
    as "no requests".
    """
    start = since // period_s * period_s
    end = (now - lag_s) // period_s * period_s
    return PublishedWindow(float(start), float(max(start, end)), period_s)


def fetch_between(
    cloudwatch: Any, query: MetricQuery, statistics: Sequence[str], window: PublishedWindow
) -> list[dict[str, Any]]:
    """The datapoints of `query` in `window` (none when it is empty)."""
    if window.empty:
        return []
    with api_errors(f"could not read CloudWatch metric {query.name}", where=query.describe()):
        response = cloudwatch.get_metric_statistics(
            Namespace=query.namespace,
            MetricName=query.name,
            Dimensions=[{"Name": k, "Value": v} for k, v in query.dimensions],
            StartTime=datetime.fromtimestamp(window.start, UTC),
            EndTime=datetime.fromtimestamp(window.end, UTC),
            Period=window.period,
            Statistics=list(statistics),
        )
    return list(response.get("Datapoints", []))


def total(datapoints: Iterable[Mapping[str, Any]]) -> float | None:
    """Sum of the `Sum` statistic; None when CloudWatch has no data (no requests)."""
    sums = [float(d["Sum"]) for d in datapoints if "Sum" in d]
    return sum(sums) if sums else None


def weighted_average(datapoints: Iterable[Mapping[str, Any]]) -> float | None:
    """The mean over several periods, weighting each period's Average by its SampleCount."""
    pairs = [(float(d["Average"]), float(d.get("SampleCount", 1.0))) for d in datapoints if "Average" in d]
    count = sum(n for _, n in pairs)
    if not pairs or count <= 0:
        return None
    return sum(avg * n for avg, n in pairs) / count
