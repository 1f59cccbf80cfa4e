"""Fixtures for the Terraform adapter: the real terraform binary and AWS provider against moto.

An ALB takes about a minute to create (two fixed waits inside the provider),
so a test module builds its environment once (module scope) and the tests
share it in the order they are written. The session's moto server is reset
once per module, never per test: resetting would delete that environment.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bluegreen.adapters import motoserver
from bluegreen.adapters.aws.session import AwsTarget
from tests.terraform.world import REGION, use_test_credentials


@pytest.fixture(scope="module")
def moto_target(moto_endpoint: str) -> Iterator[AwsTarget]:
    """The session's moto server, reset once for this module, with test credentials in the environment."""
    motoserver.reset(moto_endpoint)
    with pytest.MonkeyPatch.context() as mp:
        use_test_credentials(mp)
        yield AwsTarget(region=REGION, endpoint_url=moto_endpoint)
