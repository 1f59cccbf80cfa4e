"""The Provisioner port on AWS: one colour's launch template + Auto Scaling Group, by Terraform.

Each colour is infra/modules/slot applied from its own state
(bluegreen/adapters/terraform.py), so provisioning green cannot touch blue and
destroying a colour is a destroy of its state alone. Both are idempotent:
applying the same release again changes nothing, destroying a colour that is
gone does nothing.
"""

from __future__ import annotations

from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.adapters.terraform import (
    Progress,
    TerraformRunner,
    TerraformSettings,
    ignore,
    slot_inputs,
    slot_stack,
)
from bluegreen.config import Config, Environment
from bluegreen.model import Colour, Release
from bluegreen.ports import ProvisionResult


class AwsProvisioner:
    def __init__(self, runner: TerraformRunner, env: Environment, outputs: AwsEnvironment) -> None:
        self._runner = runner
        self._env = env
        self._outputs = outputs

    @classmethod
    def from_config(
        cls,
        config: Config,
        env: Environment,
        outputs: AwsEnvironment,
        target: AwsTarget | None = None,
        *,
        progress: Progress = ignore,
    ) -> AwsProvisioner:
        """`target` (from the composition root) says where AWS is; without it, the config does."""
        settings = TerraformSettings.from_config(config, endpoint_url=target.endpoint_url if target else None)
        return cls(TerraformRunner(settings, progress), env, outputs)

    def provision(self, colour: Colour, release: Release) -> ProvisionResult:
        stack = slot_stack(self._env.name, colour)
        outputs = self._runner.apply(stack, slot_inputs(self._env, colour, release, self._outputs))
        return ProvisionResult(
            details={
                "asg_name": outputs["asg_name"],
                "launch_template_id": outputs["launch_template_id"],
                "launch_template_version": outputs["launch_template_version"],
                "ami": outputs["ami"],
                "version": outputs["version_label"],
                "terraform_dir": str(self._runner.settings.workdir(stack)),
            }
        )

    def destroy(self, colour: Colour) -> None:
        self._runner.destroy(slot_stack(self._env.name, colour))
