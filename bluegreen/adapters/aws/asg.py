"""The Auto Scaling Group as bluegreen sees it: its instances, its attachments, and one way to read each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bluegreen.adapters.aws.session import api_errors

IN_SERVICE = "InService"
HEALTHY_STATUS = "Healthy"


@dataclass(frozen=True)
class AsgInstance:
    id: str
    lifecycle: str  # Pending, Pending:Wait, InService, Terminating, Standby, ...
    health: str  # Healthy | Unhealthy

    @property
    def in_service(self) -> bool:
        return self.lifecycle == IN_SERVICE and self.health == HEALTHY_STATUS


@dataclass(frozen=True)
class AsgView:
    name: str
    desired: int
    instances: tuple[AsgInstance, ...]
    deleting: bool
    target_groups: frozenset[str]
    load_balancers: frozenset[str]


def parse_asg(response: Mapping[str, Any], name: str) -> AsgView | None:
    """The named group from a describe_auto_scaling_groups response (None: it does not exist)."""
    for group in response.get("AutoScalingGroups", []):
        if group.get("AutoScalingGroupName") != name:
            continue
        sources = group.get("TrafficSources", [])
        return AsgView(
            name=name,
            desired=int(group.get("DesiredCapacity", 0)),
            instances=tuple(
                AsgInstance(id=i["InstanceId"], lifecycle=i.get("LifecycleState", ""), health=i.get("HealthStatus", ""))
                for i in group.get("Instances", [])
            ),
            # Status is only present while DeleteAutoScalingGroup runs ("Delete in progress").
            deleting="delete" in str(group.get("Status", "")).lower(),
            target_groups=frozenset(group.get("TargetGroupARNs", []))
            | {s["Identifier"] for s in sources if s.get("Type", "elbv2") == "elbv2"},
            load_balancers=frozenset(group.get("LoadBalancerNames", []))
            | {s["Identifier"] for s in sources if s.get("Type") == "elb"},
        )
    return None


def describe_group(autoscaling: Any, name: str) -> dict[str, Any]:
    """The raw describe_auto_scaling_groups response for one group."""
    with api_errors(f"could not read Auto Scaling group {name}", where=name):
        return dict(autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name]))


def elb_attachment(autoscaling: Any, name: str, load_balancer: str) -> str:
    """The group's attachment state on a classic load balancer ("" when not attached or there is no such group)."""
    if parse_asg(describe_group(autoscaling, name), name) is None:
        return ""
    with api_errors(f"could not read the load balancers of {name}", where=name):
        states = autoscaling.describe_load_balancers(AutoScalingGroupName=name).get("LoadBalancers", [])
    return next((str(s.get("State", "")) for s in states if s.get("LoadBalancerName") == load_balancer), "")
