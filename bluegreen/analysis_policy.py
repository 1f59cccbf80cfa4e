"""What a canary analysis verdict means for the deployment: the state machine's side of the judge.

Pure. `windows` says which periods are compared; `react` turns a verdict
into one of four moves, which the state machine (`bluegreen.machine`) makes:
go on, roll back, pause for a person (`bluegreen promote` goes on), or wait
for more data and ask again.

- pass: go on.
- fail: roll back; the message names the failing metrics with both colours' figures.
- marginal: `on_marginal` (pause, or roll back).
- inconclusive: ask again every sample interval until `inconclusive_limit`
  has passed since the first inconclusive verdict of the step, then
  `on_inconclusive` (pause, roll back, or go on).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bluegreen.analysis import FAIL, INCONCLUSIVE, MARGINAL, PASS, Verdict
from bluegreen.model import Record, StepKind, fmt_seconds
from bluegreen.settings import AnalysisSettings


class Move(StrEnum):
    ADVANCE = "advance"
    ROLLBACK = "rollback"
    PAUSE = "pause"
    WAIT = "wait"


@dataclass(frozen=True)
class Reaction:
    move: Move
    message: str


def windows(rec: Record, now: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """(new colour's window, old colour's window) for the current step's analysis.

    A canary step compares both colours over its hold: they served side by
    side. At 100% (the bake time) the old colour serves nothing, so the new
    colour's bake time is compared with the old colour's period of the same
    length just before the bake time began.
    """
    step = rec.step
    assert step is not None and rec.wait_until is not None
    start = rec.wait_until - step.wait_s
    end = max(now, start)
    if step.kind is StepKind.OBSERVE:
        return (start, end), (start - (end - start), start)
    return (start, end), (start, end)


def react(settings: AnalysisSettings, verdict: Verdict, rec: Record, label: str, now: float) -> Reaction:
    env = rec.environment
    said = verdict.describe()
    if verdict.verdict == PASS:
        return Reaction(Move.ADVANCE, f"{label}: {said}")
    if verdict.verdict == FAIL:
        return Reaction(Move.ROLLBACK, f"canary analysis failed after {label}: {_figures(verdict, rec)}")
    pause = (
        f"paused at {label}: {said}. Go on with `bluegreen promote {env}`, or roll back with `bluegreen abort {env}`"
    )
    if verdict.verdict == MARGINAL:
        if settings.on_marginal == "rollback":
            return Reaction(Move.ROLLBACK, f"canary analysis marginal after {label}: {said}")
        return Reaction(Move.PAUSE, pause)
    assert verdict.verdict == INCONCLUSIVE
    since = rec.inconclusive_since if rec.inconclusive_since is not None else now
    if now - since < settings.inconclusive_limit_s:
        left = fmt_seconds(round(settings.inconclusive_limit_s - (now - since)))
        return Reaction(Move.WAIT, f"waiting for enough data (up to {left} more): {said}")
    waited = f"still inconclusive after {fmt_seconds(settings.inconclusive_limit_s)}"
    if settings.on_inconclusive == "rollback":
        return Reaction(Move.ROLLBACK, f"canary analysis {waited} at {label}: {said}")
    if settings.on_inconclusive == "continue":
        return Reaction(Move.ADVANCE, f"{label}: analysis {waited}, going on as configured")
    return Reaction(Move.PAUSE, pause)


def _figures(verdict: Verdict, rec: Record) -> str:
    """The failing metrics with both colours named: what the operator needs to believe the rollback."""
    new, old = rec.to_colour, rec.from_colour
    parts = []
    for m in verdict.failing:
        p = f", p={m.p_value:.2g}" if m.p_value is not None else ""
        parts.append(f"{m.name} {m.reason}: {new} (new) {_num(m.new)} vs {old} (old) {_num(m.old)}{p}")
    score = f"score {verdict.score:.0f}" if verdict.score is not None else "no score"
    return "; ".join(parts) + f" ({score})"


def _num(v: float | None) -> str:
    return "no data" if v is None else f"{v:.4g}"
