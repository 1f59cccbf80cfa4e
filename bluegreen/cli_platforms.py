"""CLI commands that belong to one platform: the sandbox, baking, and the single host."""

from __future__ import annotations

import click

from bluegreen.cli import Context, cli, json_option
from bluegreen.output import Printer


def _progress(printer: Printer):  # type: ignore[no-untyped-def]
    return lambda text: printer.line(f"  {text}")


@cli.command()
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
    result = make_platform(ctx.config, env).baker.bake(environment, version, force=force_bake)
    if json_mode:
        printer.json({"ami": result.ami, "source_hash": result.source_hash, "reused": result.reused})
    else:
        verb = "reused" if result.reused else "baked"
        printer.line(f"{verb} {result.ami} for {version} (source hash {result.source_hash[:12]})")


@cli.command()
@click.argument("environment")
@click.pass_obj
def restart(ctx: Context, environment: str) -> None:
    """Rolling restart of the live release's workers, one at a time, each reporting ready (local platform)."""
    from bluegreen.adapters.local.platform import rolling_restart

    printer = Printer.choose(json_mode=False)
    rolling_restart(ctx.config, _local_env(ctx, environment), _progress(printer))
    printer.line(f"{environment}: every worker replaced")


@cli.command("proxy-upgrade")
@click.argument("environment")
@click.pass_obj
def proxy_upgrade(ctx: Context, environment: str) -> None:
    """Hot-upgrade the nginx binary under traffic: USR2, WINCH, QUIT (local platform)."""
    from bluegreen.adapters.local.platform import proxy_upgrade as upgrade

    printer = Printer.choose(json_mode=False)
    upgrade(ctx.config, _local_env(ctx, environment), _progress(printer))
    printer.line(f"{environment}: nginx upgraded in place")


@cli.command()
@click.argument("environment")
@click.pass_obj
def stop(ctx: Context, environment: str) -> None:
    """Stop the local platform's nginx and app processes of ENVIRONMENT."""
    from bluegreen.adapters.local.platform import stop_all

    stop_all(ctx.config, _local_env(ctx, environment))
    click.echo(f"{environment}: stopped")


def _local_env(ctx: Context, environment: str):  # type: ignore[no-untyped-def]
    from bluegreen.errors import UsageError

    env = ctx.config.environment(environment)
    if env.platform != "local":
        raise UsageError(
            f"environment {environment} is on platform {env.platform}; this command is for platform local",
            where=f"{ctx.config.path}: environments.{environment}.platform",
            hint="use it on a `platform: local` environment",
        )
    return env
