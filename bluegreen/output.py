"""How the CLI shows progress: a live panel on a terminal, timestamped lines in CI, JSON lines for machines."""

from __future__ import annotations

import atexit
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from bluegreen.model import Event, Phase, Record
from bluegreen.timeline import QUIET

if TYPE_CHECKING:
    from bluegreen.live_view import ViewRow


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
    _last_message: str = ""  # the event line printed last: a wait on the same words is not printed again
    _console: Any = None
    _live: Any = None
    _rows: list[ViewRow] = field(default_factory=list)
    _seen: dict[str, int] = field(default_factory=dict)  # events already shown, per deployment

    @classmethod
    def choose(cls, *, json_mode: bool) -> Printer:
        if json_mode:
            return cls("json")
        return cls("rich" if sys.stdout.isatty() else "plain")

    def __post_init__(self) -> None:
        if self.mode == "rich":
            from rich.console import Console

            self._console = Console(file=self.out, highlight=False)
            # Whatever ends the process (an error, Ctrl-C), the panel stops and the cursor comes back.
            atexit.register(self.close)

    def event(self, rec: Record, ev: Event) -> None:
        if ev.kind in QUIET and self.mode != "json":
            return
        if self.mode == "json":
            self.json({"type": "event", "deployment_id": rec.id, "at": ev.at, "kind": ev.kind, "message": ev.message})
            return
        if self._console is not None:
            self._show_record(rec)
            return
        print(f"{clock_text(ev.at)}  {rec.environment}  {ev.message}", file=self.out, flush=True)
        self._last_message = ev.message

    def wait(self, rec: Record, until: float) -> None:
        """Progress during long waits: the panel on a terminal (it counts down), a line every 30 s elsewhere."""
        if self.mode == "rich":
            self._show_record(rec)
            return
        what = rec.note or _doing(rec)
        last_what, last_at = self._last_wait
        now = time.time()
        if what != last_what or now - last_at >= 30:
            self._last_wait = (what, now)
            if self.mode == "plain" and what == self._last_message and what != last_what:
                return  # the event line just said it
            if self.mode == "plain":
                print(f"{clock_text(now)}  {rec.environment}  waiting: {what}", file=self.out, flush=True)
            else:
                self.json({"type": "wait", "deployment_id": rec.id, "what": what})

    def progress(self, text: str) -> None:
        """A line from a tool the adapters drive (packer, terraform, nginx)."""
        if self.mode == "json":
            self.json({"type": "progress", "message": text})
        elif self._live is not None:
            self._console.print(f"{clock_text(time.time())}    {text}", markup=False)  # above the panel
        else:
            self.line(f"{clock_text(time.time())}    {text}")

    def show(self, rows: Sequence[ViewRow]) -> None:
        """`status --watch`: the panel on a terminal; elsewhere the events recorded since the last look."""
        if self._console is not None:
            self._rows = list(rows)
            if self._live is None:
                from rich.live import Live

                # Redraws itself a few times a second, so the hold's time left counts down between looks.
                self._live = Live(
                    get_renderable=self._panel, console=self._console, refresh_per_second=4, transient=False
                )
                self._live.start()
            else:
                self._live.refresh()
            return
        for row in rows:
            rec = row.record
            if rec is None:
                continue
            seen = self._seen.get(rec.id)
            self._seen[rec.id] = len(rec.events)
            for ev in rec.events[seen if seen is not None else len(rec.events) :]:
                self.event(rec, ev)

    def _show_record(self, rec: Record) -> None:
        from bluegreen.live_view import ViewRow

        self.show([ViewRow(rec.environment, rec)])

    def _panel(self) -> Any:
        from bluegreen.live_view import panel

        return panel(self._rows, time.time())

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None

    def line(self, text: str = "") -> None:
        self._stop_live()
        if self.mode != "json":
            print(text, file=self.out, flush=True)

    def json(self, obj: Any) -> None:
        print(json.dumps(obj, sort_keys=True, default=str), file=self.out, flush=True)

    def close(self) -> None:
        self._stop_live()
