"""One place that makes boto3 clients.

The same code runs against AWS and against the sandbox: only the endpoint
and the credentials differ. The composition root (bluegreen/factory.py) says
which in an `AwsTarget`; what it leaves empty comes from the environment as
botocore reads it (AWS_ENDPOINT_URL and the usual AWS_* variables). The tools
bluegreen runs (terraform, packer) get the same target as variables of their
own process (`AwsTarget.process_env`). Retries are botocore's
`adaptive` mode so throttling slows us down instead of failing a step.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from bluegreen.adapters.aws import denied
from bluegreen.errors import AdapterError

RETRIES = {"mode": "adaptive", "max_attempts": 8}


@dataclass(frozen=True)
class AwsTarget:
    region: str
    endpoint_url: str = ""  # empty: AWS's own endpoints (or AWS_ENDPOINT_URL)
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    # (AWS_ACCESS_KEY_ID, ...) pairs; empty: the usual chain (environment, profile, instance role).
    credentials: tuple[tuple[str, str], ...] = ()

    def process_env(self) -> dict[str, str | None]:
        """Variables that point a tool's process at this target (None: remove the variable)."""
        env: dict[str, str | None] = {}
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        if self.credentials:
            env.update(self.credentials)
            env["AWS_PROFILE"] = None  # a profile would win over the given credentials
            env["AWS_SESSION_TOKEN"] = None
        return env


def endpoint_url(target: AwsTarget, environ: Mapping[str, str], service: str) -> str:
    """The endpoint boto3 uses for `service` at `target`: its own, else the one botocore takes from the environment."""
    if target.endpoint_url:
        return target.endpoint_url
    if environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return ""
    return environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or environ.get("AWS_ENDPOINT_URL") or ""


def client(target: AwsTarget, service: str) -> Any:
    cfg = BotoConfig(
        region_name=target.region,
        retries=dict(RETRIES),  # botocore rewrites the dict it is given (max_attempts -> total_max_attempts)
        connect_timeout=target.connect_timeout_s,
        read_timeout=target.read_timeout_s,
    )
    kwargs: dict[str, Any] = {"config": cfg}
    if target.endpoint_url:
        kwargs["endpoint_url"] = target.endpoint_url
    creds = dict(target.credentials)
    session = boto3.session.Session(
        aws_access_key_id=creds.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=creds.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=creds.get("AWS_SESSION_TOKEN"),
    )
    return session.client(service, **kwargs)


def error_code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


API_HINT = "check the AWS credentials, region and endpoint, then run the command again"


@contextmanager
def api_errors(what: str, *, where: str, hint: str = "") -> Iterator[None]:
    """Turn botocore's errors into one AdapterError saying what failed, where and what next.

    Used once per AWS call site, at the adapter boundary; code that expects a
    particular error (a conditional write losing) catches ClientError inside.
    """
    try:
        yield
    except ClientError as e:
        detail = ": ".join(x for x in (error_code(e), str(e.response.get("Error", {}).get("Message", ""))) if x)
        refused = denied.explain(detail)
        if refused:
            raise AdapterError(f"{what}: {refused} ({detail})", where=where, hint=denied.POLICY_HINT) from e
        raise AdapterError(f"{what}: {detail or e}", where=where, hint=hint or API_HINT) from e
    except BotoCoreError as e:  # no credentials, endpoint unreachable, read timeout...
        raise AdapterError(f"{what}: {e}", where=where, hint=hint or API_HINT) from e
