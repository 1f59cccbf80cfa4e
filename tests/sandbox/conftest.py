"""Fixtures for the data plane: a sandbox load balancer in moto with its proxies reconciled as the daemon does and
real HTTP apps as its targets; and a sandbox world for the instances it runs."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.sandbox.dataplane.alb import LoadBalancers
from bluegreen.sandbox.dataplane.instances import Instances
from bluegreen.sandbox.dataplane.settings import DataPlaneSettings
from tests.sandbox import instances_world
from tests.sandbox.world import RECONCILE_EVERY_S, World, clients


@pytest.fixture
def make_world(moto_target: AwsTarget, tmp_path: Path) -> Iterator[Callable[..., World]]:
    made: list[tuple[World, threading.Event, threading.Thread]] = []

    def make(
        *, interval: int = 2, timeout: int = 1, healthy: int = 2, unhealthy: int = 2, delay: int = 10, **settings: Any
    ) -> World:
        c = clients(moto_target)
        ec2, elbv2 = c["ec2"], c["elbv2"]
        subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
        vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        name = "w" + uuid.uuid4().hex[:8]
        lb_arn = elbv2.create_load_balancer(Name=name, Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
        groups = {}
        for colour in ("blue", "green"):
            tg = elbv2.create_target_group(
                Name=f"{name}-{colour}",
                Protocol="HTTP",
                Port=80,
                VpcId=vpc,
                HealthCheckPath="/health",
                HealthCheckIntervalSeconds=interval,
                HealthCheckTimeoutSeconds=timeout,
                HealthyThresholdCount=healthy,
                UnhealthyThresholdCount=unhealthy,
                Matcher={"HttpCode": "200"},
            )["TargetGroups"][0]["TargetGroupArn"]
            elbv2.modify_target_group_attributes(
                TargetGroupArn=tg, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(delay)}]
            )
            groups[colour] = tg
        forward = [{"TargetGroupArn": groups["blue"], "Weight": 100}, {"TargetGroupArn": groups["green"], "Weight": 0}]
        listener = elbv2.create_listener(
            LoadBalancerArn=lb_arn,
            Protocol="HTTP",
            Port=8080,  # bound on the load balancer's own loopback address; above 1024, so without root
            DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": forward}}],
        )["Listeners"][0]["ListenerArn"]
        addresses: dict[str, tuple[str, int]] = {}
        dataplane = LoadBalancers(
            state_dir=tmp_path / name,
            elbv2=elbv2,
            cloudwatch=c["cloudwatch"],
            address_of=addresses.get,
            settings=DataPlaneSettings(**settings),
        )
        world = World(elbv2, ec2, c["cloudwatch"], lb_arn, listener, groups, dataplane, addresses)
        stop = world.stop_reconciling

        def loop() -> None:
            while not stop.wait(RECONCILE_EVERY_S):
                try:
                    dataplane.reconcile()
                except Exception as e:  # the tests read the outcome through status(), traffic and this list
                    world.errors.append(repr(e))

        thread = threading.Thread(target=loop, daemon=True)
        made.append((world, stop, thread))  # closed at teardown even if the first reconcile fails
        dataplane.reconcile()
        thread.start()
        return world

    yield make
    for world, stop, thread in made:
        stop.set()
        if thread.is_alive():
            thread.join(timeout=10)
        world.dataplane.close()
        for app in world.apps:
            app.stop()
        world.elbv2.delete_listener(ListenerArn=world.listener_arn)
        world.elbv2.delete_load_balancer(LoadBalancerArn=world.lb_arn)
        for tg in world.groups.values():
            world.elbv2.delete_target_group(TargetGroupArn=tg)


@pytest.fixture(scope="module")
def world(moto_target: AwsTarget) -> instances_world.World:
    return instances_world.make_world(moto_target)


@pytest.fixture
def instances(world: instances_world.World, tmp_path: Path) -> Iterator[Instances]:
    """The instance half of the data plane, state in this test's own directory; closed after the test."""
    made = Instances(
        state_dir=tmp_path,
        autoscaling=world.client("autoscaling"),
        ec2=world.client("ec2"),
        ssm=world.client("ssm"),
        secretsmanager=world.client("secretsmanager"),
    )
    yield made
    made.close()
