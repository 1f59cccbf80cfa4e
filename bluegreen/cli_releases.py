"""The release commands: `release NAME`, and status/promote/abort/resume/plan when NAME is a release.

Registered on the `bluegreen` group from cli.py; the verbs shared with one
environment are wrapped in `or_release`, which hands them here when the name
is a release's.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import click

from bluegreen.cli_context import Context, F, engine_for, json_option
from bluegreen.output import Printer, clock_text
from bluegreen.release_record import ReleaseRecord, release_to_dict


def _printer(json_mode: bool) -> Printer:
    # Environments of a wave print from several threads: timestamped lines, no live spinner.
    return Printer("json" if json_mode else "plain")


def _releases(ctx: Context, printer: Printer):  # type: ignore[no-untyped-def]
    import time

    from bluegreen.release_runner import Releases

    def say(line: str) -> None:
        if printer.mode == "json":
            printer.json({"type": "release", "message": line})
        else:
            printer.line(f"{clock_text(time.time())}  {line}")

    return Releases(engine_for(ctx, printer), say=say)


def _finish(printer: Printer, rel: ReleaseRecord, verb: str, releases: Any) -> None:
    from bluegreen.release_reporting import exit_code, status_body, status_lines

    code = exit_code(rel, verb)
    st = status_body(rel, rel.name, releases.deployment)
    if printer.mode == "json":
        printer.json({"type": "result", "exit_code": code, **st})
    else:
        for line in status_lines(st):
            printer.line(line)
    sys.exit(code)


@click.command()
@click.argument("name")
@click.option("--version", "version", required=True, help="The release: a git sha or tag.")
@click.option("--no-wait", is_flag=True, help="Exit 0 when paused at a gate (between waves or an environment's).")
@click.option("--only", default=None, metavar="ENV", help="Run this environment only (one CI job per environment).")
@click.option(
    "--turn-timeout", default=3600.0, show_default=True, help="With --only: seconds to wait for the wave's turn."
)
@json_option
@click.pass_obj
def release(
    ctx: Context, name: str, version: str, no_wait: bool, only: str | None, turn_timeout: float, json_mode: bool
) -> None:
    """Deploy VERSION to the release NAME's environments, wave by wave, each wave's in parallel."""
    printer = _printer(json_mode)
    releases = _releases(ctx, printer)
    rel = releases.start(name, version, wait=not no_wait, only=only, turn_timeout_s=turn_timeout)
    _finish(printer, rel, "release", releases)


def is_release(ctx: Context, name: str) -> bool:
    return ctx.config.release(name) is not None


def or_release(command: F) -> F:
    """The command as is for an environment; for a release's name, the release's own verb of the same name.

    Goes below `click.pass_obj`: the command is called as (ctx, environment, **its options).
    """

    @functools.wraps(command)
    def routed(ctx: Context, environment: str, **options: Any) -> None:
        if is_release(ctx, environment):
            return _for_release(command.__name__, ctx, environment, options)
        return command(ctx, environment, **options)  # type: ignore[no-any-return]

    return routed  # type: ignore[return-value]


def _for_release(name: str, ctx: Context, release_name: str, options: dict[str, Any]) -> None:
    json_mode = options["json_mode"]
    if name == "status":
        return status(ctx, release_name, json_mode)
    if name == "plan":
        return plan(ctx, release_name, options["version"], json_mode)
    assert name in ("promote", "abort", "resume"), f"no release verb {name}"
    reason = {"reason": options["reason"]} if name == "abort" else {}
    return verb(ctx, release_name, name, json_mode, wait=not options["no_wait"], **reason)


def verb(ctx: Context, name: str, verb: str, json_mode: bool, **options: Any) -> None:
    """promote, abort or resume a release."""
    printer = _printer(json_mode)
    releases = _releases(ctx, printer)
    rel = getattr(releases, verb)(name, **options)
    _finish(printer, rel, verb, releases)


def status(ctx: Context, name: str, json_mode: bool) -> None:
    from bluegreen.release_reporting import status_body, status_lines

    printer = _printer(json_mode)
    releases = _releases(ctx, printer)
    st = status_body(releases.latest(name), name, releases.deployment)
    if json_mode:
        printer.json(st)
        return
    for line in status_lines(st):
        printer.line(line)


def plan(ctx: Context, name: str, version: str, json_mode: bool) -> None:
    from bluegreen.model import record_to_dict
    from bluegreen.release_reporting import plan_header
    from bluegreen.reporting import plan_lines

    printer = _printer(json_mode)
    engine = engine_for(ctx, printer)
    settings = ctx.config.releases[name]
    waves = [[(env, engine.plan(env, version)) for env in wave] for wave in settings.waves]
    if json_mode:
        printer.json(
            {
                "release": name,
                "version": version,
                "parallelism": settings.parallelism,
                "on_failure": settings.on_failure,
                "when_locked": settings.when_locked,
                "promotion": settings.promotion,
                "waves": [
                    [{"environment": env, "steps": record_to_dict(rec)["steps"]} for env, rec in wave] for wave in waves
                ],
            }
        )
        return
    for line in plan_header(name, version, settings.waves, settings):
        printer.line(line)
    for i, planned in enumerate(waves):
        printer.line(f"wave {i + 1}: {', '.join(env for env, _ in planned)}")
        for env, rec in planned:
            printer.line(f"  {env}:")
            for line in plan_lines(rec):
                printer.line(f"    {line}")


__all__ = ["is_release", "or_release", "plan", "release", "release_to_dict", "status", "verb"]


COMMANDS = (release,)
