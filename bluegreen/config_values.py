"""Reading the values of bluegreen.yaml: strings, numbers, durations, lists, mappings, `${VAR}`.

Each reader notes a problem (key, line, what, fix) instead of stopping, so
`bluegreen validate` reports every mistake of a file in one run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bluegreen.errors import ConfigError
from bluegreen.settings import did_you_mean

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


class ValueReader:
    """Reads one value at a time, noting every problem with its key and line.

    A value with a problem is taken as its default, so the rest of the file is
    still checked; a check that depends on it is left out (`problems` grew).
    """

    def __init__(self, path: Path, lines: dict[str, int], env: Mapping[str, str]) -> None:
        self.path = path
        self.lines = lines
        self.env = env
        self.problems: list[ConfigError] = []

    # errors ------------------------------------------------------------------
    def fail(self, key: str, what: str, hint: str) -> None:
        # A key that is missing has no line: its section's line is the place to add it.
        near = key
        while near not in self.lines and (cut := max(near.rfind("."), near.rfind("["))) > 0:
            near = near[:cut]
        line = self.lines.get(near)
        where = f"{self.path}:{line}" if line else str(self.path)
        self.problems.append(ConfigError(f"{key}: {what}", where=f"{where} (key {key})", hint=hint))

    # primitives ------------------------------------------------------------------
    def interpolate(self, key: str, value: Any) -> Any:
        """`value` with ${VAR} replaced; None (and a problem noted) when a variable is not set."""
        if not isinstance(value, str):
            return value
        missing: list[str] = []

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in self.env:
                return self.env[name]
            if default is not None:
                return default
            missing.append(name)
            return ""

        text = _VAR.sub(sub, value)
        for name in missing:
            self.fail(
                key,
                f"environment variable {name} is not set",
                f"export {name}=... or write ${{{name}:-default}} for an explicit default",
            )
        return None if missing else text

    def mapping(self, key: str, value: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(key, f"must be a mapping, got {type(value).__name__}", "write it as `key: value` lines")
            return {}
        for k in value:
            if k not in allowed:
                self.fail(
                    f"{key}.{k}" if key else str(k),
                    "unknown key" + did_you_mean(str(k), allowed),
                    f"allowed keys here: {', '.join(allowed)}",
                )
        return {k: v for k, v in value.items() if k in allowed}

    def str_(self, key: str, value: Any, default: str, choices: tuple[str, ...] = ()) -> str:
        value = self.interpolate(key, value)
        if value is None:
            return default
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            self.fail(key, f"must be a string, got {type(value).__name__}", "write a plain string")
            return default
        text = str(value)
        if choices and text not in choices:
            self.fail(
                key,
                f"{text!r} is not one of {', '.join(choices)}" + did_you_mean(text, choices),
                f"use one of: {', '.join(choices)}",
            )
            return default
        return text

    def int_(self, key: str, value: Any, default: int, lo: int | None = None, hi: int | None = None) -> int:
        value = self.interpolate(key, value)
        if value is None:
            return default
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(key, f"must be a whole number, got {value!r}", "write a number such as 2")
            return default
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            rng = f"{lo if lo is not None else '-inf'}..{hi if hi is not None else 'inf'}"
            self.fail(key, f"{value} is out of range {rng}", f"use a value in {rng}")
            return default
        return value

    def seconds(self, key: str, value: Any, default: float) -> float:
        """A duration: a number of seconds, or a string like 30s, 5m, 1h, 250ms."""
        if value is None:
            return default
        value = self.interpolate(key, value)
        if value is None:
            return default
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        else:
            m = _DURATION.match(str(value)) if not isinstance(value, bool) else None
            if not m:
                self.fail(key, f"{value!r} is not a duration", "write seconds (30) or 30s, 5m, 1h, 250ms")
                return default
            n, unit = float(m.group(1)), m.group(2) or "s"
            seconds = n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
        if seconds < 0:
            self.fail(key, "must not be negative", "use 0 or more")
            return default
        return seconds

    def str_list(self, key: str, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail(key, "must be a list", "write it as `- item` lines")
            return ()
        return tuple(self.str_(f"{key}[{i}]", v, "") for i, v in enumerate(value))

    def names(self, key: str, value: Any) -> dict[str, str]:
        """A mapping of free names to strings (template variables, the app's environment)."""
        raw = self.mapping(key, value, tuple(str(x) for x in (value if isinstance(value, dict) else {})))
        return {str(n): self.str_(f"{key}.{n}", val, "") for n, val in raw.items()}
