"""ELBv2's creates through the sandbox's endpoint are idempotent, as on AWS (moto's alone are not); what wakes the data plane.

A create an SDK resends after losing the first answer must get what the first
call made (moto alone made a second listener on the production port, left at
blue 100, and refused a second target group of the same name). Different
settings are refused with AWS's error codes.
https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateListener.html
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.sandbox.dataplane.front import Front
from tests.sandbox.world import plain


@pytest.fixture(scope="module")
def elbv2(moto_target: AwsTarget) -> Iterator[tuple[Any, str]]:
    front = Front(moto_target.endpoint_url or "", lambda arn: []).start()
    ec2 = plain("ec2", moto_target.endpoint_url or "")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{n}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
        for n, z in ((1, "a"), (2, "b"))
    ]
    client = plain("elbv2", front.endpoint)
    client.create_load_balancer(Name="idem", Subnets=subnets, Type="application")
    try:
        yield client, vpc
    finally:
        front.stop()


def code(caught: pytest.ExceptionInfo[ClientError]) -> str:
    return str(caught.value.response["Error"]["Code"])


def test_a_load_balancer_created_again_with_the_same_settings_is_the_same_one(elbv2: tuple[Any, str]) -> None:
    client, _ = elbv2
    subnets = [
        z["SubnetId"] for z in client.describe_load_balancers(Names=["idem"])["LoadBalancers"][0]["AvailabilityZones"]
    ]
    first = client.describe_load_balancers(Names=["idem"])["LoadBalancers"][0]
    again = client.create_load_balancer(Name="idem", Subnets=subnets, Type="application")["LoadBalancers"][0]
    assert again["LoadBalancerArn"] == first["LoadBalancerArn"] and again["DNSName"] == first["DNSName"]
    assert [lb["LoadBalancerName"] for lb in client.describe_load_balancers()["LoadBalancers"]] == ["idem"]
    with pytest.raises(ClientError) as caught:
        client.create_load_balancer(Name="idem", Subnets=subnets, Type="application", Scheme="internal")
    assert code(caught) == "DuplicateLoadBalancerName"


def test_a_target_group_created_again_with_the_same_settings_is_the_same_one(elbv2: tuple[Any, str]) -> None:
    client, vpc = elbv2
    first = client.create_target_group(Name="idem-blue", Protocol="HTTP", Port=8000, VpcId=vpc)["TargetGroups"][0]
    again = client.create_target_group(Name="idem-blue", Protocol="HTTP", Port=8000, VpcId=vpc)["TargetGroups"][0]
    assert again["TargetGroupArn"] == first["TargetGroupArn"]
    with pytest.raises(ClientError) as caught:
        client.create_target_group(Name="idem-blue", Protocol="HTTP", Port=9000, VpcId=vpc)
    assert code(caught) == "DuplicateTargetGroupName"


def test_a_listener_created_again_on_its_port_is_the_same_one_and_another_forward_is_refused(
    elbv2: tuple[Any, str],
) -> None:
    client, vpc = elbv2
    lb = client.describe_load_balancers(Names=["idem"])["LoadBalancers"][0]["LoadBalancerArn"]
    blue, green = (
        client.create_target_group(Name=f"idem-listener-{c}", Protocol="HTTP", Port=8000, VpcId=vpc)["TargetGroups"][0][
            "TargetGroupArn"
        ]
        for c in ("blue", "green")
    )

    def create(group: str) -> dict[str, Any]:
        action = [{"Type": "forward", "TargetGroupArn": group}]
        return dict(
            client.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=8080, DefaultActions=action)["Listeners"][
                0
            ]
        )

    first = create(blue)
    again = create(blue)
    assert again["ListenerArn"] == first["ListenerArn"] and again["Port"] == 8080
    assert [x["ListenerArn"] for x in client.describe_listeners(LoadBalancerArn=lb)["Listeners"]] == [
        first["ListenerArn"]
    ]
    with pytest.raises(ClientError) as caught:
        create(green)
    assert code(caught) == "DuplicateListener"
    other = client.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=8081, DefaultActions=[{"Type": "forward", "TargetGroupArn": green}]
    )["Listeners"][0]
    assert other["ListenerArn"] != first["ListenerArn"]
    assert len(client.describe_listeners(LoadBalancerArn=lb)["Listeners"]) == 2


def test_the_front_says_when_a_call_may_have_changed_what_the_data_plane_follows(moto_target: AwsTarget) -> None:
    """The data plane reconciles at once after such a call, instead of at its next tick."""
    calls: list[str] = []
    front = Front(moto_target.endpoint_url or "", lambda arn: [], changed=lambda: calls.append("changed")).start()
    try:
        client = plain("elbv2", front.endpoint)
        vpc = plain("ec2", front.endpoint).create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]
        assert calls == ["changed"]  # CreateVpc
        client.describe_target_groups()
        assert calls == ["changed"]  # a read changes nothing
        arn = client.create_target_group(Name="woken", Protocol="HTTP", Port=80, VpcId=vpc["VpcId"])["TargetGroups"]
        client.modify_target_group(TargetGroupArn=arn[0]["TargetGroupArn"], HealthCheckIntervalSeconds=10)
        assert calls == ["changed"] * 3
        with pytest.raises(ClientError):
            client.modify_target_group(TargetGroupArn=arn[0]["TargetGroupArn"] + "0", HealthCheckIntervalSeconds=10)
        assert calls == ["changed"] * 3  # refused: nothing changed
    finally:
        front.stop()
