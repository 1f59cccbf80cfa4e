"""The README's commands are real: each `bluegreen ...` line parses with the real CLI."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest

from bluegreen.cli import cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def commands() -> list[list[str]]:
    found = []
    for block in re.findall(r"```sh\n(.*?)```", README, flags=re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0].endswith("bluegreen"):
                found.append(words[1:])
    return found


def resolve(args: list[str]) -> tuple[Any, list[str]]:
    if args[:1] == ["--config"]:
        args = args[2:]
    group: Any = cli
    while isinstance(group, click.Group):
        name, args = args[0], args[1:]
        group = group.commands.get(name)
        assert group is not None, f"no command {name}"
    return group, args


@pytest.mark.parametrize("args", commands(), ids=lambda a: " ".join(a[:3]))
def test_readme_command_parses(args: list[str]) -> None:
    command, rest = resolve(args)
    try:
        command.make_context(command.name, list(rest))
    except click.UsageError as e:
        pytest.fail(f"README: `bluegreen {' '.join(args)}` does not parse: {e}")


def test_readme_shows_every_command() -> None:
    shown = {resolve(a)[0].name for a in commands()}
    listed = {name for name, c in cli.commands.items() if not isinstance(c, click.Group)}
    assert listed <= shown, f"commands missing from the README: {sorted(listed - shown)}"
