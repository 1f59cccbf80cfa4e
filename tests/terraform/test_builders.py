"""The Terraform adapter's pure parts: CLI config, backend, root module, inputs, argv, and parsing real output."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from python_terraform import Terraform

from bluegreen import config as config_module
from bluegreen import factory
from bluegreen.adapters import terraform as tf
from bluegreen.adapters.aws import stacks
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.adapters.terraform import commands, parse
from bluegreen.adapters.terraform import settings as tf_settings
from bluegreen.config import Capacity, Environment, HealthCheck, LoadBalancer
from bluegreen.errors import ConfigError, UsageError
from bluegreen.model import Colour, Release
from bluegreen.sandbox.network import NETWORK
from bluegreen.sandbox.record import CREDENTIALS
from tests.terraform.world import make_config

RECORDED = Path(__file__).parent / "recorded"


def recorded(name: str) -> str:
    return (RECORDED / name).read_text()


# -- CLI config -----------------------------------------------------------------------


def test_cli_config_with_a_mirror_installs_hashicorp_providers_from_it_only(tmp_path: Path) -> None:
    text = commands.cli_config_text(tmp_path / "cache", "/srv/mirror")
    assert f'plugin_cache_dir   = "{tmp_path / "cache"}"' in text
    assert "provider_installation {" in text
    assert 'path    = "/srv/mirror"' in text
    mirror_block = text.split("filesystem_mirror {")[1].split("}")[0]
    direct_block = text.split("direct {")[1].split("}")[0]
    assert 'include = ["registry.terraform.io/hashicorp/*"]' in mirror_block
    assert 'exclude = ["registry.terraform.io/hashicorp/*"]' in direct_block


def test_cli_config_without_a_mirror_leaves_installation_to_terraform(tmp_path: Path) -> None:
    text = commands.cli_config_text(tmp_path / "cache")
    assert "plugin_cache_dir" in text
    assert "provider_installation" not in text
    assert "filesystem_mirror" not in text


def test_cli_config_strings_escape_quotes_and_template_sequences() -> None:
    assert commands.hcl_string('/a "b"/${c}') == '"/a \\"b\\"/$${c}"'


# -- backend and state layout -------------------------------------------------------------


def test_local_backend_keeps_state_in_the_working_directory() -> None:
    stack = stacks.slot_stack("web-prod", Colour.GREEN)
    assert commands.backend_config(stack, region="eu-west-1") == {"local": {"path": "terraform.tfstate"}}


def test_s3_backend_has_one_key_per_environment_and_colour_and_the_lock_table() -> None:
    blue, green = stacks.slot_stack("web-prod", Colour.BLUE), stacks.slot_stack("web-prod", Colour.GREEN)
    env = stacks.environment_stack("web-prod")
    backend = commands.backend_config(green, region="eu-west-1", state_bucket="tf-state", lock_table="tf-locks")
    assert backend == {
        "s3": {
            "bucket": "tf-state",
            "key": "bluegreen/web-prod/green.tfstate",
            "region": "eu-west-1",
            "encrypt": True,
            "dynamodb_table": "tf-locks",
        }
    }
    keys = {commands.state_key(s) for s in (blue, green, env, stacks.slot_stack("web-stage", Colour.BLUE), NETWORK)}
    assert len(keys) == 5


def test_s3_backend_uses_path_style_only_at_another_endpoint() -> None:
    stack = stacks.environment_stack("web-prod")
    assert "use_path_style" not in commands.backend_config(stack, region="us-east-1", state_bucket="b")["s3"]
    assert commands.backend_config(stack, region="us-east-1", state_bucket="b", path_style=True)["s3"]["use_path_style"]
    assert "dynamodb_table" not in commands.backend_config(stack, region="us-east-1", state_bucket="b")["s3"]


def test_s3_backend_locks_with_a_lock_file_unless_a_lock_table_is_configured() -> None:
    stack = stacks.environment_stack("web-prod")
    assert commands.backend_config(stack, region="us-east-1", state_bucket="b")["s3"]["use_lockfile"] is True
    with_table = commands.backend_config(stack, region="us-east-1", state_bucket="b", lock_table="t")["s3"]
    assert "use_lockfile" not in with_table and with_table["dynamodb_table"] == "t"


def test_each_colour_and_the_environment_have_their_own_working_directory(tmp_path: Path) -> None:
    settings = tf.TerraformSettings(state_dir=tmp_path, region="us-east-1")
    dirs = {
        settings.workdir(s) for s in (stacks.environment_stack("web"), *(stacks.slot_stack("web", c) for c in Colour))
    }
    assert dirs == {
        tmp_path / "terraform/web/environment",
        tmp_path / "terraform/web/blue",
        tmp_path / "terraform/web/green",
    }


def test_the_sandbox_keeps_its_state_apart_and_always_local(tmp_path: Path) -> None:
    config = make_config(
        tmp_path / "state", [], endpoint_url="sandbox", terraform_state_bucket="b", terraform_lock_table="t"
    )
    sandbox = AwsTarget("us-east-1", "http://127.0.0.1:9", credentials=tuple(CREDENTIALS.items()))
    settings = factory.terraform_settings(config, target=sandbox)
    assert settings.aws_env["AWS_ACCESS_KEY_ID"] == "testing" and settings.aws_env["AWS_PROFILE"] is None
    assert settings.workdir(NETWORK) == tmp_path / "state/sandbox/terraform/sandbox/network"
    assert settings.backend(NETWORK) == {"local": {"path": "terraform.tfstate"}}
    assert settings.cli_config_path == tmp_path / "state/terraform/.cli.tfrc"


def test_a_real_endpoint_is_passed_to_terraform_and_credentials_left_alone(tmp_path: Path) -> None:
    config = make_config(tmp_path, [], endpoint_url="http://127.0.0.1:4566")
    env = factory.terraform_settings(config).process_env(aws=True)
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert env["TF_CLI_CONFIG_FILE"] == str(tmp_path / "terraform/.cli.tfrc")
    assert "AWS_ACCESS_KEY_ID" not in env
    plain = factory.terraform_settings(make_config(tmp_path, [])).process_env(aws=True)
    assert "AWS_ENDPOINT_URL" not in plain


def test_the_mirror_comes_from_config_else_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tf.MIRROR_ENV, "/from/env")
    assert factory.terraform_settings(make_config(tmp_path, [])).provider_mirror == "/from/env"
    configured = make_config(tmp_path, [], provider_mirror="/from/config")
    assert factory.terraform_settings(configured).provider_mirror == "/from/config"
    monkeypatch.delenv(tf.MIRROR_ENV)
    assert factory.terraform_settings(make_config(tmp_path, [])).provider_mirror == ""


# -- the generated root module ----------------------------------------------------------------


def test_root_module_passes_every_input_through_and_exposes_the_module() -> None:
    root = commands.root_module(
        "../../infra/modules/slot", {"ami": "x", "colour": "blue"}, region="eu-west-1", backend={"local": {}}
    )
    assert root["module"]["main"] == {
        "source": "../../infra/modules/slot",
        "ami": "${var.ami}",
        "colour": "${var.colour}",
    }
    assert root["variable"] == {"ami": {}, "colour": {}}
    assert root["provider"] == {"aws": {"region": "eu-west-1"}}
    assert root["terraform"]["backend"] == {"local": {}}
    assert root["output"] == {"main": {"value": "${module.main}"}}


def test_module_source_is_relative_as_terraform_requires(tmp_path: Path) -> None:
    assert (
        commands.module_source(tmp_path / "infra/modules/slot", tmp_path / "state/web/blue")
        == "../../../infra/modules/slot"
    )
    assert commands.module_source(tmp_path / "w/infra", tmp_path / "w") == "./infra"


# -- inputs from config ------------------------------------------------------------------------


ENV = Environment(
    name="web-prod",
    platform="aws",
    health_check=HealthCheck(path="/healthz", interval_s=20, timeout_s=4, healthy_threshold=3, unhealthy_threshold=5),
    capacity=Capacity(min=2, max=6, desired=3, instance_type="m7g.large"),
    load_balancer=LoadBalancer(listener_port=8000, test_listener_port=9000),
)
ALB = AwsEnvironment.from_outputs(
    "web-prod",
    {
        "load_balancer_type": "alb",
        "target_group_arns": {"blue": "arn:tg/blue", "green": "arn:tg/green"},
        "subnet_ids": ["subnet-a", "subnet-b"],
        "security_group_id": "sg-1",
    },
)


def test_environment_inputs_carry_the_health_check_and_ports() -> None:
    inputs = stacks.environment_inputs(ENV, stacks.Network("vpc-1", ("subnet-a", "subnet-b")))
    assert inputs == {
        "name": "web-prod",
        "vpc_id": "vpc-1",
        "subnet_ids": ["subnet-a", "subnet-b"],
        "load_balancer_type": "alb",
        "listener_port": 8000,
        "test_listener_port": 9000,
        "health_check_path": "/healthz",
        "health_check_interval": 20,
        "health_check_timeout": 4,
        "healthy_threshold": 3,
        "unhealthy_threshold": 5,
        "certificate_arn": "",
        "https_port": 443,
        "internal": False,
        "ingress_cidrs": ["0.0.0.0/0"],
        "test_ingress_cidrs": [],
        "deletion_protection": True,
        "access_logs_bucket": "",
        "access_logs_prefix": "",
    }


def test_environment_inputs_say_who_may_reach_what_and_how() -> None:
    lb = LoadBalancer(
        certificate_arn="arn:aws:acm:eu-west-1:123456789012:certificate/abc",
        internal=True,
        ingress_cidrs=("10.0.0.0/8",),
        test_cidrs=("10.1.0.0/16",),
        deletion_protection=False,
        access_logs_bucket="logs",
        access_logs_prefix="web",
    )
    inputs = stacks.environment_inputs(dataclasses.replace(ENV, load_balancer=lb), stacks.Network("vpc-1", ("a", "b")))
    assert inputs["certificate_arn"] == lb.certificate_arn and inputs["internal"] is True
    assert (inputs["ingress_cidrs"], inputs["test_ingress_cidrs"]) == (["10.0.0.0/8"], ["10.1.0.0/16"])
    assert inputs["deletion_protection"] is False
    assert (inputs["access_logs_bucket"], inputs["access_logs_prefix"]) == ("logs", "web")


def test_slot_inputs_attach_the_colour_to_its_own_target_group() -> None:
    inputs = stacks.slot_inputs(ENV, Colour.GREEN, Release("v42", "ami-0abc"), ALB)
    assert inputs["target_group_arn"] == "arn:tg/green"
    assert inputs["load_balancer_name"] == ""
    assert (inputs["min_size"], inputs["max_size"], inputs["desired_capacity"]) == (2, 6, 3)
    assert (inputs["ami"], inputs["version_label"], inputs["instance_type"]) == ("ami-0abc", "v42", "m7g.large")
    assert (inputs["environment"], inputs["colour"], inputs["security_group_id"]) == ("web-prod", "green", "sg-1")
    assert inputs["health_check_grace_period"] == 600
    assert inputs["drain_seconds"] == 300  # not known from the environment: AWS's default
    drains = AwsEnvironment.from_outputs("web-prod", {"load_balancer_type": "alb", "drain_seconds": 45})
    assert drains.drain_s == 45


def test_a_classic_elb_slot_starts_detached_for_the_traffic_adapter_to_attach() -> None:
    elb = AwsEnvironment.from_outputs("web-prod", {"load_balancer_type": "elb", "load_balancer_name": "web-prod"})
    inputs = stacks.slot_inputs(ENV, Colour.BLUE, Release("v1", "ami-1"), elb)
    assert inputs["target_group_arn"] == "" and inputs["load_balancer_name"] == ""


def test_a_release_without_an_image_cannot_be_provisioned() -> None:
    with pytest.raises(UsageError) as caught:
        stacks.slot_inputs(ENV, Colour.GREEN, Release("v42"), ALB)
    assert "bluegreen bake web-prod --version v42" in caught.value.hint


# -- argv, through python-terraform's own builder ------------------------------------------------


def argv(command: str, options: dict[str, object], tmp_path: Path) -> list[str]:
    return [str(a) for a in Terraform(working_dir=str(tmp_path)).generate_cmd_string(command, **options)]


def test_apply_argv_approves_speaks_json_and_waits_for_the_lock(tmp_path: Path) -> None:
    assert argv("apply", commands.apply_options(), tmp_path) == [
        "terraform", "apply", "-auto-approve", "-input=false", "-no-color", "-json", "-lock-timeout=10m",
    ]  # fmt: skip


def test_apply_argv_replaces_module_resources_by_their_root_address(tmp_path: Path) -> None:
    args = argv(
        "apply", commands.apply_options(replace=["aws_launch_template.this", "aws_autoscaling_group.this"]), tmp_path
    )
    assert args[-2:] == [
        "-replace=module.main.aws_launch_template.this",
        "-replace=module.main.aws_autoscaling_group.this",
    ]


def test_destroy_argv_is_apply_destroy_without_the_removed_force_flag(tmp_path: Path) -> None:
    args = argv("apply", commands.apply_options(destroy=True), tmp_path)
    assert args[:3] == ["terraform", "apply", "-auto-approve"] and "-destroy" in args
    assert "-force" not in args and "-auto-approve=false" not in args


def test_init_argv_reconfigures_or_migrates(tmp_path: Path) -> None:
    assert argv("init", commands.init_options(), tmp_path) == [
        "terraform",
        "init",
        "-input=false",
        "-no-color",
        "-reconfigure",
    ]
    migrate = argv("init", commands.init_options(migrate_state=True), tmp_path)
    assert "-migrate-state" in migrate and "-force-copy" in migrate and "-reconfigure" not in migrate


def test_plan_and_output_argv(tmp_path: Path) -> None:
    assert "-detailed-exitcode" in argv("plan", commands.plan_options(), tmp_path)
    assert argv("output", commands.output_options(), tmp_path) == ["terraform", "output", "-json", "-no-color"]


# -- parsing recorded terraform output ---------------------------------------------------------------


def test_progress_lines_of_a_recorded_apply() -> None:
    lines = parse.progress_lines(parse.json_messages(recorded("apply_slot_ok.jsonl")))
    assert lines[0] == "Plan: 3 to add, 0 to change, 0 to destroy."
    assert any(line.startswith("aws_launch_template.this: Creation complete after") for line in lines)
    assert any(
        line.startswith("aws_autoscaling_group.this: Creation complete after 0s [id=shop-green]") for line in lines
    )
    assert lines[-1] == "Apply complete! Resources: 3 added, 0 changed, 0 destroyed."
    assert not any("module.main." in line for line in lines)


def test_progress_lines_of_a_recorded_destroy() -> None:
    lines = parse.progress_lines(parse.json_messages(recorded("destroy_slot.jsonl")))
    # Recorded after the failed create below: the group never existed, only the template did.
    assert lines[0] == "Plan: 0 to add, 0 to change, 2 to destroy."
    assert "aws_launch_template.this: Destruction complete after 0s" in lines
    assert lines[-1] == "Apply complete! Resources: 0 added, 0 changed, 2 destroyed."


def test_the_outputs_of_a_recorded_apply_are_its_last_outputs_message() -> None:
    messages = parse.json_messages(recorded("apply_slot_ok.jsonl"))
    outputs = parse.applied_outputs(messages)
    assert outputs is not None and outputs["main"]["asg_name"] == "shop-green"
    assert outputs["main"]["launch_template_version"] == 1
    plan_only = [m for m in messages if m.get("type") != "outputs" or "action" in m["outputs"]["main"]]
    assert parse.applied_outputs(plan_only) is None  # the plan's message says only what will happen
    sensitive = {"type": "outputs", "outputs": {"main": {"sensitive": True, "type": "string"}}}
    assert parse.applied_outputs([*messages, sensitive]) is None  # only `terraform output` can tell it
    assert parse.applied_outputs(parse.json_messages(recorded("destroy_slot.jsonl"))) == {}
    assert parse.module_outputs({}) is None


def test_error_text_of_a_recorded_variable_validation_failure() -> None:
    text = parse.error_text(parse.json_messages(recorded("apply_slot_invalid_ami.jsonl")), "", "")
    assert text.startswith("Error: Invalid value for variable: ami must be an image id")


def test_error_text_of_a_recorded_api_failure_names_the_resource() -> None:
    stdout = recorded("apply_slot_api_error.jsonl")
    text = parse.error_text(parse.json_messages(stdout), stdout, "")
    assert text.startswith("Error: creating Auto Scaling Group (shop-green)")
    assert "(aws_autoscaling_group.this)" in text
    assert "InvalidSubnetID.NotFound" in text
    assert "Creation errored" in " ".join(parse.progress_lines(parse.json_messages(stdout)))


def test_error_text_falls_back_to_what_terraform_printed() -> None:
    stderr = "\nError: Failed to query available provider packages\n\nCould not retrieve the list...\n"
    assert parse.error_text([], "", stderr).startswith("Error: Failed to query available provider packages")
    assert parse.error_text([], "plain stdout", "") == "plain stdout"
    assert len(parse.error_text([], "x" * 10_000, "")) == parse.ERROR_TAIL_CHARS


def test_recorded_outputs_build_the_environment_the_adapters_take() -> None:
    outputs = parse.parse_outputs(recorded("output_environment_elb.json"))
    env = AwsEnvironment.from_outputs("shop", outputs["main"])
    assert env.load_balancer_type == "elb"
    assert env.load_balancer_name == "shop"
    assert env.dns_name == "shop.us-east-1.elb.amazonaws.com"
    assert env.security_group_id.startswith("sg-")
    assert len(env.subnet_ids) == 2
    assert parse.parse_outputs("{}\n") == {}


def test_terraform_error_names_module_environment_and_colour() -> None:
    err = tf.TerraformError(
        stacks.slot_stack("web-prod", Colour.GREEN),
        "apply",
        ["terraform", "apply"],
        1,
        "Error: Invalid value for variable: ami must be an image id",
        where="slot web-prod/green: /state/terraform/web-prod/green",
        hint="fix it",
    )
    assert (err.module, err.environment, err.colour, err.returncode) == ("modules/slot", "web-prod", "green", 1)
    assert "terraform apply of slot web-prod/green (module infra/modules/slot) failed" in str(err)
    assert "ami must be an image id" in str(err)
    assert err.as_dict()["exit_code"] == 1


# -- config: where the network comes from -----------------------------------------------------------


def test_a_mirror_given_once_is_remembered_for_a_plain_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    terraform = tmp_path / "bin" / "terraform"  # answers every command at once: only the files matter here
    terraform.parent.mkdir()
    terraform.write_text("#!/bin/sh\nexit 0\n")
    terraform.chmod(0o755)
    (tmp_path / "infra" / "m").mkdir(parents=True)
    (tmp_path / "infra" / "m" / "main.tf").write_text("")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    config = make_config(tmp_path / "state", [])

    def run() -> tf.TerraformSettings:
        settings = dataclasses.replace(
            factory.terraform_settings(config), modules_root=tmp_path / "infra", binary=str(terraform)
        )
        tf.TerraformRunner(settings).validate(tf.Stack("m", ("m",)), {})
        return settings

    monkeypatch.setenv(tf.MIRROR_ENV, str(mirror))
    run()
    monkeypatch.delenv(tf.MIRROR_ENV)
    settings = run()
    assert settings.provider_mirror == str(mirror)
    assert str(mirror) in settings.cli_config_path.read_text()
    mirror.rmdir()  # a mirror that is gone is not one to remember
    assert factory.terraform_settings(config).provider_mirror == ""


def load(tmp_path: Path, aws: dict[str, object]) -> config_module.Config:
    path = tmp_path / "bluegreen.yaml"
    path.write_text(
        json.dumps(
            {"aws": aws, "environments": {"web": {"platform": "aws", "load_balancer": {"test_cidrs": ["10.0.0.0/16"]}}}}
        )
    )
    return config_module.load(path, env={})


def test_config_names_the_network_for_real_aws(tmp_path: Path) -> None:
    cfg = load(tmp_path, {"vpc_id": "vpc-1", "subnet_ids": ["subnet-a", "subnet-b"]})
    assert (cfg.aws.vpc_id, cfg.aws.subnet_ids) == ("vpc-1", ("subnet-a", "subnet-b"))


@pytest.mark.parametrize(
    ("aws", "key"),
    [
        ({"vpc_id": "vpc-1"}, "aws.subnet_ids"),
        ({"subnet_ids": ["subnet-a", "subnet-b"]}, "aws.vpc_id"),
        ({"vpc_id": "vpc-1", "subnet_ids": ["subnet-a"]}, "aws.subnet_ids"),
        ({"endpoint_url": "sandbox", "vpc_id": "vpc-1", "subnet_ids": ["a", "b"]}, "aws.vpc_id"),
    ],
)
def test_config_rejects_a_half_named_network(tmp_path: Path, aws: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, aws)
    assert key in caught.value.what


def test_without_a_network_real_aws_asks_for_one(tmp_path: Path) -> None:
    config = make_config(tmp_path, [ENV])
    with pytest.raises(ConfigError) as caught:
        factory.network(config, factory.terraform_runner(config))
    assert "aws.vpc_id and aws.subnet_ids" in caught.value.hint


def _state(*resources: dict[str, object]) -> str:
    """A state file as terraform 1.x writes it (format 4)."""
    return json.dumps(
        {"version": 4, "terraform_version": "1.9.8", "serial": 7, "lineage": "5d1c", "outputs": {},
         "resources": list(resources), "check_results": None}
    )  # fmt: skip


def test_a_state_holds_something_to_destroy_only_with_a_managed_resource_in_it() -> None:
    group = {"mode": "managed", "type": "aws_autoscaling_group", "name": "this", "module": "module.main",
             "instances": [{"schema_version": 0, "attributes": {"id": "web-green"}}]}  # fmt: skip
    ami = {"mode": "data", "type": "aws_ami", "name": "base", "instances": [{"attributes": {"id": "ami-1"}}]}
    assert parse.state_holds_resources(_state(group, ami))
    assert not parse.state_holds_resources(_state())  # what a destroy leaves
    assert not parse.state_holds_resources(_state(ami))  # data sources are read, never created
    assert not parse.state_holds_resources(_state({**group, "instances": []}))
    assert not parse.state_holds_resources("")
    assert parse.state_holds_resources('{"version": 4, "resour')  # cut short: let terraform itself say


def test_a_mirror_is_remembered_only_once_an_init_worked_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terraform = tmp_path / "bin" / "terraform"  # init fails as without the provider; all else would pass
    terraform.parent.mkdir()
    terraform.write_text(
        '#!/bin/sh\n[ "$1" = init ] || exit 0\necho "Error: Failed to query available provider packages" >&2\nexit 1\n'
    )
    terraform.chmod(0o755)
    (tmp_path / "infra" / "m").mkdir(parents=True)
    (tmp_path / "infra" / "m" / "main.tf").write_text("")
    good, empty = tmp_path / "good", tmp_path / "empty"
    good.mkdir()
    empty.mkdir()
    state = tmp_path / "state"
    tf_settings.mirror_file(state).parent.mkdir(parents=True)
    tf_settings.mirror_file(state).write_text(f"{good}\n")
    monkeypatch.setenv(tf.MIRROR_ENV, str(empty))
    settings = dataclasses.replace(
        factory.terraform_settings(make_config(state, [])), modules_root=tmp_path / "infra", binary=str(terraform)
    )
    with pytest.raises(tf.TerraformError) as caught:
        tf.TerraformRunner(settings).validate(tf.Stack("m", ("m",)), {})
    assert tf.MIRROR_ENV in caught.value.hint
    assert tf_settings.remembered_mirror(state) == str(good)
