"""Shared fixtures. Adapters are tested against real tools: here, a real moto server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.sandbox import server as motoserver
from tests.awsenv import REGION, use_test_credentials

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server process on a free loopback port, for the whole session."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    server = motoserver.start(log)
    try:
        yield server.endpoint
    finally:
        motoserver.stop(server.pid)


@pytest.fixture(scope="module")
def moto_target(moto_endpoint: str) -> Iterator[AwsTarget]:
    """The session's moto server, reset once for this module, with test credentials in the environment.

    Once per module, never per test: modules that build an expensive
    environment (an ALB through Terraform takes a minute) share it.
    """
    motoserver.reset(moto_endpoint)
    with pytest.MonkeyPatch.context() as mp:
        use_test_credentials(mp)
        yield AwsTarget(region=REGION, endpoint_url=moto_endpoint)


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point every AWS client (boto3, terraform, packer) at a freshly reset moto server."""
    motoserver.reset(moto_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield moto_endpoint


def tf_provider_mirror() -> str | None:
    """Where the tests find a provider mirror: the variable the README documents."""
    return os.environ.get("BLUEGREEN_TF_PROVIDER_MIRROR") or None
