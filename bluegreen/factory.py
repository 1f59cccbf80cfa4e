"""The composition root: config -> store, platform adapters and engine.

The only module that knows which adapter serves which setting, and the only
one besides the `sandbox` commands that knows the sandbox: it works out once
where AWS is (endpoint and credentials) and where Terraform keeps its state,
and passes them to the adapters, which never look for themselves. Adapters
are imported lazily so `bluegreen status` does not pay for boto3 or the local
platform's imports when it does not need them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bluegreen import resources
from bluegreen.config import Config, Environment
from bluegreen.engine import Engine
from bluegreen.model import Event, Record
from bluegreen.ports import Notifier, Platform, Store
from bluegreen.settings import MetricThresholds

if TYPE_CHECKING:
    from bluegreen.adapters.aws.environment import AwsEnvironment
    from bluegreen.adapters.aws.session import AwsTarget
    from bluegreen.adapters.aws.stacks import Network
    from bluegreen.adapters.packer import PackerBaker
    from bluegreen.adapters.terraform import TerraformRunner, TerraformSettings
    from bluegreen.sandbox.lifecycle import SandboxInfo

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def in_sandbox(config: Config) -> bool:
    return config.aws.endpoint_url == "sandbox"


def _seconds(variable: str, default: float) -> float:
    """A timeout given in the environment (seconds), else `default`."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        from bluegreen.errors import ConfigError

        raise ConfigError(
            f"{variable}={text!r} is not a number of seconds above 0",
            where=variable,
            hint=f"set {variable} to a number of seconds (e.g. 1800), or unset it for {default:g}",
        )
    return value


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

    if in_sandbox(config):
        from bluegreen.sandbox import record

        return SqliteStore(record.store_path(state_dir(config)))
    return SqliteStore(state_dir(config) / "bluegreen.db")


def aws_target(config: Config, *, sandbox: bool | None = None) -> AwsTarget:
    """Where the AWS APIs are: AWS itself (or the config's endpoint), or the running sandbox."""
    from bluegreen.adapters.aws.session import AwsTarget

    if in_sandbox(config) if sandbox is None else sandbox:
        from bluegreen.sandbox import record

        # The sandbox takes any credentials; every client (boto3, packer, terraform) is given these.
        credentials = tuple(record.CREDENTIALS.items())
        return AwsTarget(config.aws.region, record.endpoint_at(state_dir(config)), credentials=credentials)
    return AwsTarget(region=config.aws.region, endpoint_url=config.aws.endpoint_url)


def terraform_settings(
    config: Config, *, sandbox: bool | None = None, target: AwsTarget | None = None
) -> TerraformSettings:
    """Terraform for `config`; `sandbox=True` targets the sandbox whatever the config's endpoint.

    `target` (default: worked out from the config) says where AWS is.
    """
    from bluegreen.adapters.terraform.settings import (
        DEFAULT_TIMEOUT_S,
        MIRROR_ENV,
        TIMEOUT_ENV,
        TerraformSettings,
        remembered_mirror,
    )

    sandboxed = in_sandbox(config) if sandbox is None else sandbox
    target = target or aws_target(config, sandbox=sandboxed)
    # Given in the config or the environment, else the one given before (a plain shell knows none).
    mirror = config.aws.provider_mirror or os.environ.get(MIRROR_ENV, "") or remembered_mirror(state_dir(config))
    timeout_s = _seconds(TIMEOUT_ENV, DEFAULT_TIMEOUT_S)
    if sandboxed:
        from bluegreen.sandbox import record

        # The sandbox's state lives and dies with its server: always local, and apart from real AWS's.
        return TerraformSettings(
            state_dir=state_dir(config),
            region=target.region,
            stacks_root=record.terraform_dir(state_dir(config)),
            aws_env=target.process_env(),
            provider_mirror=mirror,
            timeout_s=timeout_s,
        )
    return TerraformSettings(
        state_dir=state_dir(config),
        region=target.region,
        aws_env=target.process_env(),
        state_bucket=config.aws.terraform_state_bucket,
        lock_table=config.aws.terraform_lock_table,
        path_style=bool(target.endpoint_url),
        provider_mirror=mirror,
        timeout_s=timeout_s,
    )


def terraform_runner(config: Config, progress: Progress = _quiet, *, sandbox: bool | None = None) -> TerraformRunner:
    from bluegreen.adapters.terraform import TerraformRunner

    return TerraformRunner(terraform_settings(config, sandbox=sandbox), progress)


def make_baker(config: Config, env: Environment, target: AwsTarget, progress: Progress = _quiet) -> PackerBaker:
    """The environment's `bake` settings: template (empty: bluegreen's own), artifact (empty: `local.app`), source_ami,
    source_paths, instance_type, variables. Paths are relative to the config file."""
    from bluegreen.adapters.packer import DEFAULT_TIMEOUT_S, TIMEOUT_ENV, PackerBaker

    bake = env.bake
    return PackerBaker(
        target,
        config.resolve(bake.template) if bake.template else resources.packer_template(state_dir(config)),
        config.resolve(bake.artifact or env.local.app),
        source_ami=bake.source_ami,
        instance_type=bake.instance_type,
        source_paths={f"source_paths/{p}": config.resolve(p) for p in bake.source_paths},
        variables=bake.variables,
        host_variables=sandbox_bake_variables(config),
        progress=progress,
        timeout_s=_seconds(TIMEOUT_ENV, DEFAULT_TIMEOUT_S),
    )


def make_platform(config: Config, env: Environment, progress: Progress = _quiet) -> Platform:
    if env.platform == "simulated":
        from bluegreen.adapters.simulated import file_platform

        return file_platform(state_dir(config) / "simulated" / f"{env.name}.json")
    if env.platform == "local":
        from bluegreen.adapters.local.platform import build_local_platform

        return build_local_platform(config, env)
    from bluegreen.adapters.aws.platform import build_aws_platform

    target = aws_target(config)
    return build_aws_platform(
        env,
        target,
        terraform_runner(config, progress),
        make_baker(config, env, target, progress),
    )


def aws_platform(
    config: Config, env: Environment, target: AwsTarget, outputs: AwsEnvironment, progress: Progress = _quiet
) -> Platform:
    """The AWS platform at `target` for an environment whose outputs are known."""
    from bluegreen.adapters.aws.platform import assemble

    runner = terraform_runner(config, progress)
    return assemble(env, target, outputs, runner=runner, baker=make_baker(config, env, target, progress))


# -- the environment's load balancer (`bluegreen env up/down`) -------------------------------------


def network(config: Config, runner: TerraformRunner) -> Network:
    """The network from the config (real AWS), else the one the sandbox made."""
    from bluegreen.adapters.aws.stacks import Network
    from bluegreen.errors import ConfigError

    if config.aws.vpc_id:
        return Network(vpc_id=config.aws.vpc_id, subnet_ids=config.aws.subnet_ids)
    if in_sandbox(config):
        from bluegreen.sandbox.network import network as sandbox_network

        return sandbox_network(runner)
    raise ConfigError(
        "no network for the load balancer: aws.vpc_id and aws.subnet_ids are not set",
        where=f"{config.path}: aws",
        hint="set aws.vpc_id and aws.subnet_ids (two subnets in two availability zones), "
        "or use the sandbox (aws.endpoint_url: sandbox)",
    )


def apply_environment(config: Config, env: Environment, progress: Progress = _quiet) -> AwsEnvironment:
    from bluegreen.adapters.aws.stacks import apply_environment as apply

    runner = terraform_runner(config, progress)
    return apply(runner, env, network(config, runner))


def environment_outputs(config: Config, env: Environment) -> AwsEnvironment | None:
    from bluegreen.adapters.aws.stacks import environment_outputs as outputs

    return outputs(terraform_runner(config), env)


def destroy_environment(config: Config, env: Environment, progress: Progress = _quiet) -> None:
    from bluegreen.adapters.aws.stacks import destroy_environment as destroy

    destroy(terraform_runner(config, progress), env)


# -- the sandbox (`bluegreen sandbox up/status/down`) --------------------------------------------


# How soon the sandbox's data plane follows an API change (AWS: seconds to tens of seconds); the
# tests lengthen it to show that the engine reads back before it moves on.
PROPAGATION_ENV = "BLUEGREEN_SANDBOX_PROPAGATION_S"


def sandbox_metric_timing(config: Config) -> tuple[int, float]:
    """The data plane publishes the load balancers' metrics as the config says they are published
    (`metrics.period` and `metrics.publication_lag`; AWS: 60 s periods about a minute late), the
    fastest of its AWS environments, so what the adapters wait for is what the sandbox does."""
    published = [e.metrics for e in config.environments.values() if e.platform == "aws"] or [MetricThresholds()]
    return int(min(m.period_s for m in published)), min(m.publication_lag_s for m in published)


def sandbox_dataplane_options(config: Config) -> list[str]:
    period, lag = sandbox_metric_timing(config)
    return [
        *("--propagation-s", f"{_seconds(PROPAGATION_ENV, 1.0):g}"),
        *("--metric-period-s", str(period), "--metric-lag-s", f"{lag:g}"),
    ]


def sandbox_up(config: Config, progress: Progress = _quiet) -> SandboxInfo:
    """Start (or reuse) the sandbox's server and data plane; create (or update) its network and every AWS
    environment. A failure of a sandbox this command started stops it, so nothing half-started is left."""
    from bluegreen.errors import BluegreenError
    from bluegreen.sandbox import lifecycle, plane, record

    fresh = record.running_server(state_dir(config)) is None
    server = lifecycle.start(state_dir(config), config.aws.region, sandbox_dataplane_options(config), progress)
    plane.publish_metrics_as(state_dir(config), *sandbox_metric_timing(config))  # a running data plane follows
    try:
        return lifecycle.provision(config, server, terraform_runner(config, progress, sandbox=True))
    except BluegreenError:
        if fresh:
            sandbox_down(config, progress)
        raise


def sandbox_status(config: Config) -> SandboxInfo | None:
    """The running sandbox and what it holds; None when it is not running."""
    from bluegreen.sandbox import lifecycle, plane, record

    server = record.running_server(state_dir(config))
    if server is None:
        return None
    runner = terraform_runner(config, sandbox=True) if plane.front_endpoint(state_dir(config)) else None
    return lifecycle.status(config, server, runner)


def sandbox_down(config: Config, progress: Progress = _quiet) -> None:
    """Stop what a killed run left, the sandbox's server, and forget its state; nothing running is fine."""
    from bluegreen.sandbox import lifecycle

    clean_leftover_tools(config, progress)
    lifecycle.down(state_dir(config), progress)


def clean_leftover_tools(config: Config, progress: Progress = _quiet) -> list[int]:
    """Stop terraform (and its providers) that a killed bluegreen left running in this state directory."""
    from bluegreen.adapters.toolproc import clean_leftovers

    return clean_leftovers(state_dir(config), progress)


def sandbox_bake_variables(config: Config) -> dict[str, str]:
    """In the sandbox a bake also records the release where the data plane runs it from (moto keeps no disks)."""
    if not in_sandbox(config):
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
