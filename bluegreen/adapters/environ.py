"""The environment of a tool's process, built for it: bluegreen never changes its own os.environ."""

from __future__ import annotations

import os
from collections.abc import Mapping


def environ_with(changes: Mapping[str, str | None], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with `changes` set; a None value removes the variable."""
    env = dict(os.environ if base is None else base)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env
