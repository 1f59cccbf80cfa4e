"""The modules and the adapter for real: terraform + the AWS provider against moto, read back with boto3.

One ALB environment for the whole module (about a minute to create), then
blue and green slots in it. The tests run in the order written and build on
each other the way a deployment does: blue, then green beside it, traffic
moved by bluegreen, a later apply of the environment, green retired.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bluegreen import factory
from bluegreen.adapters import terraform as tf
from bluegreen.adapters.aws import stacks
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.provisioner import AwsProvisioner
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.adapters.terraform.settings import mirror_file
from bluegreen.config import Capacity, Config, Environment, HealthCheck
from bluegreen.model import Colour, Release
from bluegreen.sandbox.network import apply_network
from tests.terraform.world import aws, make_config

pytestmark = [
    pytest.mark.slow,
    # python-terraform logs a failed command with the deprecated Logger.warn.
    pytest.mark.filterwarnings("ignore:The 'warn' method is deprecated:DeprecationWarning"),
]

ENV = Environment(name="web-prod", platform="aws", capacity=Capacity(min=1, max=3, desired=2))
V1 = Release("v1", "ami-000000000000000b1")
V2 = Release("v2", "ami-000000000000000b2")
V3 = Release("v3", "ami-000000000000000b3")


@dataclass
class World:
    target: AwsTarget
    config: Config
    settings: tf.TerraformSettings
    env: AwsEnvironment
    progress: list[str] = field(default_factory=list)

    def provisioner(self, env: AwsEnvironment | None = None) -> AwsProvisioner:
        runner = tf.TerraformRunner(self.settings, self.progress.append)
        return AwsProvisioner(runner, ENV, env or self.env, self.target)

    def state_file(self, colour: Colour) -> Path:
        return self.settings.workdir(stacks.slot_stack(ENV.name, colour)) / "terraform.tfstate"

    def client(self, service: str) -> Any:
        return aws(self.target, service)


@pytest.fixture(scope="module")
def world(moto_target: AwsTarget, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A network, then the environment found through config keys as on real AWS."""
    state = tmp_path_factory.mktemp("terraform") / "state"
    progress: list[str] = []
    bootstrap = make_config(state, [ENV], endpoint_url=moto_target.endpoint_url)
    network = apply_network(tf.TerraformRunner(factory.terraform_settings(bootstrap), progress.append))
    config = make_config(
        state, [ENV], endpoint_url=moto_target.endpoint_url, vpc_id=network.vpc_id, subnet_ids=network.subnet_ids
    )
    env = factory.apply_environment(config, ENV, progress.append)
    yield World(moto_target, config, factory.terraform_settings(config), env, progress)


@pytest.fixture(scope="module")
def blue(world: World) -> dict[str, Any]:
    return dict(world.provisioner().provision(Colour.BLUE, V1).details)


def forward_weights(world: World, listener_arn: str) -> dict[str, int]:
    listener = world.client("elbv2").describe_listeners(ListenerArns=[listener_arn])["Listeners"][0]
    action = listener["DefaultActions"][0]
    groups = action.get("ForwardConfig", {}).get("TargetGroups") or [
        {"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}
    ]
    colour_of = {arn: colour for colour, arn in (world.env.target_group_arns or {}).items()}
    return {colour_of[g["TargetGroupArn"]]: int(g.get("Weight", 1)) for g in groups}


def asg(world: World, colour: Colour) -> dict[str, Any] | None:
    groups = world.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[f"{ENV.name}-{colour.value}"]
    )["AutoScalingGroups"]
    return groups[0] if groups else None


def instance_images(world: World, group: dict[str, Any]) -> set[str]:
    ids = [i["InstanceId"] for i in group["Instances"]]
    reservations = world.client("ec2").describe_instances(InstanceIds=ids)["Reservations"]
    return {i["ImageId"] for r in reservations for i in r["Instances"]}


# -- the environment ------------------------------------------------------------------------------


def test_environment_outputs_are_what_the_adapters_read(world: World) -> None:
    env = world.env
    assert env.load_balancer_type == "alb"
    assert env.dns_name and env.listener_arn and env.test_listener_arn and env.security_group_id
    assert set(env.target_group_arns or {}) == {"blue", "green"}
    assert (env.listener_port, env.test_listener_port) == (80, 8080)
    assert env.subnet_ids == world.config.aws.subnet_ids
    assert factory.environment_outputs(world.config, ENV) == env
    assert any("aws_lb.this[0]: Creation complete" in line for line in world.progress)


def test_environment_forwards_everything_to_blue_and_tests_green(world: World) -> None:
    assert forward_weights(world, world.env.listener_arn) == {"blue": 100, "green": 0}
    assert forward_weights(world, world.env.test_listener_arn) == {"green": 1}
    lb = world.client("elbv2").describe_load_balancers(Names=[ENV.name])["LoadBalancers"][0]
    assert lb["DNSName"] == world.env.dns_name


def test_target_groups_check_health_as_configured(world: World) -> None:
    groups = world.client("elbv2").describe_target_groups(
        TargetGroupArns=list((world.env.target_group_arns or {}).values())
    )
    for group in groups["TargetGroups"]:
        assert group["HealthCheckPath"] == "/health"
        assert (group["HealthCheckIntervalSeconds"], group["HealthCheckTimeoutSeconds"]) == (15, 5)
        assert (group["HealthyThresholdCount"], group["UnhealthyThresholdCount"]) == (2, 10)
        assert group["Matcher"] == {"HttpCode": "200"}


def test_an_environment_never_created_has_no_outputs(world: World) -> None:
    assert factory.environment_outputs(world.config, dataclasses.replace(ENV, name="web-other")) is None


# -- the slots --------------------------------------------------------------------------------------


def test_blue_slot_is_an_asg_in_blues_target_group(world: World, blue: dict[str, Any]) -> None:
    group = asg(world, Colour.BLUE)
    assert group is not None
    assert blue["asg_name"] == "web-prod-blue" == world.env.asg_name(Colour.BLUE)
    assert group["TargetGroupARNs"] == [world.env.target_group(Colour.BLUE)]
    assert group["HealthCheckType"] == "ELB"
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (1, 3, 2)
    assert group["LaunchTemplate"]["LaunchTemplateId"] == blue["launch_template_id"]
    tags = {t["Key"]: t["Value"] for t in group["Tags"]}
    assert (tags["environment"], tags["colour"], tags["version"]) == ("web-prod", "blue", "v1")
    assert instance_images(world, group) == {V1.ami}
    assert len(group["Instances"]) == 2
    assert (blue["ami"], blue["version"]) == (V1.ami, "v1")


def test_blue_launch_template_runs_the_release_in_the_environments_security_group(
    world: World, blue: dict[str, Any]
) -> None:
    versions = world.client("ec2").describe_launch_template_versions(LaunchTemplateId=blue["launch_template_id"])
    data = versions["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["ImageId"] == V1.ami
    assert data["InstanceType"] == ENV.capacity.instance_type
    assert data["SecurityGroupIds"] == [world.env.security_group_id]
    # The instances' volumes carry the slot's tags too.
    tagged = {t["ResourceType"]: {x["Key"]: x["Value"] for x in t["Tags"]} for t in data["TagSpecifications"]}
    assert tagged["volume"]["colour"] == "blue" and tagged["volume"]["version"] == "v1"
    assert tagged["volume"] == tagged["instance"]


def test_the_group_is_given_time_to_drain_when_deleted(world: World, blue: dict[str, Any]) -> None:
    # The environment's deregistration delay (the module's default, 30 s) plus 10 minutes for termination.
    assert world.env.drain_s == 30
    state = json.loads(world.state_file(Colour.BLUE).read_text())
    group = next(r for r in state["resources"] if r["type"] == "aws_autoscaling_group")
    assert group["instances"][0]["attributes"]["timeouts"]["delete"] == "630s"


def test_applying_green_does_not_touch_blues_state(world: World, blue: dict[str, Any]) -> None:
    before = world.state_file(Colour.BLUE).read_bytes()
    details = world.provisioner().provision(Colour.GREEN, V2).details
    group = asg(world, Colour.GREEN)
    assert group is not None and details["asg_name"] == "web-prod-green"
    assert group["TargetGroupARNs"] == [world.env.target_group(Colour.GREEN)]
    assert instance_images(world, group) == {V2.ami}
    assert world.state_file(Colour.BLUE).read_bytes() == before
    runner = tf.TerraformRunner(world.settings)
    assert not runner.has_changes(stacks.slot_stack(ENV.name, Colour.BLUE))
    assert instance_images(world, asg(world, Colour.BLUE) or {}) == {V1.ami}


def test_provisioning_the_same_release_again_changes_nothing(world: World, blue: dict[str, Any]) -> None:
    instances = {i["InstanceId"] for i in (asg(world, Colour.BLUE) or {})["Instances"]}
    again = world.provisioner().provision(Colour.BLUE, V1).details
    assert again["launch_template_id"] == blue["launch_template_id"]
    assert {i["InstanceId"] for i in (asg(world, Colour.BLUE) or {})["Instances"]} == instances


def test_a_new_release_replaces_the_colours_instances(world: World) -> None:
    before = asg(world, Colour.GREEN)
    assert before is not None
    details = world.provisioner().provision(Colour.GREEN, V3).details
    after = asg(world, Colour.GREEN)
    assert after is not None
    assert details["launch_template_id"] != before["LaunchTemplate"]["LaunchTemplateId"]
    assert instance_images(world, after) == {V3.ami}
    assert not {i["InstanceId"] for i in after["Instances"]} & {i["InstanceId"] for i in before["Instances"]}


def test_a_terraform_failure_says_what_terraform_said_and_which_module_and_colour(world: World) -> None:
    with pytest.raises(tf.TerraformError) as caught:
        world.provisioner().provision(Colour.GREEN, Release("v9", "not-an-image"))
    err = caught.value
    assert (err.module, err.environment, err.colour) == ("modules/slot", "web-prod", "green")
    assert "Invalid value for variable" in str(err) and "ami must be an image id" in str(err)
    assert "terraform apply of slot web-prod/green (module infra/modules/slot) failed" in str(err)
    assert err.argv[:2] == ["terraform", "apply"] and err.returncode == 1
    assert str(world.settings.workdir(stacks.slot_stack(ENV.name, Colour.GREEN))) in err.where
    assert instance_images(world, asg(world, Colour.GREEN) or {}) == {V3.ami}


# -- co-ownership of the listeners --------------------------------------------------------------------


def test_a_later_apply_of_the_environment_never_moves_traffic(world: World) -> None:
    elbv2, groups = world.client("elbv2"), world.env.target_group_arns or {}
    elbv2.modify_listener(
        ListenerArn=world.env.listener_arn,
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": groups["blue"], "Weight": 20},
                        {"TargetGroupArn": groups["green"], "Weight": 80},
                    ]
                },
            }
        ],
    )
    elbv2.modify_listener(
        ListenerArn=world.env.test_listener_arn,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": groups["blue"]}],
    )
    slower = dataclasses.replace(ENV, health_check=HealthCheck(interval_s=30, timeout_s=6))
    again = factory.apply_environment(world.config, slower, world.progress.append)

    assert again == world.env
    assert forward_weights(world, world.env.listener_arn) == {"blue": 20, "green": 80}
    assert forward_weights(world, world.env.test_listener_arn) == {"blue": 1}
    group = elbv2.describe_target_groups(TargetGroupArns=[groups["green"]])["TargetGroups"][0]
    assert (group["HealthCheckIntervalSeconds"], group["HealthCheckTimeoutSeconds"]) == (30, 6)
    assert not tf.TerraformRunner(world.settings).has_changes(stacks.environment_stack(ENV.name))


# -- retiring ---------------------------------------------------------------------------------------------


def test_destroying_green_leaves_blue(world: World, blue: dict[str, Any]) -> None:
    blue_state = world.state_file(Colour.BLUE).read_bytes()
    world.provisioner().destroy(Colour.GREEN)
    assert asg(world, Colour.GREEN) is None
    templates = world.client("ec2").describe_launch_templates()["LaunchTemplates"]
    assert {t["LaunchTemplateName"] for t in templates} == {"web-prod-blue"}
    assert asg(world, Colour.BLUE) is not None
    assert world.state_file(Colour.BLUE).read_bytes() == blue_state
    assert any("slot web-prod/green: Apply complete!" in line and "destroyed" in line for line in world.progress)


def test_destroying_a_colour_that_is_gone_is_fine(world: World) -> None:
    world.provisioner().destroy(Colour.GREEN)
    assert not tf.TerraformRunner(world.settings).destroy(stacks.slot_stack(ENV.name, Colour.GREEN))
    assert not tf.TerraformRunner(world.settings).destroy(stacks.slot_stack("never-made", Colour.BLUE))


def test_a_colour_whose_provider_cannot_be_fetched_fails_once_and_leaves_nothing_to_destroy(
    world: World, tmp_path: Path
) -> None:
    """A mirror without the provider: `terraform init` fails, so nothing was created and a destroy has nothing to do.

    Decided from the state files, before any init: the destroy that cannot
    init either must not be what fails the rollback.
    """
    if not world.state_file(Colour.GREEN).is_file():  # run on its own: a green retired before, as in a deployment
        world.provisioner().provision(Colour.GREEN, V1)
        world.provisioner().destroy(Colour.GREEN)
    empty = tmp_path / "mirror"
    empty.mkdir()
    fresh = dataclasses.replace(world.settings, state_dir=tmp_path / "state", provider_mirror=str(empty))
    progress: list[str] = []
    provisioner = AwsProvisioner(tf.TerraformRunner(fresh, progress.append), ENV, world.env, world.target)
    with pytest.raises(tf.TerraformError) as caught:
        provisioner.provision(Colour.GREEN, V1)
    assert "Failed to query available provider packages" in str(caught.value)
    assert tf.MIRROR_ENV in caught.value.hint and "aws.provider_mirror" in caught.value.hint
    assert (fresh.workdir(stacks.slot_stack(ENV.name, Colour.GREEN)) / "terraform.tfvars.json").is_file()

    assert not tf.TerraformRunner(fresh, progress.append).destroy(stacks.slot_stack(ENV.name, Colour.GREEN))
    provisioner.destroy(Colour.GREEN)  # nothing of green in AWS either: nothing to adopt
    assert not any("terraform destroy" in line for line in progress)
    assert asg(world, Colour.GREEN) is None
    assert not mirror_file(fresh.state_dir).exists(), "a mirror that did not work is not remembered"

    # A colour retired before (its state emptied by the destroy) needs no working init either.
    broken = dataclasses.replace(world.settings, provider_mirror=str(empty))
    assert not tf.TerraformRunner(broken).destroy(stacks.slot_stack(ENV.name, Colour.GREEN))
