"""One boto3 session per process and identity, one client per service: credentials resolved once, the adaptive
retry limiter shared by every caller of a service."""

from __future__ import annotations

import pytest

from bluegreen.adapters.aws.session import AwsTarget, client, session


def test_one_client_per_service_on_one_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSESSIONTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    target = AwsTarget(region="eu-west-1", endpoint_url="http://127.0.0.1:9")
    elbv2 = client(target, "elbv2")
    assert client(target, "elbv2") is elbv2
    assert client(AwsTarget(region="eu-west-1", endpoint_url="http://127.0.0.1:9"), "elbv2") is elbv2
    assert client(target, "autoscaling") is not elbv2
    assert session(target) is session(target)
    assert elbv2.meta.config.retries["mode"] == "adaptive"
    # Credentials are resolved once for the session, not per client.
    assert session(target).get_credentials() is session(target).get_credentials()
    assert elbv2._request_signer._credentials.access_key == "AKIDSESSIONTEST"


def test_another_identity_or_endpoint_gets_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFIRST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    target = AwsTarget(region="eu-west-1")
    first = client(target, "cloudwatch")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSECOND")
    second = client(target, "cloudwatch")
    assert second is not first and second._request_signer._credentials.access_key == "AKIDSECOND"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    third = client(target, "cloudwatch")
    assert third is not second and third.meta.endpoint_url == "http://127.0.0.1:9"
    given = AwsTarget(
        region="eu-west-1", credentials=(("AWS_ACCESS_KEY_ID", "AKIDGIVEN"), ("AWS_SECRET_ACCESS_KEY", "s"))
    )
    assert session(given) is not session(target)
    assert client(given, "cloudwatch")._request_signer._credentials.access_key == "AKIDGIVEN"
