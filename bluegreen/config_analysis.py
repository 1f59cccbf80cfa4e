"""Reading an environment's `analysis:` section (bluegreen.settings.AnalysisSettings).

Present means on: `analysis: {}` judges with the defaults (the 5xx ratio,
TargetResponseTime's average and p99 per target group). Listing `metrics`
replaces the defaults; each metric is latency-like (a CloudWatch metric with
a statistic, or a metric math expression) or count-like (errors over
requests), with the direction that is worse.
"""

from __future__ import annotations

import contextlib
from typing import Any

from bluegreen.config_values import ValueReader
from bluegreen.settings import (
    ANALYSIS_ACTIONS,
    DIRECTIONS,
    INCONCLUSIVE_ACTIONS,
    METRIC_KINDS,
    AnalysisMetric,
    AnalysisSettings,
    keys,
)

_METRIC = AnalysisMetric(name="")
_METRIC_EXAMPLE = "write `- {name: latency, metric: TargetResponseTime, statistic: p99, direction: higher}`"


class AnalysisRules(ValueReader):
    def analysis(self, k: str, v: Any) -> AnalysisSettings:
        a = self.mapping(k, v, keys(AnalysisSettings))
        d = AnalysisSettings()
        before = len(self.problems)
        settings = AnalysisSettings(
            metrics=self.analysis_metrics(f"{k}.metrics", a["metrics"]) if "metrics" in a else d.metrics,
            interval_s=self.seconds(f"{k}.interval", a.get("interval"), d.interval_s),
            min_samples=self.int_(f"{k}.min_samples", a.get("min_samples"), d.min_samples, 3, 10_000),
            min_requests=self.int_(f"{k}.min_requests", a.get("min_requests"), d.min_requests, 1),
            confidence=self.fraction(f"{k}.confidence", a.get("confidence"), d.confidence, 0.5, 0.9999),
            tolerance=self.fraction(f"{k}.tolerance", a.get("tolerance"), d.tolerance, 0.0, 10.0),
            spread_tolerance=self.fraction(
                f"{k}.spread_tolerance", a.get("spread_tolerance"), d.spread_tolerance, 0.0, 10.0
            ),
            pass_score=self.fraction(f"{k}.pass_score", a.get("pass_score"), d.pass_score, 0.0, 100.0),
            marginal_score=self.fraction(f"{k}.marginal_score", a.get("marginal_score"), d.marginal_score, 0.0, 100.0),
            on_marginal=self.str_(f"{k}.on_marginal", a.get("on_marginal"), d.on_marginal, ANALYSIS_ACTIONS),
            on_inconclusive=self.str_(
                f"{k}.on_inconclusive", a.get("on_inconclusive"), d.on_inconclusive, INCONCLUSIVE_ACTIONS
            ),
            inconclusive_limit_s=self.seconds(
                f"{k}.inconclusive_limit", a.get("inconclusive_limit"), d.inconclusive_limit_s
            ),
        )
        if len(self.problems) == before:
            if settings.marginal_score > settings.pass_score:
                self.fail(
                    f"{k}.marginal_score",
                    f"{settings.marginal_score:g} is above pass_score {settings.pass_score:g}",
                    "set marginal_score at or below pass_score",
                )
            if not settings.interval_s or (settings.interval_s % 60 and settings.interval_s not in (1, 5, 10, 30)):
                self.fail(
                    f"{k}.interval",
                    f"{settings.interval_s:g}s is not a CloudWatch period",
                    "use 1s, 5s, 10s, 30s or a multiple of 60s",
                )
        return settings

    def analysis_metrics(self, k: str, v: Any) -> tuple[AnalysisMetric, ...]:
        if not isinstance(v, list) or not v:
            self.fail(k, "must be a list of metrics", _METRIC_EXAMPLE)
            return ()
        out: list[AnalysisMetric] = []
        for i, raw in enumerate(v):
            mk = f"{k}[{i}]"
            m = self.mapping(mk, raw, keys(AnalysisMetric))
            d = _METRIC
            name = self.str_(f"{mk}.name", m.get("name"), "")
            if not name:
                self.fail(f"{mk}.name", "is required", "name the metric, e.g. `name: latency_p99`")
            elif name in {o.name for o in out}:
                self.fail(f"{mk}.name", f"{name!r} is listed twice", "give each metric its own name")
            before = len(self.problems)
            kind = self.str_(f"{mk}.kind", m.get("kind"), d.kind, METRIC_KINDS)
            kind_ok = len(self.problems) == before
            metric = AnalysisMetric(
                name=name,
                kind=kind,
                namespace=self.str_(f"{mk}.namespace", m.get("namespace"), d.namespace),
                metric=self.str_(f"{mk}.metric", m.get("metric"), d.metric),
                statistic=self.str_(f"{mk}.statistic", m.get("statistic"), d.statistic),
                expression=self.str_(f"{mk}.expression", m.get("expression"), d.expression),
                errors=self.str_(f"{mk}.errors", m.get("errors"), d.errors),
                requests=self.str_(f"{mk}.requests", m.get("requests"), d.requests),
                direction=self.str_(f"{mk}.direction", m.get("direction"), d.direction, DIRECTIONS),
                weight=self.fraction(f"{mk}.weight", m.get("weight"), d.weight, 0.0, 1000.0),
                critical=self.flag(f"{mk}.critical", m.get("critical"), d.critical),
            )
            if kind_ok:  # what a metric needs depends on its kind
                self.check_metric(mk, metric, m)
            out.append(metric)
        return tuple(out)

    def check_metric(self, mk: str, metric: AnalysisMetric, given: dict[str, Any]) -> None:
        if metric.kind == "count":
            if not metric.errors:
                self.fail(f"{mk}.errors", "a count metric needs the error count metric", "write `errors: NAME`")
            for key in ("metric", "expression"):
                if key in given:
                    self.fail(f"{mk}.{key}", "a count metric compares `errors` over `requests`", f"remove {key}")
            return
        if bool(metric.metric) == bool(metric.expression):
            self.fail(
                f"{mk}.metric",
                "a latency metric needs exactly one of `metric` or `expression`",
                _METRIC_EXAMPLE,
            )
        for key in ("errors", "requests"):
            if key in given:
                self.fail(f"{mk}.{key}", "only a count metric has errors and requests", "remove it, or `kind: count`")

    def fraction(self, key: str, value: Any, default: float, lo: float, hi: float) -> float:
        """A number (int or float) in lo..hi."""
        value = self.interpolate(key, value)
        if value is None:
            return default
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)
        if not isinstance(value, int | float) or isinstance(value, bool):
            self.fail(key, f"must be a number, got {value!r}", f"write a number in {lo:g}..{hi:g}")
            return default
        if not lo <= value <= hi:
            self.fail(key, f"{value:g} is out of range {lo:g}..{hi:g}", f"use a value in {lo:g}..{hi:g}")
            return default
        return float(value)

    def flag(self, key: str, value: Any, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {value!r}", "write true or false")
            return default
        return value
