"""CloudWatch: the configured alarms, and metric thresholds on the new colour's target group.

`firing(colour)` answers "is anything telling us to roll back?" during a hold.
Two sources:
- alarms the operator named in bluegreen.yaml, read by name; a name that does
  not exist is an error, because a typo must never silently pass as "not firing";
- optional thresholds (`metrics:` in the config) on the colour's own target group:
  the sum of HTTPCode_Target_5XX_Count and the average TargetResponseTime over
  the last window. A classic ELB has no per-colour metrics; after an all-at-once
  switch the whole load balancer serves the new colour, so its LB-wide metrics
  (HTTPCode_Backend_5XX, Latency) are used instead.

The thresholds are judged on what CloudWatch has published: whole 60 s periods
from the step's start to `publication_lag` before now (ALB metrics reach
CloudWatch about a minute after their period ends; the engine waits out that
lag after a hold and checks once more). A load balancer publishes a period only
if it had requests, so a window without RequestCount datapoints judged nothing:
that is said in the record (a note), never passed in silence.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bluegreen.adapters.aws.cloudwatch import (
    classic_elb_metric,
    fetch_between,
    published_window,
    target_group_metric,
    target_group_name,
    total,
    weighted_average,
)
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.session import AwsTarget, api_errors, client
from bluegreen.config import MetricThresholds
from bluegreen.errors import AdapterError
from bluegreen.model import Colour
from bluegreen.ports import Alarm, AlarmCheck

ALARM_STATE = "ALARM"
DESCRIBE_ALARMS_MAX_NAMES = 100  # the API's limit per call
NO_THRESHOLDS = MetricThresholds()


# -- pure decisions -----------------------------------------------------------------


def alarms_in_alarm(pages: Iterable[Mapping[str, Any]], names: Sequence[str]) -> tuple[list[Alarm], list[str]]:
    """From describe_alarms pages: (the named alarms now in ALARM, the names CloudWatch does not know)."""
    found: dict[str, Mapping[str, Any]] = {}
    for page in pages:
        for kind in ("MetricAlarms", "CompositeAlarms"):
            for alarm in page.get(kind, []):
                found[str(alarm["AlarmName"])] = alarm
    firing = [
        Alarm(name=name, reason=str(found[name].get("StateReason", "")))
        for name in names
        if name in found and found[name].get("StateValue") == ALARM_STATE
    ]
    missing = [name for name in names if name not in found]
    return firing, missing


def threshold_breaches(
    errors_5xx: float | None,
    response_time_s: float | None,
    thresholds: MetricThresholds,
    *,
    where: str,
    window: str,
) -> list[Alarm]:
    """The configured thresholds the measured values exceed (None: no data, no breach)."""
    breaches = []
    if thresholds.max_5xx is not None and errors_5xx is not None and errors_5xx > thresholds.max_5xx:
        breaches.append(
            Alarm(
                name="max_5xx",
                reason=f"{errors_5xx:g} 5xx responses from {window} on {where} "
                f"(more than the {thresholds.max_5xx} allowed)",
            )
        )
    limit = thresholds.max_response_time_s
    if limit is not None and response_time_s is not None and response_time_s > limit:
        breaches.append(
            Alarm(
                name="max_response_time",
                reason=f"average response time {response_time_s:.3f}s from {window} on {where} "
                f"(more than the {limit:g}s allowed)",
            )
        )
    return breaches


# -- the adapter --------------------------------------------------------------------


class CloudWatchAlarms:
    """The `Alarms` port on CloudWatch."""

    def __init__(
        self,
        env: AwsEnvironment,
        cloudwatch: Any,
        *,
        alarm_names: Sequence[str] = (),
        thresholds: MetricThresholds = NO_THRESHOLDS,
        window_s: float = 300.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._env = env
        self._cloudwatch = cloudwatch
        self._names = tuple(dict.fromkeys(alarm_names))
        self._thresholds = thresholds
        self._window_s = window_s
        self._now = now

    @classmethod
    def from_target(
        cls,
        env: AwsEnvironment,
        target: AwsTarget,
        *,
        alarm_names: Sequence[str] = (),
        thresholds: MetricThresholds = NO_THRESHOLDS,
        window_s: float = 300.0,
    ) -> CloudWatchAlarms:
        return cls(env, client(target, "cloudwatch"), alarm_names=alarm_names, thresholds=thresholds, window_s=window_s)

    def evaluate(self, colour: Colour, since: float | None = None) -> AlarmCheck:
        firing, notes = self._metric_breaches(colour, since)
        return AlarmCheck(tuple(self._named_alarms() + firing), tuple(notes))

    def firing(self, colour: Colour, since: float | None = None) -> list[Alarm]:
        return list(self.evaluate(colour, since).firing)

    def _named_alarms(self) -> list[Alarm]:
        if not self._names:
            return []
        pages = []
        for start in range(0, len(self._names), DESCRIBE_ALARMS_MAX_NAMES):
            chunk = list(self._names[start : start + DESCRIBE_ALARMS_MAX_NAMES])
            with api_errors("could not read CloudWatch alarms", where=", ".join(chunk)):
                paginator = self._cloudwatch.get_paginator("describe_alarms")
                pages.extend(paginator.paginate(AlarmNames=chunk, AlarmTypes=["MetricAlarm", "CompositeAlarm"]))
        firing, missing = alarms_in_alarm(pages, self._names)
        if missing:
            raise AdapterError(
                f"CloudWatch has no alarm named {', '.join(repr(n) for n in missing)}",
                where=f"environments.{self._env.name}.alarms",
                hint="fix the name in bluegreen.yaml (`aws cloudwatch describe-alarms` lists them), or create the alarm",
            )
        return firing

    def _metric_breaches(self, colour: Colour, since: float | None) -> tuple[list[Alarm], list[str]]:
        t = self._thresholds
        if not t.any:
            return [], []
        if self._env.load_balancer_type == "elb":
            requests = classic_elb_metric(self._env, "RequestCount")
            errors = classic_elb_metric(self._env, "HTTPCode_Backend_5XX")
            latency = classic_elb_metric(self._env, "Latency")
            where = f"classic load balancer {self._env.load_balancer_name}"
        else:
            requests = target_group_metric(self._env, colour, "RequestCount")
            errors = target_group_metric(self._env, colour, "HTTPCode_Target_5XX_Count")
            latency = target_group_metric(self._env, colour, "TargetResponseTime")
            where = f"target group {target_group_name(self._env.target_group(colour))}"
        now, lag = self._now(), t.publication_lag_s
        since = now - lag - self._window_s if since is None else since
        window = published_window(since, now, lag, int(t.period_s))
        if window.empty:
            return [], [
                f"metrics of {where}: no whole {t.period_s:g}s period since the step started is published yet ({lag:g}s lag)"
            ]
        if total(fetch_between(self._cloudwatch, requests, ["Sum"], window)) is None:
            # A period with requests is always published; none at all means nothing reached the colour.
            return [], [f"metrics of {where}: no requests published from {window.describe()}: nothing judged"]
        # HTTPCode_* counts are published only for periods that had such responses: none is zero.
        errors_5xx = None
        if t.max_5xx is not None:
            errors_5xx = total(fetch_between(self._cloudwatch, errors, ["Sum"], window)) or 0.0
        response_time = None
        if t.max_response_time_s is not None:
            response_time = weighted_average(
                fetch_between(self._cloudwatch, latency, ["Average", "SampleCount"], window)
            )
        return threshold_breaches(errors_5xx, response_time, t, where=where, window=window.describe()), []
