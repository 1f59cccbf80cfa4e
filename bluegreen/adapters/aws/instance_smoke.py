"""Smoke checks for a classic load balancer: on the new colour's own instances.

A classic ELB has no test listener and no weights: attaching the new colour
to smoke it through the load balancer would send users to it before it
proved itself, and smoking the load balancer's address before the shift
tests the old release (on a first deploy, nothing: 503). So each check runs
against every InService instance of the colour's Auto Scaling group, at the
address the load balancer itself uses: the instance's private IP (EC2
DescribeInstances) and the listener's instance port (DescribeLoadBalancers).
bluegreen must run where it can reach the instances (in their VPC, or
peered); where it cannot, the checks fail with the address they tried, and
the deployment rolls back before any user saw the new colour.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bluegreen.adapters.aws.asg import describe_group, parse_asg
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.session import AwsTarget, api_errors, client
from bluegreen.adapters.http_smoke import HttpSmoke
from bluegreen.config import SmokeCheck
from bluegreen.model import Colour
from bluegreen.ports import SmokeResult


def instance_port(described: dict[str, Any], listener_port: int) -> int:
    """The instance port of the classic ELB's listener on `listener_port` (describe_load_balancers)."""
    for lb in described.get("LoadBalancerDescriptions", []):
        for entry in lb.get("ListenerDescriptions", []):
            listener = entry.get("Listener", {})
            if int(listener.get("LoadBalancerPort", 0)) == listener_port:
                return int(listener["InstancePort"])
    raise KeyError(listener_port)


def _at(address: str) -> Callable[[Colour], str]:
    return lambda _colour: f"http://{address}"


class InstanceSmoke:
    """The `Verifier` port for a classic ELB: the configured checks on every instance of the colour."""

    def __init__(
        self, env: AwsEnvironment, checks: Sequence[SmokeCheck], *, autoscaling: Any, ec2: Any, elb: Any
    ) -> None:
        self._env = env
        self._checks = tuple(checks)
        self._autoscaling = autoscaling
        self._ec2 = ec2
        self._elb = elb

    @classmethod
    def from_target(cls, env: AwsEnvironment, target: AwsTarget, checks: Sequence[SmokeCheck]) -> InstanceSmoke:
        return cls(
            env,
            checks,
            autoscaling=client(target, "autoscaling"),
            ec2=client(target, "ec2"),
            elb=client(target, "elb"),
        )

    def smoke(self, colour: Colour, release: str = "") -> SmokeResult:
        if not self._checks:
            return SmokeResult(ok=True, detail="no smoke checks configured")
        addresses = self.addresses(colour)
        if not addresses:
            return SmokeResult(ok=False, detail=f"{self._env.asg_name(colour)} has no InService instance to smoke")
        failed = []
        for instance, address in addresses.items():
            result = HttpSmoke(_at(address), self._checks).smoke(colour, release)
            if not result.ok:
                failed.append(f"{instance} ({address}): {result.detail}")
        if failed:
            return SmokeResult(
                ok=False, detail=f"{len(failed)} of {len(addresses)} instances failed: " + " | ".join(failed)
            )
        return SmokeResult(
            ok=True,
            detail=f"{len(self._checks)} smoke checks passed on each of {len(addresses)} instances of {colour}: "
            + ", ".join(f"{i} ({a})" for i, a in addresses.items()),
        )

    def addresses(self, colour: Colour) -> dict[str, str]:
        """instance id -> `private-ip:instance-port` of the colour's InService instances."""
        name, lb = self._env.asg_name(colour), self._env.load_balancer_name
        asg = parse_asg(describe_group(self._autoscaling, name), name)
        ids = [i.id for i in asg.instances if i.in_service] if asg else []
        if not ids:
            return {}
        with api_errors(f"could not read the listener of classic load balancer {lb}", where=lb):
            port = instance_port(self._elb.describe_load_balancers(LoadBalancerNames=[lb]), self._env.listener_port)
        with api_errors(f"could not read the addresses of the instances of {name}", where=name):
            pages = self._ec2.get_paginator("describe_instances").paginate(InstanceIds=ids)
            found = {
                str(i["InstanceId"]): str(i.get("PrivateIpAddress", ""))
                for page in pages
                for reservation in page.get("Reservations", [])
                for i in reservation.get("Instances", [])
            }
        return {i: f"{found[i]}:{port}" for i in ids if found.get(i)}
