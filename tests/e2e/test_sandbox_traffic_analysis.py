"""Canary analysis on the sandbox's real traffic: each colour judged from its own target group's metrics.

The data plane publishes `TargetResponseTime` and the request and 5xx counts
per target group, per 5 s period (the example's), from the requests a load
client sends through the production listener. A release told to take 150 ms
per request (still under `max_response_time`) is rolled back by the
analysis, with both colours' figures in the message and in `status --json`;
the same code without the delay passes, with its score recorded.
"""

from __future__ import annotations

from typing import Any

import pytest

from bluegreen.adapters.local.loadgen import LoadGenerator
from tests.e2e.world import ENV, Sandbox, live_colour, other, run, status

pytestmark = pytest.mark.slow

ANALYSIS: dict[str, Any] = {
    "metrics": [
        {"name": "5xx_ratio", "kind": "count", "errors": "HTTPCode_Target_5XX_Count", "requests": "RequestCount",
         "critical": True},
        {"name": "response_time", "kind": "latency", "metric": "TargetResponseTime", "statistic": "Average",
         "direction": "higher"},
    ],
    "interval": "5s",  # the example's metric period: one sample per colour per period
    "min_samples": 5,
    "min_requests": 50,
    # On loopback a request takes a few milliseconds: a shift of less than 3x the old median is noise here.
    "tolerance": 2.0,
    "spread_tolerance": 5.0,
    "on_inconclusive": "rollback",
    "inconclusive_limit": "60s",
}  # fmt: skip
TRAFFIC = {"strategy": "canary", "steps": [{"weight": 50, "wait": "35s"}], "check_every": "1s"}


def deploy_under_load(sandbox: Sandbox, cfg: Any, version: str) -> tuple[int, str]:
    address = sandbox.production_url().removeprefix("http://")
    with LoadGenerator(address, "/version", threads=4, keepalive_threads=2, max_duration_s=400, pause_s=0.01) as load:
        res = run(cfg, "deploy", ENV, "--version", version, timeout=400)
    print(f"\n{version}: {load.report.summary()}; by release {dict(load.report.bodies)}")
    assert load.report.failures == 0, load.report.summary()
    return res.returncode, res.stdout + res.stderr


@pytest.mark.timeout(1500)  # two deploys, each holding its canary step for the analysis
def test_a_slower_release_is_rolled_back_by_analysis_and_the_same_code_passes(sandbox: Sandbox) -> None:
    old = live_colour(sandbox)
    new = other(old)
    common = {"analysis": ANALYSIS, "traffic": TRAFFIC, "bake_time": "0s", "scale_down_delay": "1s"}
    slow = sandbox.write_config(
        "analysis-slow",
        app={"settings": {"APP_LATENCY_MS": "150"}},
        metrics={"max_response_time": "1s"},  # the fixed threshold never sees it: 150 ms is well under
        **common,
    )
    code, out = deploy_under_load(sandbox, slow, "t-slow")
    assert code == 1, out
    assert "canary analysis failed" in out and "response_time slower by" in out, out
    assert f"{new} (new)" in out and f"{old} (old)" in out, out
    last = status(slow)["last_deployment"]
    assert last["status"] == "rolled_back" and last["analysis"]["verdict"] == "fail", last
    rt = {m["name"]: m for m in last["analysis"]["metrics"]}["response_time"]
    assert rt["classification"] == "fail" and rt["new"] > 0.1 > rt["old"] > 0, rt
    sandbox.assert_serving(old)

    same = sandbox.write_config("analysis-same", **common)
    code, out = deploy_under_load(sandbox, same, "t-same")
    assert code == 0, out
    last = status(same)["last_deployment"]
    assert last["status"] == "succeeded" and last["analysis"]["verdict"] == "pass", last
    assert last["analysis"]["score"] >= 95, last["analysis"]
    print(f"identical release: score {last['analysis']['score']}, metrics {last['analysis']['metrics']}")
    sandbox.assert_serving(new)
