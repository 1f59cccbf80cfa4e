"""Real traffic through the sandbox's production listener: the AWS path proven by requests, not by read-backs.

The sandbox's instances run the release baked into their AMI and its ALB
listeners are real proxies, so what a user would see is measured: two load
clients that never resend (one on kept-alive connections, one opening a
connection per request) count every request through the production listener
while deploys, an abort and a kill -9 run. Target health and the ALB metrics
are read with plain boto3 clients, as any AWS tool would.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bluegreen.adapters.local.loadgen import LoadGenerator, LoadReport
from tests.e2e.world import (
    ENV,
    Processes,
    Sandbox,
    latest_record,
    live_colour,
    other,
    run,
    status,
    wait_for,
)

pytestmark = pytest.mark.slow

QUICK = {"bake_time": "0s", "scale_down_delay": "1s"}
STRATEGIES: dict[str, dict[str, Any]] = {
    "all-at-once": {"strategy": "all-at-once", "steps": None},  # None: the example's canary steps removed
    "canary": {"strategy": "canary", "steps": [{"weight": 10, "wait": "1s"}, {"weight": 50, "wait": "1s"}]},
    "linear": {"strategy": "linear", "steps": None, "step": 50, "every": "1s"},
}
LONG_HALF = {"strategy": "canary", "steps": [{"weight": 10, "wait": "1s"}, {"weight": 50, "wait": "30s"}]}
VERSIONS = ("t-a", "t-b")  # alternating: each is baked once, then its image is reused


@contextmanager
def production_load(sandbox: Sandbox, max_s: float = 900) -> Iterator[tuple[LoadGenerator, LoadGenerator]]:
    """Two clients on the production listener: kept-alive connections, and a new connection per request."""
    address = sandbox.production_url().removeprefix("http://")
    kept = LoadGenerator(address, "/version", threads=2, keepalive_threads=2, max_duration_s=max_s, pause_s=0.01)
    fresh = LoadGenerator(address, "/version", threads=2, keepalive_threads=0, max_duration_s=max_s, pause_s=0.01)
    with kept, fresh:
        yield kept, fresh


def assert_no_failure(name: str, report: LoadReport) -> None:
    print(f"\n{name}: {report.summary()}\n  answered by release: {dict(report.bodies)}")
    assert report.sent == report.requests == report.ok, report.summary()  # every request counted, every one 2xx
    assert report.failures == 0 and not report.errors and not report.non_2xx, report.summary()


def test_sandbox_status_gives_the_urls_and_the_data_plane_processes(sandbox: Sandbox) -> None:
    info = sandbox.sandbox_status()
    urls = info["load_balancers"][ENV]
    host = info["environments"][ENV]
    assert urls["production_url"] == f"http://{host}:8080" and urls["test_url"] == f"http://{host}:8081"
    assert host.startswith("127.") and host != "127.0.0.1"
    dataplane = info["dataplane"]
    assert dataplane["state"] == "running" and dataplane["problems"] == []
    assert [p["state"] for p in dataplane["proxies"].values()] == ["running"]
    balancer = sandbox.client("elbv2").describe_load_balancers(Names=[ENV])["LoadBalancers"][0]
    assert balancer["DNSName"] == host  # what the API answers any client, as AWS's DNS would resolve the name


@pytest.mark.timeout(2400)  # twelve deploys, one at a time
def test_no_request_fails_through_the_production_listener_across_deploys_an_abort_and_a_kill(
    sandbox: Sandbox, processes: Processes, capsys: pytest.CaptureFixture[str]
) -> None:
    live_colour(sandbox)
    plan = ["all-at-once", "canary", "linear"] * 3 + ["all-at-once"]
    with production_load(sandbox) as (kept, fresh):
        for n, strategy in enumerate(plan):
            cfg = sandbox.write_config(f"traffic-{n}", traffic=STRATEGIES[strategy], **QUICK)
            res = run(cfg, "deploy", ENV, "--version", VERSIONS[n % 2], timeout=600)
            assert res.returncode == 0, f"deploy {n} ({strategy}):\n{res.stdout}{res.stderr}"

        old = live_colour(sandbox)
        new = other(old)
        cfg = sandbox.write_config("traffic-abort", traffic=LONG_HALF, **QUICK)
        deploy = processes.start(cfg, "deploy", ENV, "--version", VERSIONS[len(plan) % 2])
        wait_for(lambda: sandbox.weights() == {new: 50, old: 50}, timeout=180, what="the 50% step (abort)")
        time.sleep(2)  # requests on both colours
        aborted = run(cfg, "abort", ENV, "--reason", "traffic test")
        assert aborted.returncode == 0, aborted.stdout + aborted.stderr
        assert deploy.wait(timeout=180) == 1, deploy.output()
        sandbox.assert_serving(old)

        cfg = sandbox.write_config("traffic-kill", traffic=LONG_HALF, **QUICK)
        deploy = processes.start(cfg, "deploy", ENV, "--version", VERSIONS[len(plan) % 2])
        wait_for(lambda: sandbox.weights() == {new: 50, old: 50}, timeout=180, what="the 50% step (kill)")
        time.sleep(2)
        deploy.kill_9()
        resumed = run(cfg, "resume", ENV, timeout=300)
        assert resumed.returncode == 0, deploy.output() + resumed.stdout + resumed.stderr
        sandbox.assert_serving(new)
    with capsys.disabled():  # the counts are the proof: printed in every run, not only when it fails
        print(f"\nproduction listener: {len(plan)} deploys, an abort, a kill -9 and resume")
        assert_no_failure("kept-alive connections, never resending", kept.report)
        assert_no_failure("a connection per request", fresh.report)
    assert kept.report.keepalive_requests == kept.report.requests > 0
    seen = {body for r in (kept.report, fresh.report) for body in r.bodies}
    assert {f"version {v}" for v in VERSIONS} <= seen, seen


def test_a_release_failing_its_smoke_checks_gets_no_production_request_and_is_rolled_back(sandbox: Sandbox) -> None:
    old = live_colour(sandbox)
    new = other(old)
    # The app answers /version without its version: the smoke check (through the test listener) fails.
    cfg = sandbox.write_config("smoke", app={"settings": {"APP_FAIL_SMOKE": "1"}}, **QUICK)
    with production_load(sandbox, max_s=300) as (kept, fresh):
        res = run(cfg, "deploy", ENV, "--version", "t-smoke")
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    assert "smoke" in out and "no idea" in out, out
    sandbox.assert_serving(old)
    assert latest_record(cfg)["status"] == "rolled_back"
    for name, load in (("kept-alive", kept), ("per request", fresh)):
        assert_no_failure(name, load.report)
        assert "no idea" not in load.report.bodies, load.report.bodies  # the failing release answered none
    assert status(cfg)["live_colour"] == old != new


def test_target_health_and_alb_metrics_read_with_a_plain_aws_client(sandbox: Sandbox, processes: Processes) -> None:
    """initial -> healthy no sooner than the threshold allows; RequestCount per target group follows the traffic."""
    old = live_colour(sandbox)
    new = other(old)
    cfg = sandbox.write_config("health", traffic=LONG_HALF, health_check={"healthy_threshold": 3}, **QUICK)
    elbv2 = sandbox.client("elbv2")
    arn = sandbox.target_group_arn(new)
    # The target group belongs to the environment (`env up`), so its threshold is changed through the API itself,
    # as any AWS client would, and put back after.
    elbv2.modify_target_group(TargetGroupArn=arn, HealthyThresholdCount=3)
    try:
        _watch_health_and_metrics(sandbox, processes, cfg, arn, old, new)
    finally:
        elbv2.modify_target_group(TargetGroupArn=arn, HealthyThresholdCount=2)


def _watch_health_and_metrics(sandbox: Sandbox, processes: Processes, cfg: Any, arn: str, old: str, new: str) -> None:
    elbv2 = sandbox.client("elbv2")
    time.sleep(1.5)  # the data plane follows an API change within its propagation delay (1 s)
    deploy = processes.start(cfg, "deploy", ENV, "--version", "t-health")
    seen: dict[str, dict[str, float]] = {}  # target -> state -> first seen (monotonic)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and sandbox.weights().get(new, 0) == 0:
        for d in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]:
            seen.setdefault(d["Target"]["Id"], {}).setdefault(d["TargetHealth"]["State"], time.monotonic())
        time.sleep(0.2)
    assert seen, "the new colour's targets never registered"
    for target, states in seen.items():
        assert "initial" in states and "healthy" in states, (target, states)
        # 3 passing checks 5 s apart: at least two intervals after the first check, however early it ran.
        assert states["healthy"] - states["initial"] >= 2 * 5 - 1, (target, states)
    with production_load(sandbox, max_s=120) as (kept, _fresh):
        wait_for(lambda: sandbox.weights() == {new: 50, old: 50}, timeout=120, what="the 50% step")
        time.sleep(5)
    aborted = run(cfg, "abort", ENV, "--reason", "metrics read")
    assert aborted.returncode == 0 and deploy.wait(timeout=180) == 1, aborted.stdout + deploy.output()
    assert kept.report.ok > 0

    now = datetime.now(UTC)

    def requests_counted() -> float:
        return sandbox.published_sum(new, "RequestCount", now - timedelta(minutes=10), now + timedelta(minutes=5))

    wait_for(lambda: requests_counted() > 0, timeout=30, what="RequestCount of the new colour published", every=1)


def test_a_release_answering_5xx_under_the_canary_is_rolled_back_by_max_5xx(
    sandbox: Sandbox, processes: Processes
) -> None:
    """The metrics gate reads the data plane's HTTPCode_Target_5XX_Count (5 s periods, 2 s late in these tests)."""
    old = live_colour(sandbox)
    new = other(old)
    check_every = 1.0
    cfg = sandbox.write_config(
        "5xx",
        app={"settings": {"APP_FAIL_INDEX": "1"}},  # / answers 500; the smoke checks (/version, /health) pass
        metrics={"max_5xx": 5},
        traffic={**LONG_HALF, "steps": [{"weight": 50, "wait": "60s"}], "check_every": f"{check_every:g}s"},
        **QUICK,
    )
    address = sandbox.production_url().removeprefix("http://")
    deploy = processes.start(cfg, "deploy", ENV, "--version", "t-5xx")
    wait_for(lambda: sandbox.weights() == {new: 50, old: 50}, timeout=180, what="the 50% step")
    with LoadGenerator(address, "/", threads=2, max_duration_s=120, pause_s=0.02) as load:

        def published_5xx() -> float:
            now = datetime.now(UTC)
            return sandbox.published_sum(
                new, "HTTPCode_Target_5XX_Count", now - timedelta(minutes=5), now + timedelta(minutes=1)
            )

        wait_for(lambda: published_5xx() > 5 or not deploy.running(), timeout=60, what="5xx published", every=0.2)
        crossed = time.monotonic()
        wait_for(lambda: sandbox.weights() == {old: 100, new: 0}, timeout=30, what="traffic back", every=0.1)
        took = time.monotonic() - crossed
    code = deploy.wait(timeout=180)
    out = deploy.output()
    print(f"\nthreshold crossed (as published) -> all traffic back: {took:.2f}s; traffic: {load.report.summary()}")
    assert code == 1, out
    assert "max_5xx" in out or "5xx responses" in out, out
    # One check interval, plus the listener change and its read-back.
    assert took <= check_every + 1.5, f"{took:.2f}s from the 5xx published to all traffic back on {old}"
    sandbox.assert_serving(old)
    assert load.report.non_2xx[500] > 5, load.report.summary()


def test_the_old_colour_is_retired_only_after_its_slow_requests_finish(sandbox: Sandbox) -> None:
    old = live_colour(sandbox)
    cfg = sandbox.write_config("drain", traffic=STRATEGIES["all-at-once"], **QUICK)
    old_version = status(cfg)["release"]["version"]
    address = sandbox.production_url().removeprefix("http://")
    # Requests that take 4 s each, on fresh connections, all through the deploy: some are in flight on the old
    # colour when the listener moves; retiring must wait for them, never cut them.
    with LoadGenerator(address, "/slow?ms=4000", threads=4, keepalive_threads=0, max_duration_s=300) as slow:
        res = run(cfg, "deploy", ENV, "--version", "t-drain")
        time.sleep(4.5)  # the last ones sent before the end finish
    assert res.returncode == 0, res.stdout + res.stderr
    sandbox.assert_serving(other(old))
    assert_no_failure("slow requests (4 s each) across the retire", slow.report)
    assert any(b.endswith(f"on {old_version}") for b in slow.report.bodies), slow.report.bodies  # in flight on the old
