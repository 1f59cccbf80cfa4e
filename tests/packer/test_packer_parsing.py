"""Pure parts of the Packer adapter, on recorded output (tests/packer/recorded/README.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bluegreen.adapters.aws.session import AwsTarget, endpoint_url
from bluegreen.adapters.packer import build_argv, choose_reusable, packer_environment, reuse_filters, template_variables
from bluegreen.adapters.packer_output import (
    MachineLine,
    ami_from_artifact_id,
    artifact_id_from_lines,
    artifact_id_from_manifest,
    error_text,
    parse_line,
    readable,
)
from bluegreen.errors import ConfigError

RECORDED = Path(__file__).parent / "recorded"


def recorded_lines(name: str) -> list[str]:
    return (RECORDED / name).read_text().splitlines()


# -- the command line ---------------------------------------------------------------


def test_argv_is_build_machine_readable_with_sorted_vars_and_the_template_last() -> None:
    argv = build_argv(Path("/p/app.pkr.hcl"), {"version": "v1 two=2", "environment": "web"})
    assert argv == [
        "packer",
        "build",
        "-machine-readable",
        "-var",
        "environment=web",
        "-var",
        "version=v1 two=2",  # one argv item: no shell, no quoting
        "/p/app.pkr.hcl",
    ]


def test_argv_uses_the_given_binary() -> None:
    assert build_argv(Path("t.pkr.hcl"), {}, packer="/opt/packer")[:2] == ["/opt/packer", "build"]


REQUIRED: dict[str, Any] = {
    "version": "v1",
    "source_hash": "abc",
    "environment": "web",
    "region": "eu-west-1",
    "ec2_endpoint": "",
    "app_artifact": Path("/src/app"),
    "manifest_path": Path("/tmp/m.json"),
}


def test_template_variables_leave_empty_optional_settings_to_the_template() -> None:
    values = template_variables(**REQUIRED, extra={"communicator": "none"})
    assert values == {
        "version": "v1",
        "source_hash": "abc",
        "environment": "web",
        "region": "eu-west-1",
        "ec2_endpoint": "",
        "app_artifact": "/src/app",
        "manifest_path": "/tmp/m.json",
        "communicator": "none",
    }
    assert "source_ami" not in values and "instance_type" not in values


def test_template_variables_pass_an_explicit_source_ami_and_instance_type() -> None:
    values = template_variables(
        **REQUIRED, source_ami="ami-0123", instance_type="t3.small", extra={"ssh_source_cidrs": '["203.0.113.7/32"]'}
    )
    assert values["source_ami"] == "ami-0123"
    assert values["instance_type"] == "t3.small"


@pytest.mark.parametrize("extra", [{}, {"ssh_source_cidrs": "[]"}, {"ssh_source_cidrs": '[ "0.0.0.0/0" ]'}])
def test_an_ssh_bake_open_to_the_internet_is_refused(extra: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as e:
        template_variables(**REQUIRED, extra=extra)
    assert e.value.where == "bake.variables.ssh_source_cidrs"
    assert "0.0.0.0/0" in str(e.value) and "session_manager" in e.value.hint


@pytest.mark.parametrize(
    "extra",
    [{"communicator": "none"}, {"ssh_interface": "session_manager"}, {"ssh_source_cidrs": '["203.0.113.7/32"]'}],
)
def test_an_ssh_bake_from_one_address_or_without_ssh_is_allowed(extra: dict[str, str]) -> None:
    assert template_variables(**REQUIRED, extra=extra)["environment"] == "web"


def test_extra_variables_may_not_replace_what_bluegreen_sets() -> None:
    with pytest.raises(ConfigError) as e:
        template_variables(**REQUIRED, extra={"source_hash": "forged", "ec2_endpoint": "x"})
    assert "ec2_endpoint, source_hash" in e.value.what
    assert "bake.variables" in e.value.hint


@pytest.mark.parametrize(
    ("target", "environ", "expected"),
    [
        (
            AwsTarget("us-east-1", "http://127.0.0.1:5000"),
            {"AWS_ENDPOINT_URL": "http://other"},
            "http://127.0.0.1:5000",
        ),
        (AwsTarget("us-east-1"), {"AWS_ENDPOINT_URL": "http://127.0.0.1:6000"}, "http://127.0.0.1:6000"),
        (
            AwsTarget("us-east-1"),
            {"AWS_ENDPOINT_URL": "http://generic", "AWS_ENDPOINT_URL_EC2": "http://ec2-only"},
            "http://ec2-only",
        ),
        (
            AwsTarget("us-east-1"),
            {"AWS_ENDPOINT_URL": "http://generic", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
            "",
        ),
        (AwsTarget("us-east-1"), {}, ""),
    ],
)
def test_ec2_endpoint_is_the_one_boto3_would_use(target: AwsTarget, environ: dict[str, str], expected: str) -> None:
    assert endpoint_url(target, environ, "ec2") == expected


def test_packer_environment_turns_off_the_checkpoint_call_and_keeps_the_rest() -> None:
    env = packer_environment({"AWS_ACCESS_KEY_ID": "k", "PATH": "/bin"})
    assert env == {"AWS_ACCESS_KEY_ID": "k", "PATH": "/bin", "CHECKPOINT_DISABLE": "1"}


# -- machine-readable lines ---------------------------------------------------------


def test_parse_line_splits_fields_and_unescapes_commas_and_newlines() -> None:
    line = r"1795502564,,ui,say,==> amazon-ebs.app: No volumes to clean up%!(PACKER_COMMA) skipping\nnext"
    assert parse_line(line) == MachineLine(
        "1795502564", "", "ui", ("say", "==> amazon-ebs.app: No volumes to clean up, skipping\nnext")
    )


def test_parse_line_is_none_for_plain_text() -> None:
    assert parse_line("panic: runtime error: invalid memory address") is None
    assert parse_line("") is None


def test_readable_gives_the_ui_text_of_every_line_of_a_bake() -> None:
    texts = [t for line in recorded_lines("build-ok.txt") for t in readable(line)]
    assert "==> amazon-ebs.app: Prevalidating any provided VPC information" in texts
    assert "==> amazon-ebs.app: No volumes to clean up, skipping" in texts
    assert "us-east-1: ami-bf7a4bbd7cf1bc831" in texts  # a multi-line message, one text per line
    assert not any("PACKER_COMMA" in t or "\\n" in t for t in texts)
    assert not any(t.startswith("1795") for t in texts)  # artifact lines are data, not progress


def test_readable_passes_plain_text_through() -> None:
    assert readable("panic: boom\n") == ["panic: boom"]
    assert readable("   \n") == []


def test_artifact_id_from_the_machine_readable_lines() -> None:
    assert artifact_id_from_lines(recorded_lines("build-ok.txt")) == "us-east-1:ami-bf7a4bbd7cf1bc831"
    assert artifact_id_from_lines(recorded_lines("build-missing-source-ami.txt")) is None


def test_artifact_id_from_the_manifest_agrees_with_the_lines() -> None:
    manifest = (RECORDED / "build-ok.manifest.json").read_text()
    assert artifact_id_from_manifest(manifest) == artifact_id_from_lines(recorded_lines("build-ok.txt"))


def test_artifact_id_from_a_manifest_is_the_last_runs() -> None:
    manifest = (RECORDED / "two-runs.manifest.json").read_text()
    assert artifact_id_from_manifest(manifest) == "us-east-1:ami-438bb3c6c0f1137c3"


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"builds": "x"}', '{"builds": [{"name": "app"}]}'])
def test_artifact_id_from_a_manifest_without_one_is_none(text: str) -> None:
    assert artifact_id_from_manifest(text) is None


@pytest.mark.parametrize(
    ("artifact_id", "region", "ami"),
    [
        ("us-east-1:ami-1", "us-east-1", "ami-1"),
        ("us-east-1:ami-1,eu-west-1:ami-2", "eu-west-1", "ami-2"),
        ("ami-3", "us-east-1", "ami-3"),
        ("us-east-1:ami-1", "eu-west-1", None),
    ],
)
def test_ami_from_artifact_id_picks_the_region(artifact_id: str, region: str, ami: str | None) -> None:
    assert ami_from_artifact_id(artifact_id, region) == ami


# -- Packer's own error text ----------------------------------------------------------


def test_error_text_of_a_missing_source_ami_is_packers_build_error() -> None:
    text = error_text(recorded_lines("build-missing-source-ami.txt"))
    assert text == (
        "amazon-ebs.app: Error querying AMI: InvalidAMIID.NotFound: "
        "The image id '[ami-12345678]' does not exist\n\tstatus code: 400, request id: request-id"
    )


def test_error_text_of_a_filter_matching_nothing_names_the_filter() -> None:
    text = error_text(recorded_lines("build-no-matching-source-ami.txt"))
    assert text.startswith("amazon-ebs.app: No AMI was found matching filters")
    assert 'Values: ["no-such-image-*"]' in text


def test_error_text_of_a_broken_template_is_the_hcl_diagnostic() -> None:
    text = error_text(recorded_lines("build-broken-template.txt"))
    assert text.startswith("Error: Unsupported argument")
    assert 'An argument named "instance_typo" is not expected here' in text
    assert "Builds finished" not in text


def test_error_text_falls_back_to_plain_output_then_to_the_last_lines() -> None:
    assert error_text(["1,,ui,say,starting", "panic: boom", "goroutine 1"]) == "panic: boom\ngoroutine 1"
    assert error_text(["1,,ui,say,one", "1,,ui,say,two"]) == "one\ntwo"


# -- which AMI to reuse ----------------------------------------------------------------


def test_choose_reusable_takes_the_newest_available_image_and_never_a_pending_one() -> None:
    images = json.loads((RECORDED / "describe-images-aws.json").read_text())["Images"]
    assert choose_reusable(images) == "ami-0fedcba9876543210"
    assert choose_reusable([i for i in images if i["State"] == "pending"]) is None
    assert choose_reusable([]) is None


def test_reuse_filters_match_hash_owner_tag_and_environment() -> None:
    assert reuse_filters("web", "abc") == [
        {"Name": "tag:SourceHash", "Values": ["abc"]},
        {"Name": "tag:ManagedBy", "Values": ["bluegreen"]},
        {"Name": "tag:Environment", "Values": ["web"]},
    ]
