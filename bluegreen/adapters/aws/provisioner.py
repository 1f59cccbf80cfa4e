"""The Provisioner port on AWS: one colour's launch template + Auto Scaling Group, by Terraform.

Each colour is infra/modules/slot applied from its own state
(bluegreen/adapters/aws/stacks.py), so provisioning green cannot touch blue and
destroying a colour is a destroy of its state alone. Both are idempotent:
applying the same release again changes nothing, destroying a colour that is
gone does nothing.

A terraform killed in the middle of an apply (its bluegreen process killed,
the host lost), or a create the AWS SDK resent after AWS had made it (its
first answer lost), leaves resources that exist but that the state does not
record. Every name in the slot is fixed (the group's, the launch template's,
the role's and the instance profile's), so the next apply would fail on them
forever and a destroy would leave them behind: when an apply fails, and after
every destroy, the slot's resources found in AWS by name that the state lacks
are imported, and the command runs once more. An apply recreates the launch
template and the group it imported (half made, not trusted); the role, its
policy and the profile are brought to what the module says in place, since
replacing a role empties the profile that holds it.
"""

from __future__ import annotations

from collections.abc import Callable

from botocore.exceptions import ClientError

from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.session import AwsTarget, api_errors, client, error_code
from bluegreen.adapters.aws.stacks import slot_inputs, slot_stack
from bluegreen.adapters.terraform import TerraformError, TerraformRunner
from bluegreen.config import Environment
from bluegreen.model import Colour, Release
from bluegreen.ports import ProvisionResult


class AwsProvisioner:
    def __init__(self, runner: TerraformRunner, env: Environment, outputs: AwsEnvironment, target: AwsTarget) -> None:
        self._runner = runner
        self._env = env
        self._outputs = outputs
        self._target = target

    def provision(self, colour: Colour, release: Release) -> ProvisionResult:
        stack = slot_stack(self._env.name, colour)
        inputs = slot_inputs(self._env, colour, release, self._outputs)
        try:
            outputs = self._runner.apply(stack, inputs)
        except TerraformError:
            adopted = self._runner.adopt(stack, self.existing(colour))
            if not adopted:
                raise
            outputs = self._runner.apply(stack, inputs, replace=[a for a in adopted if a in RECREATED])
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
        stack = slot_stack(self._env.name, colour)
        self._runner.destroy(stack)
        if self._runner.adopt(stack, self.existing(colour)):
            self._runner.destroy(stack)

    def existing(self, colour: Colour) -> dict[str, str]:
        """The slot's resources that exist in AWS (module address -> import id), by the names the module gives."""
        name = self._outputs.asg_name(colour)  # the launch template has the group's name
        target = self._target
        with api_errors(f"could not look for the resources of slot {name}", where=f"slot {name}"):
            templates = client(target, "ec2").describe_launch_templates(
                Filters=[{"Name": "launch-template-name", "Values": [name]}]
            )["LaunchTemplates"]
            groups = client(target, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
                "AutoScalingGroups"
            ]
        found: dict[str, str] = {}
        if templates:
            found["aws_launch_template.this"] = str(templates[0]["LaunchTemplateId"])
        if groups:
            found["aws_autoscaling_group.this"] = name
        if not self._env.app.instance_profile:  # else the caller's profile: the module creates no IAM
            found.update(self._existing_identity(f"{name}-{target.region}"))
        return found

    def _existing_identity(self, name: str) -> dict[str, str]:
        """The role, its secrets policy and the instance profile the module names `name` (iam.tf's iam_name)."""
        iam = client(self._target, "iam")
        found: dict[str, str] = {}
        with api_errors(f"could not look for the IAM role and instance profile {name}", where=f"IAM {name}"):
            if _exists(lambda: iam.get_role(RoleName=name)):
                found["aws_iam_role.this[0]"] = name
                secrets = _exists(lambda: iam.get_role_policy(RoleName=name, PolicyName=SECRETS_POLICY))
                if secrets and self._env.app.secrets:
                    found["aws_iam_role_policy.secrets[0]"] = f"{name}:{SECRETS_POLICY}"
            if _exists(lambda: iam.get_instance_profile(InstanceProfileName=name)):
                found["aws_iam_instance_profile.this[0]"] = name
        return found


# Imported after a failed apply and then recreated by the next one: what a dying apply may have half made.
RECREATED = frozenset({"aws_launch_template.this", "aws_autoscaling_group.this"})
SECRETS_POLICY = "read-app-secrets"  # infra/modules/slot/iam.tf


def _exists(call: Callable[[], object]) -> bool:
    try:
        call()
    except ClientError as e:
        if error_code(e) == "NoSuchEntity":
            return False
        raise
    return True
