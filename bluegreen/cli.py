"""The `bluegreen` command: parse, call the engine, print, map the outcome to an exit code.

Exit codes (README, "Exit codes"): 0 done, or paused at the gate when asked
not to wait; 1 the deployment failed and was rolled back; 2 bad input
(config, arguments, a missing tool); 3 the environment is locked by another
deployment; 4 operator needed (rollback incomplete, or blocked); 5 lost a
write race; 70 internal error.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from bluegreen import cli_init, cli_platforms, cli_releases
from bluegreen import config as config_mod
from bluegreen.cli_context import Context, F, engine_for, json_option
from bluegreen.errors import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_ROLLBACK_INCOMPLETE,
    EXIT_ROLLED_BACK,
    BluegreenError,
    ConfigErrors,
)
from bluegreen.model import Record, Status
from bluegreen.output import Printer, clock_text

if TYPE_CHECKING:
    from bluegreen.live_view import ViewRow


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    default="bluegreen.yaml",
    envvar="BLUEGREEN_CONFIG",
    show_default=True,
    help="The bluegreen.yaml to use.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log what the adapters do.")
@click.version_option(package_name="bluegreen")
@click.pass_context
def cli(ctx: click.Context, config_path: str, verbose: bool) -> None:
    """Blue/green and canary deployments with no dropped request, and rollback just as fast."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    # python-terraform logs every failing command; our error already carries Terraform's text.
    logging.getLogger("python_terraform").setLevel(logging.INFO if verbose else logging.CRITICAL)
    ctx.obj = Context(config_path, verbose)


_engine = engine_for


def _finish(printer: Printer, rec: Record, *, verb: str) -> None:
    """Print where the deployment ended and exit with the code the README promises."""
    from bluegreen.reporting import deployment_summary, next_action

    printer.close()
    code = exit_code_for(rec, verb)
    if printer.mode == "json":
        printer.json({"type": "result", "exit_code": code, "deployment": deployment_summary(rec)})
    else:
        printer.line(f"deployment {rec.id}: {rec.status.value} (phase {rec.phase.value})")
        if rec.failure:
            printer.line(f"  reason: {_headline(rec.failure, rec.environment)}")
        if rec.status not in (Status.SUCCEEDED,):
            printer.line(f"  next: {next_action(rec, rec.environment)}")
    sys.exit(code)


def _headline(failure: str, environment: str) -> str:
    """The first line of a failure: the events above said it whole (a tool's error runs to many lines)."""
    first, _, rest = failure.partition("\n")
    return f"{first.rstrip(':')} (in full above and in: bluegreen status {environment})" if rest.strip() else first


def exit_code_for(rec: Record, verb: str) -> int:
    if rec.status is Status.ROLLED_BACK:
        return EXIT_OK if verb == "abort" else EXIT_ROLLED_BACK
    if rec.status in (Status.ROLLBACK_INCOMPLETE, Status.BLOCKED, Status.ABANDONED):
        return EXIT_ROLLBACK_INCOMPLETE
    return EXIT_OK


# -- the deployment verbs ----------------------------------------------------------


def release_options(f: F) -> F:
    """What deploy and plan share: which release, which image, which strategy."""
    f = click.option(
        "--strategy", type=click.Choice(config_mod.STRATEGIES), default=None, help="Override the config's."
    )(f)
    f = click.option("--ami", default=None, help="Use this image instead of baking one.")(f)
    f = click.option("--version", "version", required=True, help="The release: a git sha or tag.")(f)
    return click.argument("environment")(f)


@cli.command()
@release_options
@click.option("--no-wait", is_flag=True, help="Exit 0 when paused at the promotion gate instead of waiting.")
@click.option("--force-bake", is_flag=True, help="Bake even if an image of the same source exists.")
@json_option
@click.pass_obj
def deploy(
    ctx: Context,
    environment: str,
    version: str,
    ami: str | None,
    strategy: str | None,
    no_wait: bool,
    force_bake: bool,
    json_mode: bool,
) -> None:
    """Deploy VERSION to ENVIRONMENT's idle colour and shift traffic to it."""
    printer = Printer.choose(json_mode=json_mode)
    rec = _engine(ctx, printer).deploy(
        environment, version, ami=ami, strategy=strategy, wait=not no_wait, force_bake=force_bake
    )
    _finish(printer, rec, verb="deploy")


@cli.command()
@release_options
@json_option
@click.pass_obj
@cli_releases.or_release
def plan(ctx: Context, environment: str, version: str, ami: str | None, strategy: str | None, json_mode: bool) -> None:
    """Show every step, wait, gate, image and what will be destroyed (for a release, of every wave). Changes nothing."""
    from bluegreen.model import record_to_dict
    from bluegreen.reporting import plan_lines

    printer = Printer.choose(json_mode=json_mode)
    rec = _engine(ctx, printer).plan(environment, version, ami=ami, strategy=strategy)
    if json_mode:
        d = record_to_dict(rec)
        printer.json({k: d[k] for k in ("environment", "platform", "release", "from_colour", "to_colour", "steps")})
    else:
        for line in plan_lines(rec):
            printer.line(line)


@cli.command()
@click.argument("environment")
@click.option("--no-wait", is_flag=True, help="Record the promotion and return; the deploying process continues.")
@json_option
@click.pass_obj
@cli_releases.or_release
def promote(ctx: Context, environment: str, no_wait: bool, json_mode: bool) -> None:
    """Let a deployment paused at the promotion gate continue (a release: its gate between waves)."""
    printer = Printer.choose(json_mode=json_mode)
    rec = _engine(ctx, printer).promote(environment, wait=not no_wait)
    _finish(printer, rec, verb="promote")


@cli.command()
@click.argument("environment")
@click.option("--reason", default="", help="Why, for the record.")
@click.option("--no-wait", is_flag=True, help="Record the abort and return; the deploying process rolls back.")
@json_option
@click.pass_obj
@cli_releases.or_release
def abort(ctx: Context, environment: str, reason: str, no_wait: bool, json_mode: bool) -> None:
    """Roll back: all traffic to the old colour (read back), then remove the new one (a release: every environment in flight)."""
    printer = Printer.choose(json_mode=json_mode)
    rec = _engine(ctx, printer).abort(environment, reason=reason, wait=not no_wait)
    _finish(printer, rec, verb="abort")


@cli.command()
@click.argument("environment")
@click.option("--no-wait", is_flag=True, help="Exit 0 when paused at the promotion gate.")
@json_option
@click.pass_obj
@cli_releases.or_release
def resume(ctx: Context, environment: str, no_wait: bool, json_mode: bool) -> None:
    """Continue a deployment (or a release) from its record (after its process died, or when blocked)."""
    from bluegreen.factory import clean_leftover_tools

    printer = Printer.choose(json_mode=json_mode)
    clean_leftover_tools(ctx.config, lambda text: printer.line(f"  {text}"))
    rec = _engine(ctx, printer).resume(environment, wait=not no_wait)
    _finish(printer, rec, verb="resume")


@cli.command()
@click.argument("environment")
@click.option("--live", is_flag=True, help="Read the weights from the load balancer instead of the record.")
@click.option(
    "--watch",
    is_flag=True,
    help="Follow the deployment until it ends: one panel redrawn in place on a terminal, event lines elsewhere.",
)
@click.option(
    "--interval",
    type=click.FloatRange(0.2, 60.0),
    default=1.0,
    show_default=True,
    help="With --watch: seconds between looks at the record and the load balancer.",
)
@json_option
@click.pass_obj
@cli_releases.or_release
def status(ctx: Context, environment: str, live: bool, watch: bool, interval: float, json_mode: bool) -> None:
    """Where ENVIRONMENT is: live colour, weights, release, deployment in progress (or a release's waves)."""
    printer = Printer.choose(json_mode=json_mode)
    from bluegreen.reporting import status_lines

    engine = _engine(ctx, printer)
    if not (watch and printer.mode == "rich"):
        st = engine.status(environment, read_traffic=live)
        if json_mode:
            printer.json(st)
        else:
            for line in status_lines(st):
                printer.line(line)
    if watch:
        from bluegreen.live_view import ViewRow

        _watch(printer, lambda: [ViewRow(environment, *engine.look(environment))], interval)


WATCHED = (Status.RUNNING, Status.ROLLING_BACK, Status.PAUSED)


def _watch(printer: Printer, look: Callable[[], list[ViewRow]], interval: float) -> None:
    """Look every `interval` seconds until no deployment is in progress; Ctrl-C ends it too (exit 0).

    `look` gives one row per environment (several for a release).
    """
    import time

    try:
        while True:
            rows = look()
            printer.show(rows)
            if not any(r.record is not None and r.record.status in WATCHED for r in rows):
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        printer.close()


@cli.command()
@click.argument("environment")
@click.option("--limit", default=20, show_default=True)
@click.option("--events", "show_events", is_flag=True, help="Show every recorded event.")
@json_option
@click.pass_obj
def history(ctx: Context, environment: str, limit: int, show_events: bool, json_mode: bool) -> None:
    """The deployments of ENVIRONMENT, newest first."""
    from bluegreen.model import record_to_dict
    from bluegreen.reporting import metric_lines

    printer = Printer.choose(json_mode=json_mode)
    records = _engine(ctx, printer).history(environment, limit)
    if json_mode:
        printer.json([record_to_dict(r) for r in records])
        return
    for r in records:
        colours = f"{r.from_colour or '-'} -> {r.to_colour}"
        printer.line(
            f"{clock_text(r.created_at)}  {r.id}  {r.status.value:<19} {r.release.version:<12} {colours}  "
            f"by {r.started_by.describe()}"
        )
        if r.failure:
            printer.line(f"          reason: {r.failure}")
        if show_events:
            for ev in r.events:
                printer.line(f"          {clock_text(ev.at)}  {ev.kind:<18} {ev.message}")
                for line in metric_lines(list(ev.data.get("metrics", []))) if ev.kind == "analysis" else []:
                    printer.line(f"          {'':<38}{line}")


@cli.command()
@click.argument("environment")
@click.argument("deployment_id", required=False)
@click.option("--html", "html_path", required=True, metavar="FILE", help="Write the report here (one HTML file).")
@click.pass_obj
def report(ctx: Context, environment: str, deployment_id: str | None, html_path: str) -> None:
    """A picture of a deployment (the latest, or DEPLOYMENT_ID): one self-contained HTML file."""
    import time
    from pathlib import Path

    from bluegreen.errors import UsageError
    from bluegreen.report_html import render

    printer = Printer.choose(json_mode=False)
    rec = _engine(ctx, printer).deployment(environment, deployment_id)
    path = Path(html_path)
    try:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(render([(environment, rec)], now=time.time()), encoding="utf-8")
        tmp.replace(path)
    except OSError as e:
        raise UsageError(
            f"cannot write the report: {e.strerror}", where=html_path, hint="name a file in a writable directory"
        ) from e
    printer.line(f"wrote {path}: deployment {rec.id} of {rec.release.version}, {rec.status.value}")


@cli.command()
@click.argument("environment")
@click.option("--force", is_flag=True, required=True, help="Required: breaking a lock is deliberate.")
@click.option("--reason", required=True, help="Why, recorded in the deployment's history.")
@json_option
@click.pass_obj
def unlock(ctx: Context, environment: str, force: bool, reason: str, json_mode: bool) -> None:
    """Break ENVIRONMENT's lock (the deployment holding it is marked abandoned)."""
    printer = Printer.choose(json_mode=json_mode)
    engine = _engine(ctx, printer)
    ctx.config.environment(environment)
    info = engine.unlock(environment, reason=reason)
    if json_mode:
        printer.json({"environment": environment, "broken": info.deployment_id if info else None, "reason": reason})
    elif info is None:
        printer.line(f"{environment} was not locked")
    else:
        printer.line(f"broke the lock of deployment {info.deployment_id} (held by {info.owner or 'no process'})")
        printer.line(f"next: check the traffic by hand: bluegreen status {environment} --live")


@cli.command()
@json_option
@click.pass_obj
def validate(ctx: Context, json_mode: bool) -> None:
    """Check the config file (and that the tools its platforms need are installed)."""
    from bluegreen import planner
    from bluegreen.factory import require_tools

    cfg = ctx.config
    for env in cfg.environments.values():
        planner.plan(env, first_deploy=False, bake=True)
        require_tools(env, baking=True)
    from bluegreen.config_aws import warnings

    names = sorted(cfg.environments)
    notes = warnings(cfg)
    if json_mode:
        print(json.dumps({"valid": True, "config": str(cfg.path), "environments": names, "warnings": notes}))
    else:
        for note in notes:
            click.secho(f"warning: {note}", fg="yellow", err=True)
        print(f"{cfg.path}: valid ({len(names)} environment{'s' * (len(names) != 1)}: {', '.join(names)})")


# -- entry point ----------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="bluegreen", standalone_mode=False)
    except BluegreenError as e:
        _report(e)
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_BAD_INPUT)
    except click.exceptions.Abort:
        # Nothing is lost: every step is in the record, and the lease lapses with this process.
        click.echo(
            "interrupted. A deployment in progress is recorded where it stopped: continue it with "
            "`bluegreen resume ENV`, or roll it back with `bluegreen abort ENV`.",
            err=True,
        )
        sys.exit(130)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)


def _report(e: BluegreenError) -> None:
    if "--json" in sys.argv:
        print(json.dumps({"type": "error", **e.as_dict()}))
    for problem in e.problems if isinstance(e, ConfigErrors) else [e]:
        _report_one(problem)


def _report_one(e: BluegreenError) -> None:
    click.secho(f"error: {e.what}", fg="red", err=True)
    if e.where:
        click.echo(f"  where: {e.where}", err=True)
    if e.hint:
        click.echo(f"  next:  {e.hint}", err=True)


# Commands of the platforms, releases and `init`, defined in their own modules.
for _command in (*cli_platforms.COMMANDS, *cli_releases.COMMANDS, *cli_init.COMMANDS):
    cli.add_command(_command)


def _config_after_command(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.find_object(Context).config_path = value  # type: ignore[union-attr]


def accept_config_everywhere(group: click.Group) -> None:
    """`--config FILE` after any command too (`bluegreen status web --config x.yaml`), as the README says."""
    for command in group.commands.values():
        command.params.append(
            click.Option(
                ["--config"],
                metavar="FILE",
                expose_value=False,
                callback=_config_after_command,
                help="The bluegreen.yaml to use (as before the command).",
            )
        )
        if isinstance(command, click.Group):
            accept_config_everywhere(command)


accept_config_everywhere(cli)

if __name__ == "__main__":
    main()
