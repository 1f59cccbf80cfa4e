"""`bluegreen report --html`: a picture of one deployment, or of several environments on one time axis.

Pure: (environment, record) rows in, one self-contained HTML string out. The
CSS and the SVG are inline; there is no script, no font and no address to
fetch, so the file opens the same from a CI artifact, a mail or a laptop
offline. Everything a record holds is text someone typed (a reason, a
version), so all of it is escaped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from html import escape

from bluegreen.model import Colour, Record, Status, StepKind
from bluegreen.timeline import (
    Mark,
    StepSpan,
    marks,
    outcome_text,
    phase_spans,
    rollback_span,
    step_spans,
    time_range,
    weight_series,
)

Row = tuple[str, Record]  # (environment, its deployment): one row of the timeline

# Geometry of the SVG (user units; it scales to the page's width).
LEFT, RIGHT, WIDTH = 170, 20, 1180
PLOT = WIDTH - LEFT - RIGHT
PHASE_H, BAND_H, CHART_H, MARK_H, GAP = 16, 26, 84, 22, 30
ROW_H = PHASE_H + BAND_H + CHART_H + MARK_H + GAP + 28

STEP_COLOURS = {
    StepKind.BAKE: "#8c6bb1",
    StepKind.PROVISION: "#6b8cb1",
    StepKind.WAIT_HEALTHY: "#4f9d8f",
    StepKind.SMOKE: "#5aa05a",
    StepKind.HEADROOM: "#8aa05a",
    StepKind.SHIFT: "#d08a2c",
    StepKind.GATE: "#c8b23a",
    StepKind.OBSERVE: "#b0783a",
    StepKind.RETIRE: "#7d7d7d",
}
MARK_STYLE = {  # kind -> (shape, label)
    "health": ("circle", "health poll"),
    "smoke": ("square", "smoke checks"),
    "alarm": ("diamond", "alarms"),
    "analysis": ("diamond", "analysis verdict"),
    "abort": ("triangle", "abort requested"),
    "rollback": ("triangle", "rollback"),
    "gate": ("square", "promotion gate"),
    "promote": ("square", "promoted"),
    "failure": ("cross", "failure"),
    "mismatch": ("cross", "read-back mismatch"),
    "outcome": ("star", "outcome"),
}
OK_COLOUR = {True: "#2e8b3a", False: "#c62828", None: "#5b6b7b"}
COLOUR_FILL = {Colour.BLUE: "#2f6fd6", Colour.GREEN: "#2e9d4a"}

CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px;color:#1d2733;
background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#5b6b7b;margin:0 0 16px}
dl.head{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0 0 16px}
dl.head dt{color:#5b6b7b}dl.head dd{margin:0}
.ok{color:#2e8b3a;font-weight:600}.bad{color:#c62828;font-weight:600}.neutral{color:#8a6d00;font-weight:600}
table{border-collapse:collapse;margin:4px 0 12px}
th,td{text-align:left;padding:3px 10px;border-bottom:1px solid #e3e8ee;vertical-align:top}
th{color:#5b6b7b;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
svg{width:100%;height:auto;display:block;border:1px solid #e3e8ee;border-radius:6px;background:#fbfcfd}
svg text{font-family:inherit}
.legend{display:flex;flex-wrap:wrap;gap:4px 18px;color:#5b6b7b;margin:6px 0 0}
.legend span{white-space:nowrap}
.sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;vertical-align:-1px}
details{margin:6px 0}summary{cursor:pointer;color:#5b6b7b}
"""


def render(rows: Sequence[Row], *, title: str | None = None, now: float | None = None) -> str:
    """The report for `rows`: one record, or one per environment (a release) on the same time axis."""
    if not rows:
        raise ValueError("a report needs at least one deployment")
    records = [rec for _, rec in rows]
    t0, t1 = time_range(records, now)
    first = records[0]
    heading = title or (
        f"Deployment {first.id} of {first.release.version} to {rows[0][0]}"
        if len(rows) == 1
        else f"{len(rows)} environments, {', '.join(sorted({r.release.version for r in records}))}"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{escape(heading)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(heading)}</h1>",
        f'<p class="sub">from {_utc(t0)} to {_utc(t1)} ({_dur(t1 - t0)})</p>',
    ]
    if len(rows) == 1:
        parts.append(_header(*rows[0]))
    else:
        parts.append(_overview(rows))
    parts.append("<h2>Timeline</h2>")
    parts.append(_svg(rows, t0, t1))
    parts.append(_legend())
    for env, rec in rows:
        parts.append(_details(env, rec, t0, several=len(rows) > 1))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# -- text parts ------------------------------------------------------------------------


def _header(env: str, rec: Record) -> str:
    items = [
        ("environment", f"{env} ({rec.platform})"),
        ("release", rec.release.version),
        ("image", rec.release.ami or "(none recorded)"),
        ("colours", f"{rec.from_colour or 'nothing live'} → {rec.to_colour}"),
        ("started by", rec.started_by.describe()),
        ("started", _utc(rec.created_at)),
        ("deployment", rec.id),
    ]
    body = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items)
    body += f'<dt>outcome</dt><dd class="{_outcome_class(rec)}" id="outcome">{escape(outcome_text(rec))}</dd>'
    if rec.failure:
        body += f"<dt>reason</dt><dd>{escape(rec.failure)}</dd>"
    return f'<dl class="head">{body}</dl>'


def _overview(rows: Sequence[Row]) -> str:
    head = (
        "<tr><th>environment</th><th>release</th><th>image</th><th>started by</th><th>started</th><th>outcome</th></tr>"
    )
    cells = []
    for env, rec in rows:
        cells.append(
            f"<tr><td>{escape(env)}</td><td>{escape(rec.release.version)}</td><td>{escape(rec.release.ami or '')}</td>"
            f"<td>{escape(rec.started_by.describe())}</td><td>{_utc(rec.created_at)}</td>"
            f'<td class="{_outcome_class(rec)}">{escape(outcome_text(rec))}</td></tr>'
        )
    return f"<table>{head}{''.join(cells)}</table>"


def _details(env: str, rec: Record, t0: float, *, several: bool) -> str:
    spans = step_spans(rec)
    finished = {e.step: e.message for e in rec.events if e.kind == "step_finished"}
    rows = []
    for s in spans:
        took = _dur(s.end - s.start) if s.start is not None and s.end is not None else ""
        rows.append(
            f'<tr class="step {s.state}"><td class="num">{s.index + 1}</td><td>{escape(s.step.describe())}</td>'
            f'<td class="{_state_class(s.state)}">{s.state}</td>'
            f'<td class="num">{_offset(s.start, t0)}</td><td class="num">{took}</td>'
            f"<td>{escape(finished.get(s.index, ''))}</td></tr>"
        )
    steps = (
        '<table class="steps"><tr><th>#</th><th>step</th><th>state</th><th>at</th><th>took</th><th>result</th></tr>'
        + "".join(rows)
        + "</table>"
    )
    weights = "".join(
        f'<tr><td class="num">{_offset(at, t0)}</td><td>{_utc(at)}</td>'
        f'<td class="num">blue {w.blue}%</td><td class="num">green {w.green}%</td></tr>'
        for at, w in weight_series(rec)
    )
    events = "".join(
        f'<tr><td class="num">{_offset(e.at, t0)}</td><td>{escape(e.kind)}</td><td>{escape(e.message)}</td></tr>'
        for e in rec.events
    )
    title = f"{escape(env)}: {escape(rec.release.version)} ({escape(rec.id)})" if several else "Steps"
    return (
        f'<section class="deployment" data-environment="{escape(env)}"><h2>{title}</h2>{steps}'
        "<h2>Weights (read back from the load balancer)</h2>"
        f'<table class="weights"><tr><th>at</th><th>time</th><th>blue</th><th>green</th></tr>{weights}</table>'
        f"<details><summary>every recorded event ({len(rec.events)})</summary>"
        f"<table><tr><th>at</th><th>kind</th><th>message</th></tr>{events}</table></details></section>"
    )


def _legend() -> str:
    items = [
        f'<span><i class="sw" style="background:{c}"></i>{escape(k.value)}</span>' for k, c in STEP_COLOURS.items()
    ]
    items.append('<span><i class="sw" style="background:#c62828;opacity:.35"></i>rollback</span>')
    items += [f"<span>{_shape_svg(shape, None)} {escape(label)}</span>" for shape, label in MARK_STYLE.values()]
    items.append(f"<span>{_shape_svg('circle', True)} good / {_shape_svg('circle', False)} bad</span>")
    return f'<div class="legend">{"".join(items)}</div>'


# -- the picture -----------------------------------------------------------------------


def _svg(rows: Sequence[Row], t0: float, t1: float) -> str:
    height = ROW_H * len(rows) + 30

    def x(at: float) -> float:
        return LEFT + (at - t0) / (t1 - t0) * PLOT

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="timeline">']
    out.append(_axis(t0, t1, height, x))
    for i, (env, rec) in enumerate(rows):
        out.append(_row(env, rec, i * ROW_H + 8, x, t1))
    out.append("</svg>")
    return "".join(out)


def _axis(t0: float, t1: float, height: int, x: Callable[[float], float]) -> str:
    span = t1 - t0
    step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600) if span / s <= 10), 7200)
    out = []
    t = 0.0
    while t <= span + 1e-9:
        px = x(t0 + t)
        out.append(
            f'<line x1="{px:.1f}" y1="4" x2="{px:.1f}" y2="{height - 22}" stroke="#e3e8ee"/>'
            f'<text x="{px:.1f}" y="{height - 8}" font-size="11" fill="#5b6b7b" text-anchor="middle">'
            f"+{_dur(t)}</text>"
        )
        t += step
    return "".join(out)


def _row(env: str, rec: Record, y: float, x: Callable[[float], float], t_end: float) -> str:
    phase_y = y + 22
    band_y = phase_y + PHASE_H + 3
    chart_y = band_y + BAND_H + 8
    mark_y = chart_y + CHART_H + 6
    label_class = OK_COLOUR[True if rec.status is Status.SUCCEEDED else False if rec.status.terminal else None]
    out = [
        f'<g class="row" data-environment="{escape(env)}">',
        f'<text x="8" y="{y + 14}" font-size="14" font-weight="600" fill="#1d2733">{escape(env)}</text>',
        f'<text x="{LEFT}" y="{y + 14}" font-size="12" fill="{label_class}">'
        f"{escape(rec.release.version)} · {escape(outcome_text(rec))}</text>",
        f'<text x="8" y="{phase_y + 12}" font-size="11" fill="#5b6b7b">phases</text>',
        f'<text x="8" y="{band_y + 17}" font-size="11" fill="#5b6b7b">steps</text>',
        f'<text x="8" y="{chart_y + 14}" font-size="11" fill="#5b6b7b">traffic on {rec.to_colour}</text>',
        f'<text x="8" y="{mark_y + 15}" font-size="11" fill="#5b6b7b">checks &amp; events</text>',
    ]
    for name, start, end in phase_spans(rec):
        out.append(_phase(name, start, end if end is not None else t_end, phase_y, x))
    for span in step_spans(rec):
        out.append(_band(span, band_y, x, t_end))
    out.append(_chart(rec, chart_y, x, t_end))
    rb = rollback_span(rec)
    if rb is not None:
        x0, x1 = x(rb[0]), x(rb[1] if rb[1] is not None else t_end)
        out.append(
            f'<rect class="rollback" x="{x0:.1f}" y="{band_y - 3}" width="{max(x1 - x0, 3):.1f}" '
            f'height="{BAND_H + CHART_H + 14}" fill="#c62828" fill-opacity=".12" stroke="#c62828" '
            f'stroke-dasharray="4 3"><title>rollback</title></rect>'
            + (
                f'<text x="{x0 - 4:.1f}" y="{chart_y + 12}" font-size="11" fill="#c62828" text-anchor="end">rollback</text>'
                if x0 > LEFT + PLOT / 2
                else f'<text x="{x0 + 4:.1f}" y="{chart_y + 12}" font-size="11" fill="#c62828">rollback</text>'
            )
        )
    for m in marks(rec):
        out.append(_mark(m, x(m.at), mark_y + 11))
    out.append("</g>")
    return "".join(out)


def _band(span: StepSpan, y: float, x: Callable[[float], float], t_end: float) -> str:
    if span.start is None:
        return ""
    x0 = x(span.start)
    x1 = x(span.end if span.end is not None else t_end)
    w = max(x1 - x0, 2.0)
    label = _short(span)
    text = ""
    if w > 7 * len(label):
        text = (
            f'<text x="{x0 + w / 2:.1f}" y="{y + 17}" font-size="11" fill="#fff" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    stroke = ' stroke="#c62828" stroke-width="2"' if span.state == "failed" else ""
    return (
        f'<g class="band {span.step.kind.value}"><rect x="{x0:.1f}" y="{y}" width="{w:.1f}" height="{BAND_H}" '
        f'rx="3" fill="{STEP_COLOURS[span.step.kind]}"{stroke}>'
        f"<title>step {span.index + 1}: {escape(span.step.describe())} ({span.state})</title></rect>{text}</g>"
    )


def _phase(name: str, start: float, end: float, y: float, x: Callable[[float], float]) -> str:
    x0 = x(start)
    w = max(x(end) - x0, 2.0)
    back = name in ("rollback_traffic", "decommission")
    fill = "#c62828" if back else STEP_COLOURS[StepKind(name)]
    label = name.replace("_", " ")
    text = (
        f'<text x="{x0 + 3:.1f}" y="{y + 12}" font-size="10" fill="#1d2733">{escape(label)}</text>'
        if w > 6 * len(label)
        else ""
    )
    return (
        f'<g class="phase {name}"><rect x="{x0:.1f}" y="{y}" width="{w:.1f}" height="{PHASE_H}" fill="{fill}" '
        f'fill-opacity=".28"><title>phase {escape(label)}</title></rect>{text}</g>'
    )


def _chart(rec: Record, y: float, x: Callable[[float], float], t_end: float) -> str:
    """The share of the new colour over time as a step chart, 0% at the bottom, 100% at the top."""

    def py(percent: int) -> float:
        return y + CHART_H - percent / 100 * CHART_H

    out = [
        f'<rect x="{LEFT}" y="{y}" width="{PLOT}" height="{CHART_H}" fill="#fff" stroke="#e3e8ee"/>',
        f'<line x1="{LEFT}" y1="{py(50):.1f}" x2="{LEFT + PLOT}" y2="{py(50):.1f}" stroke="#eef1f4"/>',
        f'<text x="{LEFT - 6}" y="{py(100) + 10:.1f}" font-size="10" fill="#5b6b7b" text-anchor="end">100%</text>',
        f'<text x="{LEFT - 6}" y="{py(0):.1f}" font-size="10" fill="#5b6b7b" text-anchor="end">0%</text>',
    ]
    series = weight_series(rec)
    points: list[tuple[float, float]] = []
    for i, (at, w) in enumerate(series):
        share = w.of(rec.to_colour)
        if points:
            points.append((x(at), points[-1][1]))
        points.append((x(at), py(share)))
        end = series[i + 1][0] if i + 1 < len(series) else t_end
        if i > 0 or share:
            out.append(
                f'<text class="weight" x="{x(at) + 3:.1f}" y="{max(py(share) - 4, y + 10):.1f}" font-size="11" '
                f'fill="#1d2733">{share}%</text>'
                if x(end) - x(at) > 26 or i == len(series) - 1
                else ""
            )
    points.append((x(t_end), points[-1][1]))
    line = " ".join(f"{px:.1f},{py_:.1f}" for px, py_ in points)
    area = f"{points[0][0]:.1f},{py(0):.1f} {line} {points[-1][0]:.1f},{py(0):.1f}"
    fill = COLOUR_FILL[rec.to_colour]
    out.insert(1, f'<polygon points="{area}" fill="{fill}" fill-opacity=".18"/>')
    out.append(
        f'<polyline class="weights" points="{line}" fill="none" stroke="{fill}" stroke-width="2">'
        f"<title>{escape(' → '.join(f'{w.of(rec.to_colour)}%' for _, w in series))} on {rec.to_colour}</title>"
        "</polyline>"
    )
    return "".join(out)


def _mark(m: Mark, cx: float, cy: float) -> str:
    shape, label = MARK_STYLE[m.kind]
    body = _shape(shape, cx, cy, OK_COLOUR[m.ok])
    return f'<g class="mark {m.kind}">{body}<title>{escape(label)}: {escape(m.text)}</title></g>'


def _shape(shape: str, cx: float, cy: float, colour: str, r: float = 5.5) -> str:
    if shape == "circle":
        return f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r - 1}" fill="{colour}"/>'
    if shape == "square":
        return f'<rect x="{cx - r + 1:.1f}" y="{cy - r + 1:.1f}" width="{2 * r - 2}" height="{2 * r - 2}" fill="{colour}"/>'
    if shape == "diamond":
        pts = f"{cx:.1f},{cy - r:.1f} {cx + r:.1f},{cy:.1f} {cx:.1f},{cy + r:.1f} {cx - r:.1f},{cy:.1f}"
        return f'<polygon points="{pts}" fill="{colour}"/>'
    if shape == "triangle":
        pts = f"{cx:.1f},{cy - r:.1f} {cx + r:.1f},{cy + r:.1f} {cx - r:.1f},{cy + r:.1f}"
        return f'<polygon points="{pts}" fill="{colour}"/>'
    if shape == "star":
        return (
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r + 1}" fill="none" stroke="{colour}" stroke-width="2"/>'
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r - 2}" fill="{colour}"/>'
        )
    return (
        f'<path d="M{cx - r:.1f},{cy - r:.1f}L{cx + r:.1f},{cy + r:.1f}M{cx + r:.1f},{cy - r:.1f}'
        f'L{cx - r:.1f},{cy + r:.1f}" stroke="{colour}" stroke-width="2.5"/>'
    )


def _shape_svg(shape: str, ok: bool | None) -> str:
    return (
        '<svg width="14" height="14" viewBox="0 0 14 14" style="display:inline;border:0;background:none;'
        f'vertical-align:-2px;width:14px">{_shape(shape, 7, 7, OK_COLOUR[ok])}</svg>'
    )


# -- small helpers ---------------------------------------------------------------------


def _short(span: StepSpan) -> str:
    step = span.step
    if step.kind is StepKind.SHIFT:
        return f"shift {step.weight}%"
    return {StepKind.WAIT_HEALTHY: "healthy", StepKind.HEADROOM: "headroom"}.get(step.kind, step.kind.value)


def _outcome_class(rec: Record) -> str:
    if rec.status is Status.SUCCEEDED:
        return "ok"
    return "bad" if rec.status.terminal or rec.status in (Status.ROLLBACK_INCOMPLETE, Status.BLOCKED) else "neutral"


def _state_class(state: str) -> str:
    return {"done": "ok", "failed": "bad", "current": "neutral"}.get(state, "")


def _utc(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def _offset(at: float | None, t0: float) -> str:
    return "" if at is None else f"+{_dur(at - t0)}"


def _dur(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 and seconds != int(seconds) else f"{seconds:.0f}s"
    m, s = divmod(round(seconds), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"
