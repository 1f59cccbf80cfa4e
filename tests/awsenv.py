"""What tests against a moto server share: the region, and credentials moto accepts."""

from __future__ import annotations

import pytest

from bluegreen.sandbox.record import CREDENTIALS

REGION = "us-east-1"


def use_test_credentials(mp: pytest.MonkeyPatch) -> None:
    """Credentials moto accepts, and nothing in the environment that would override or redirect them."""
    for name, value in CREDENTIALS.items():
        mp.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        mp.delenv(name, raising=False)
