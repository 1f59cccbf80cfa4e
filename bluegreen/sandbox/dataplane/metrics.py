"""The ALB's CloudWatch metrics, from the proxy's per-request log lines, per period, published late as AWS does.

HAProxy sends one line per request (see `haproxy.LOG_FORMAT`) to a UNIX
datagram socket; each line is counted into the period of its arrival time.
A period is published once it has closed and the lag has passed, timestamped
at its start; a period with no request publishes no request metric, as on
AWS, while HealthyHostCount/UnHealthyHostCount are published every period
(sampled at each reconcile).

TargetResponseTime is sent as Values/Counts (the time in seconds, at the
proxy's millisecond resolution, with how often it occurred): CloudWatch
derives SampleCount/Sum/Min/Max from them, and percentiles too. Sending
StatisticValues as well would count every request twice.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bluegreen.sandbox.dataplane.haproxy import LOG_MARK

NAMESPACE = "AWS/ApplicationELB"
VALUES_PER_DATUM = 150  # CloudWatch's limit on distinct Values in one MetricDatum
DATUMS_PER_CALL = 20


@dataclass(frozen=True)
class Request:
    at: float
    frontend: str
    backend: str
    server: str
    status: int
    response_ms: int  # -1 when no target answered (the proxy answered itself)


def parse_line(raw: bytes) -> Request | None:
    """One request from a syslog datagram; None for anything else (HAProxy's own notices)."""
    text = raw.decode(errors="replace")
    start = text.find(LOG_MARK + "\t")
    if start < 0:
        return None
    parts = text[start:].rstrip("\n\x00").split("\t")
    if len(parts) != 7:
        return None
    try:
        return Request(float(parts[1]), parts[2], parts[3], parts[4], int(parts[5]), int(parts[6]))
    except ValueError:
        return None


@dataclass
class _Counts:
    requests: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    times_ms: Counter[int] = field(default_factory=Counter)
    healthy: list[int] = field(default_factory=list)
    unhealthy: list[int] = field(default_factory=list)


Dims = tuple[tuple[str, str], ...]


class Periods:
    """Counts per (period start, dimensions) until published. Thread-safe: the log reader adds, the daemon publishes."""

    def __init__(self, period_s: int, lag_s: float) -> None:
        self.period_s = period_s
        self.lag_s = lag_s
        self._lock = threading.Lock()
        self._open: dict[int, dict[Dims, _Counts]] = defaultdict(lambda: defaultdict(_Counts))

    def _start(self, at: float) -> int:
        return int(at // self.period_s) * self.period_s

    def count(self, at: float, dims: list[Dims], status: int, response_ms: int) -> None:
        """One request, counted under each set of dimensions (the target group's and the load balancer's)."""
        with self._lock:
            period = self._open[self._start(at)]
            for d in dims:
                c = period[d]
                c.requests += 1
                if response_ms >= 0:
                    c.codes[f"HTTPCode_Target_{status // 100}XX_Count"] += 1
                    c.times_ms[response_ms] += 1
                elif status >= 500:
                    c.codes["HTTPCode_ELB_5XX_Count"] += 1

    def sample_hosts(self, at: float, dims: Dims, healthy: int, unhealthy: int) -> None:
        with self._lock:
            c = self._open[self._start(at)][dims]
            c.healthy.append(healthy)
            c.unhealthy.append(unhealthy)

    def take_due(self, now: float) -> list[tuple[int, dict[Dims, _Counts]]]:
        """The periods that closed at least `lag_s` ago, removed: each is published once."""
        with self._lock:
            due = sorted(p for p in self._open if p + self.period_s + self.lag_s <= now)
            return [(p, self._open.pop(p)) for p in due]


def datums(period_start: int, counts: dict[Dims, _Counts]) -> Iterator[dict[str, Any]]:
    when = datetime.fromtimestamp(period_start, UTC)
    for dims, c in counts.items():
        base = {"Dimensions": [{"Name": k, "Value": v} for k, v in dims], "Timestamp": when}
        if c.requests:
            yield {**base, "MetricName": "RequestCount", "Value": float(c.requests), "Unit": "Count"}
        for name, n in sorted(c.codes.items()):
            yield {**base, "MetricName": name, "Value": float(n), "Unit": "Count"}
        times = sorted(c.times_ms.items())
        for i in range(0, len(times), VALUES_PER_DATUM):
            chunk = times[i : i + VALUES_PER_DATUM]
            yield {
                **base,
                "MetricName": "TargetResponseTime",
                "Values": [ms / 1000.0 for ms, _ in chunk],
                "Counts": [float(n) for _, n in chunk],
                "Unit": "Seconds",
            }
        for name, samples in (("HealthyHostCount", c.healthy), ("UnHealthyHostCount", c.unhealthy)):
            if samples:
                stats = {"SampleCount": float(len(samples)), "Sum": float(sum(samples))}
                stats |= {"Minimum": float(min(samples)), "Maximum": float(max(samples))}
                yield {**base, "MetricName": name, "StatisticValues": stats, "Unit": "Count"}


def publish(cloudwatch: Any, items: list[dict[str, Any]]) -> None:
    for i in range(0, len(items), DATUMS_PER_CALL):
        cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=items[i : i + DATUMS_PER_CALL])
