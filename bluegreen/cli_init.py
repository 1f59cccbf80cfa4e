"""`bluegreen init`: write the files a service's repository needs (bluegreen/init.py renders them)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from bluegreen import init as init_files
from bluegreen.cli_context import Context
from bluegreen.errors import UsageError


@click.command()
@click.option("--platform", type=click.Choice(init_files.PLATFORMS), default="aws", show_default=True)
@click.option("--environment", default=init_files.InitOptions.environment, show_default=True, help="Its name.")
@click.option("--health-path", default=init_files.InitOptions.health_path, show_default=True)
@click.option("--app", default=init_files.InitOptions.app, show_default=True, help="The app's directory.")
@click.option("--wsgi", default=init_files.InitOptions.wsgi, show_default=True, help="The WSGI callable.")
@click.option("--region", default=init_files.InitOptions.region, show_default=True, help="AWS region.")
@click.option("--sandbox", is_flag=True, help="AWS at the sandbox's endpoint (`bluegreen sandbox up`); no CI file.")
@click.option(
    "--packer",
    type=click.Choice(init_files.PACKER_CHOICES),
    default="write",
    show_default=True,
    help="Write bluegreen's Packer template into packer/, or use the one it ships.",
)
@click.option("--no-ci", is_flag=True, help="Do not write .circleci/config.yml.")
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
@click.pass_obj
def init(
    ctx: Context,
    platform: str,
    environment: str,
    health_path: str,
    app: str,
    wsgi: str,
    region: str,
    sandbox: bool,
    packer: str,
    no_ci: bool,
    force: bool,
) -> None:
    """Write bluegreen.yaml (--config), a Packer template and a CircleCI config for one service, here."""
    root = Path.cwd()
    config = Path(os.path.relpath(Path(ctx.config_path).absolute(), root))
    if config.parts[:1] == ("..",):
        raise UsageError(
            f"{ctx.config_path} is outside this directory", where="--config", hint="run init in the repository's root"
        )
    options = init_files.InitOptions(
        platform=platform,
        environment=environment,
        health_path=health_path,
        app=app,
        wsgi=wsgi,
        region=region,
        sandbox=sandbox,
        packer=packer,
        ci=not no_ci,
        config=config.as_posix(),
    )
    for path in init_files.write_files(root, init_files.render(options), force=force):
        click.echo(f"wrote {path.relative_to(root)}")
    app_dir = config.parent / app
    if not (root / app_dir).exists():
        click.echo(f"next: put the app in {app_dir}/ (or pass --app DIR)")
    first = "sandbox up" if sandbox else "validate"
    click.echo(f"next: bluegreen --config {options.config} {first}")


COMMANDS = (init,)
