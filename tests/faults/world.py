"""One environment on the real AWS adapters, its API calls going through a fault proxy to moto.

The load balancer, listeners, target groups, launch templates and each
colour's ASG are made directly with boto3 (tests/aws/lb_world.py), so no
Terraform runs; releases come with an AMI (`deploy --ami`), so no bake
happens. Everything else is bluegreen's own: `aws_platform` builds the AWS
platform pointed at the proxy, the `Engine` drives it with a real SQLite
store and the system clock. Only the Provisioner is this file's: `ScaleOnly`
sets the pre-made ASG's capacity where Terraform would apply the slot.

`lb_weights` reads the production listener from moto itself, never through
the proxy or bluegreen's adapters: what the load balancer has, not what
bluegreen believes it has.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from bluegreen import config as config_mod
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.platform import ProvisionThenPreview
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.adapters.host import SystemClock
from bluegreen.adapters.sqlite_store import SqliteStore
from bluegreen.engine import Engine
from bluegreen.factory import aws_platform
from bluegreen.model import Actor, Colour, Record, Release, Status, weights_json
from bluegreen.ports import Platform, ProvisionResult
from tests.aws.lb_world import REGION, build_alb_environment, client

DESIRED = 2
ACTOR = Actor(user="tester", host="faults", pid=0)


def environment_settings(**overrides: Any) -> dict[str, Any]:
    """A canary environment with short waits: 10% -> 50% -> 100%, one second each."""
    body: dict[str, Any] = {
        "platform": "aws",
        "load_balancer": {"type": "alb", "listener_port": 80, "test_listener_port": 8080, "test_cidrs": ["127.0.0.1/32"]},
        # AWS's smallest interval and timeout (validate enforces them); `poll` is what sets the pace here.
        "health_check": {"interval": "5s", "timeout": "2s", "healthy_threshold": 2, "deadline": "30s",
                         "poll": "100ms"},
        "capacity": {"min": 1, "desired": DESIRED, "max": DESIRED * 2},
        "traffic": {
            "strategy": "canary",
            "steps": [{"weight": 10, "wait": "1s"}, {"weight": 50, "wait": "1s"}],
            "check_every": "250ms",
        },
    }  # fmt: skip
    body.update(overrides)
    return body


def write_config(directory: Path, name: str, endpoint: str, **overrides: Any) -> config_mod.Config:
    data = {
        "state": {"path": str(directory / "state")},
        "aws": {"region": REGION, "endpoint_url": endpoint},
        "environments": {name: environment_settings(**overrides)},
    }
    path = directory / "bluegreen.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return config_mod.load(path)


class ScaleOnly:
    """The Provisioner port over ASGs that already exist: capacity up to provision, down to 0 to destroy."""

    def __init__(self, autoscaling: Any, outputs: AwsEnvironment, desired: int) -> None:
        self._autoscaling = autoscaling
        self._outputs = outputs
        self._desired = desired

    def provision(self, colour: Colour, release: Release) -> ProvisionResult:
        name = self._outputs.asg_name(colour)
        self._scale(name, self._desired)
        return ProvisionResult(details={"asg_name": name, "ami": release.ami or ""})

    def destroy(self, colour: Colour) -> None:
        self._scale(self._outputs.asg_name(colour), 0)

    def _scale(self, name: str, desired: int) -> None:
        self._autoscaling.update_auto_scaling_group(
            AutoScalingGroupName=name, MinSize=desired, DesiredCapacity=desired, MaxSize=max(desired, 1) * 2
        )


@dataclass
class FaultWorld:
    name: str
    outputs: AwsEnvironment
    config: config_mod.Config
    engine: Engine
    platform: Platform
    direct: AwsTarget  # moto itself, for reading back what the load balancer has

    def deploy(self, version: str) -> Record:
        # Releases come with their image, so the bake step is skipped: one of moto's own, as `deploy --ami`
        # is refused for an image that does not exist.
        image = client(self.direct, "ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        return self.engine.deploy(self.name, version, ami=str(image))

    def lb_weights(self) -> dict[str, int]:
        return listener_weights(self.direct, self.outputs)

    def status(self) -> dict[str, Any]:
        return self.engine.status(self.name)


def build_world(directory: Path, name: str, moto: AwsTarget, proxy: AwsTarget, **overrides: Any) -> FaultWorld:
    """Blue and green ASGs at 0 behind a fresh ALB (built straight on moto); adapters through the proxy."""
    outputs = build_alb_environment(moto, name, desired=0)
    config = write_config(directory, name, proxy.endpoint_url, **overrides)
    env = config.environment(name)
    platform = aws_platform(config, env, proxy, outputs)
    # The AWS platform points the test listener at a new colour after provisioning: keep that, swap Terraform.
    preview = platform.provisioner
    assert isinstance(preview, ProvisionThenPreview)
    scaler = ScaleOnly(client(proxy, "autoscaling"), outputs, DESIRED)
    platform = dataclasses.replace(platform, provisioner=dataclasses.replace(preview, provisioner=cast(Any, scaler)))
    config.state.path.mkdir(parents=True, exist_ok=True)
    engine = Engine(
        config=config,
        store=SqliteStore(config.state.path / "bluegreen.db"),
        platform_for=lambda e: platform,
        clock=SystemClock(),
        actor=ACTOR,
        poll_s=0.05,
    )
    return FaultWorld(name, outputs, config, engine, platform, moto)


def listener_weights(direct: AwsTarget, outputs: AwsEnvironment) -> dict[str, int]:
    """Each colour's weight in the production listener, as moto has it (a plain forward counts 100)."""
    listener = client(direct, "elbv2").describe_listeners(ListenerArns=[outputs.listener_arn])["Listeners"][0]
    action = next(a for a in listener["DefaultActions"] if a["Type"] == "forward")
    groups = action.get("ForwardConfig", {}).get("TargetGroups") or [
        {"TargetGroupArn": action["TargetGroupArn"], "Weight": 100}
    ]
    colour_of = {arn: colour for colour, arn in (outputs.target_group_arns or {}).items()}
    out = {c.value: 0 for c in Colour}
    for g in groups:
        out[colour_of[g["TargetGroupArn"]]] += int(g.get("Weight", 1))
    return out


def implied_weights(rec: Record) -> Mapping[str, int] | None:
    """What a finished record says the load balancer has (None: the record claims no end state)."""
    new, old = rec.to_colour.value, rec.from_colour.value if rec.from_colour else None
    if rec.status is Status.SUCCEEDED:
        return {new: 100, **({old: 0} if old else {})}
    if rec.status is Status.ROLLED_BACK and old:
        return {old: 100, new: 0}
    return None


def assert_record_matches_load_balancer(world: FaultWorld, rec: Record) -> None:
    """The invariant: the record, and `status` built from it, claim only what the load balancer has."""
    actual = world.lb_weights()
    claimed = implied_weights(rec)
    said = weights_json(rec.weights)  # as last read back; empty: unknown since a change failed
    if claimed is not None:
        assert actual == dict(claimed), f"record {rec.status.value} implies {claimed}, load balancer has {actual}"
        assert said == actual, f"record {rec.status.value} says {said} (read back), load balancer has {actual}"
    else:
        assert not said or said == actual, f"record says {said} (read back), load balancer has {actual}"
    status = world.status()
    shown = status["weights"]
    assert shown == actual or (not shown and status["weights_source"] == "unknown"), (
        f"`status` shows {shown or 'nothing'} (from the {status['weights_source']}), load balancer has {actual}"
    )
