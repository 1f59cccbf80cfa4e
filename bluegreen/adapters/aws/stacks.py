"""What Terraform applies on AWS: the environment (load balancer and all) and each colour's slot.

    <stacks>/<env>/environment/               infra/modules/environment: load balancer, target groups
    <stacks>/<env>/blue/  <stacks>/<env>/green/   infra/modules/slot: one colour each

Each from its own state (bluegreen/adapters/terraform/): applying green can
never plan a change to blue, and retiring a colour is a destroy of its own
state. The inputs are pure functions of the config; the runner is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.terraform import Stack, TerraformRunner
from bluegreen.config import Environment
from bluegreen.errors import UsageError
from bluegreen.model import Colour, Release


@dataclass(frozen=True)
class Network:
    """Where an environment's load balancer and instances go."""

    vpc_id: str
    subnet_ids: tuple[str, ...]


def environment_stack(environment: str) -> Stack:
    return Stack("modules/environment", (environment, "environment"), environment=environment)


def slot_stack(environment: str, colour: Colour) -> Stack:
    return Stack("modules/slot", (environment, colour.value), environment=environment, colour=colour.value)


def _whole_seconds(seconds: float) -> int:
    return max(1, round(seconds))


def environment_inputs(env: Environment, network: Network) -> dict[str, Any]:
    hc, lb = env.health_check, env.load_balancer
    return {
        "name": env.name,
        "vpc_id": network.vpc_id,
        "subnet_ids": list(network.subnet_ids),
        "load_balancer_type": lb.type,
        "listener_port": lb.listener_port,
        "test_listener_port": lb.test_listener_port,
        "health_check_path": hc.path,
        "health_check_interval": _whole_seconds(hc.interval_s),
        "health_check_timeout": _whole_seconds(hc.timeout_s),
        "healthy_threshold": hc.healthy_threshold,
        "unhealthy_threshold": hc.unhealthy_threshold,
        "certificate_arn": lb.certificate_arn,
        "https_port": lb.https_port,
        "internal": lb.internal,
        "ingress_cidrs": list(lb.ingress_cidrs),
        "test_ingress_cidrs": list(lb.test_cidrs),
        "deletion_protection": lb.deletion_protection,
        "access_logs_bucket": lb.access_logs_bucket,
        "access_logs_prefix": lb.access_logs_prefix,
    }


def slot_inputs(env: Environment, colour: Colour, release: Release, outputs: AwsEnvironment) -> dict[str, Any]:
    if not release.ami:
        raise UsageError(
            f"release {release.version} has no image to run",
            where=f"slot {env.name}/{colour.value}",
            hint=f"bake it first: bluegreen bake {env.name} --version {release.version}",
        )
    cap = env.capacity
    return {
        "environment": env.name,
        "colour": colour.value,
        "version_label": release.version,
        "ami": release.ami,
        "instance_type": cap.instance_type,
        "min_size": cap.min,
        "max_size": cap.max,
        "desired_capacity": cap.desired,
        "subnet_ids": list(outputs.subnet_ids),
        "security_group_id": outputs.security_group_id,
        "target_group_arn": outputs.target_group(colour) if outputs.load_balancer_type == "alb" else "",
        # A classic ELB's membership is the traffic adapter's: it attaches the new
        # colour only when traffic moves, so the slot starts detached.
        "load_balancer_name": "",
        # Within bluegreen's deadline for turning healthy, the group must not
        # replace instances that are still starting.
        "health_check_grace_period": _whole_seconds(env.health_check.deadline_s),
        # Settings by value, secrets by name: the instance fetches secret values at boot.
        "app_settings": dict(env.app.settings),
        "app_secrets": dict(env.app.secrets),
        "instance_profile_name": env.app.instance_profile,
        "drain_seconds": outputs.drain_s,
    }


def apply_environment(runner: TerraformRunner, env: Environment, network: Network) -> AwsEnvironment:
    """Create or update the environment's load balancer, target groups and security groups.

    Safe to run at any time: the listeners' forwarding is bluegreen's
    (ignore_changes in the module), so this never moves traffic.
    """
    outputs = runner.apply(environment_stack(env.name), environment_inputs(env, network))
    return AwsEnvironment.from_outputs(env.name, outputs)


def environment_outputs(runner: TerraformRunner, env: Environment) -> AwsEnvironment | None:
    """The environment as its state records it (no apply); None if it was never created."""
    outputs = runner.outputs(environment_stack(env.name))
    return AwsEnvironment.from_outputs(env.name, outputs) if outputs else None


def destroy_environment(runner: TerraformRunner, env: Environment) -> None:
    """Destroy both colours' slots, then the environment (load balancer and all)."""
    for colour in Colour:
        runner.destroy(slot_stack(env.name, colour))
    runner.destroy(environment_stack(env.name))
