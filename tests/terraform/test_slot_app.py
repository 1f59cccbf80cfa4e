"""The slot module's instance settings and identity, for real: terraform + the AWS provider against moto.

What an instance is told at boot (the cloud-config user data of the launch
template) and what it may read (its instance profile's policy). Secrets are
named, never carried: their values exist in the account and must appear in
neither the user data nor the Terraform state.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from bluegreen import factory
from bluegreen.adapters import terraform as tf
from bluegreen.adapters.aws import stacks
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.provisioner import AwsProvisioner
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.model import Colour, Release
from bluegreen.sandbox.network import apply_network
from bluegreen.settings import AppSettings, Environment
from tests.terraform.world import REGION, aws, make_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:The 'warn' method is deprecated:DeprecationWarning"),
]

SECRET_VALUE = "s3cr3t-value-never-in-state"
TOKEN_VALUE = "t0ken-value-never-in-state"
APP = AppSettings(
    settings={"APP_GREETING": "hello", "WORKERS": "3"},
    secrets={"APP_SECRET": "ssm:/bluegreen/demo/app-secret", "APP_TOKEN": "secretsmanager:demo/token"},
)
ENV = Environment(name="web-app", platform="aws", app=APP)
RELEASE = Release("v1", "ami-000000000000000b1")


@dataclass
class Slot:
    target: AwsTarget
    settings: tf.TerraformSettings
    runner: tf.TerraformRunner
    outputs: AwsEnvironment

    def apply(self, env: Environment, colour: Colour) -> dict[str, Any]:
        return self.runner.apply(
            stacks.slot_stack(env.name, colour), stacks.slot_inputs(env, colour, RELEASE, self.outputs)
        )

    def launch_template(self, colour: Colour) -> dict[str, Any]:
        ec2 = aws(self.target, "ec2")
        versions = ec2.describe_launch_template_versions(LaunchTemplateName=f"{ENV.name}-{colour.value}")
        return dict(versions["LaunchTemplateVersions"][0]["LaunchTemplateData"])


@pytest.fixture(scope="module")
def slot(moto_target: AwsTarget, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slot]:
    """A network and a security group, the secrets' values in the account, and blue applied with APP."""
    state = tmp_path_factory.mktemp("terraform") / "state"
    config = make_config(state, [ENV], endpoint_url=moto_target.endpoint_url)
    settings = factory.terraform_settings(config)
    runner = tf.TerraformRunner(settings)
    network = apply_network(runner)
    group = aws(moto_target, "ec2").create_security_group(
        GroupName="web-app-instances", Description="test", VpcId=network.vpc_id
    )
    aws(moto_target, "ssm").put_parameter(Name="/bluegreen/demo/app-secret", Value=SECRET_VALUE, Type="SecureString")
    aws(moto_target, "secretsmanager").create_secret(Name="demo/token", SecretString=TOKEN_VALUE)
    outputs = AwsEnvironment(
        name=ENV.name,
        load_balancer_type="elb",
        dns_name="",
        subnet_ids=network.subnet_ids,
        security_group_id=group["GroupId"],
    )
    world = Slot(moto_target, settings, runner, outputs)
    world.apply(ENV, Colour.BLUE)
    yield world


def test_user_data_is_the_cloud_config_with_settings_and_secret_names(slot: Slot) -> None:
    text = base64.b64decode(slot.launch_template(Colour.BLUE)["UserData"]).decode()
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    files = {f["path"]: f for f in doc["write_files"]}
    assert files["/etc/bluegreen/app.env"]["content"] == "APP_GREETING=hello\nWORKERS=3\n"
    assert files["/etc/bluegreen/secrets.ref"]["content"] == (
        "APP_SECRET=ssm:/bluegreen/demo/app-secret\nAPP_TOKEN=secretsmanager:demo/token\n"
    )
    assert {f["permissions"] for f in files.values()} == {"0600"}
    assert doc["runcmd"] == [["systemctl", "start", "--no-block", "bluegreen-app.service"]]


def test_no_secret_value_in_user_data_or_state(slot: Slot) -> None:
    user_data = base64.b64decode(slot.launch_template(Colour.BLUE)["UserData"]).decode()
    state = (slot.settings.workdir(stacks.slot_stack(ENV.name, Colour.BLUE)) / "terraform.tfstate").read_text()
    assert "/bluegreen/demo/app-secret" in state  # the state was read: the names are there
    for value in (SECRET_VALUE, TOKEN_VALUE):
        assert value not in user_data
        assert value not in state


def test_instances_get_a_profile_that_reads_exactly_the_named_secrets(slot: Slot) -> None:
    profile = slot.launch_template(Colour.BLUE)["IamInstanceProfile"]["Name"]
    iam = aws(slot.target, "iam")
    roles = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]
    assert len(roles) == 1
    trust = roles[0]["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    policy = iam.get_role_policy(RoleName=roles[0]["RoleName"], PolicyName="read-app-secrets")["PolicyDocument"]
    policy = json.loads(policy) if isinstance(policy, str) else policy
    statements = {s["Sid"]: s for s in policy["Statement"]}
    account = aws(slot.target, "sts").get_caller_identity()["Account"]
    assert statements["ReadAppParameters"]["Resource"] == [
        f"arn:aws:ssm:{REGION}:{account}:parameter/bluegreen/demo/app-secret"
    ]
    assert statements["ReadAppSecrets"]["Resource"] == [
        f"arn:aws:secretsmanager:{REGION}:{account}:secret:demo/token-??????"
    ]
    assert statements["ReadAppSecrets"]["Action"] == ["secretsmanager:GetSecretValue"]
    decrypt = statements["DecryptThroughParameterStoreAndSecretsManager"]
    assert decrypt["Action"] == ["kms:Decrypt"]
    assert set(decrypt["Condition"]["StringEquals"]["kms:ViaService"]) == {
        f"ssm.{REGION}.amazonaws.com",
        f"secretsmanager.{REGION}.amazonaws.com",
    }
    assert iam.list_attached_role_policies(RoleName=roles[0]["RoleName"])["AttachedPolicies"] == []


def test_applying_the_same_settings_again_changes_nothing(slot: Slot) -> None:
    assert not slot.runner.has_changes(
        stacks.slot_stack(ENV.name, Colour.BLUE), stacks.slot_inputs(ENV, Colour.BLUE, RELEASE, slot.outputs)
    )


def test_the_launch_template_is_created_beside_the_profile_and_the_group_after_it(slot: Slot) -> None:
    """The launch template names the profile without depending on it (no 5 s wait of the provider's in a row)."""
    state = json.loads(
        (slot.settings.workdir(stacks.slot_stack(ENV.name, Colour.BLUE)) / "terraform.tfstate").read_text()
    )
    needs = {  # each resource's dependencies, without the root module's "module.<name>." prefix
        r["type"]: {d.split(".", 2)[2] for d in r["instances"][0].get("dependencies", [])}
        for r in state["resources"]
        if r["mode"] == "managed"
    }
    assert "aws_iam_instance_profile.this" not in needs["aws_launch_template"]
    assert "aws_iam_instance_profile.this" in needs["aws_autoscaling_group"]
    assert slot.launch_template(Colour.BLUE)["IamInstanceProfile"]["Name"] == f"{ENV.name}-blue-{REGION}"


def test_a_role_and_profile_an_apply_made_but_never_recorded_are_adopted_then_destroyed(slot: Slot) -> None:
    """A terraform killed mid-apply, or a create the SDK resent after IAM made it: the names exist, no state has them.

    The next apply adopts them (the apply would otherwise fail on the names forever) and brings them to what
    the module says; the retire's destroy then leaves no IAM of the colour behind.
    """
    iam = aws(slot.target, "iam")
    name = f"{ENV.name}-green-{REGION}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    stale = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"}]}
    iam.put_role_policy(RoleName=name, PolicyName="read-app-secrets", PolicyDocument=json.dumps(stale))
    iam.create_instance_profile(InstanceProfileName=name)  # its role not added yet: the apply died in between
    provisioner = AwsProvisioner(slot.runner, ENV, slot.outputs, slot.target)

    provisioner.provision(Colour.GREEN, RELEASE)

    assert [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(f"{ENV.name}-green")] == [name]
    profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [name]
    trust = profile["Roles"][0]["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    policy = iam.get_role_policy(RoleName=name, PolicyName="read-app-secrets")["PolicyDocument"]
    policy = json.loads(policy) if isinstance(policy, str) else policy
    assert {s["Sid"] for s in policy["Statement"]} >= {"ReadAppParameters", "ReadAppSecrets"}
    assert slot.launch_template(Colour.GREEN)["IamInstanceProfile"]["Name"] == name

    provisioner.destroy(Colour.GREEN)
    assert not [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(f"{ENV.name}-green")]
    assert not [
        p
        for p in iam.list_instance_profiles()["InstanceProfiles"]
        if p["InstanceProfileName"].startswith(f"{ENV.name}-green")
    ]


def test_an_existing_instance_profile_is_used_and_none_is_made(slot: Slot) -> None:
    iam = aws(slot.target, "iam")
    iam.create_role(RoleName="given-role", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"}))
    iam.create_instance_profile(InstanceProfileName="given-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="given-profile", RoleName="given-role")
    before = {p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]}
    env = Environment(name=ENV.name, platform="aws", app=AppSettings(instance_profile="given-profile"))
    slot.apply(env, Colour.GREEN)
    data = slot.launch_template(Colour.GREEN)
    assert data["IamInstanceProfile"]["Name"] == "given-profile"
    after = {p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]}
    assert after == before
    doc = yaml.safe_load(base64.b64decode(data["UserData"]).decode())
    assert [f["content"] for f in doc["write_files"]] == ["", ""]  # both files, empty: no app settings
