"""Traffic on AWS: the pure weight <-> listener translation, then the adapters against moto."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import pytest

from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.adapters.aws.traffic import (
    AlbTraffic,
    ClassicElbTraffic,
    checked_weights,
    forward_action,
    only_colour,
    percents,
    weights_from_actions,
)
from bluegreen.errors import AdapterError
from bluegreen.model import Colour, Weights
from tests.aws.lb_world import asg_instances, client
from tests.aws.recorded import BLUE_TARGET_GROUP, GREEN_TARGET_GROUP, recorded

BLUE, GREEN = Colour.BLUE, Colour.GREEN
GROUPS = {BLUE: BLUE_TARGET_GROUP, GREEN: GREEN_TARGET_GROUP}


def listener_weights(name: str) -> Weights:
    return weights_from_actions(recorded(name)["Listeners"][0]["DefaultActions"], GROUPS)


# -- pure ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("listener", "weights"),
    [
        ("listener_plain_forward", Weights(blue=100, green=0)),  # TargetGroupArn plus a one-entry ForwardConfig
        ("listener_canary", Weights(blue=90, green=10)),
        ("listener_relative_weights", Weights(blue=33, green=67)),  # weights are relative, not percents
        ("listener_authenticate_then_forward", Weights(blue=0, green=100)),
        ("listener_fixed_response", Weights(blue=0, green=0)),
        # a stranger's share stays out of ours, so a read-back comparison cannot pass by accident
        ("listener_foreign_group", Weights(blue=50, green=25)),
    ],
)
def test_weights_read_from_recorded_listeners(listener: str, weights: Weights) -> None:
    assert listener_weights(listener) == weights


def test_forward_action_keeps_both_groups_and_no_stickiness() -> None:
    action = forward_action(GROUPS, Weights(blue=90, green=10))
    assert action == {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [
                {"TargetGroupArn": BLUE_TARGET_GROUP, "Weight": 90},
                {"TargetGroupArn": GREEN_TARGET_GROUP, "Weight": 10},
            ],
            "TargetGroupStickinessConfig": {"Enabled": False},
        },
    }
    assert weights_from_actions([action], GROUPS) == Weights(blue=90, green=10)


@pytest.mark.parametrize("blue", range(0, 101, 7))
def test_forward_action_round_trips(blue: int) -> None:
    weights = Weights(blue=blue, green=100 - blue)
    assert weights_from_actions([forward_action(GROUPS, weights)], GROUPS) == weights


@pytest.mark.parametrize(
    "shares", [{"a": 1, "b": 1, "c": 1}, {"a": 999, "b": 1}, {"a": 2, "b": 3, "c": 5, "d": 7}, {"a": 0, "b": 0}]
)
def test_percents_sum_to_100_or_0(shares: dict[str, int]) -> None:
    total = sum(percents(shares).values())
    assert total == (100 if sum(shares.values()) else 0)


@pytest.mark.parametrize("weights", [Weights(50, 40), Weights(0, 0), Weights(100, 100)])
def test_weights_not_summing_to_100_are_refused(weights: Weights) -> None:
    with pytest.raises(AdapterError, match="sum to 100"):
        checked_weights(weights, where="listener")


def test_classic_only_moves_everything() -> None:
    assert only_colour(Weights(blue=0, green=100), where="elb") is GREEN
    with pytest.raises(AdapterError, match="all at once") as e:
        only_colour(Weights(blue=90, green=10), where="elb")
    assert "all-at-once" in e.value.hint


# -- ALB against moto --------------------------------------------------------------------------------


def alb_traffic(env: AwsEnvironment, target: AwsTarget) -> AlbTraffic:
    return AlbTraffic(env, client(target, "elbv2"))


def test_alb_set_and_read_back(new_alb: Callable[..., AwsEnvironment], aws_target: AwsTarget) -> None:
    env = new_alb()
    traffic = AlbTraffic.from_target(env, aws_target)
    assert traffic.read_weights() == Weights(blue=100, green=0)  # as the environment module left it
    for blue, green in ((90, 10), (50, 50), (0, 100)):
        traffic.set_weights(Weights(blue=blue, green=green))
        assert traffic.read_weights() == Weights(blue=blue, green=green)
    listener = client(aws_target, "elbv2").describe_listeners(ListenerArns=[env.listener_arn])["Listeners"][0]
    assert listener["DefaultActions"][0]["ForwardConfig"]["TargetGroupStickinessConfig"] == {"Enabled": False}


def test_alb_reapplying_changes_nothing(new_alb: Callable[..., AwsEnvironment], aws_target: AwsTarget) -> None:
    env = new_alb()
    traffic = alb_traffic(env, aws_target)
    traffic.set_weights(Weights(blue=10, green=90))
    elbv2 = client(aws_target, "elbv2")
    before = elbv2.describe_listeners(ListenerArns=[env.listener_arn])["Listeners"][0]["DefaultActions"]
    traffic.set_weights(Weights(blue=10, green=90))
    after = elbv2.describe_listeners(ListenerArns=[env.listener_arn])["Listeners"][0]["DefaultActions"]
    assert after == before
    assert traffic.read_weights() == Weights(blue=10, green=90)


def test_alb_test_listener_follows_the_idle_colour(
    new_alb: Callable[..., AwsEnvironment], aws_target: AwsTarget
) -> None:
    env = new_alb()
    traffic = alb_traffic(env, aws_target)
    traffic.point_test_listener(BLUE)
    assert traffic.test_listener_colour() is BLUE
    traffic.point_test_listener(GREEN)
    assert traffic.test_listener_colour() is GREEN
    assert traffic.read_weights() == Weights(blue=100, green=0)  # production untouched
    assert traffic.test_url(BLUE) == f"http://{env.dns_name}:8080"
    assert traffic.test_listener_colour() is BLUE


def test_alb_error_says_where_and_what_next(aws_target: AwsTarget) -> None:
    env = AwsEnvironment(
        name="gone",
        load_balancer_type="alb",
        dns_name="",
        listener_arn="arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/gone/0123456789abcdef/0123456789abcdef",
        target_group_arns={"blue": BLUE_TARGET_GROUP, "green": GREEN_TARGET_GROUP},
    )
    with pytest.raises(AdapterError) as e:
        alb_traffic(env, aws_target).read_weights()
    assert "could not read the listener back" in e.value.what
    assert "ListenerNotFound" in e.value.what
    assert e.value.where == env.listener_arn
    assert e.value.hint


# -- classic ELB against moto -------------------------------------------------------------------------


def classic(
    env: AwsEnvironment,
    target: AwsTarget,
    *,
    deadline_s: float = 5.0,
    poll_s: float = 0.05,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> ClassicElbTraffic:
    return ClassicElbTraffic(
        env,
        autoscaling=client(target, "autoscaling"),
        elb=client(target, "elb"),
        deadline_s=deadline_s,
        poll_s=poll_s,
        sleep=sleep,
        monotonic=monotonic,
    )


def test_classic_switch_and_read_back(new_elb: Callable[..., AwsEnvironment], aws_target: AwsTarget) -> None:
    env = new_elb()
    traffic = ClassicElbTraffic.from_target(env, aws_target, poll_s=0.05)
    assert traffic.read_weights() == Weights(blue=100, green=0)
    traffic.set_weights(Weights(blue=0, green=100))
    assert traffic.read_weights() == Weights(blue=0, green=100)
    registered = client(aws_target, "elb").describe_instance_health(LoadBalancerName=env.load_balancer_name)
    assert {s["InstanceId"] for s in registered["InstanceStates"]} == set(
        asg_instances(aws_target, env.asg_name(GREEN))
    )
    traffic.set_weights(Weights(blue=0, green=100))  # again: nothing changes
    assert traffic.read_weights() == Weights(blue=0, green=100)
    traffic.set_weights(Weights(blue=100, green=0))  # and back
    assert traffic.read_weights() == Weights(blue=100, green=0)


def test_classic_refuses_partial_weights(new_elb: Callable[..., AwsEnvironment], aws_target: AwsTarget) -> None:
    env = new_elb()
    traffic = classic(env, aws_target)
    with pytest.raises(AdapterError, match="all at once"):
        traffic.set_weights(Weights(blue=50, green=50))
    assert traffic.read_weights() == Weights(blue=100, green=0)


def test_classic_keeps_the_old_colour_when_the_new_never_comes_in_service(
    new_elb: Callable[..., AwsEnvironment], aws_target: AwsTarget
) -> None:
    env = new_elb()
    client(aws_target, "ec2").stop_instances(InstanceIds=asg_instances(aws_target, env.asg_name(GREEN)))
    clock = itertools.count(0.0, 1.0)
    naps: list[float] = []
    traffic = classic(env, aws_target, deadline_s=10, poll_s=2.5, sleep=naps.append, monotonic=lambda: next(clock))
    with pytest.raises(AdapterError, match="did not come InService") as e:
        traffic.set_weights(Weights(blue=0, green=100))
    assert "not within 10s" in e.value.what
    assert "OutOfService" in e.value.what
    assert naps and all(n == 2.5 for n in naps)
    # blue was never detached: it still takes everything (green, attached, serves nothing while OutOfService)
    assert traffic.read_weights().of(BLUE) == 100
