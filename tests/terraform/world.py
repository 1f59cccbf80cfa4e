"""Helpers for the Terraform tests: configs in a temporary state directory, boto3 read-back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bluegreen.adapters import sandbox
from bluegreen.adapters.aws import session
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.config import AwsSettings, Config, Environment, StateSettings

REGION = "us-east-1"


def make_config(state_dir: Path, environments: list[Environment], **aws: Any) -> Config:
    return Config(
        path=state_dir.parent / "bluegreen.yaml",
        environments={e.name: e for e in environments},
        state=StateSettings(path=state_dir),
        aws=AwsSettings(region=REGION, **aws),
    )


def aws(target: AwsTarget, service: str) -> Any:
    return session.client(target, service)


def use_test_credentials(mp: pytest.MonkeyPatch) -> None:
    """Credentials moto accepts, and nothing in the environment that would override or redirect them."""
    for name, value in sandbox.CREDENTIALS.items():
        mp.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        mp.delenv(name, raising=False)
