"""What the sandbox's API (moto) holds for the load balancers, read with boto3 into what the proxies need."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bluegreen.errors import AdapterError
from bluegreen.sandbox.dataplane.haproxy import HealthCheck


@dataclass(frozen=True)
class ListenerView:
    arn: str
    api_port: int
    weights: dict[str, int]  # target group ARN -> forward weight


@dataclass(frozen=True)
class GroupView:
    arn: str
    key: str  # targetgroup/<name>/<id>, CloudWatch's TargetGroup dimension
    check: HealthCheck
    health_check_port: str
    targets: list[tuple[str, int]]  # registered (id, port), in the API's order


@dataclass(frozen=True)
class ApiState:
    balancers: dict[str, str]  # load balancer ARN -> type ("application", "network", ...)
    listeners: dict[str, list[ListenerView]]  # load balancer ARN -> its HTTP listeners
    groups: dict[str, GroupView]


def lb_key(arn: str) -> str:
    """The part of an ARN CloudWatch uses as the LoadBalancer dimension: `app/<name>/<id>`."""
    return arn.split(":loadbalancer/", 1)[-1]


def tg_key(arn: str) -> str:
    """The part of an ARN CloudWatch uses as the TargetGroup dimension: `targetgroup/<name>/<id>`."""
    return "targetgroup/" + arn.split(":targetgroup/", 1)[-1]


@contextmanager
def api_errors(what: str, client: Any) -> Iterator[None]:
    """An SDK error at the sandbox's API, once, as an error that says where and what to run next."""
    try:
        yield
    except (BotoCoreError, ClientError) as e:
        raise AdapterError(
            f"the data plane could not {what}: {e}",
            where=str(client.meta.endpoint_url),
            hint="check `bluegreen sandbox status`; run `bluegreen sandbox up` if the API is down",
        ) from e


def read(elbv2: Any) -> ApiState:
    with api_errors("read the load balancers from the sandbox API", elbv2):
        balancers = {
            lb["LoadBalancerArn"]: lb["Type"]
            for page in elbv2.get_paginator("describe_load_balancers").paginate()
            for lb in page["LoadBalancers"]
        }
        listeners = {arn: [listener(x) for x in http_listeners(elbv2, arn)] for arn in balancers}
        groups = {}
        for page in elbv2.get_paginator("describe_target_groups").paginate():
            for tg in page["TargetGroups"]:
                groups[tg["TargetGroupArn"]] = group(elbv2, tg)
    return ApiState(balancers, listeners, groups)


def http_listeners(elbv2: Any, lb_arn: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
    return [x for x in found if x.get("Protocol", "HTTP") in ("HTTP", "HTTPS")]


def listener(x: dict[str, Any]) -> ListenerView:
    """The default action's forward weights (a plain forward is one group at weight 1)."""
    weights: dict[str, int] = {}
    for action in x.get("DefaultActions", []):
        if action.get("Type") != "forward":
            continue
        groups = action.get("ForwardConfig", {}).get("TargetGroups")
        if groups:
            weights = {g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in groups}
        elif action.get("TargetGroupArn"):
            weights = {action["TargetGroupArn"]: 1}
    return ListenerView(x["ListenerArn"], int(x.get("Port", 80)), weights)


def group(elbv2: Any, tg: dict[str, Any]) -> GroupView:
    """A target group with its registered targets (moto's DescribeTargetHealth lists them; its states mean nothing)."""
    arn = tg["TargetGroupArn"]
    described = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    check = HealthCheck(
        path=tg.get("HealthCheckPath") or "/",
        interval_s=int(tg.get("HealthCheckIntervalSeconds", 30)),
        timeout_s=int(tg.get("HealthCheckTimeoutSeconds", 5)),
        healthy_threshold=int(tg.get("HealthyThresholdCount", 5)),
        unhealthy_threshold=int(tg.get("UnhealthyThresholdCount", 2)),
        matcher=str(tg.get("Matcher", {}).get("HttpCode", "200")),
    )
    targets = [(d["Target"]["Id"], int(d["Target"].get("Port", tg.get("Port", 80)))) for d in described]
    return GroupView(arn, tg_key(arn), check, str(tg.get("HealthCheckPort", "traffic-port")), targets)


def deregistration_delay(elbv2: Any, arn: str) -> float:
    attrs = elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
    values = {a["Key"]: a["Value"] for a in attrs}
    return float(values.get("deregistration_delay.timeout_seconds", 300))
