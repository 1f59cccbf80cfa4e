"""The metric publication lag in the state machine's holds (pure).

Load balancer metrics reach CloudWatch per period, about a minute after the
period closes. A held step (shift, observe) that judges metric thresholds
therefore ends only once the period holding its hold's end is published:
then checked (step_rules.py: `settled`), or judged by the canary analysis,
which then sees the hold's last minutes too. What the metrics could not judge
(no data) goes into the record instead of passing in silence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bluegreen.model import Record


def note_metrics(rec: Record, notes: Sequence[str], now: float) -> Record:
    """What the alarms could not judge (no published data) goes into the record, once per change."""
    text = "; ".join(notes)
    last = next((e.message for e in reversed(rec.events) if e.kind == "metrics"), "")
    if text and text != last:
        rec = rec.with_event(now, "metrics", text)
    return rec


def hold_ends(rec: Record) -> float | None:
    """When a held step may advance: its hold, then the metrics of its last period published (a final check).

    Metrics come per period and a period is published `settle_s` after it
    closes, so the wait runs from the end of the period holding the hold's end.
    """
    step = rec.step
    if rec.wait_until is None or step is None or step.settle_s <= 0:
        return rec.wait_until
    end = rec.wait_until
    if step.metric_period_s > 0:
        end = math.ceil(end / step.metric_period_s) * step.metric_period_s
    return end + step.settle_s


def hold_over(rec: Record, now: float) -> bool:
    """The hold and the lag after it (`hold_ends`) have passed: its last check, or its analysis, may be made."""
    ends = hold_ends(rec)
    return ends is not None and now >= ends
