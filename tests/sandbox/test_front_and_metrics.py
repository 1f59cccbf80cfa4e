"""What other AWS clients read from the sandbox: target health in front of moto, and the ALB's CloudWatch metrics."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from bluegreen.sandbox.dataplane.api import lb_key, tg_key
from bluegreen.sandbox.dataplane.front import Front
from tests.sandbox.world import World, plain, wait_for

PERIOD_S = 2
LAG_S = 1.0


@pytest.fixture
def front(moto_endpoint: str) -> Iterator[Callable[[World], str]]:
    started: list[Front] = []

    def start(world: World) -> str:
        f = Front(moto_endpoint, world.dataplane.target_health).start()
        started.append(f)
        return f.endpoint

    yield start
    for f in started:
        f.stop()


def plain_elbv2(endpoint: str) -> Any:
    return plain("elbv2", endpoint)


def test_describe_target_health_through_the_front_tells_what_the_checks_see(
    make_world: Callable[..., World], front: Callable[[World], str]
) -> None:
    world = make_world(interval=2, timeout=1, healthy=2)
    elbv2 = plain_elbv2(front(world))
    sick = world.app("sick")
    sick.health_status = 500
    good = world.instance(world.app("good"), "blue")
    bad = world.instance(sick, "blue")
    arn = world.groups["blue"]

    def states() -> dict[str, tuple[str, str]]:
        found = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        return {d["Target"]["Id"]: (d["TargetHealth"]["State"], d["TargetHealth"].get("Reason", "")) for d in found}

    first = states()
    assert {s for s, _ in first.values()} == {"initial"}, first  # moto alone would say healthy at once
    wait_for(lambda: states() == {good: ("healthy", ""), bad: ("unhealthy", "Target.ResponseCodeMismatch")}, 20, "")
    asked = elbv2.describe_target_health(TargetGroupArn=arn, Targets=[{"Id": good, "Port": 80}, {"Id": "i-0000000000"}])
    got = [
        (d["Target"]["Id"], d["TargetHealth"]["State"], d["TargetHealth"].get("Reason"))
        for d in asked["TargetHealthDescriptions"]
    ]
    assert got == [(good, "healthy", None), ("i-0000000000", "unused", "Target.NotRegistered")]
    assert [lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]] == [world.lb_arn]
    missing = arn.rsplit("/", 1)[0] + "/0123456789abcdef"
    with pytest.raises(ClientError) as caught:
        elbv2.describe_target_health(TargetGroupArn=missing)
    assert caught.value.response["Error"]["Code"] == "TargetGroupNotFound"


def metric(world: World, colour: str, name: str, statistic: str) -> float | None:
    found = world.cloudwatch.get_metric_statistics(
        Namespace="AWS/ApplicationELB",
        MetricName=name,
        Dimensions=[
            {"Name": "TargetGroup", "Value": tg_key(world.groups[colour])},
            {"Name": "LoadBalancer", "Value": lb_key(world.lb_arn)},
        ],
        StartTime=datetime.fromtimestamp(time.time() - 600, UTC),
        EndTime=datetime.fromtimestamp(time.time() + 60, UTC),
        Period=60,
        Statistics=[statistic],
    )["Datapoints"]
    return sum(float(d[statistic]) for d in found) if found else None


def test_metrics_are_published_per_period_after_the_lag_and_follow_the_weights(
    make_world: Callable[..., World],
) -> None:
    world = make_world(metric_period_s=PERIOD_S, metric_lag_s=LAG_S)
    world.instance(world.app("blue"), "blue")
    world.instance(world.app("green"), "green")
    both = lambda: [s for s, _ in list(world.health("blue").values()) + list(world.health("green").values())]  # noqa: E731
    wait_for(lambda: both() == ["healthy", "healthy"], 15, "both healthy", world.why)
    world.weights(75, 25)
    time.sleep(1.0)
    url = urlsplit(world.url())
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    first = int(time.time() // PERIOD_S) * PERIOD_S
    for _ in range(200):
        conn.request("GET", "/")
        conn.getresponse().read()
    last = int(time.time() // PERIOD_S) * PERIOD_S
    time.sleep(0.3)  # the proxy's log lines reach the reader
    world.dataplane.publish_metrics(first + PERIOD_S + LAG_S - 0.01)
    assert metric(world, "blue", "RequestCount", "Sum") is None  # the first period closed, but the lag has not passed

    def counted() -> float:
        world.dataplane.publish_metrics(last + PERIOD_S + LAG_S)  # every period of those requests is due
        return sum(metric(world, colour, "RequestCount", "Sum") or 0.0 for colour in ("blue", "green"))

    wait_for(lambda: counted() == 200, 10, "200 requests counted")
    blue = metric(world, "blue", "RequestCount", "Sum")
    green = metric(world, "green", "RequestCount", "Sum")
    assert blue is not None and green is not None
    assert 0.6 < blue / 200 < 0.9, (blue, green)  # 75 % of 200: more than 4 standard deviations each side
    assert metric(world, "blue", "HTTPCode_Target_2XX_Count", "Sum") == blue
    assert metric(world, "blue", "TargetResponseTime", "SampleCount") == blue
    assert metric(world, "blue", "HTTPCode_Target_5XX_Count", "Sum") is None  # nonzero only, as AWS
    # A period with no request publishes no request metric; the healthy host count goes on.
    time.sleep(PERIOD_S + LAG_S + 0.5)
    world.dataplane.publish_metrics(time.time())
    assert metric(world, "blue", "RequestCount", "Sum") == blue
    healthy = metric(world, "blue", "HealthyHostCount", "Maximum")
    assert healthy is not None and healthy >= 1


def test_a_second_auto_scaling_group_of_the_same_name_is_refused_as_aws_does(moto_endpoint: str) -> None:
    """moto would replace the first group and orphan its instances; AWS answers AlreadyExists (a create
    retried after a lost answer meets it) and the first group keeps its instances."""
    direct = plain("autoscaling", moto_endpoint)

    def exists(name: str) -> bool:
        return bool(direct.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"])

    f = Front(moto_endpoint, lambda arn: [], exists).start()
    try:
        ec2 = plain("ec2", f.endpoint)
        image = ec2.describe_images()["Images"][0]["ImageId"]
        template = ec2.create_launch_template(
            LaunchTemplateName="twice", LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"}
        )["LaunchTemplate"]["LaunchTemplateId"]
        autoscaling = plain("autoscaling", f.endpoint)
        group = {
            "AutoScalingGroupName": "twice",
            "LaunchTemplate": {"LaunchTemplateId": template, "Version": "$Latest"},
            "MinSize": 1,
            "MaxSize": 1,
            "DesiredCapacity": 1,
            "AvailabilityZones": ["us-east-1a"],
        }
        autoscaling.create_auto_scaling_group(**group)
        first = [i["InstanceId"] for i in direct.describe_auto_scaling_groups()["AutoScalingGroups"][0]["Instances"]]
        with pytest.raises(ClientError) as refused:
            autoscaling.create_auto_scaling_group(**group)
        assert refused.value.response["Error"]["Code"] == "AlreadyExists"
        assert "twice already exists" in refused.value.response["Error"]["Message"]
        kept = direct.describe_auto_scaling_groups(AutoScalingGroupNames=["twice"])["AutoScalingGroups"][0]
        assert [i["InstanceId"] for i in kept["Instances"]] == first
    finally:
        f.stop()


def test_removing_a_role_an_instance_profile_does_not_hold_is_no_such_entity_as_aws_answers(
    moto_endpoint: str,
) -> None:
    """moto answers a 500 (its ValueError) that the AWS provider retries for minutes: a slot's destroy hung."""
    direct = plain("iam", moto_endpoint)

    def roles(name: str) -> list[str] | None:
        try:
            return [
                r["RoleName"] for r in direct.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
            ]
        except direct.exceptions.NoSuchEntityException:
            return None

    trust = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
    direct.create_role(RoleName="app-role", AssumeRolePolicyDocument=trust)
    direct.create_instance_profile(InstanceProfileName="empty")
    direct.create_instance_profile(InstanceProfileName="held")
    direct.add_role_to_instance_profile(InstanceProfileName="held", RoleName="app-role")
    f = Front(moto_endpoint, lambda arn: [], profile_roles=roles).start()
    try:
        iam = plain("iam", f.endpoint)
        with pytest.raises(ClientError) as refused:
            iam.remove_role_from_instance_profile(InstanceProfileName="empty", RoleName="app-role")
        assert refused.value.response["Error"]["Code"] == "NoSuchEntity"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        iam.remove_role_from_instance_profile(InstanceProfileName="held", RoleName="app-role")
        assert roles("held") == []
        with pytest.raises(ClientError) as again:
            iam.remove_role_from_instance_profile(InstanceProfileName="held", RoleName="app-role")
        assert again.value.response["Error"]["Code"] == "NoSuchEntity"
    finally:
        f.stop()
        for name in ("empty", "held"):
            direct.delete_instance_profile(InstanceProfileName=name)
        direct.delete_role(RoleName="app-role")
