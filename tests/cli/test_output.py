"""What the CLI prints while it waits: the deployment's real activity, a rollback included."""

from __future__ import annotations

import io

from bluegreen.model import Event, Phase, Status
from bluegreen.output import Printer
from tests.core.envs import CANARY, environment
from tests.core.sim import new_record


def waits(phase: Phase) -> str:
    rec = new_record(environment(traffic=CANARY), "v2")
    rec = rec.replace(step_index=next(i for i, s in enumerate(rec.steps) if s.kind.value == "shift"))
    out = io.StringIO()
    Printer("plain", out).wait(rec.replace(phase=phase, status=Status.ROLLING_BACK), 0.0)
    return out.getvalue()


def test_a_wait_during_a_rollback_says_the_rollback_not_the_step_it_left() -> None:
    assert "waiting: rolling back: all traffic to blue" in waits(Phase.ROLLBACK_TRAFFIC)
    assert "waiting: rolling back: removing green" in waits(Phase.DECOMMISSION)
    assert "waiting: shift 10% to the new colour" in waits(Phase.SHIFT)


def test_a_wait_is_not_printed_again_under_the_event_that_just_said_it() -> None:
    rec = new_record(environment(traffic=CANARY), "v2")
    out = io.StringIO()
    printer = Printer("plain", out)
    said = "waiting for blue to stop serving: 12 requests reached blue"
    printer.event(rec, Event(at=0.0, kind="note", message=said))
    printer.wait(rec.replace(note=said), 0.0)
    printer.wait(rec.replace(note="something else"), 0.0)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].endswith(said) and lines[1].endswith("waiting: something else"), lines
