"""CLI commands that belong to one platform: the sandbox, baking, and the single host."""

from __future__ import annotations

import json

import click

from bluegreen.cli_context import Context, json_option
from bluegreen.output import Printer


def _progress(printer: Printer):  # type: ignore[no-untyped-def]
    return lambda text: printer.line(f"  {text}")


@click.group()
def sandbox() -> None:
    """AWS on this machine: a moto server plus the sandbox network and environments."""


@sandbox.command("up")
@json_option
@click.pass_obj
def sandbox_up(ctx: Context, json_mode: bool) -> None:
    """Start the sandbox (idempotent) and create its network and environments."""
    from bluegreen.factory import sandbox_up

    printer = Printer.choose(json_mode=json_mode)
    info = sandbox_up(ctx.config, _progress(printer))
    if json_mode:
        printer.json(info.as_dict())
        return
    printer.line(f"sandbox up: {info.endpoint} (API server pid {info.pid}, data plane pid {info.dataplane.get('pid')})")
    for name, urls in info.load_balancers.items():
        printer.line(f"  {name}: production {urls['production_url']}  test {urls['test_url']}")
        printer.line(f"    curl {urls['production_url']}/version")


@sandbox.command("down")
@json_option
@click.pass_obj
def sandbox_down(ctx: Context, json_mode: bool) -> None:
    """Stop the sandbox's server and forget its state."""
    from bluegreen.factory import sandbox_down

    printer = Printer.choose(json_mode=json_mode)
    sandbox_down(ctx.config, _progress(printer))
    if json_mode:
        printer.json({"sandbox": "down"})
    else:
        printer.line("sandbox down")


@sandbox.command("status")
@json_option
@click.pass_obj
def sandbox_status(ctx: Context, json_mode: bool) -> None:
    """Is the sandbox running, and where."""
    from bluegreen.errors import OperatorNeededError
    from bluegreen.factory import sandbox_status

    info = sandbox_status(ctx.config)
    if json_mode:
        print(json.dumps(info.as_dict() if info else {"running": False}))
    elif info is None:
        print("sandbox: not running (start it: bluegreen sandbox up)")
    else:
        print(f"sandbox: running at {info.endpoint} (API server pid {info.pid})")
        for name, urls in info.load_balancers.items():
            print(f"  {name}: production {urls['production_url']}  test {urls['test_url']}")
        proxies = info.dataplane.get("proxies", {})
        apps = info.dataplane.get("instances", {})
        print(
            f"  data plane: {info.dataplane.get('state')} (pid {info.dataplane.get('pid')}), "
            f"{len(proxies)} proxies, {len(apps)} app processes"
        )
        for instance_id, app in apps.items():
            print(
                f"    {instance_id}: {app.get('state')} {app.get('version') or ''} {app.get('reason') or ''}".rstrip()
            )
    if info is not None and info.problems():
        problem = info.problems()[0]
        what, _, rest = problem.partition("\nwhere: ")
        where, _, hint = rest.partition("\nnext: ")
        raise OperatorNeededError(what, where=where, hint=hint)


@click.group("env")
def env_group() -> None:
    """The environment's load balancer, listeners and target groups (created once, not per deploy)."""


@env_group.command("up")
@click.argument("environment")
@json_option
@click.pass_obj
def env_up(ctx: Context, environment: str, json_mode: bool) -> None:
    """Create or update ENVIRONMENT's load balancer with Terraform (never moves traffic)."""
    from dataclasses import asdict

    from bluegreen.factory import apply_environment

    printer = Printer.choose(json_mode=json_mode)
    env = _aws_env(ctx, environment)
    outputs = apply_environment(ctx.config, env, _progress(printer))
    if json_mode:
        printer.json(asdict(outputs))
    else:
        printer.line(f"{environment}: load balancer {outputs.dns_name} ({outputs.load_balancer_type})")


@env_group.command("down")
@click.argument("environment")
@click.option("--force", is_flag=True, required=True, help="Required: this removes both colours and the load balancer.")
@click.pass_obj
def env_down(ctx: Context, environment: str, force: bool) -> None:
    """Destroy ENVIRONMENT: both colours, then the load balancer."""
    from bluegreen.factory import destroy_environment

    printer = Printer.choose(json_mode=False)
    env = _aws_env(ctx, environment)
    destroy_environment(ctx.config, env, _progress(printer))
    printer.line(f"{environment}: destroyed")


def _aws_env(ctx: Context, environment: str):  # type: ignore[no-untyped-def]
    return _env_on(ctx, environment, "aws")


@click.command()
@click.argument("environment")
@click.option("--version", "version", required=True)
@click.option("--force-bake", is_flag=True, help="Bake even if an image of the same source exists.")
@json_option
@click.pass_obj
def bake(ctx: Context, environment: str, version: str, force_bake: bool, json_mode: bool) -> None:
    """Bake (or reuse) the image for VERSION without deploying it."""
    from bluegreen.factory import make_platform

    printer = Printer.choose(json_mode=json_mode)
    env = ctx.config.environment(environment)
    result = make_platform(ctx.config, env, _progress(printer)).baker.bake(environment, version, force=force_bake)
    if json_mode:
        printer.json({"ami": result.ami, "source_hash": result.source_hash, "reused": result.reused})
    else:
        verb = "reused" if result.reused else "baked"
        printer.line(f"{verb} {result.ami} for {version} (source hash {result.source_hash[:12]})")


@click.command()
@click.argument("environment")
@click.pass_obj
def restart(ctx: Context, environment: str) -> None:
    """Rolling restart of the live release's workers, one at a time, each reporting ready (local platform)."""
    from bluegreen.adapters.local.platform import rolling_restart

    printer = Printer.choose(json_mode=False)
    rolling_restart(ctx.config, _local_env(ctx, environment), _progress(printer))
    printer.line(f"{environment}: every worker replaced")


@click.command("proxy-upgrade")
@click.argument("environment")
@click.pass_obj
def proxy_upgrade(ctx: Context, environment: str) -> None:
    """Hot-upgrade the nginx binary under traffic: USR2, WINCH, QUIT (local platform)."""
    from bluegreen.adapters.local.platform import proxy_upgrade as upgrade

    printer = Printer.choose(json_mode=False)
    upgrade(ctx.config, _local_env(ctx, environment), _progress(printer))
    printer.line(f"{environment}: nginx upgraded in place")


@click.command()
@click.argument("environment")
@click.pass_obj
def stop(ctx: Context, environment: str) -> None:
    """Stop the local platform's nginx and app processes of ENVIRONMENT."""
    from bluegreen.adapters.local.platform import stop_all

    stop_all(ctx.config, _local_env(ctx, environment))
    click.echo(f"{environment}: stopped")


def _local_env(ctx: Context, environment: str):  # type: ignore[no-untyped-def]
    return _env_on(ctx, environment, "local")


def _env_on(ctx: Context, environment: str, platform: str):  # type: ignore[no-untyped-def]
    from bluegreen.errors import UsageError

    env = ctx.config.environment(environment)
    if env.platform != platform:
        raise UsageError(
            f"environment {environment} is on platform {env.platform}; this command is for platform {platform}",
            where=f"{ctx.config.path}: environments.{environment}.platform",
            hint=f"use it on a `platform: {platform}` environment",
        )
    return env


# Registered on the `bluegreen` group by cli.py.
COMMANDS = (sandbox, env_group, bake, restart, proxy_upgrade, stop)
