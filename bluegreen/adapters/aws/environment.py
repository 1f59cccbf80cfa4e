"""What the environment module built, as the AWS adapters need it.

Terraform's `infra/modules/environment` outputs are read once (terraform
output -json) into this value; the boto3 adapters take it in their
constructors and never look names up by convention alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bluegreen.model import Colour


@dataclass(frozen=True)
class AwsEnvironment:
    name: str
    load_balancer_type: str  # "alb" or "elb"
    dns_name: str
    listener_arn: str = ""  # alb: the production listener (weighted forward)
    test_listener_arn: str = ""  # alb: forwards only to the idle colour (smoke checks)
    target_group_arns: Mapping[str, str] | None = None  # alb: colour -> target group ARN
    load_balancer_name: str = ""  # elb: the classic load balancer's name
    subnet_ids: tuple[str, ...] = ()
    security_group_id: str = ""
    listener_port: int = 80
    test_listener_port: int = 8080
    listener_protocol: str = "HTTP"  # "HTTPS" when the environment has a certificate (both listeners)
    drain_s: int = 300  # the deregistration delay / connection draining timeout (AWS's default when unknown)

    def target_group(self, colour: Colour) -> str:
        if not self.target_group_arns or colour.value not in self.target_group_arns:
            raise KeyError(f"environment {self.name} has no target group for {colour}")
        return self.target_group_arns[colour.value]

    def asg_name(self, colour: Colour) -> str:
        """The slot module names each colour's Auto Scaling Group this way."""
        return f"{self.name}-{colour.value}"

    @classmethod
    def from_outputs(cls, name: str, outputs: Mapping[str, Any]) -> AwsEnvironment:
        """Build from `terraform output -json` already reduced to name -> value."""
        return cls(
            name=name,
            load_balancer_type=str(outputs["load_balancer_type"]),
            dns_name=str(outputs.get("dns_name", "")),
            listener_arn=str(outputs.get("listener_arn") or ""),
            test_listener_arn=str(outputs.get("test_listener_arn") or ""),
            target_group_arns=dict(outputs.get("target_group_arns") or {}),
            load_balancer_name=str(outputs.get("load_balancer_name") or ""),
            subnet_ids=tuple(outputs.get("subnet_ids") or ()),
            security_group_id=str(outputs.get("security_group_id") or ""),
            listener_port=int(outputs.get("listener_port") or 80),
            test_listener_port=int(outputs.get("test_listener_port") or 8080),
            listener_protocol=str(outputs.get("listener_protocol") or "HTTP"),
            drain_s=int(outputs.get("drain_seconds") or 300),
        )
