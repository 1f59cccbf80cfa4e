"""The composition root: config -> store, platform adapters and engine.

The only module that knows which adapter serves which setting. Adapters are
imported lazily so `bluegreen status` does not pay for boto3 or the local
platform's imports when it does not need them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from bluegreen.config import Config, Environment
from bluegreen.engine import Engine
from bluegreen.model import Event, Record
from bluegreen.ports import Notifier, Platform, Store


def state_dir(config: Config) -> Path:
    return config.state.path


def make_store(config: Config) -> Store:
    if config.state.backend == "dynamodb":
        from bluegreen.adapters.aws.dynamodb_store import DynamoStore
        from bluegreen.adapters.aws.session import client

        store = DynamoStore(client(aws_target(config), "dynamodb"), config.state.table)
        store.ensure_table()
        return store
    from bluegreen.adapters.sqlite_store import SqliteStore

    if config.aws.endpoint_url == "sandbox":
        from bluegreen.adapters import sandbox

        return SqliteStore(sandbox.store_path(state_dir(config)))
    return SqliteStore(state_dir(config) / "bluegreen.db")


def aws_target(config: Config):  # type: ignore[no-untyped-def]
    """Where the AWS APIs are: AWS itself, or the sandbox's recorded endpoint."""
    from bluegreen.adapters.aws.session import AwsTarget

    endpoint = config.aws.endpoint_url
    if endpoint == "sandbox":
        from bluegreen.adapters import sandbox

        endpoint = sandbox.endpoint(config)
        # The sandbox takes any credentials; every client (boto3, packer,
        # terraform) reads them from the environment, as on AWS.
        os.environ.update(sandbox.CREDENTIALS)
    return AwsTarget(region=config.aws.region, endpoint_url=endpoint)


def make_platform(config: Config, env: Environment, progress: Callable[[str], None] = lambda s: None) -> Platform:
    if env.platform == "simulated":
        from bluegreen.adapters.simulated import file_platform

        return file_platform(state_dir(config) / "simulated" / f"{env.name}.json")
    if env.platform == "local":
        from bluegreen.adapters.local.platform import build_local_platform

        return build_local_platform(config, env)
    from bluegreen.adapters.aws.platform import build_aws_platform

    return build_aws_platform(config, env, aws_target(config), progress, sandbox_bake_variables(config))


def sandbox_bake_variables(config: Config) -> dict[str, str]:
    """In the sandbox a bake also records the release where the data plane runs it from (moto keeps no disks)."""
    if config.aws.endpoint_url != "sandbox":
        return {}
    from bluegreen.sandbox.dataplane import imagestore

    return {"image_store": str(imagestore.store_dir(state_dir(config)).resolve())}


def require_tools(env: Environment, *, baking: bool) -> None:
    """Refuse up front, changing nothing, when a tool this environment needs is missing."""
    import importlib.util
    import shutil

    from bluegreen.errors import MissingToolError

    sbin = os.pathsep.join(["/usr/sbin", "/usr/local/sbin", "/sbin"])
    needs = {"aws": ["terraform"] + (["packer"] if baking else []), "local": ["nginx"]}.get(env.platform, [])
    missing = [t for t in needs if not (shutil.which(t) or shutil.which(t, path=sbin))]
    if env.platform == "local" and importlib.util.find_spec("gunicorn") is None:
        missing.append("gunicorn (Python package)")
    if env.platform == "local":
        from bluegreen.adapters.local.nginx import find_js_module

        try:
            find_js_module()
        except MissingToolError:
            missing.append("nginx's JavaScript module (libnginx-mod-http-js)")
    if missing:
        raise MissingToolError(
            f"environment {env.name} (platform {env.platform}) needs {', '.join(missing)}, not installed here",
            where="PATH",
            hint="run `make setup` (it installs packer, nginx and its JavaScript module from Debian's packages, "
            "gunicorn in .venv)",
        )


def make_notifier(config: Config) -> Notifier | None:
    if not config.webhook:
        return None
    from bluegreen.adapters.webhook import WebhookNotifier

    return WebhookNotifier(config.webhook)


def build_engine(
    config: Config,
    *,
    on_event: Callable[[Record, Event], None],
    on_wait: Callable[[Record, float], None],
    on_progress: Callable[[str], None] = lambda s: None,
    poll_s: float | None = None,
) -> Engine:
    from bluegreen.adapters import host

    return Engine(
        config=config,
        store=make_store(config),
        platform_for=lambda env: make_platform(config, env, on_progress),
        clock=host.SystemClock(),
        actor=host.current_actor(),
        owner_gone=host.owner_gone,
        on_event=on_event,
        on_wait=on_wait,
        notifier=make_notifier(config),
        preflight=require_tools,
        poll_s=poll_s if poll_s is not None else (1.0 if config.state.backend == "dynamodb" else 0.25),
    )
