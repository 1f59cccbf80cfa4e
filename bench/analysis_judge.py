"""How long the canary judge takes per step, and how often it fails identical releases.

One step's analysis: 5 metrics (two count-like: the 5xx and 4xx ratios;
three latency-like: TargetResponseTime's average, p50 and p99), 2 colours,
60 samples each (an hour of one-minute periods). Timed over many calls (after a first, cold call that imports
scipy, shown on its own), in process: the judge is pure, so this is all it
costs a deploy; the CloudWatch read is the adapter's.

False-failure rate: identical releases (both colours' samples drawn from the
same skewed distribution, new seeds each run) judged at several confidence
levels; with it, how often a slower release is caught (the power) at the
default confidence. The table is written into bench/README.md.

    .venv/bin/python bench/analysis_judge.py [--runs 2000] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from common import machine_line, percentile, write_section

from bluegreen.analysis import PASS, judge
from bluegreen.ports import Samples
from bluegreen.settings import AnalysisMetric, AnalysisSettings

METRICS = (
    AnalysisMetric(name="5xx_ratio", kind="count", errors="HTTPCode_Target_5XX_Count", critical=True),
    AnalysisMetric(name="4xx_ratio", kind="count", errors="HTTPCode_Target_4XX_Count"),
    AnalysisMetric(name="response_time", metric="TargetResponseTime"),
    AnalysisMetric(name="response_time_p99", metric="TargetResponseTime", statistic="p99"),
    AnalysisMetric(name="response_time_p50", metric="TargetResponseTime", statistic="p50"),
)
SAMPLES = 60


def colour(rng: np.random.Generator, slower: float = 1.0) -> dict[str, Samples]:
    def lat(scale: float) -> tuple[float, ...]:
        return tuple(float(v) for v in scale * slower * np.exp(rng.normal(0.0, 0.25, SAMPLES)))

    return {
        "5xx_ratio": Samples(errors=int(rng.poisson(2)), requests=6000),
        "4xx_ratio": Samples(errors=int(rng.poisson(30)), requests=6000),
        "response_time": Samples(lat(0.2)),
        "response_time_p99": Samples(lat(0.8)),
        "response_time_p50": Samples(lat(0.15)),
    }


def timing(runs: int) -> tuple[float, list[float]]:
    settings = AnalysisSettings(metrics=METRICS)
    rng = np.random.default_rng(0)
    new, old = colour(rng), colour(rng)
    t = time.perf_counter()
    judge(settings, new, old)
    cold = time.perf_counter() - t
    times = []
    for _ in range(runs):
        new, old = colour(rng), colour(rng)
        t = time.perf_counter()
        judge(settings, new, old)
        times.append(time.perf_counter() - t)
    return cold, times


def rate(confidence: float, runs: int, slower: float = 1.0) -> float:
    settings = AnalysisSettings(metrics=METRICS, confidence=confidence)
    failed = 0
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        failed += judge(settings, colour(rng, slower), colour(rng)).verdict != PASS
    return failed / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    cold, times = timing(min(args.runs, 500))
    ms = [t * 1000 for t in times]
    lines = [
        # Timings on a shared machine mean little without its load.
        f"{machine_line()}, load average {os.getloadavg()[0]:.1f}; {len(METRICS)} metrics x 2 colours x "
        f"{SAMPLES} samples.",
        "",
        "| judge per step | ms |",
        "|---|---|",
        f"| first call (imports scipy) | {cold * 1000:.0f} |",
        f"| p50 over {len(ms)} calls | {percentile(ms, 50):.2f} |",
        f"| p99 | {percentile(ms, 99):.2f} |",
        f"| max | {max(ms):.2f} |",
        "",
        f"| confidence | identical releases not passed ({args.runs} seeds) | 10% slower caught | 30% slower caught |",
        "|---|---|---|---|",
    ]
    for confidence in (0.95, 0.98, 0.99):
        false = rate(confidence, args.runs)
        power10 = rate(confidence, args.runs // 4, 1.1)
        power30 = rate(confidence, args.runs // 4, 1.3)
        default = " (default)" if confidence == AnalysisSettings().confidence else ""
        lines.append(f"| {confidence}{default} | {false:.2%} | {power10:.1%} | {power30:.1%} |")
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("analysis_judge", body)


if __name__ == "__main__":
    main()
