"""Fixtures for the single-host platform: every process a test starts is stopped when it ends, passing or not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.local.helpers import LocalEnv, PortDriver


@pytest.fixture
def local_env(tmp_path: Path) -> Iterator[LocalEnv]:
    env = LocalEnv(tmp_path / "env")
    try:
        yield env
    finally:
        env.stop()


@pytest.fixture
def driver(local_env: LocalEnv) -> PortDriver:
    return PortDriver(local_env.platform, local_env.env)
