"""AwsHealth against a real moto server: ASGs, target groups and a classic ELB built with boto3."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from bluegreen.adapters.aws.cloudwatch import arn_resource, load_balancer_dimension, target_group_name
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.forwards import forwards_of, load_balancer_arn, still_forwarding
from bluegreen.adapters.aws.health import AwsHealth
from bluegreen.adapters.aws.health_rules import deregistration_delay, drained_state
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.adapters.aws.traffic import AlbTraffic, ClassicElbTraffic
from bluegreen.model import Colour, Weights
from bluegreen.ports import HealthState
from tests.aws.lb_world import asg_instances, client
from tests.aws.recorded import BLUE_TARGET_GROUP, INSTANCE_A, INSTANCE_B, recorded

BLUE, GREEN = Colour.BLUE, Colour.GREEN


def alb_health(env: AwsEnvironment, target: AwsTarget, now: Callable[[], float] = time.time) -> AwsHealth:
    return AwsHealth(
        env,
        autoscaling=client(target, "autoscaling"),
        traffic=AlbTraffic(env, client(target, "elbv2")),
        elbv2=client(target, "elbv2"),
        cloudwatch=client(target, "cloudwatch"),
        now=now,
    )


def classic_traffic(env: AwsEnvironment, target: AwsTarget) -> ClassicElbTraffic:
    return ClassicElbTraffic(env, autoscaling=client(target, "autoscaling"), elb=client(target, "elb"), poll_s=0.05)


def elb_health(env: AwsEnvironment, target: AwsTarget) -> AwsHealth:
    return AwsHealth(
        env, autoscaling=client(target, "autoscaling"), traffic=classic_traffic(env, target), elb=client(target, "elb")
    )


@pytest.fixture(scope="module")
def shared_alb(new_alb: Callable[..., AwsEnvironment]) -> AwsEnvironment:
    """Read-only tests share one environment; tests that break things build their own."""
    return new_alb()


def test_healthy_asg_is_healthy(shared_alb: AwsEnvironment, aws_target: AwsTarget) -> None:
    health = AwsHealth.from_target(shared_alb, aws_target, traffic=AlbTraffic.from_target(shared_alb, aws_target))
    snapshot = health.check(BLUE)
    assert snapshot.state is HealthState.HEALTHY, snapshot.describe()
    assert (snapshot.in_service, snapshot.desired) == (2, 2)
    assert [t.state for t in snapshot.targets] == ["healthy", "healthy"]


def test_missing_asg_is_failed(new_alb: Callable[..., AwsEnvironment], aws_target: AwsTarget) -> None:
    env = new_alb(green=False)
    snapshot = alb_health(env, aws_target).check(GREEN)
    assert snapshot.state is HealthState.FAILED
    assert f"{env.name}-green does not exist" in snapshot.reason


def test_stopped_instances_are_not_healthy(new_alb: Callable[..., AwsEnvironment], aws_target: AwsTarget) -> None:
    env = new_alb()
    stopped = asg_instances(aws_target, env.asg_name(GREEN))[0]
    client(aws_target, "ec2").stop_instances(InstanceIds=[stopped])
    snapshot = alb_health(env, aws_target).check(GREEN)
    assert snapshot.state is HealthState.PENDING
    assert f"{stopped}: unused (Target.InvalidState)" in snapshot.describe()
    assert alb_health(env, aws_target).check(BLUE).state is HealthState.HEALTHY


def test_instance_marked_unhealthy_is_failed(new_alb: Callable[..., AwsEnvironment], aws_target: AwsTarget) -> None:
    env = new_alb()
    sick = asg_instances(aws_target, env.asg_name(GREEN))[1]
    client(aws_target, "autoscaling").set_instance_health(InstanceId=sick, HealthStatus="Unhealthy")
    snapshot = alb_health(env, aws_target).check(GREEN)
    assert snapshot.state is HealthState.FAILED
    assert f"marked {sick} Unhealthy" in snapshot.reason


def test_headroom(new_alb: Callable[..., AwsEnvironment], aws_target: AwsTarget) -> None:
    env = new_alb()
    health = alb_health(env, aws_target)
    assert health.headroom(BLUE).ok
    client(aws_target, "ec2").stop_instances(InstanceIds=asg_instances(aws_target, env.asg_name(BLUE)))
    room = health.headroom(BLUE)
    assert not room.ok
    assert "could not take all traffic back" in room.reason
    assert "Target.InvalidState" in room.reason


def test_drain_state_follows_the_listener_and_cloudwatch(
    new_alb: Callable[..., AwsEnvironment], aws_target: AwsTarget
) -> None:
    env = new_alb()
    health = alb_health(env, aws_target)
    serving = health.drain_state(BLUE)
    assert serving.serving and "100%" in serving.reason
    assert not health.drain_state(GREEN).serving

    AlbTraffic(env, client(aws_target, "elbv2")).set_weights(Weights(blue=0, green=100))
    assert not health.drain_state(BLUE).serving
    # Requests that reached blue are evidence it still serves, once CloudWatch has published them.
    put_request_count(aws_target, env, BLUE, 42.0, time.time() - 30)
    assert not health.drain_state(BLUE).serving, "a minute not yet published (60 s lag) is not read"
    put_request_count(aws_target, env, BLUE, 42.0, time.time() - 130)  # in a whole period before the lag
    recent = health.drain_state(BLUE)
    assert recent.serving and "42 requests" in recent.reason
    a_quarter_hour_on = alb_health(env, aws_target, now=lambda: time.time() + 900)
    assert not a_quarter_hour_on.drain_state(BLUE).serving
    assert a_quarter_hour_on.drain_state(GREEN).serving


def put_request_count(target: AwsTarget, env: AwsEnvironment, colour: Colour, value: float, at: float) -> None:
    client(target, "cloudwatch").put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {
                "MetricName": "RequestCount",
                "Dimensions": [
                    {"Name": "TargetGroup", "Value": arn_resource(env.target_group(colour))},
                    {"Name": "LoadBalancer", "Value": load_balancer_dimension(env.listener_arn)},
                ],
                "Timestamp": datetime.fromtimestamp(at, UTC),
                "Value": value,
                "Unit": "Count",
            }
        ],
    )


def test_a_listener_rule_forwarding_to_the_old_colour_blocks_retiring(
    new_alb: Callable[..., AwsEnvironment], aws_target: AwsTarget
) -> None:
    env = new_alb()
    elbv2 = client(aws_target, "elbv2")
    health = alb_health(env, aws_target)
    AlbTraffic(env, elbv2).set_weights(Weights(blue=0, green=100))
    rule = elbv2.create_rule(
        ListenerArn=env.listener_arn,
        Priority=10,
        Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": env.target_group(BLUE)}],
    )["Rules"][0]["RuleArn"]
    blocked = health.drain_state(BLUE)
    assert blocked.serving and blocked.blocked
    assert f"rule {rule} (priority 10) of the listener on port 80 forwards to target group {env.name}-blue" in (
        blocked.reason
    )
    assert health.drain_state(BLUE, deregister=True).blocked, "never deregistered while a rule forwards to it"
    assert len(elbv2.describe_target_health(TargetGroupArn=env.target_group(BLUE))["TargetHealthDescriptions"]) == 2
    assert not health.drain_state(GREEN).blocked  # the rule is about blue only

    elbv2.delete_rule(RuleArn=rule)
    free = health.drain_state(BLUE)
    assert not free.serving and not free.blocked, free.reason
    drained = health.drain_state(BLUE, deregister=True)
    assert not drained.serving, drained.reason
    group = client(aws_target, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[env.asg_name(BLUE)])
    assert group["AutoScalingGroups"][0]["TargetGroupARNs"] == []  # the ASG will not register new instances
    assert elbv2.describe_target_health(TargetGroupArn=env.target_group(BLUE))["TargetHealthDescriptions"] == []
    assert health.drain_state(BLUE, deregister=True) == drained  # again: harmless


def test_forwards_of_every_rule_on_recorded_responses() -> None:
    listener = recorded("describe_listeners_one")["Listeners"][0]
    forwards = forwards_of(listener, recorded("describe_rules_api_to_blue")["Rules"])
    assert [(f.priority, target_group_name(f.target_group_arn), f.weight) for f in forwards] == [
        ("10", "web-prod-blue", 1),
        ("20", "web-prod-blue", 0),
        ("20", "web-prod-green", 1),
        ("default", "web-prod-blue", 0),
        ("default", "web-prod-green", 100),
    ]
    left = still_forwarding(forwards, BLUE_TARGET_GROUP, owned_listeners=[listener["ListenerArn"]])
    assert [f.priority for f in left] == ["10"]  # weight 0 (rule 20, the default) sends nothing
    assert left[0].describe().startswith("rule arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/")
    assert load_balancer_arn(listener["ListenerArn"]) == listener["LoadBalancerArn"]


def test_draining_states_on_recorded_responses() -> None:
    attributes = recorded("tg_attributes")["Attributes"]
    assert deregistration_delay(attributes) == "120" and deregistration_delay([]) == "300"
    draining = drained_state(recorded("tg_all_draining"), BLUE, attributes)
    assert draining.serving and "(deregistration delay 120s)" in draining.reason
    assert f"{INSTANCE_A}, {INSTANCE_B}" in draining.reason
    assert drained_state(recorded("tg_unhealthy_draining"), BLUE, attributes).serving
    assert drained_state(recorded("tg_draining"), BLUE, attributes).serving
    assert drained_state(recorded("tg_healthy"), BLUE, attributes).reason.startswith("targets of blue still registered")
    assert not drained_state(recorded("tg_empty"), BLUE, attributes).serving


# -- classic ELB ---------------------------------------------------------------------------------


def test_classic_attached_colour_is_healthy_on_the_elb(
    new_elb: Callable[..., AwsEnvironment], aws_target: AwsTarget
) -> None:
    env = new_elb()
    health = elb_health(env, aws_target)
    live = health.check(BLUE)
    assert live.state is HealthState.HEALTHY
    assert [t.state for t in live.targets] == ["InService", "InService"]
    idle = health.check(GREEN)
    assert idle.state is HealthState.HEALTHY
    assert "ASG health only" in idle.reason


def test_classic_stopped_instance_is_out_of_service(
    new_elb: Callable[..., AwsEnvironment], aws_target: AwsTarget
) -> None:
    env = new_elb()
    stopped = asg_instances(aws_target, env.asg_name(BLUE))[0]
    client(aws_target, "ec2").stop_instances(InstanceIds=[stopped])
    snapshot = elb_health(env, aws_target).check(BLUE)
    assert snapshot.state is HealthState.PENDING
    assert f"{stopped}: OutOfService" in snapshot.describe()


def test_classic_drain_state(new_elb: Callable[..., AwsEnvironment], aws_target: AwsTarget) -> None:
    env = new_elb()
    health = elb_health(env, aws_target)
    assert health.drain_state(BLUE).serving
    assert not health.drain_state(GREEN).serving
    classic_traffic(env, aws_target).set_weights(Weights(blue=0, green=100))
    drained = health.drain_state(BLUE)
    assert not drained.serving, drained.reason
    assert health.drain_state(GREEN).serving
