"""Fixtures for the data plane: a sandbox world in the module's moto server, and the instances it runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.sandbox.dataplane.instances import Instances
from tests.sandbox.world import World, make_world


@pytest.fixture(scope="module")
def world(moto_target: AwsTarget) -> World:
    return make_world(moto_target)


@pytest.fixture
def instances(world: World, tmp_path: Path) -> Iterator[Instances]:
    """The instance half of the data plane, state in this test's own directory; closed after the test."""
    made = Instances(
        state_dir=tmp_path,
        autoscaling=world.client("autoscaling"),
        ec2=world.client("ec2"),
        ssm=world.client("ssm"),
        secretsmanager=world.client("secretsmanager"),
    )
    yield made
    made.close()
