"""Fixtures for the fault tests: moto for the module, a fault proxy per test, and a world behind it.

Each test builds its own environment under a name of its own (a second with
boto3 on moto), so no test depends on another's leftovers.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bluegreen.adapters.aws.session import AwsTarget
from tests.aws.lb_world import REGION
from tests.faults.proxy import FaultProxy
from tests.faults.world import FaultWorld, build_world

# Short enough that a withheld answer costs a test seconds, long enough for any answer moto gives.
READ_TIMEOUT_S = 3.0


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    p = FaultProxy(moto_endpoint).start()
    try:
        yield p
    finally:
        p.stop()


_names = itertools.count(1)


@pytest.fixture
def new_world(tmp_path: Path, moto_target: AwsTarget, proxy: FaultProxy) -> Callable[..., FaultWorld]:
    """Build a fresh environment whose adapters talk to moto through `proxy`."""

    def build(**overrides: Any) -> FaultWorld:
        through_proxy = AwsTarget(region=REGION, endpoint_url=proxy.endpoint, read_timeout_s=READ_TIMEOUT_S)
        return build_world(tmp_path, f"fault{next(_names)}", moto_target, through_proxy, **overrides)

    return build
