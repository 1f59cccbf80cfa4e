"""The AWS platform: one environment's adapters, built from config and the environment's outputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bluegreen.adapters.aws.alarms import CloudWatchAlarms
from bluegreen.adapters.aws.analysis_source import CloudWatchAnalysisSource
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.health import AwsHealth
from bluegreen.adapters.aws.provisioner import AwsProvisioner
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.adapters.aws.traffic import AlbTraffic, ClassicElbTraffic
from bluegreen.adapters.http_smoke import HttpSmoke
from bluegreen.adapters.packer import PackerBaker
from bluegreen.adapters.terraform import environment_outputs
from bluegreen.config import Config, Environment
from bluegreen.errors import UsageError
from bluegreen.model import Colour, Release
from bluegreen.ports import Platform, Provisioner, ProvisionResult, Traffic


@dataclass
class ProvisionThenPreview:
    """After provisioning, point the test listener at the new colour.

    AWS health-checks a target group only once a listener uses it, and the
    smoke checks go through that listener to the new colour alone.
    """

    provisioner: AwsProvisioner
    traffic: AlbTraffic

    def provision(self, colour: Colour, release: Release) -> ProvisionResult:
        result = self.provisioner.provision(colour, release)
        self.traffic.point_test_listener(colour)
        return result

    def destroy(self, colour: Colour) -> None:
        self.provisioner.destroy(colour)


def build_aws_platform(
    config: Config, env: Environment, target: AwsTarget, progress: Callable[[str], None] = lambda s: None
) -> Platform:
    outputs = environment_outputs(config, env)
    if outputs is None:
        raise UsageError(
            f"environment {env.name} has no load balancer yet",
            where=f"terraform state of environment {env.name}",
            hint=f"create it once: bluegreen env up {env.name} (in the sandbox: bluegreen sandbox up)",
        )
    return assemble(config, env, target, outputs, progress)


def assemble(
    config: Config,
    env: Environment,
    target: AwsTarget,
    outputs: AwsEnvironment,
    progress: Callable[[str], None] = lambda s: None,
) -> Platform:
    slots = AwsProvisioner.from_config(config, env, outputs, target, progress=progress)
    traffic: Traffic
    provisioner: Provisioner
    if outputs.load_balancer_type == "elb":
        # A classic ELB has no test listener: smoke checks go to its own address.
        traffic, provisioner = ClassicElbTraffic.from_target(outputs, target), slots
        verifier = HttpSmoke(lambda colour: f"http://{outputs.dns_name}:{outputs.listener_port}", env.smoke)
    else:
        alb = AlbTraffic.from_target(outputs, target)
        traffic, provisioner = alb, ProvisionThenPreview(slots, alb)
        verifier = HttpSmoke(alb.test_url, env.smoke)
    return Platform(
        name="aws",
        baker=PackerBaker.from_config(config, env, target, progress=progress),
        provisioner=provisioner,
        health=AwsHealth.from_target(outputs, target, traffic=traffic),
        traffic=traffic,
        verifier=verifier,
        alarms=CloudWatchAlarms.from_target(
            outputs,
            target,
            alarm_names=env.alarms,
            thresholds=env.metrics,
            window_s=max(60.0, env.traffic.check_every_s),
        ),
        analysis=CloudWatchAnalysisSource.from_target(outputs, target),
    )
