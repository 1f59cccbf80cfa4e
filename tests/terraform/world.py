"""Helpers for the Terraform tests: configs in a temporary state directory, boto3 read-back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bluegreen.adapters.aws import session
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.config import AwsSettings, Config, Environment, StateSettings
from tests.awsenv import REGION, use_test_credentials

__all__ = ["REGION", "aws", "make_config", "use_test_credentials"]


def make_config(state_dir: Path, environments: list[Environment], **aws: Any) -> Config:
    return Config(
        path=state_dir.parent / "bluegreen.yaml",
        environments={e.name: e for e in environments},
        state=StateSettings(path=state_dir),
        aws=AwsSettings(region=REGION, **aws),
    )


def aws(target: AwsTarget, service: str) -> Any:
    return session.client(target, service)
