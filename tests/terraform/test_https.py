"""The environment module with a certificate, for real: terraform + the AWS provider against moto.

Production on 443 with the TLS policy, 80 redirecting to it, the test listener
HTTPS and reachable from `test_cidrs` only; bluegreen moves and reads the
weights on the HTTPS listener exactly as on HTTP. Plus the rest of what makes
the environment fit for users: deletion protection, access logs, described
rules and narrow egress.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bluegreen import factory
from bluegreen.adapters import terraform as tf
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.adapters.aws.traffic import AlbTraffic
from bluegreen.config import Environment
from bluegreen.model import Colour, Weights
from bluegreen.sandbox.network import apply_network
from bluegreen.settings import LoadBalancer
from tests.terraform.world import aws, make_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:The 'warn' method is deprecated:DeprecationWarning"),
]

LOGS = "shop-lb-logs"
SMOKE_FROM = ("10.42.0.0/16", "203.0.113.7/32")


@dataclass
class World:
    target: AwsTarget
    env: AwsEnvironment
    certificate: str

    def client(self, service: str) -> Any:
        return aws(self.target, service)

    def listener(self, port: int) -> dict[str, Any]:
        lb = self.client("elbv2").describe_load_balancers(Names=["shop"])["LoadBalancers"][0]
        listeners = self.client("elbv2").describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        return next(li for li in listeners if li["Port"] == port)


@pytest.fixture(scope="module")
def world(moto_target: AwsTarget, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    certificate = aws(moto_target, "acm").request_certificate(DomainName="shop.example.com")["CertificateArn"]
    aws(moto_target, "s3").create_bucket(Bucket=LOGS)
    env = Environment(
        name="shop",
        platform="aws",
        load_balancer=LoadBalancer(
            certificate_arn=certificate, test_cidrs=SMOKE_FROM, access_logs_bucket=LOGS, deletion_protection=True
        ),
    )
    state: Path = tmp_path_factory.mktemp("terraform") / "state"
    network = apply_network(
        tf.TerraformRunner(factory.terraform_settings(make_config(state, [env], endpoint_url=moto_target.endpoint_url)))
    )
    config = make_config(
        state, [env], endpoint_url=moto_target.endpoint_url, vpc_id=network.vpc_id, subnet_ids=network.subnet_ids
    )
    yield World(moto_target, factory.apply_environment(config, env), certificate)


def test_production_is_https_on_443_with_a_current_tls_policy(world: World) -> None:
    assert (world.env.listener_port, world.env.listener_protocol) == (443, "HTTPS")
    li = world.listener(443)
    assert li["ListenerArn"] == world.env.listener_arn
    assert li["Protocol"] == "HTTPS" and li["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert [c["CertificateArn"] for c in li["Certificates"]] == [world.certificate]


def test_http_redirects_to_https(world: World) -> None:
    li = world.listener(80)
    assert li["Protocol"] == "HTTP"
    [action] = li["DefaultActions"]
    assert action["Type"] == "redirect"
    assert {k: action["RedirectConfig"][k] for k in ("Protocol", "Port", "StatusCode")} == {
        "Protocol": "HTTPS",
        "Port": "443",
        "StatusCode": "HTTP_301",
    }


def test_the_test_listener_is_https_too(world: World) -> None:
    li = world.listener(8080)
    assert li["ListenerArn"] == world.env.test_listener_arn
    assert li["Protocol"] == "HTTPS" and li["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"


def test_weights_move_and_read_back_on_the_https_listener(world: World) -> None:
    traffic = AlbTraffic.from_target(world.env, world.target)
    assert traffic.read_weights() == Weights.all_on(Colour.BLUE)
    for weights in (Weights.split(Colour.GREEN, 10), Weights.split(Colour.GREEN, 50), Weights.all_on(Colour.GREEN)):
        traffic.set_weights(weights)
        assert traffic.read_weights() == weights
    groups = world.listener(443)["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
    assert {g["TargetGroupArn"]: g["Weight"] for g in groups} == {
        world.env.target_group(Colour.BLUE): 0,
        world.env.target_group(Colour.GREEN): 100,
    }
    # The redirect is left alone: bluegreen only ever changes the forward listeners.
    assert world.listener(80)["DefaultActions"][0]["Type"] == "redirect"


def test_smoke_checks_reach_the_test_listener_over_https(world: World) -> None:
    traffic = AlbTraffic.from_target(world.env, world.target)
    assert traffic.test_url(Colour.BLUE) == f"https://{world.env.dns_name}:8080"
    assert traffic.test_listener_colour() is Colour.BLUE


def test_deletion_protection_and_access_logs(world: World) -> None:
    elbv2 = world.client("elbv2")
    lb = elbv2.describe_load_balancers(Names=["shop"])["LoadBalancers"][0]
    attrs = {
        a["Key"]: a["Value"]
        for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]
    }
    assert attrs["deletion_protection.enabled"] == "true"
    assert (attrs["access_logs.s3.enabled"], attrs["access_logs.s3.bucket"]) == ("true", LOGS)
    assert attrs["access_logs.s3.prefix"] == "shop"


def _group(world: World, name: str) -> dict[str, Any]:
    groups = world.client("ec2").describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])
    return dict(groups["SecurityGroups"][0])


def test_the_test_listener_is_reachable_from_the_smoke_addresses_only(world: World) -> None:
    lb = _group(world, "shop-lb")
    by_port = {p["FromPort"]: p for p in lb["IpPermissions"]}
    assert set(by_port) == {80, 443, 8080}
    assert sorted(r["CidrIp"] for r in by_port[8080]["IpRanges"]) == sorted(SMOKE_FROM)
    assert [r["CidrIp"] for r in by_port[443]["IpRanges"]] == ["0.0.0.0/0"]


def test_every_rule_is_described_and_egress_is_narrow(world: World) -> None:
    lb, instances = _group(world, "shop-lb"), _group(world, "shop-instances")
    for group in (lb, instances):
        for perm in group["IpPermissions"] + group["IpPermissionsEgress"]:
            for r in perm.get("IpRanges", []) + perm.get("UserIdGroupPairs", []):
                assert r.get("Description"), (group["GroupName"], perm)
    # The load balancer may only reach the instances' port, and only the instances' group.
    [to_instances] = lb["IpPermissionsEgress"]
    assert (to_instances["IpProtocol"], to_instances["FromPort"], to_instances["ToPort"]) == ("tcp", 80, 80)
    assert [p["GroupId"] for p in to_instances["UserIdGroupPairs"]] == [instances["GroupId"]]
    # The instances: HTTPS out (AWS APIs, packages), nothing else.
    [out] = instances["IpPermissionsEgress"]
    assert (out["IpProtocol"], out["FromPort"], out["ToPort"]) == ("tcp", 443, 443)
    assert [r["CidrIp"] for r in out["IpRanges"]] == ["0.0.0.0/0"]
