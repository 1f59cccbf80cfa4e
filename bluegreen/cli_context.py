"""What every `bluegreen` command shares: the loaded config and the --json option."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from bluegreen import config as config_mod

if TYPE_CHECKING:
    from bluegreen.output import Printer

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    def __init__(self, config_path: str, verbose: bool) -> None:
        self.config_path = config_path
        self.verbose = verbose
        self._config: config_mod.Config | None = None

    @property
    def config(self) -> config_mod.Config:
        if self._config is None:
            self._config = config_mod.load(self.config_path)
        return self._config


def json_option(f: F) -> F:
    return click.option("--json", "json_mode", is_flag=True, help="Machine-readable output (JSON).")(f)


def engine_for(ctx: Context, printer: Printer):  # type: ignore[no-untyped-def]
    """The engine for the config, printing through `printer` (built lazily: `status` need not import boto3)."""
    from bluegreen.factory import build_engine

    return build_engine(ctx.config, on_event=printer.event, on_wait=printer.wait, on_progress=printer.progress)
