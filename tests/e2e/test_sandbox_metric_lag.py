"""The metrics gate with AWS's publication lag, on the sandbox's real traffic.

ALB metrics reach CloudWatch about a minute after their period closes. Here
the sandbox publishes them 60 s late (a `sandbox up` with a config that says
`publication_lag: 60s` changes the running data plane's timing), a release
answers 500 under the canary, and the deploy must roll back on what
CloudWatch has published: not before the first 5xx period is published, and
within a check interval or two after it is.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from bluegreen.adapters.local.loadgen import LoadGenerator
from tests.e2e.world import ENV, Processes, Sandbox, live_colour, other, run, wait_for

pytestmark = pytest.mark.slow

LAG_S = 60.0
PERIOD_S = 5.0  # the example's period
CHECK_EVERY_S = 1.0


@pytest.mark.timeout(1200)  # two `sandbox up`s and a deploy that waits out the lag
def test_a_5xx_release_is_rolled_back_only_once_its_5xx_are_published_60s_late(
    sandbox: Sandbox, processes: Processes
) -> None:
    cfg = sandbox.write_config(
        "lag60",
        app={"settings": {"APP_FAIL_INDEX": "1"}},  # / answers 500; the smoke checks (/version, /health) pass
        metrics={"max_5xx": 5, "publication_lag": f"{LAG_S:g}s"},
        traffic={
            "strategy": "canary",
            "steps": [{"weight": 50, "wait": "4m"}],
            "check_every": f"{CHECK_EVERY_S:g}s",
        },
        bake_time="0s",
        scale_down_delay="1s",
    )
    up = run(cfg, "sandbox", "up", timeout=300)  # the data plane now publishes 60 s late
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        old = live_colour(sandbox)
        new = other(old)
        deploy = processes.start(cfg, "deploy", ENV, "--version", "t-lag")
        wait_for(lambda: sandbox.weights() == {new: 50, old: 50} or not deploy.running(), timeout=240, what="50%")
        assert deploy.running(), deploy.output()
        address = sandbox.production_url().removeprefix("http://")
        with LoadGenerator(address, "/", threads=2, max_duration_s=240, pause_s=0.02) as load:
            wait_for(lambda: load.snapshot().non_2xx[500] > 5, timeout=30, what="5xx answered", every=0.05)
            crossed = time.monotonic()
            first_published = _watch_until_back(sandbox, new, old)
            back = time.monotonic()
        code = deploy.wait(timeout=120)
        out = deploy.output()
        took = back - crossed
        print(f"\n5xx answered -> published: {first_published - crossed:.1f}s; -> traffic back: {took:.1f}s")
        assert code == 1, out
        assert "max_5xx" in out or "5xx responses" in out, out
        # Nothing published earlier than the lag, so nothing judged: the canary held.
        assert first_published - crossed >= LAG_S - 1, f"5xx published {first_published - crossed:.1f}s after"
        assert took >= LAG_S - 1, f"rolled back {took:.1f}s after the 5xx began: before they were published"
        # Then one check interval, the read-back and a period's rounding.
        assert back - first_published <= CHECK_EVERY_S + PERIOD_S + 3, f"{back - first_published:.1f}s"
        sandbox.assert_serving(old)
    finally:
        restored = run(sandbox.config, "sandbox", "up", timeout=300)
        assert restored.returncode == 0, restored.stdout + restored.stderr


def _watch_until_back(sandbox: Sandbox, new: str, old: str) -> float:
    """Poll CloudWatch (a plain client) and the listener; return when 5xx of `new` were first published."""
    published = 0.0
    deadline = time.monotonic() + 200
    while time.monotonic() < deadline:
        now = datetime.now(UTC)
        if not published and sandbox.published_sum(
            new, "HTTPCode_Target_5XX_Count", now - timedelta(minutes=10), now + timedelta(minutes=1)
        ):
            published = time.monotonic()
        if sandbox.weights() == {old: 100, new: 0}:
            assert published, "traffic went back before any 5xx was published"
            return published
        time.sleep(0.2)
    raise AssertionError("traffic did not go back within 200 s")
