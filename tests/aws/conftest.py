"""Fixtures for the AWS adapters: the moto server for a whole module, and fresh environments in it.

Building a load balancer, target groups and ASGs with boto3 against moto
takes well under a second, so tests that change an environment (stop an
instance, mark one Unhealthy, move traffic) build their own under a name of
their own instead of sharing one and depending on test order.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.session import AwsTarget
from tests.aws.lb_world import build_alb_environment, build_elb_environment


@pytest.fixture(scope="module")
def aws_target(moto_target: AwsTarget) -> AwsTarget:
    """The session's moto server for this module (tests/conftest.py), as these tests name it."""
    return moto_target


_names = itertools.count(1)


@pytest.fixture(scope="module")
def new_alb(aws_target: AwsTarget) -> Callable[..., AwsEnvironment]:
    """Build a fresh ALB environment (blue live, green idle) with a unique name."""

    def build(desired: int = 2, green: bool = True) -> AwsEnvironment:
        return build_alb_environment(aws_target, f"alb{next(_names)}", desired=desired, green=green)

    return build


@pytest.fixture(scope="module")
def new_elb(aws_target: AwsTarget) -> Callable[..., AwsEnvironment]:
    """Build a fresh classic ELB environment (blue attached, green not) with a unique name."""

    def build(desired: int = 2) -> AwsEnvironment:
        return build_elb_environment(aws_target, f"elb{next(_names)}", desired=desired)

    return build
