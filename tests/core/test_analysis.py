"""The canary judge on generated data with known answers (fixed seeds: deterministic)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bluegreen.analysis import FAIL, INCONCLUSIVE, PASS, Samples, Verdict, judge, verdict_from_json
from bluegreen.settings import AnalysisMetric, AnalysisSettings

DEFAULTS = AnalysisSettings()
N = 60  # one sample a minute for an hour
MEDIAN = 0.2


def latencies(rng: np.random.Generator, *, slower: float = 1.0, spread: float = 1.0, n: int = N) -> tuple[float, ...]:
    """Skewed, like response times: lognormal around MEDIAN; `spread` widens it around the same median."""
    base = MEDIAN * np.exp(rng.normal(0.0, 0.25, n))
    return tuple(float(v) for v in (MEDIAN + (base - MEDIAN) * spread) * slower)


def colour(
    rng: np.random.Generator, *, slower: float = 1.0, spread: float = 1.0, errors: int = 0, requests: int = 2000
) -> dict[str, Samples]:
    return {
        "5xx_ratio": Samples(errors=errors, requests=requests),
        "response_time": Samples(latencies(rng, slower=slower, spread=spread)),
        "response_time_p99": Samples(tuple(3 * v for v in latencies(rng, slower=slower, spread=spread))),
    }


def test_identical_releases_fail_at_most_two_percent_of_the_time() -> None:
    runs = 1000
    failures = 0
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        failures += judge(DEFAULTS, colour(rng), colour(rng)).verdict != PASS
    assert failures / runs <= 1 - DEFAULTS.confidence, f"{failures} of {runs} identical releases did not pass"


def test_a_canary_thirty_percent_slower_fails() -> None:
    for seed in range(20):
        rng = np.random.default_rng(seed)
        v = judge(DEFAULTS, colour(rng, slower=1.3), colour(rng))
        assert v.verdict == FAIL, v.describe()
        slow = {m.name: m for m in v.failing}
        assert "response_time" in slow and "slower by" in slow["response_time"].reason
        assert 0.15 < (slow["response_time"].effect or 0) < 0.45


def test_the_same_median_with_three_times_the_spread_fails() -> None:
    for seed in range(20):
        rng = np.random.default_rng(seed)
        v = judge(DEFAULTS, colour(rng, spread=3.0), colour(rng))
        assert v.verdict == FAIL, v.describe()
        assert any("spread" in m.reason for m in v.failing), v.describe()


def test_three_errors_in_200_against_none_in_2000_fails() -> None:
    rng = np.random.default_rng(7)
    v = judge(DEFAULTS, colour(rng, errors=3, requests=200), colour(rng, errors=0, requests=2000))
    assert v.verdict == FAIL, v.describe()
    (errors,) = v.failing
    assert errors.name == "5xx_ratio" and errors.new == 3 / 200 and errors.old == 0
    assert errors.p_value is not None and errors.p_value < 1 - DEFAULTS.confidence


def test_one_error_in_200_against_none_in_2000_is_judged_on_the_counts_and_passes() -> None:
    rng = np.random.default_rng(8)
    v = judge(DEFAULTS, colour(rng, errors=1, requests=200), colour(rng, errors=0, requests=2000))
    assert v.verdict == PASS, v.describe()


def test_no_errors_in_20_against_none_in_200_is_inconclusive_not_pass() -> None:
    rng = np.random.default_rng(9)
    v = judge(DEFAULTS, colour(rng, errors=0, requests=20), colour(rng, errors=0, requests=200))
    assert v.verdict == INCONCLUSIVE, v.describe()
    (m,) = [m for m in v.metrics if m.classification == INCONCLUSIVE]
    assert m.name == "5xx_ratio" and "too little traffic" in m.reason


def test_a_failing_critical_metric_fails_whatever_the_score() -> None:
    metrics = (
        AnalysisMetric(name="a", metric="M", weight=100),
        AnalysisMetric(name="b", metric="M", weight=1, critical=True),
    )
    s = AnalysisSettings(metrics=metrics, pass_score=50, marginal_score=10)
    rng = np.random.default_rng(3)
    old = {"a": Samples(latencies(rng)), "b": Samples(latencies(rng))}
    new = {"a": Samples(latencies(rng)), "b": Samples(latencies(rng, slower=2.0))}
    v = judge(s, new, old)
    assert v.verdict == FAIL and v.score is not None and v.score > 90, v.describe()


def test_a_failing_light_metric_is_marginal() -> None:
    metrics = (AnalysisMetric(name="a", metric="M", weight=9), AnalysisMetric(name="b", metric="M", weight=1))
    s = AnalysisSettings(metrics=metrics, pass_score=95, marginal_score=75)
    rng = np.random.default_rng(4)
    old = {"a": Samples(latencies(rng)), "b": Samples(latencies(rng))}
    new = {"a": Samples(latencies(rng)), "b": Samples(latencies(rng, slower=2.0))}
    v = judge(s, new, old)
    assert v.verdict == "marginal" and v.score == 90.0, v.describe()


def test_lower_is_worse_and_either_direction() -> None:
    rng = np.random.default_rng(5)
    for direction, slower, verdict in (("lower", 0.6, FAIL), ("lower", 1.4, PASS), ("either", 0.6, FAIL)):
        s = AnalysisSettings(metrics=(AnalysisMetric(name="rps", metric="M", direction=direction),))
        v = judge(s, {"rps": Samples(latencies(rng, slower=slower))}, {"rps": Samples(latencies(rng))})
        assert v.verdict == verdict, (direction, slower, v.describe())


def test_constant_samples_and_a_missing_metric() -> None:
    s = AnalysisSettings(metrics=(AnalysisMetric(name="x", metric="M"),))
    same = {"x": Samples((1.0,) * 20)}
    assert judge(s, same, same).verdict == PASS
    assert judge(s, {}, same).verdict == INCONCLUSIVE


def test_the_spread_test_gives_scipys_numbers() -> None:
    from scipy import stats

    from bluegreen.analysis import brown_forsythe

    for seed in range(20):
        rng = np.random.default_rng(seed)
        x, y = latencies(rng, spread=1.0 + seed / 10), latencies(rng, n=40)
        assert abs(brown_forsythe(x, y) - stats.levene(x, y, center="median").pvalue) < 1e-9


def test_the_verdict_survives_its_json_form() -> None:
    rng = np.random.default_rng(6)
    v = judge(DEFAULTS, colour(rng, slower=1.3), colour(rng))
    assert verdict_from_json(v.to_json()) == v


@settings(max_examples=150, deadline=None)
@given(
    n_new=st.integers(0, 40),
    n_old=st.integers(0, 40),
    r_new=st.integers(0, 400),
    r_old=st.integers(0, 400),
    min_samples=st.integers(3, 30),
    min_requests=st.integers(1, 300),
    seed=st.integers(0, 2**16),
)
def test_never_passes_with_less_data_than_the_minimum(
    n_new: int, n_old: int, r_new: int, r_old: int, min_samples: int, min_requests: int, seed: int
) -> None:
    s = AnalysisSettings(min_samples=min_samples, min_requests=min_requests)
    rng = np.random.default_rng(seed)

    def data(n: int, r: int) -> dict[str, Samples]:
        return {
            "5xx_ratio": Samples(errors=0, requests=r),
            "response_time": Samples(latencies(rng, n=n)),
            "response_time_p99": Samples(latencies(rng, n=n)),
        }

    v: Verdict = judge(s, data(n_new, r_new), data(n_old, r_old))
    enough = min(n_new, n_old) >= min_samples and min(r_new, r_old) >= min_requests
    if not enough:
        assert v.verdict != PASS, v.describe()
        assert v.verdict in (INCONCLUSIVE, FAIL)
