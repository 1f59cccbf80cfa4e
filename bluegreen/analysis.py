"""The canary judge: the new colour's metrics against the old colour's, over the same window.

Pure: samples in, a `Verdict` out; fetching them is an adapter's job (the
`AnalysisSource` port). scipy provides the tests (Mann-Whitney U, the
Brown-Forsythe test, Fisher's exact test): they are standard, exact where it
matters (small counts) and checked by others, which a hand-written version
would not be.

Per metric, by kind:

- latency-like (one value per sample interval, e.g. TargetResponseTime's
  average or p99 per minute). Location: the one-sided Mann-Whitney U test
  (two-sided for `direction: either`). It assumes the samples of each colour
  are independent draws and the two colours' samples independent of each
  other; it assumes no particular distribution (latency is skewed) and
  compares P(new > old) with 1/2. Its effect size is the Hodges-Lehmann shift
  (the median of all new - old differences) with its distribution-free
  confidence interval from the order statistics of those differences (normal
  approximation of the U distribution); reported relative to the old
  colour's median. A significant shift within `tolerance` (10% of the old
  median by default) is not a failure: with much traffic, tiny shifts are
  significant and harmless. Spread: the Brown-Forsythe test (Levene's test
  around the medians), which assumes independent samples and is robust to
  non-normal data; one-sided by keeping only a rise of the new colour's
  spread, and a rise within `spread_tolerance` of the old interquartile range
  is not a failure. Per-interval samples are correlated in time (load
  follows the clock); both colours see the same clock, which is why they are
  compared over the same window.
- count-like (errors over requests, per colour): Fisher's exact test on the
  2x2 table (errors, successes) x (new, old), one-sided by direction. It
  assumes each request fails independently with one rate per colour, and is
  exact for any count, zeros included: 3 errors in 200 against 0 in 2,000 is
  judged on those request counts, not passed because the counts are small.

Error control: the tests of one analysis share the false-failure budget
`1 - confidence` (Bonferroni: each test gets an equal share), so identical
releases fail at most that often; the reported p-values are adjusted the
same way, so p < 1 - confidence is the failure threshold.

Too little data (fewer than `min_samples` values, or `min_requests` requests,
on either colour) makes a metric inconclusive, and any inconclusive metric
makes the analysis inconclusive: never a pass. Scoring follows Kayenta: the
weighted share of passing metrics, in percent; a failing critical metric
fails the analysis whatever the score; otherwise `pass_score` and
`marginal_score` divide pass, marginal and fail.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from bluegreen.ports import Samples
from bluegreen.settings import AnalysisMetric, AnalysisSettings

__all__ = [
    "FAIL",
    "INCONCLUSIVE",
    "MARGINAL",
    "PASS",
    "MetricResult",
    "Samples",
    "Verdict",
    "judge",
    "score",
    "verdict_from_json",
]

PASS = "pass"
MARGINAL = "marginal"
FAIL = "fail"
INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class MetricResult:
    name: str
    classification: str  # pass | fail | inconclusive
    new: float | None  # latency: the median; count: errors / requests
    old: float | None
    p_value: float | None  # adjusted (see the module docstring)
    effect: float | None  # latency: the relative Hodges-Lehmann shift; count: the difference of the rates
    reason: str = ""
    critical: bool = False
    weight: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "classification": self.classification,
            "new": self.new,
            "old": self.old,
            "p_value": self.p_value,
            "effect": self.effect,
            "reason": self.reason,
            "critical": self.critical,
            "weight": self.weight,
        }

    def describe(self) -> str:
        figures = f"new {_fmt(self.new)}, old {_fmt(self.old)}"
        p = f", p={self.p_value:.2g}" if self.p_value is not None else ""
        return f"{self.name}: {self.reason} ({figures}{p})" if self.reason else f"{self.name}: {figures}{p}"


@dataclass(frozen=True)
class Verdict:
    verdict: str  # pass | marginal | fail | inconclusive
    score: float | None  # None when nothing could be judged
    metrics: tuple[MetricResult, ...]

    @property
    def failing(self) -> tuple[MetricResult, ...]:
        return tuple(m for m in self.metrics if m.classification == FAIL)

    def describe(self) -> str:
        score = f"score {self.score:.0f}" if self.score is not None else "no score"
        text = f"analysis {self.verdict} ({score})"
        shown = self.failing or tuple(m for m in self.metrics if m.classification == INCONCLUSIVE)
        return text + (": " + "; ".join(m.describe() for m in shown) if shown else "")

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "score": self.score, "metrics": [m.to_json() for m in self.metrics]}


def judge(settings: AnalysisSettings, new: Mapping[str, Samples], old: Mapping[str, Samples]) -> Verdict:
    """Judge every configured metric, then score them."""
    tests = sum(1 if m.kind == "count" else 2 for m in settings.metrics)
    alpha = (1.0 - settings.confidence) / max(tests, 1)
    results = tuple(
        _judge_metric(m, settings, new.get(m.name, Samples()), old.get(m.name, Samples()), alpha, tests)
        for m in settings.metrics
    )
    return score(settings, results)


def score(settings: AnalysisSettings, results: Sequence[MetricResult]) -> Verdict:
    judged = [r for r in results if r.classification != INCONCLUSIVE]
    total = sum(r.weight for r in judged)
    passed = sum(r.weight for r in judged if r.classification == PASS)
    value = None if not judged else (100.0 * passed / total if total > 0 else 100.0)
    if any(r.critical and r.classification == FAIL for r in results):
        verdict = FAIL
    elif len(judged) < len(results):
        verdict = INCONCLUSIVE  # too little data is never a pass
    elif value is not None and value >= settings.pass_score:
        verdict = PASS
    elif value is not None and value >= settings.marginal_score:
        verdict = MARGINAL
    else:
        verdict = FAIL
    return Verdict(verdict=verdict, score=value, metrics=tuple(results))


# -- one metric ----------------------------------------------------------------------


def _stats() -> Any:
    """scipy.stats, imported when a judge runs: it takes most of a second, which no other command should pay."""
    from scipy import stats

    return stats


def _special() -> Any:
    from scipy import special

    return special


def _judge_metric(
    m: AnalysisMetric, s: AnalysisSettings, new: Samples, old: Samples, alpha: float, tests: int
) -> MetricResult:
    if m.kind == "count":
        return _judge_count(m, s, new, old, alpha, tests)
    return _judge_latency(m, s, new, old, alpha, tests)


def _judge_latency(
    m: AnalysisMetric, s: AnalysisSettings, new: Samples, old: Samples, alpha: float, tests: int
) -> MetricResult:
    x = np.array([v for v in new.values if math.isfinite(v)], dtype=float)
    y = np.array([v for v in old.values if math.isfinite(v)], dtype=float)
    med_x = float(np.median(x)) if len(x) else None
    med_y = float(np.median(y)) if len(y) else None
    if min(len(x), len(y)) < s.min_samples:
        why = f"too little data: {len(x)} new and {len(y)} old samples, {s.min_samples} needed on each"
        return _result(m, med_x, med_y, INCONCLUSIVE, reason=why)
    assert med_y is not None
    side = {"higher": "greater", "lower": "less"}.get(m.direction, "two-sided")
    p_loc = float(_stats().mannwhitneyu(x, y, alternative=side).pvalue) if _varies(x, y) else 1.0
    shift, (lo, hi) = hodges_lehmann(x, y, 1.0 - 2 * alpha)
    scale = abs(med_y) if med_y else (float(np.mean(np.abs(y))) or 1.0)
    rel = shift / scale
    worse = {"higher": rel, "lower": -rel}.get(m.direction, abs(rel))
    p_spread, ratio = _spread(x, y)
    p_adj = min(1.0, min(p_loc, p_spread) * tests)
    if p_loc < alpha and worse > s.tolerance:
        way = "slower" if rel > 0 else "lower"
        why = f"{way} by {abs(rel):.0%} (shift {shift:.4g}, CI {lo:.4g}..{hi:.4g})"
        return _result(m, med_x, med_y, FAIL, min(1.0, p_loc * tests), rel, why)
    if p_spread < alpha and ratio > 1.0 + s.spread_tolerance:
        why = f"spread {ratio:.1f}x the old colour's (interquartile range)"
        return _result(m, med_x, med_y, FAIL, min(1.0, p_spread * tests), rel, why)
    return _result(m, med_x, med_y, PASS, p_adj, rel)


def hodges_lehmann(x: Any, y: Any, confidence: float) -> tuple[float, tuple[float, float]]:
    """The median of all x_i - y_j and its distribution-free confidence interval."""
    d = np.sort(np.subtract.outer(np.asarray(x, float), np.asarray(y, float)).ravel())
    n, m = len(x), len(y)
    nm = n * m
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    k = math.floor(nm / 2 - z * math.sqrt(nm * (n + m + 1) / 12))
    k = min(max(k, 0), nm - 1)
    return float(np.median(d)), (float(d[k]), float(d[nm - 1 - k]))


def _spread(x: Any, y: Any) -> tuple[float, float]:
    """One-sided Brown-Forsythe p-value for a rise of the new spread, and the IQR ratio new/old."""
    iqr_x, iqr_y = _iqr(x), _iqr(y)
    ratio = iqr_x / iqr_y if iqr_y > 0 else (math.inf if iqr_x > 0 else 1.0)
    if ratio <= 1.0 or not _varies(x, y):
        return 1.0, ratio
    p = brown_forsythe(x, y)
    return (p / 2 if math.isfinite(p) else 1.0), ratio


def brown_forsythe(x: Any, y: Any) -> float:
    """The Brown-Forsythe test's p-value (Levene's test around the medians), two-sided.

    The one-way ANOVA F test on the absolute deviations from each group's
    median, written out with numpy because scipy.stats.levene's argument
    handling costs more than the test on 60 samples; the same numbers
    (checked in the tests).
    """
    groups = [np.abs(np.asarray(g, float) - np.median(g)) for g in (x, y)]
    n = np.array([len(g) for g in groups], float)
    means = np.array([g.mean() for g in groups])
    grand = float(np.concatenate(groups).mean())
    between = float(np.sum(n * (means - grand) ** 2))
    within = float(sum(np.sum((g - m) ** 2) for g, m in zip(groups, means, strict=True)))
    k, total = len(groups), float(n.sum())
    if within <= 0:
        return 0.0 if between > 0 else 1.0
    f = (total - k) / (k - 1) * between / within
    return float(_special().fdtrc(k - 1, total - k, f))


def _iqr(v: Any) -> float:
    q75, q25 = np.percentile(v, [75, 25])
    return float(q75 - q25)


def _varies(x: Any, y: Any) -> bool:
    both = np.concatenate([x, y])
    return bool(np.ptp(both) > 0)


def _judge_count(
    m: AnalysisMetric, s: AnalysisSettings, new: Samples, old: Samples, alpha: float, tests: int
) -> MetricResult:
    e_new, r_new = _clamp(new)
    e_old, r_old = _clamp(old)
    rate_new = e_new / r_new if r_new else None
    rate_old = e_old / r_old if r_old else None
    if min(r_new, r_old) < s.min_requests:
        why = f"too little traffic: {r_new} new and {r_old} old requests, {s.min_requests} needed on each"
        return _result(m, rate_new, rate_old, INCONCLUSIVE, reason=why)
    assert rate_new is not None and rate_old is not None
    side = {"higher": "greater", "lower": "less"}.get(m.direction, "two-sided")
    table = [[e_new, r_new - e_new], [e_old, r_old - e_old]]
    p = float(_stats().fisher_exact(table, alternative=side).pvalue)
    diff = rate_new - rate_old
    p_adj = min(1.0, p * tests)
    if p < alpha:
        why = f"{e_new}/{r_new} against {e_old}/{r_old}"
        return _result(m, rate_new, rate_old, FAIL, p_adj, diff, why)
    return _result(m, rate_new, rate_old, PASS, p_adj, diff)


def _result(
    m: AnalysisMetric,
    new: float | None,
    old: float | None,
    classification: str,
    p_value: float | None = None,
    effect: float | None = None,
    reason: str = "",
) -> MetricResult:
    return MetricResult(
        name=m.name,
        classification=classification,
        new=new,
        old=old,
        p_value=p_value,
        effect=effect,
        reason=reason,
        critical=m.critical,
        weight=m.weight,
    )


def _clamp(s: Samples) -> tuple[int, int]:
    """Errors and requests as counts; errors beyond the requests (periods published apart) are capped."""
    requests = max(int(s.requests), 0)
    return min(max(int(s.errors), 0), requests), requests


def _fmt(v: float | None) -> str:
    return "no data" if v is None else f"{v:.4g}"


def verdict_from_json(d: Mapping[str, Any]) -> Verdict:
    return Verdict(
        verdict=str(d["verdict"]),
        score=d.get("score"),
        metrics=tuple(MetricResult(**m) for m in d.get("metrics", [])),
    )
