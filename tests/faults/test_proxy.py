"""The fault proxy itself: each fault is what botocore sees from AWS, and only matching calls get one.

Checked with botocore's own parsing and retry classification, so a fault
test's premise ("the API throttled", "the change was applied but never
answered") is the one it claims.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.adapters.aws.session import client as bluegreen_client
from bluegreen.model import Colour
from tests.aws.lb_world import REGION, build_alb_environment
from tests.faults.proxy import (
    DROP,
    INTERNAL,
    THROTTLE,
    THROTTLE_EXCEPTION,
    UNAVAILABLE,
    Fault,
    FaultProxy,
    delayed,
    forward_weights,
)
from tests.faults.world import listener_weights


@pytest.fixture(scope="module")
def alb(moto_target: AwsTarget) -> AwsEnvironment:
    return build_alb_environment(moto_target, "proxied", desired=0, green=False)


def one_shot(endpoint: str, read_timeout: float = 10.0) -> Any:
    """An elbv2 client that tries once: what a single answer does, without retries hiding it."""
    cfg = BotoConfig(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=read_timeout)
    return boto3.session.Session().client("elbv2", region_name=REGION, endpoint_url=endpoint, config=cfg)


def weighted(env: AwsEnvironment, green: int) -> list[dict[str, Any]]:
    return [
        {
            "Type": "forward",
            "ForwardConfig": {
                "TargetGroups": [
                    {"TargetGroupArn": env.target_group(Colour.BLUE), "Weight": 100 - green},
                    {"TargetGroupArn": env.target_group(Colour.GREEN), "Weight": green},
                ]
            },
        }
    ]


@pytest.fixture
def reset_listener(alb: AwsEnvironment, moto_target: AwsTarget) -> Iterator[None]:
    yield
    one_shot(moto_target.endpoint_url).modify_listener(ListenerArn=alb.listener_arn, DefaultActions=weighted(alb, 0))


@pytest.mark.parametrize(
    ("fault", "status"),
    [(THROTTLE, 400), (THROTTLE_EXCEPTION, 400), (INTERNAL, 500), (UNAVAILABLE, 503)],
)
def test_an_error_answer_is_parsed_as_aws_error_and_never_reaches_the_server(
    alb: AwsEnvironment, moto_target: AwsTarget, proxy: FaultProxy, fault: Fault, status: int
) -> None:
    proxy.schedule.add("ModifyListener", [fault])
    with pytest.raises(ClientError) as caught:
        one_shot(proxy.endpoint).modify_listener(ListenerArn=alb.listener_arn, DefaultActions=weighted(alb, 30))
    response = caught.value.response
    assert response["Error"]["Code"] == fault.code
    assert response["Error"]["Message"] == fault.message
    assert response["Error"]["Type"] == ("Sender" if status == 400 else "Receiver")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert listener_weights(moto_target, alb) == {"blue": 100, "green": 0}


def test_bluegreens_clients_retry_through_a_throttling_burst(alb: AwsEnvironment, proxy: FaultProxy) -> None:
    proxy.schedule.add("DescribeListeners", [THROTTLE, THROTTLE_EXCEPTION])
    elbv2 = bluegreen_client(AwsTarget(REGION, proxy.endpoint), "elbv2")
    answer = elbv2.describe_listeners(ListenerArns=[alb.listener_arn])
    assert answer["ResponseMetadata"]["RetryAttempts"] == 2
    assert [s.status for s in proxy.schedule.seen("DescribeListeners")] == [400, 400, 200]


@pytest.mark.usefixtures("reset_listener")
def test_a_dropped_answer_applies_the_change_and_leaves_the_client_without_one(
    alb: AwsEnvironment, moto_target: AwsTarget, proxy: FaultProxy
) -> None:
    proxy.schedule.add("ModifyListener", [DROP])
    with pytest.raises(ConnectionClosedError):
        one_shot(proxy.endpoint).modify_listener(ListenerArn=alb.listener_arn, DefaultActions=weighted(alb, 30))
    assert listener_weights(moto_target, alb) == {"blue": 70, "green": 30}
    (seen,) = proxy.schedule.seen("ModifyListener")
    assert seen.fault is DROP and seen.status is None


@pytest.mark.usefixtures("reset_listener")
def test_a_late_answer_applies_the_change_after_the_client_gave_up(
    alb: AwsEnvironment, moto_target: AwsTarget, proxy: FaultProxy
) -> None:
    proxy.schedule.add("ModifyListener", [delayed(2.0)])
    with pytest.raises(ReadTimeoutError):
        one_shot(proxy.endpoint, read_timeout=0.5).modify_listener(
            ListenerArn=alb.listener_arn, DefaultActions=weighted(alb, 40)
        )
    assert listener_weights(moto_target, alb) == {"blue": 60, "green": 40}


@pytest.mark.usefixtures("reset_listener")
def test_only_matching_calls_get_a_fault_and_the_list_runs_out(
    alb: AwsEnvironment, moto_target: AwsTarget, proxy: FaultProxy
) -> None:
    green_gets_some = lambda f: forward_weights(f).get(alb.target_group(Colour.GREEN), 0) > 0  # noqa: E731
    proxy.schedule.add("ModifyListener", [UNAVAILABLE], when=green_gets_some)
    elbv2 = one_shot(proxy.endpoint)
    elbv2.modify_listener(ListenerArn=alb.listener_arn, DefaultActions=weighted(alb, 0))  # no green: passes
    with pytest.raises(ClientError):
        elbv2.modify_listener(ListenerArn=alb.listener_arn, DefaultActions=weighted(alb, 10))
    elbv2.modify_listener(ListenerArn=alb.listener_arn, DefaultActions=weighted(alb, 10))  # the list ran out
    elbv2.describe_listeners(ListenerArns=[alb.listener_arn])  # another action: untouched
    assert listener_weights(moto_target, alb) == {"blue": 90, "green": 10}
    assert [(s.action, s.status) for s in proxy.schedule.log] == [
        ("ModifyListener", 200),
        ("ModifyListener", 503),
        ("ModifyListener", 200),
        ("DescribeListeners", 200),
    ]


def test_forward_weights_reads_a_weighted_forward_from_the_form() -> None:
    fields = {
        "Action": "ModifyListener",
        "DefaultActions.member.1.Type": "forward",
        "DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn": "arn:blue",
        "DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.Weight": "90",
        "DefaultActions.member.1.ForwardConfig.TargetGroups.member.2.TargetGroupArn": "arn:green",
        "DefaultActions.member.1.ForwardConfig.TargetGroups.member.2.Weight": "10",
    }
    assert forward_weights(fields) == {"arn:blue": 90, "arn:green": 10}
    assert forward_weights({"Action": "ModifyListener", "DefaultActions.member.1.TargetGroupArn": "arn:x"}) == {}
