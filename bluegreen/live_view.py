"""The live panel on a terminal (`status --watch`, a deploy on a TTY): one picture, redrawn in place.

Pure: (environment, record, weights read back) rows and the time in, a rich
renderable out; the printer owns the terminal. One row is a deployment in
detail (steps, traffic bar, health per colour, the last verdict); several
rows (a release) are one line per environment.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bluegreen.model import Colour, Record, Status, StepKind, Weights, fmt_seconds
from bluegreen.timeline import QUIET, Mark, StepSpan, last_health, last_verdict, outcome_text, step_spans

MARKS = {
    "done": ("✓", "green"),
    "current": ("▶", "bold yellow"),
    "pending": ("·", "dim"),
    "failed": ("✗", "bold red"),
    "skipped": ("-", "dim"),
}
STATUS_STYLE = {
    Status.SUCCEEDED: "bold green",
    Status.ROLLED_BACK: "bold red",
    Status.ROLLING_BACK: "bold red",
    Status.ROLLBACK_INCOMPLETE: "bold red",
    Status.BLOCKED: "bold red",
    Status.PAUSED: "bold yellow",
    Status.RUNNING: "bold cyan",
    Status.ABANDONED: "red",
}
HOLDS = (StepKind.SHIFT, StepKind.OBSERVE, StepKind.RETIRE)
RECENT = 4


@dataclass(frozen=True)
class ViewRow:
    environment: str
    record: Record | None
    read: Weights | None = None  # read from the load balancer just now; None: what the record last read back


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def panel(rows: Sequence[ViewRow], now: float) -> RenderableType:
    if len(rows) == 1:
        return _one(rows[0], now)
    return _many(rows, now)


def _one(row: ViewRow, now: float) -> RenderableType:
    rec = row.record
    if rec is None:
        return Panel(
            Text(f"no deployment yet: bluegreen deploy {row.environment} --version VERSION"), title=row.environment
        )
    parts: list[RenderableType] = [_steps(rec, now)]
    info = Table.grid(padding=(0, 2))
    info.add_column(style="dim", no_wrap=True)
    info.add_column()
    info.add_row("traffic", _traffic(rec, row.read))
    for colour in Colour:
        info.add_row(f"{colour.value}", _health(rec, colour, row.read))
    verdict = last_verdict(rec)
    info.add_row("verdict", _verdict(verdict) if verdict else Text("no alarm or verdict yet", style="dim"))
    if rec.failure:
        info.add_row("failure", Text(rec.failure, style="red"))
    if rec.note:
        info.add_row("note", Text(rec.note, style="yellow"))
    parts.append(info)
    recent = Table.grid(padding=(0, 2))
    recent.add_column(style="dim", no_wrap=True)
    recent.add_column(style="dim")
    for ev in [e for e in rec.events if e.kind not in QUIET][-RECENT:]:
        recent.add_row(_clock(ev.at), ev.message)
    parts.append(recent)
    title = (
        f"{row.environment} · {rec.release.version}"
        + (f" ({rec.release.ami})" if rec.release.ami else "")
        + f" · {rec.from_colour or 'nothing'} → {rec.to_colour}"
    )
    subtitle = Text(f"{outcome_text(rec)} · {rec.id}", style=STATUS_STYLE[rec.status])
    return Panel(Group(*parts), title=title, subtitle=subtitle, border_style=STATUS_STYLE[rec.status])


def _steps(rec: Record, now: float) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(justify="right", style="dim")
    table.add_column()
    table.add_column(style="dim")
    for span in step_spans(rec):
        glyph, style = MARKS[span.state]
        table.add_row(
            Text(glyph, style=style),
            f"{span.index + 1}.",
            Text(span.step.describe(), style="bold" if span.state == "current" else ""),
            _step_info(rec, span, now),
        )
    return table


def _step_info(rec: Record, span: StepSpan, now: float) -> str:
    if span.state in ("done", "failed") and span.start is not None and span.end is not None:
        return f"{span.end - span.start:.1f}s"
    if span.state != "current":
        return ""
    if rec.status is Status.PAUSED:
        return "waiting for `bluegreen promote`"
    if span.step.kind in HOLDS and rec.wait_until is not None:
        return f"{max(0.0, rec.wait_until - now):.0f}s left of {fmt_seconds(span.step.wait_s)}"
    return f"{now - span.start:.0f}s" if span.start is not None else ""


def bar(weights: Weights | None, width: int = 40) -> Text:
    """Each colour's share as a bar: blue from the left, green from the right; an unknown share stays empty."""
    if weights is None:
        return Text("?" * width, style="dim")
    blue = round(weights.blue * width / 100)
    green = min(round(weights.green * width / 100), width - blue)
    text = Text()
    text.append("█" * blue, style="blue")
    text.append("░" * (width - blue - green), style="dim")
    text.append("█" * green, style="green")
    return text


def _traffic(rec: Record, read: Weights | None) -> Text:
    weights = read if read is not None else rec.weights
    source = "read from the load balancer now" if read is not None else "as last read back"
    text = Text(f"blue {weights.blue:>3}% " if weights else "blue    ? ")
    text.append_text(bar(weights))
    text.append(f" {weights.green:>3}% green" if weights else "    ? green")
    text.append(f"  ({source})" if weights else "  (unknown since a traffic change failed)", style="dim")
    return text


def _health(rec: Record, colour: Colour, read: Weights | None) -> Text:
    weights = read if read is not None else rec.weights
    role = "new" if colour is rec.to_colour else "old" if colour is rec.from_colour else "unused"
    text = Text(f"{role:<6}", style="dim")
    if weights is not None:
        text.append(f"serves {weights.of(colour)}%" + ("  ·  " if last_health(rec, colour) else ""))
    h = last_health(rec, colour)
    if h is None:
        return text
    state = str(h.get("state", ""))
    text.append(state or "?", style={"healthy": "green", "failed": "red"}.get(state, "yellow"))
    if "in_service" in h:
        text.append(f", {h['in_service']}/{h['desired']} in service")
    targets = h.get("targets")
    if isinstance(targets, dict) and targets:
        text.append(", targets: " + ", ".join(f"{n} {s}" for s, n in sorted(targets.items())))
    text.append(f"  (polled {_clock(float(h['at']))})", style="dim")
    return text


def _verdict(mark: Mark) -> Text:
    if mark.ok is False:
        return Text(f"✗ {mark.text}", style="bold red")
    return Text(f"✓ {mark.text}", style="green" if mark.ok else "")


def _many(rows: Sequence[ViewRow], now: float) -> RenderableType:
    table = Table(box=None, padding=(0, 1), expand=False)
    for name in ("environment", "release", "status", "step", "traffic (blue | green)", "last verdict"):
        table.add_column(name, no_wrap=name != "last verdict", style="dim" if name == "release" else "")
    for row in rows:
        rec = row.record
        if rec is None:
            table.add_row(row.environment, "-", Text("no deployment", style="dim"), "", "", "")
            continue
        step = rec.step
        where = f"{rec.step_index + 1}/{len(rec.steps)} {step.kind.value}" if step else rec.phase.value
        weights = row.read if row.read is not None else rec.weights
        traffic = bar(weights, 20)
        if weights is not None:
            traffic.append(f" {weights.blue}|{weights.green}")
        verdict = last_verdict(rec)
        table.add_row(
            row.environment,
            rec.release.version,
            Text(rec.status.value, style=STATUS_STYLE[rec.status]),
            where,
            traffic,
            _verdict(verdict) if verdict else "",
        )
    return Panel(table, title=f"{len(rows)} environments", subtitle=_clock(now))
