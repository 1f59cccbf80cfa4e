"""One place that makes boto3 clients.

The same code runs against AWS and against the sandbox: only the endpoint
and the credentials differ, and those come from config or the environment
(AWS_ENDPOINT_URL and the usual AWS_* variables). Retries are botocore's
`adaptive` mode so throttling slows us down instead of failing a step.
"""

from __future__ import annotations

from collections.abc import Iterator
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
    return boto3.session.Session().client(service, **kwargs)


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
