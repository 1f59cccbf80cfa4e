"""Deploys in the sandbox through the real `bluegreen` command, checked against what AWS reports.

Every test reads the outcome back from the load balancer (describe_listeners),
Auto Scaling (describe_auto_scaling_groups) and EC2 (describe_images), not
only from bluegreen's own status. They share one sandbox and run in order:
the first one needs the fresh environment; the others start from whatever
colour is live.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bluegreen.adapters.local.loadgen import LoadGenerator
from bluegreen.adapters.terraform import MIRROR_ENV
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

# A canary whose 50% step holds long enough for a second process to act during it.
LONG_HALF = {"strategy": "canary", "steps": [{"weight": 10, "wait": "1s"}, {"weight": 50, "wait": "30s"}]}


def test_a_provider_terraform_cannot_fetch_fails_the_deploy_once_and_unlocked(sandbox: Sandbox, tmp_path: Path) -> None:
    """A mirror without the provider: `terraform init` fails, nothing was created, the rollback has nothing to do.

    First in the file, so the colour it targets has never been applied (the fresh
    state directory a new user has); run later, its state holds nothing since
    the colour was retired: either way the destroy has nothing to remove.
    """
    cfg = sandbox.config
    before = status(cfg)
    target = other(before["live_colour"]) if before["live_colour"] else "blue"
    weights = sandbox.weights() if before["live_colour"] else None
    remembered = sandbox.state_dir / "terraform" / ".provider-mirror"
    mirror_before = remembered.read_text() if remembered.exists() else None
    empty = tmp_path / "mirror"
    empty.mkdir()

    res = run(cfg, "deploy", ENV, "--version", "no-provider", env={MIRROR_ENV: str(empty)})

    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    assert out.count("Failed to query available provider packages") == 1, out
    assert out.count(MIRROR_ENV) == 1 and "aws.provider_mirror" in out, out
    assert "Destroy failed" not in out and "rollback incomplete" not in out, out
    after = status(cfg)
    assert after["deployment"] is None and after["lock"] is None, after
    assert after["live_colour"] == before["live_colour"]
    rec = latest_record(cfg)
    assert (rec["status"], rec["release"]["version"]) == ("rolled_back", "no-provider")
    assert [e["kind"] for e in rec["events"] if e["kind"] in ("command_failed", "rollback_incomplete")] == []
    assert sandbox.asg(target) is None
    if weights is not None:
        assert sandbox.weights() == weights
    # A mirror that did not work is not remembered in place of one that did.
    assert (remembered.read_text() if remembered.exists() else None) == mirror_before


def test_v1_then_v2_ends_with_all_traffic_on_green_and_blue_removed(sandbox: Sandbox) -> None:
    cfg = sandbox.config
    assert status(cfg)["live_colour"] is None, "this test needs the fresh sandbox: it runs first"
    first = run(cfg, "deploy", ENV, "--version", "v1")
    assert first.returncode == 0, first.stdout + first.stderr
    sandbox.assert_serving("blue")

    second = run(cfg, "deploy", ENV, "--version", "v2")
    assert second.returncode == 0, second.stdout + second.stderr
    sandbox.assert_serving("green")
    st = status(cfg)
    assert st["live_colour"] == "green"
    assert st["weights"] == {"blue": 0, "green": 100}
    assert st["release"]["version"] == "v2" and st["deployment"] is None
    for shown in ("blue 90% / green 10% (read back)", "blue 50% / green 50% (read back)", "blue retired"):
        assert shown in second.stdout, shown

    ami = sandbox.image_of("green")
    assert ami == st["release"]["ami"]
    tags = sandbox.image_tags(ami)
    assert tags["Version"] == "v2"
    assert tags["SourceHash"] == st["release"]["source_hash"]
    assert f"baked image {ami}" in second.stdout


def test_the_same_version_from_the_same_source_reuses_its_image(sandbox: Sandbox) -> None:
    old = live_colour(sandbox)
    cfg = sandbox.config
    baked = run(cfg, "bake", ENV, "--version", "v2", "--json")  # reused when the previous test baked it
    assert baked.returncode == 0, baked.stdout + baked.stderr
    ami = _json_line(baked.stdout)["ami"]
    images_before = _images_of(sandbox, "v2")

    again = run(cfg, "deploy", ENV, "--version", "v2", "--strategy", "all-at-once")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"reused image {ami}" in again.stdout
    assert _images_of(sandbox, "v2") == images_before == [ami]
    new = other(old)
    sandbox.assert_serving(new)
    assert sandbox.image_of(new) == ami


def test_abort_from_a_second_process_during_the_50_percent_hold(sandbox: Sandbox, processes: Processes) -> None:
    old = live_colour(sandbox)
    new = other(old)
    cfg = sandbox.write_config("abort", traffic=LONG_HALF)
    deploy = processes.start(cfg, "deploy", ENV, "--version", "v3")
    wait_for(lambda: sandbox.weights() == {new: 50, old: 50}, timeout=180, what="the 50% step on the listener")

    aborted = run(cfg, "abort", ENV, "--reason", "error rate up")
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr
    assert deploy.wait(timeout=120) == 1, deploy.output()
    sandbox.assert_serving(old)

    rec = latest_record(cfg)
    assert (rec["status"], rec["release"]["version"]) == ("rolled_back", "v3")
    assert "error rate up" in rec["failure"]
    requested = next(e for e in rec["events"] if e["kind"] == "abort_requested")
    restored = f"{_weights_text({old: 100, new: 0})} (read back)"
    back = next(e for e in rec["events"] if e["kind"] == "traffic" and e["at"] >= requested["at"])
    assert back["message"] == restored
    latency = back["at"] - requested["at"]
    print(f"\nabort request -> 100% on {old} (read back): {latency * 1000:.0f} ms")
    assert latency < 1.0, f"{latency:.3f}s from the abort request to all traffic back on {old}"


def test_a_release_whose_health_never_passes_gets_no_request_and_the_deploy_fails(sandbox: Sandbox) -> None:
    old = live_colour(sandbox)
    new = other(old)
    # The app's /health answers 503 until its start-up work is done: an hour, so never during the deploy.
    cfg = sandbox.write_config(
        "unhealthy", health_check={"deadline": "40s"}, app={"settings": {"APP_STARTUP_DELAY": "3600"}}
    )
    url = sandbox.production_url()
    before = sandbox.proxy_requests(new)
    with LoadGenerator(url.removeprefix("http://"), "/version", threads=2, max_duration_s=240, pause_s=0.01) as load:
        res = run(cfg, "deploy", ENV, "--version", "v4")
    out = res.stdout + res.stderr
    report = load.report
    print(f"production traffic during the deploy: {report.summary()}")
    assert res.returncode == 1, out
    assert f"{new} is unhealthy" in out or "not healthy" in out, out
    sandbox.assert_serving(old)
    assert sandbox.proxy_requests(new) == before, "the proxy sent requests to the colour that never turned healthy"
    assert report.failures == 0 and report.ok > 0, report.summary()
    assert set(report.bodies) <= {f"version {v}" for v in ("base", "v1", "v2", "v3")}, report.bodies
    assert not any("v4" in body for body in report.bodies), report.bodies
    assert "APP_STARTUP_DELAY" not in str(status(cfg)["last_deployment"]["failure"])


def test_an_alarm_going_off_during_the_second_step_rolls_back_by_itself(sandbox: Sandbox, processes: Processes) -> None:
    old = live_colour(sandbox)
    new = other(old)
    alarm = f"{ENV}-e2e-5xx"
    cloudwatch = sandbox.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/ApplicationELB",
        MetricName="HTTPCode_Target_5XX_Count",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
    )
    try:
        cfg = sandbox.write_config("alarm", traffic={**LONG_HALF, "check_every": "500ms"}, alarms=[alarm])
        deploy = processes.start(cfg, "deploy", ENV, "--version", "v5")
        wait_for(lambda: sandbox.weights() == {new: 50, old: 50}, timeout=180, what="the 50% step on the listener")
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="5xx above 5 for 1 minute")
        assert deploy.wait(timeout=120) == 1, deploy.output()
    finally:
        cloudwatch.delete_alarms(AlarmNames=[alarm])
    out = deploy.output()
    assert f"alarm {alarm} is in ALARM" in out
    sandbox.assert_serving(old)
    last = status(cfg)["last_deployment"]
    assert last["status"] == "rolled_back"
    assert f"alarm {alarm} is in ALARM: 5xx above 5 for 1 minute" in last["failure"]


def test_manual_promotion_pauses_at_the_gate_and_promote_from_another_process_finishes(sandbox: Sandbox) -> None:
    old = live_colour(sandbox)
    new = other(old)
    steps = {"strategy": "canary", "steps": [{"weight": 10, "wait": "1s"}, {"weight": 50, "wait": "1s"}]}
    cfg = sandbox.write_config("manual", traffic=steps, promotion="manual")
    paused = run(cfg, "deploy", ENV, "--version", "v6", "--no-wait")
    assert paused.returncode == 0, paused.stdout + paused.stderr
    st = status(cfg)
    assert (st["deployment"]["status"], st["deployment"]["phase"]) == ("paused", "gate")
    assert sandbox.weights() == {new: 50, old: 50}
    assert sandbox.asg(old) is not None and sandbox.asg(new) is not None

    promoted = run(cfg, "promote", ENV)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert "promoted by tester" in promoted.stdout
    sandbox.assert_serving(new)
    st = status(cfg)
    assert st["live_colour"] == new and st["release"]["version"] == "v6"


# -- helpers -------------------------------------------------------------------------------------


def _weights_text(weights: dict[str, int]) -> str:
    return f"blue {weights['blue']}% / green {weights['green']}%"


def _json_line(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    return dict(json.loads(lines[-1]))


def _images_of(sandbox: Sandbox, version: str) -> list[str]:
    images = sandbox.client("ec2").describe_images(
        Owners=["self"],
        Filters=[{"Name": "tag:Version", "Values": [version]}, {"Name": "tag:Environment", "Values": [ENV]}],
    )["Images"]
    return sorted(i["ImageId"] for i in images)
