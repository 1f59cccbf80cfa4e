"""Where state lives and where providers come from, for real: S3 + DynamoDB in moto, and the provider mirror.

The sandbox network module is the stack here: it applies in a few seconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from pathlib import Path

import pytest

from bluegreen.adapters import terraform as tf
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.errors import ConfigError
from bluegreen.factory import terraform_settings
from bluegreen.sandbox.network import NETWORK, apply_network
from tests.terraform.world import aws, make_config

pytestmark = [
    pytest.mark.slow,
    # python-terraform logs a failed command with the deprecated Logger.warn.
    pytest.mark.filterwarnings("ignore:The 'warn' method is deprecated:DeprecationWarning"),
]

BUCKET, TABLE = "bluegreen-tfstate", "bluegreen-tflock"
KEY = "bluegreen/sandbox/network.tfstate"


def create_state_backend(target: AwsTarget) -> None:
    aws(target, "s3").create_bucket(Bucket=BUCKET)
    aws(target, "dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_local_state_moves_to_s3_when_a_bucket_is_configured(moto_target: AwsTarget, tmp_path: Path) -> None:
    create_state_backend(moto_target)
    local = make_config(tmp_path / "state", [], endpoint_url=moto_target.endpoint_url)
    network = apply_network(tf.TerraformRunner(terraform_settings(local)))
    workdir = terraform_settings(local).workdir(NETWORK)
    assert (workdir / "terraform.tfstate").stat().st_size > 0

    remote = make_config(
        tmp_path / "state",
        [],
        endpoint_url=moto_target.endpoint_url,
        terraform_state_bucket=BUCKET,
        terraform_lock_table=TABLE,
    )
    progress: list[str] = []
    runner = tf.TerraformRunner(terraform_settings(remote), progress.append)
    again = apply_network(runner)

    assert again == network  # the state moved: the same VPC, not a second one
    assert any("moving the state to s3" in line for line in progress)
    assert any("Resources: 0 added, 0 changed, 0 destroyed." in line for line in progress)
    keys = [o["Key"] for o in aws(moto_target, "s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert keys == [KEY]
    locks = aws(moto_target, "dynamodb").scan(TableName=TABLE)["Items"]
    assert {item["LockID"]["S"] for item in locks} == {f"{BUCKET}/{KEY}-md5"}
    assert runner.outputs(NETWORK) == {"vpc_id": network.vpc_id, "subnet_ids": list(network.subnet_ids)}


def test_s3_state_without_a_lock_table_locks_with_a_lock_file(moto_target: AwsTarget, tmp_path: Path) -> None:
    bucket = "bluegreen-tfstate-lockfile"
    s3 = aws(moto_target, "s3")
    s3.create_bucket(Bucket=bucket)
    # Versioning keeps the trace of the lock file Terraform wrote and deleted.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    config = make_config(tmp_path / "state", [], endpoint_url=moto_target.endpoint_url, terraform_state_bucket=bucket)
    # A fresh state in the same server: what another test's network made (its SSM parameter) is not ours.
    with contextlib.suppress(aws(moto_target, "ssm").exceptions.ParameterNotFound):
        aws(moto_target, "ssm").delete_parameter(Name="/bluegreen/sandbox/app-secret")
    runner = tf.TerraformRunner(terraform_settings(config))
    network = apply_network(runner)

    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])] == [KEY]
    versions = s3.list_object_versions(Bucket=bucket)
    lock_writes = [v for v in versions.get("Versions", []) if v["Key"] == f"{KEY}.tflock"]
    lock_deletes = [m for m in versions.get("DeleteMarkers", []) if m["Key"] == f"{KEY}.tflock"]
    assert lock_writes and len(lock_deletes) == len(lock_writes)  # every lock taken was released
    assert runner.outputs(NETWORK) == {"vpc_id": network.vpc_id, "subnet_ids": list(network.subnet_ids)}


def test_the_configured_mirror_is_where_terraform_looks_for_providers(moto_target: AwsTarget, tmp_path: Path) -> None:
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    config = make_config(tmp_path / "state", [], endpoint_url=moto_target.endpoint_url, provider_mirror=str(empty))
    with pytest.raises(tf.TerraformError) as caught:
        apply_network(tf.TerraformRunner(terraform_settings(config)))
    err = caught.value
    assert "terraform init of sandbox network (module infra/sandbox) failed" in str(err)
    assert "Failed to query available provider packages" in err.output_tail
    assert str(empty) in err.output_tail
    assert tf.MIRROR_ENV in err.hint and "aws.provider_mirror" in err.hint


def test_a_mirror_that_is_not_a_directory_is_a_config_error(tmp_path: Path) -> None:
    config = make_config(tmp_path / "state", [], provider_mirror=str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError) as caught:
        apply_network(tf.TerraformRunner(terraform_settings(config)))
    assert str(tmp_path / "nowhere") in caught.value.what


def test_an_unchanged_working_directory_is_initialised_once(moto_target: AwsTarget, tmp_path: Path) -> None:
    """`terraform init` runs when the directory needs it (first use, another mirror, its providers gone), not
    before every command: it verifies the provider's whole package each time."""
    real = shutil.which("terraform")
    assert real, "terraform is not installed"
    log = tmp_path / "commands.log"
    wrapper = tmp_path / "bin" / "terraform"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$1" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    with contextlib.suppress(aws(moto_target, "ssm").exceptions.ParameterNotFound):
        aws(moto_target, "ssm").delete_parameter(Name="/bluegreen/sandbox/app-secret")  # another test's network
    config = make_config(tmp_path / "state", [], endpoint_url=moto_target.endpoint_url)
    settings = dataclasses.replace(terraform_settings(config), binary=str(wrapper))
    runner = tf.TerraformRunner(settings)

    def inits() -> int:
        return log.read_text().split().count("init")

    network = apply_network(runner)
    assert apply_network(runner) == network
    assert runner.outputs(NETWORK) == {"vpc_id": network.vpc_id, "subnet_ids": list(network.subnet_ids)}
    assert inits() == 1 and log.read_text().split().count("apply") == 2

    shutil.rmtree(settings.workdir(NETWORK) / ".terraform" / "providers")  # e.g. the plugin cache cleaned
    assert apply_network(runner) == network
    assert inits() == 2

    other = tmp_path / "other-mirror"  # another path to the same packages
    other.symlink_to(settings.provider_mirror or "", target_is_directory=True)
    moved = tf.TerraformRunner(dataclasses.replace(settings, provider_mirror=str(other)))
    assert apply_network(moved) == network
    assert inits() == 3

    # The applies' outputs came from their own lines; the local state needs no `state list` before a destroy.
    assert moved.destroy(NETWORK) is True
    assert log.read_text().split().count("output") == 1  # runner.outputs() above
    assert "state" not in log.read_text().split()
    assert moved.outputs(NETWORK) is None
