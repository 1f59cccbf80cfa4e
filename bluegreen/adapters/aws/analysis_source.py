"""CloudWatch as the canary analysis's source: each colour's own target group metrics, per period.

One GetMetricData call (paged) per colour and window reads every configured
metric of namespace `AWS/ApplicationELB` with the dimensions ALB publishes
per target group: `TargetGroup=targetgroup/<name>/<id>` and
`LoadBalancer=app/<name>/<id>`. Latency-like metrics come back as one value
per period in the metric's statistic (`Average`, or a percentile such as
`p99`, which CloudWatch computes from the per-request values ALB publishes
for TargetResponseTime); count-like metrics are summed (`Sum`) over the
window. A metric math `expression` may name the colour's dimensions as
`{TargetGroup}` and `{LoadBalancer}` (e.g. in a SEARCH).

CloudWatch publishes ALB metrics only for periods that had requests, so a
quiet window has few samples: the judge calls that inconclusive, never a
pass. A classic ELB has no per-colour metrics: nothing to compare.
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bluegreen.adapters.aws.cloudwatch import arn_resource, load_balancer_dimension, target_group_name
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.session import AwsTarget, api_errors, client
from bluegreen.model import Colour
from bluegreen.ports import Samples
from bluegreen.settings import AnalysisMetric

MAX_QUERIES = 500  # GetMetricData's limit per call


def queries(metrics: Sequence[AnalysisMetric], dimensions: Mapping[str, str], period: int) -> list[dict[str, Any]]:
    """The GetMetricData queries for `metrics` on one target group: ids q<i> (latency), q<i>e/q<i>r (count)."""
    dims = [{"Name": k, "Value": v} for k, v in dimensions.items()]

    def stat(qid: str, namespace: str, name: str, statistic: str) -> dict[str, Any]:
        metric = {"Namespace": namespace, "MetricName": name, "Dimensions": dims}
        return {"Id": qid, "MetricStat": {"Metric": metric, "Period": period, "Stat": statistic}, "ReturnData": True}

    out: list[dict[str, Any]] = []
    for i, m in enumerate(metrics):
        if m.kind == "count":
            out.append(stat(f"q{i}e", m.namespace, m.errors, "Sum"))
            out.append(stat(f"q{i}r", m.namespace, m.requests, "Sum"))
        elif m.expression:
            expression = m.expression
            for k, v in dimensions.items():
                expression = expression.replace("{" + k + "}", v)
            out.append({"Id": f"q{i}", "Expression": expression, "Period": period, "ReturnData": True})
        else:
            out.append(stat(f"q{i}", m.namespace, m.metric, m.statistic))
    return out


def series(pages: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Each query id's values from GetMetricData pages, in time order; missing or non-numbers dropped."""
    points: dict[str, list[tuple[datetime, float]]] = {}
    for page in pages:
        for result in page.get("MetricDataResults", []):
            got = points.setdefault(str(result["Id"]), [])
            for ts, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                if isinstance(value, int | float) and math.isfinite(value):
                    got.append((ts, float(value)))
    return {qid: [v for _, v in sorted(pts, key=lambda p: p[0])] for qid, pts in points.items()}


def samples_from(metrics: Sequence[AnalysisMetric], values: Mapping[str, list[float]]) -> dict[str, Samples]:
    out: dict[str, Samples] = {}
    for i, m in enumerate(metrics):
        if m.kind == "count":
            out[m.name] = Samples(
                errors=round(sum(values.get(f"q{i}e", []))), requests=round(sum(values.get(f"q{i}r", [])))
            )
        else:
            out[m.name] = Samples(values=tuple(values.get(f"q{i}", [])))
    return out


class CloudWatchAnalysisSource:
    """The `AnalysisSource` port on CloudWatch (ALB target groups)."""

    def __init__(self, env: AwsEnvironment, cloudwatch: Any) -> None:
        self._env = env
        self._cloudwatch = cloudwatch

    @classmethod
    def from_target(cls, env: AwsEnvironment, target: AwsTarget) -> CloudWatchAnalysisSource:
        return cls(env, client(target, "cloudwatch"))

    def dimensions(self, colour: Colour) -> dict[str, str]:
        return {
            "TargetGroup": arn_resource(self._env.target_group(colour)),
            "LoadBalancer": load_balancer_dimension(self._env.listener_arn),
        }

    def samples(
        self, colour: Colour, metrics: Sequence[AnalysisMetric], start: float, end: float, interval_s: float
    ) -> Mapping[str, Samples]:
        if self._env.load_balancer_type != "alb" or not metrics or end <= start:
            return {}
        period = max(1, round(interval_s))
        qs = queries(metrics, self.dimensions(colour), period)
        where = f"target group {target_group_name(self._env.target_group(colour))}"
        pages: list[Mapping[str, Any]] = []
        for first in range(0, len(qs), MAX_QUERIES):
            request: dict[str, Any] = {
                "MetricDataQueries": qs[first : first + MAX_QUERIES],
                "StartTime": datetime.fromtimestamp(start, UTC),
                "EndTime": datetime.fromtimestamp(end, UTC),
                "ScanBy": "TimestampAscending",
            }
            with api_errors("could not read the canary analysis metrics from CloudWatch", where=where):
                while True:
                    page = self._cloudwatch.get_metric_data(**request)
                    pages.append(page)
                    token = page.get("NextToken")
                    if not token:
                        break
                    request["NextToken"] = token
            request.pop("NextToken", None)
        return samples_from(metrics, series(pages))
