"""The timeline read from a record, and the HTML report drawn from it (pure: records in, text out)."""

from __future__ import annotations

import dataclasses
import re

from bluegreen import report_html, timeline
from bluegreen.commands import Command
from bluegreen.model import Record, Status, Weights
from tests.core.envs import CANARY, environment
from tests.core.sim import FakeClock, drive, live_world, new_record


def succeeded() -> Record:
    rec = drive(new_record(environment(traffic=CANARY), "v2"), live_world(), FakeClock())
    assert rec.status is Status.SUCCEEDED
    return rec


def alarmed() -> Record:
    world = live_world()

    def fire_in_step_two(i: int, rec: Record, cmd: Command) -> Record:
        if rec.step is not None and rec.step.weight == 50:
            world.faults.firing_alarms = ["web-5xx"]
        return rec

    rec = drive(new_record(environment(traffic=CANARY), "v2"), world, FakeClock(), hook=fire_in_step_two)
    assert rec.status is Status.ROLLED_BACK
    return rec


def test_a_finished_canary_is_every_step_done_and_the_weights_it_read_back() -> None:
    rec = succeeded()
    spans = timeline.step_spans(rec)
    assert [s.state for s in spans] == ["done"] * len(rec.steps)
    assert all(s.start is not None and s.end is not None and s.end >= s.start for s in spans)
    shares = [w.green for _, w in timeline.weight_series(rec)]
    assert shares == [0, 10, 50, 100]
    kinds = [(m.kind, m.ok) for m in timeline.marks(rec)]
    assert ("health", True) in kinds and ("smoke", True) in kinds and kinds[-1] == ("outcome", True)
    assert [p[0] for p in timeline.phase_spans(rec)][-3:] == ["shift", "headroom", "retire"]
    assert timeline.rollback_span(rec) is None


def test_an_alarm_in_step_two_fails_that_step_skips_the_rest_and_shows_the_rollback() -> None:
    rec = alarmed()
    states = {s.step.describe(): s.state for s in timeline.step_spans(rec)}
    assert states["shift 10% to the new colour, hold 1m"] == "done"
    assert states["shift 50% to the new colour, hold 1m"] == "failed"
    assert states["shift 100% to the new colour"] == "skipped"
    alarm = [m for m in timeline.marks(rec) if m.kind == "alarm" and m.ok is False]
    assert len(alarm) == 1 and "web-5xx" in alarm[0].text
    assert timeline.last_verdict(rec) == alarm[0]
    span = timeline.rollback_span(rec)
    assert span is not None and span[1] is not None
    assert [p[0] for p in timeline.phase_spans(rec)][-2:] == ["rollback_traffic", "decommission"]
    assert [w.green for _, w in timeline.weight_series(rec)] == [0, 10, 50, 0]


def test_records_written_before_events_carried_data_give_the_same_weights() -> None:
    rec = succeeded()
    bare = rec.replace(events=tuple(dataclasses.replace(e, data={}) for e in rec.events))
    assert timeline.weight_series(bare) == timeline.weight_series(rec)


def test_one_row_per_environment_on_one_time_axis() -> None:
    us, eu = succeeded(), alarmed()
    html = report_html.render([("prod-us", us), ("prod-eu", eu)])
    assert html.count('<g class="row"') == 2
    assert re.search(r"<td>prod-us</td>.*succeeded", html) and re.search(r"<td>prod-eu</td>.*rolled back", html)
    assert html.count("<svg xmlns") == 1  # one picture, one axis
    assert 'class="rollback"' in html and 'class="mark alarm"' in html


def test_everything_from_the_record_is_escaped() -> None:
    rec = succeeded().replace(failure='<script>alert("x")</script>', environment="a&b")
    html = report_html.render([('"><img src=x>', rec)])
    assert "<script>" not in html and "<img src=x>" not in html
    assert "&lt;script&gt;" in html and "&quot;&gt;&lt;img src=x&gt;" in html


def test_a_running_deployment_reaches_to_now() -> None:
    rec = succeeded()
    cut = next(i for i, e in enumerate(rec.events) if e.kind == "step_started" and e.step == 5) + 1
    running = rec.replace(status=Status.RUNNING, step_index=5, events=rec.events[:cut])
    _start, end = timeline.time_range([running], now=rec.created_at + 3600)
    assert end == rec.created_at + 3600
    assert [s.state for s in timeline.step_spans(running)][4:7] == ["done", "current", "pending"]
    assert Weights.from_json({"blue": 100}) == Weights(100, 0)
