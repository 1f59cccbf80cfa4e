"""The AWS platform: one environment's adapters, built from the environment's outputs.

The composition root (bluegreen/factory.py) gives what comes from the config:
where AWS is (the target), the Terraform runner and the baker.
"""

from __future__ import annotations

from dataclasses import dataclass

from bluegreen.adapters.aws.alarms import CloudWatchAlarms
from bluegreen.adapters.aws.analysis_source import CloudWatchAnalysisSource
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.health import AwsHealth
from bluegreen.adapters.aws.instance_smoke import InstanceSmoke
from bluegreen.adapters.aws.provisioner import AwsProvisioner
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.adapters.aws.stacks import environment_outputs
from bluegreen.adapters.aws.traffic import AlbTraffic, ClassicElbTraffic
from bluegreen.adapters.http_smoke import HttpSmoke
from bluegreen.adapters.terraform import TerraformRunner
from bluegreen.config import Environment
from bluegreen.errors import UsageError
from bluegreen.model import Colour, Release
from bluegreen.ports import Baker, Platform, Provisioner, ProvisionResult, Traffic, Verifier


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


def build_aws_platform(env: Environment, target: AwsTarget, runner: TerraformRunner, baker: Baker) -> Platform:
    outputs = environment_outputs(runner, env)
    if outputs is None:
        raise UsageError(
            f"environment {env.name} has no load balancer yet",
            where=f"terraform state of environment {env.name}",
            hint=f"create it once: bluegreen env up {env.name} (in the sandbox: bluegreen sandbox up)",
        )
    return assemble(env, target, outputs, runner=runner, baker=baker)


def assemble(
    env: Environment, target: AwsTarget, outputs: AwsEnvironment, *, runner: TerraformRunner, baker: Baker
) -> Platform:
    slots = AwsProvisioner(runner, env, outputs, target)
    traffic: Traffic
    provisioner: Provisioner
    if outputs.load_balancer_type == "elb":
        # A classic ELB has no test listener: smoke checks go to the new colour's instances themselves.
        traffic, provisioner = ClassicElbTraffic.from_target(outputs, target), slots
        verifier: Verifier = InstanceSmoke.from_target(outputs, target, env.smoke)
    else:
        alb = AlbTraffic.from_target(outputs, target)
        traffic, provisioner = alb, ProvisionThenPreview(slots, alb)
        verifier = HttpSmoke(alb.test_url, env.smoke)
    return Platform(
        name="aws",
        baker=baker,
        provisioner=provisioner,
        health=AwsHealth.from_target(outputs, target, traffic=traffic, publication=env.metrics),
        traffic=traffic,
        verifier=verifier,
        alarms=CloudWatchAlarms.from_target(
            outputs,
            target,
            alarm_names=env.alarms,
            thresholds=env.metrics,
        ),
        analysis=CloudWatchAnalysisSource.from_target(outputs, target),
    )
