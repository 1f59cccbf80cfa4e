"""How the CLI shows progress: rich on a terminal, timestamped lines in CI, JSON lines for machines."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from bluegreen.model import Event, Phase, Record

STYLES = {
    "rollback_started": "bold red",
    "rolled_back": "red",
    "rollback_incomplete": "bold red",
    "blocked": "bold red",
    "command_failed": "red",
    "traffic_mismatch": "yellow",
    "succeeded": "bold green",
    "traffic": "cyan",
    "gate": "bold yellow",
    "abort_requested": "bold yellow",
    "health": "dim",
}


# Recorded for the history, but the step lines already say it.
QUIET = frozenset({"command_finished"})


def clock_text(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def _doing(rec: Record) -> str:
    """What a deployment waits on; a rollback keeps the step it left, which it no longer does."""
    if rec.phase is Phase.ROLLBACK_TRAFFIC:
        return f"rolling back: all traffic to {rec.from_colour}"
    if rec.phase is Phase.DECOMMISSION:
        return f"rolling back: removing {rec.to_colour}"
    return rec.step.describe() if rec.step else rec.phase.value


@dataclass
class Printer:
    mode: str  # "rich", "plain" or "json"
    out: TextIO = field(default_factory=lambda: sys.stdout)
    _last_wait: tuple[str, float] = ("", 0.0)
    _console: Any = None
    _status: Any = None

    @classmethod
    def choose(cls, *, json_mode: bool) -> Printer:
        if json_mode:
            return cls("json")
        return cls("rich" if sys.stdout.isatty() else "plain")

    def __post_init__(self) -> None:
        if self.mode == "rich":
            from rich.console import Console

            self._console = Console(file=self.out, highlight=False)

    def event(self, rec: Record, ev: Event) -> None:
        if ev.kind in QUIET and self.mode != "json":
            return
        if self.mode == "json":
            self.json({"type": "event", "deployment_id": rec.id, "at": ev.at, "kind": ev.kind, "message": ev.message})
            return
        line = f"{clock_text(ev.at)}  {rec.environment}  {ev.message}"
        if self._console is not None:
            self._stop_status()
            self._console.print(line, style=STYLES.get(ev.kind, ""))
        else:
            print(line, file=self.out, flush=True)

    def wait(self, rec: Record, until: float) -> None:
        """Progress during long waits: a spinner on a terminal, a line every 30 s elsewhere."""
        left = max(0.0, until - time.time())
        what = rec.note or _doing(rec)
        if self.mode == "rich":
            text = f"{rec.environment}: {what} ({left:.0f}s)"
            if self._status is None:
                self._status = self._console.status(text)
                self._status.start()
            else:
                self._status.update(text)
            return
        last_what, last_at = self._last_wait
        now = time.time()
        if what != last_what or now - last_at >= 30:
            self._last_wait = (what, now)
            if self.mode == "plain":
                print(f"{clock_text(now)}  {rec.environment}  waiting: {what}", file=self.out, flush=True)
            else:
                self.json({"type": "wait", "deployment_id": rec.id, "what": what})

    def progress(self, text: str) -> None:
        """A line from a tool the adapters drive (packer, terraform, nginx)."""
        if self.mode == "json":
            self.json({"type": "progress", "message": text})
        else:
            self.line(f"{clock_text(time.time())}    {text}")

    def _stop_status(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def line(self, text: str = "") -> None:
        self._stop_status()
        if self.mode != "json":
            print(text, file=self.out, flush=True)

    def json(self, obj: Any) -> None:
        print(json.dumps(obj, sort_keys=True, default=str), file=self.out, flush=True)

    def close(self) -> None:
        self._stop_status()
