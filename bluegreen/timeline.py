"""A deployment as a story in time, read from its record: step spans, the weights, the marks.

Pure: the HTML report and the live terminal view both draw from this, so they
tell the same story. Everything comes from the recorded events; records
written before events carried structured data fall back to the messages.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bluegreen.model import Colour, Event, Record, Status, Step, StepKind, Weights


@dataclass(frozen=True)
class StepSpan:
    index: int  # 0-based, as in the record
    step: Step
    start: float | None  # None: never started
    end: float | None  # None: not finished (current, interrupted or pending)
    state: str  # done | current | pending | failed | skipped


@dataclass(frozen=True)
class Mark:
    """Something that happened at one moment: a health poll, a smoke check, an alarm, an abort..."""

    at: float
    kind: str  # health | smoke | alarm | analysis | abort | rollback | gate | promote | failure | mismatch | outcome
    ok: bool | None  # True good news, False bad news, None neither
    text: str


# Which mark each event kind is, when the kind alone says it.
MARK_KINDS = {
    "abort_requested": ("abort", False),
    "rollback_started": ("rollback", False),
    "rollback": ("rollback", None),
    "rolled_back": ("rollback", False),
    "rollback_incomplete": ("failure", False),
    "blocked": ("failure", False),
    "command_failed": ("failure", False),
    "traffic_mismatch": ("mismatch", False),
    "gate": ("gate", None),
    "promote_requested": ("promote", True),
    "succeeded": ("outcome", True),
    "unlocked": ("failure", False),
    "analysis": ("analysis", None),
    "alarm": ("alarm", False),
}

# Recorded for the history, but the step lines already say it.
QUIET = frozenset({"command_finished"})

_WEIGHTS_TEXT = re.compile(r"blue (\d+)% / green (\d+)%")


def step_spans(rec: Record) -> list[StepSpan]:
    """Each planned step with when it ran and how it ended."""
    starts: dict[int, float] = {}
    ends: dict[int, float] = {}
    for ev in rec.events:
        if ev.step is None:
            continue
        if ev.kind == "step_started":
            starts.setdefault(ev.step, ev.at)
        elif ev.kind == "step_finished":
            ends[ev.step] = ev.at
    rollback_at = next((e.at for e in rec.events if e.kind == "rollback_started"), None)
    spans = []
    for i, step in enumerate(rec.steps):
        start, end = starts.get(i), ends.get(i)
        if end is not None:
            state = "done"
        elif start is None:
            state = "skipped" if rec.status.terminal or rec.in_rollback else "pending"
        elif rollback_at is not None and rollback_at >= start:
            state, end = "failed", rollback_at
        elif i == rec.step_index and not rec.status.terminal:
            state = "current"
        else:
            state = "failed"
        spans.append(StepSpan(i, step, start, end, state))
    return spans


def phase_spans(rec: Record) -> list[tuple[str, float, float | None]]:
    """The phases in time: runs of steps of one kind, then the rollback's two phases."""
    out: list[tuple[str, float, float | None]] = []
    for span in step_spans(rec):
        if span.start is None:
            continue
        name = span.step.kind.value
        if out and out[-1][0] == name:
            out[-1] = (name, out[-1][1], span.end)
        else:
            out.append((name, span.start, span.end))
    rb = rollback_span(rec)
    if rb is not None:
        back = next((e.at for e in rec.events if e.kind == "rollback" and e.at >= rb[0]), None)
        if rec.from_colour is not None:
            out.append(("rollback_traffic", rb[0], back if back is not None else rb[1]))
        if back is not None or rec.from_colour is None:
            out.append(("decommission", back if back is not None else rb[0], rb[1]))
    return out


def rollback_span(rec: Record) -> tuple[float, float | None] | None:
    """From the rollback's start to its end (None while it runs)."""
    start = next((e.at for e in rec.events if e.kind == "rollback_started"), None)
    if start is None:
        return None
    end = next((e.at for e in rec.events if e.kind in ("rolled_back", "rollback_incomplete") and e.at >= start), None)
    return start, end


def event_weights(ev: Event) -> Weights | None:
    """The weights an event says the load balancer reported, if it says any."""
    if ev.kind not in ("traffic", "traffic_mismatch"):
        return None
    data = ev.data.get("weights")
    if isinstance(data, dict):
        return Weights.from_json(data)
    m = _WEIGHTS_TEXT.search(ev.message)
    return Weights(blue=int(m.group(1)), green=int(m.group(2))) if m else None


def weight_series(rec: Record) -> list[tuple[float, Weights]]:
    """The weights over time as read back: a step function starting at the deployment's start."""
    first = Weights.all_on(rec.from_colour) if rec.from_colour is not None else Weights()
    series = [(rec.created_at, first)]
    for ev in rec.events:
        w = event_weights(ev)
        if w is not None and w != series[-1][1]:
            series.append((ev.at, w))
    return series


def marks(rec: Record) -> list[Mark]:
    """Health polls, smoke checks, alarms, verdicts, abort, rollback and the outcome, in time order."""
    out: list[Mark] = []
    for ev in rec.events:
        mark = _mark(rec, ev)
        if mark is not None:
            out.append(mark)
    return out


def _mark(rec: Record, ev: Event) -> Mark | None:
    step = rec.steps[ev.step] if ev.step is not None and 0 <= ev.step < len(rec.steps) else None
    if ev.kind == "health":
        state = ev.data.get("state")
        ok = True if state == "healthy" else False if state == "failed" else None
        return Mark(ev.at, "health", ok, ev.message)
    if ev.kind == "step_finished" and step is not None and step.kind is StepKind.SMOKE:
        return Mark(ev.at, "smoke", True, ev.message)
    if ev.kind == "step_finished" and step is not None and step.kind in (StepKind.SHIFT, StepKind.OBSERVE):
        if step.wait_s:
            return Mark(ev.at, "alarm", True, ev.message)  # held with no alarm
        return None
    if ev.kind == "rollback_started":
        if ev.data.get("alarm") or " is in ALARM" in ev.message:
            return Mark(ev.at, "alarm", False, ev.message)
        if ev.data.get("cause") == "smoke" or "smoke checks failed" in ev.message:
            return Mark(ev.at, "smoke", False, ev.message)
    if ev.kind == "rolled_back" and rec.status is Status.ROLLED_BACK:
        return Mark(ev.at, "outcome", False, ev.message)
    if ev.kind in MARK_KINDS:
        kind, ok = MARK_KINDS[ev.kind]
        verdict = ev.data.get("verdict")
        if kind == "analysis" and isinstance(verdict, str):
            ok = verdict.lower() in ("pass", "passed", "successful", "ok")
        return Mark(ev.at, kind, ok, ev.message)
    return None


def last_verdict(rec: Record) -> Mark | None:
    """The last word on the new colour's behaviour: an alarm, an analysis verdict, or a hold passed."""
    return next((m for m in reversed(marks(rec)) if m.kind in ("alarm", "analysis")), None)


def last_health(rec: Record, colour: Colour) -> dict[str, Any] | None:
    """The last recorded health poll of `colour`: state, in service, desired and targets per state."""
    for ev in reversed(rec.events):
        if ev.kind != "health":
            continue
        if ev.data.get("colour", rec.to_colour.value) == colour.value:
            return {"message": ev.message, "at": ev.at, **dict(ev.data)}
    return None


def time_range(records: Sequence[Record], now: float | None = None) -> tuple[float, float]:
    """One axis for several records: from the first start to the last thing that happened (or now, if running)."""
    start = min(r.created_at for r in records)
    end = max(max((e.at for e in r.events), default=r.created_at) for r in records)
    if now is not None and any(not r.status.terminal for r in records):
        end = max(end, now)
    return start, max(end, start + 1.0)


def outcome_text(rec: Record) -> str:
    """The deployment's outcome in a few words."""
    return {
        Status.SUCCEEDED: f"succeeded: {rec.release.version} serves all traffic on {rec.to_colour}",
        Status.ROLLED_BACK: f"rolled back: {rec.from_colour or 'nothing'} serves",
        Status.ROLLBACK_INCOMPLETE: "rollback incomplete: operator needed",
        Status.BLOCKED: "blocked: operator needed",
        Status.ABANDONED: "abandoned (lock broken)",
        Status.PAUSED: "paused at the promotion gate",
        Status.ROLLING_BACK: "rolling back",
        Status.RUNNING: "running",
    }[rec.status]
