"""The Provisioner port on AWS: one colour's launch template + Auto Scaling Group, by Terraform.

Each colour is infra/modules/slot applied from its own state
(bluegreen/adapters/aws/stacks.py), so provisioning green cannot touch blue and
destroying a colour is a destroy of its state alone. Both are idempotent:
applying the same release again changes nothing, destroying a colour that is
gone does nothing.

A terraform killed in the middle of an apply (its bluegreen process killed,
the host lost) may have created the launch template or the group without
recording them. Names are unique, so the next apply would fail on them
forever and a destroy would leave them behind: when an apply fails, and
after every destroy, the slot's resources found in AWS by name that the
state lacks are imported, and the command runs once more (an apply
recreates what it imported).

The slot's IAM role and instance profile get generated names (`name_prefix`).
When the SDK resends a create whose first answer was lost after IAM made it,
the resend meets `EntityAlreadyExists` for the name this very apply generated
(seen against moto under load; AWS can do the same): that leftover, which no
state holds and which is empty, is deleted and the apply runs once more.
"""

from __future__ import annotations

import re

from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.session import AwsTarget, api_errors, client
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
        except TerraformError as e:
            adopted = self._runner.adopt(stack, self.existing(colour))
            if adopted:
                # Half made by an apply that died: recreated, not trusted.
                outputs = self._runner.apply(stack, inputs, replace=adopted)
            elif remove_resent_creates(self._target, e.output_tail, prefix=f"{self._outputs.asg_name(colour)}-"):
                outputs = self._runner.apply(stack, inputs)
            else:
                raise
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
        return found


# What the AWS provider says when IAM refuses a create: "EntityAlreadyExists: Role with name N already exists."
RESENT_CREATE = re.compile(r"EntityAlreadyExists: (Role|Instance Profile) (?:with name )?(\S+) already exists")
GENERATED = re.compile(r"\d{26}")  # Terraform's name_prefix suffix: a timestamp and a counter


def remove_resent_creates(target: AwsTarget, terraform_said: str, *, prefix: str) -> list[str]:
    """Delete the IAM role or instance profile that a resent create says exists; returns what went.

    Only names this slot generates (`prefix` + a timestamp) and only empty ones (a profile with no role,
    a role with no policy): what an apply made a moment ago and never recorded.
    """
    iam = client(target, "iam")
    gone = []
    for kind, name in RESENT_CREATE.findall(terraform_said):
        if not GENERATED.fullmatch(name.removeprefix(prefix)) or not name.startswith(prefix):
            continue
        with api_errors(f"could not remove {kind} {name}, left by a resent create", where=f"IAM {kind} {name}"):
            if kind == "Instance Profile":
                if iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]:
                    continue
                iam.delete_instance_profile(InstanceProfileName=name)
            else:
                if iam.list_role_policies(RoleName=name)["PolicyNames"]:
                    continue
                if iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
                    continue
                iam.delete_role(RoleName=name)
        gone.append(name)
    return gone
