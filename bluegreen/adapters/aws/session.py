"""One place that makes boto3 clients.

The same code runs against AWS and against the sandbox: only the endpoint
and the credentials differ. The composition root (bluegreen/factory.py) says
which in an `AwsTarget`; what it leaves empty comes from the environment as
botocore reads it (AWS_ENDPOINT_URL and the usual AWS_* variables). The tools
bluegreen runs (terraform, packer) get the same target as variables of their
own process (`AwsTarget.process_env`). Retries are botocore's
`adaptive` mode so throttling slows us down instead of failing a step.

One boto3 session per process and identity, and one client per service on
it: the credential chain (environment, profile, instance role, SSO) is
resolved once instead of per call, and botocore's adaptive retry mode keeps
its rate limiter per client, so every caller of one service shares what
throttling taught it. Clients are thread-safe (boto3's documentation), so
the cache is shared by the threads of a process too. What the environment
says about endpoints and credentials is part of the key: a changed variable
gets a client of its own.
"""

from __future__ import annotations

import os
import threading
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


_LOCK = threading.Lock()
_SESSIONS: dict[tuple[tuple[str, str], ...], boto3.session.Session] = {}
_CLIENTS: dict[tuple[Any, ...], Any] = {}
# The variables botocore reads when a session resolves credentials or a client its endpoint.
_ENV_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONFIG_FILE")


def session(target: AwsTarget) -> boto3.session.Session:
    """The process's boto3 session for the target's identity (its credentials, or the environment's chain)."""
    identity = target.credentials + tuple((k, os.environ.get(k, "")) for k in _ENV_KEYS)
    with _LOCK:
        found = _SESSIONS.get(identity)
        if found is None:
            creds = dict(target.credentials)
            found = boto3.session.Session(
                aws_access_key_id=creds.get("AWS_ACCESS_KEY_ID"),
                aws_secret_access_key=creds.get("AWS_SECRET_ACCESS_KEY"),
                aws_session_token=creds.get("AWS_SESSION_TOKEN"),
            )
            _SESSIONS[identity] = found
        return found


def client(target: AwsTarget, service: str) -> Any:
    """The process's client for `service` at `target` (made once, then shared)."""
    key = (target, service, endpoint_url(target, os.environ, service), id(session(target)))
    with _LOCK:
        found = _CLIENTS.get(key)
    if found is None:
        found = _new_client(target, service)
        with _LOCK:
            found = _CLIENTS.setdefault(key, found)
    return found


def _new_client(target: AwsTarget, service: str) -> Any:
    cfg = BotoConfig(
        region_name=target.region,
        retries=dict(RETRIES),  # botocore rewrites the dict it is given (max_attempts -> total_max_attempts)
        connect_timeout=target.connect_timeout_s,
        read_timeout=target.read_timeout_s,
    )
    kwargs: dict[str, Any] = {"config": cfg}
    if target.endpoint_url:
        kwargs["endpoint_url"] = target.endpoint_url
    return session(target).client(service, **kwargs)


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
