"""The live panel, rendered alone: records and the time in, the screen's text out."""

from __future__ import annotations

import io

from rich.console import Console

from bluegreen.live_view import ViewRow, bar, panel
from bluegreen.model import Record, Status, Weights
from tests.core.test_pictures import alarmed, succeeded


def screen(rows: list[ViewRow], now: float, width: int = 120) -> str:
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    console.print(panel(rows, now))
    return console.export_text()


def holding_at_ten_percent() -> Record:
    """The succeeded canary cut back to the moment its first shift was read back and held."""
    rec = succeeded()
    cut = next(i for i, e in enumerate(rec.events) if e.kind == "traffic") + 1
    step = rec.events[cut - 1].step
    assert step is not None
    at = rec.events[cut - 1].at
    return rec.replace(
        status=Status.RUNNING, step_index=step, events=rec.events[:cut], weights=Weights(90, 10), wait_until=at + 60
    )


def test_one_deployment_shows_steps_marks_the_hold_left_the_bar_and_health() -> None:
    rec = holding_at_ten_percent()
    text = screen([ViewRow("web", rec)], now=rec.wait_until - 42 if rec.wait_until else 0)
    lines = text.splitlines()
    assert "web · v2" in lines[0] and "blue → green" in lines[0]
    marks = [line.split()[1] for line in lines[1:] if line.split()[1:2] and line.split()[1] in "✓▶·✗-"]
    assert marks == ["✓"] * 5 + ["▶"] + ["·"] * (len(rec.steps) - 6)
    assert "shift 10% to the new colour, hold 1m" in text and "42s left of 1m" in text
    traffic = next(line for line in lines if line.strip("│ ").startswith("traffic"))
    assert "blue  90% " in traffic and " 10% green" in traffic and "(as last read back)" in traffic
    assert traffic.count("█") == 40  # 36 blue + 4 green
    assert "green    new   serves 10%  ·  healthy, 1/1 in service, targets: 1 healthy" in text
    assert "blue     old   serves 90%" in text
    assert "no alarm or verdict yet" in text
    assert "running ·" in text


def test_weights_read_from_the_load_balancer_win_over_the_record() -> None:
    rec = holding_at_ten_percent()
    text = screen([ViewRow("web", rec, read=Weights(50, 50))], now=0)
    assert "blue  50% " in text and "(read from the load balancer now)" in text


def test_a_rolled_back_deployment_names_the_alarm_and_fails_its_step() -> None:
    rec = alarmed()
    text = screen([ViewRow("web", rec)], now=rec.updated_at)
    assert "✗  7. shift 50% to the new colour, hold 1m" in text
    assert "✗ rolling back: alarm web-5xx is in ALARM" in text
    assert "rolled back: blue serves" in text


def test_several_environments_are_one_line_each() -> None:
    rows = [ViewRow("staging", succeeded()), ViewRow("prod-us", holding_at_ten_percent()), ViewRow("prod-eu", None)]
    text = screen(rows, now=0)
    assert "3 environments" in text
    by_env = {
        line.split()[1]: line
        for line in text.splitlines()
        if line.split()[1:2] in (["staging"], ["prod-us"], ["prod-eu"])
    }
    assert set(by_env) == {"staging", "prod-us", "prod-eu"}
    assert "succeeded" in by_env["staging"] and "0|100" in by_env["staging"]
    assert "running" in by_env["prod-us"] and f"6/{len(rows[1].record.steps)} shift" in by_env["prod-us"]  # type: ignore[union-attr] and "90|10" in by_env["prod-us"]
    assert "no deployment" in by_env["prod-eu"]


def test_the_bar_splits_by_share_and_shows_unknown_weights_as_unknown() -> None:
    assert bar(Weights(100, 0), 10).plain == "██████████"
    assert bar(Weights(50, 50), 10).plain == "██████████"
    assert bar(Weights(0, 0), 10).plain == "░░░░░░░░░░"  # nothing routed yet
    assert bar(None, 10).plain == "??????????"
    half = bar(Weights(30, 70), 10)
    assert [(s.start, s.end, str(s.style)) for s in half.spans if s.end > s.start] == [(0, 3, "blue"), (3, 10, "green")]
