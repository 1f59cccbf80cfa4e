"""What the operator reads: the `status` body, deployment summaries, the next command, the plan.

Pure: records and lock information in, plain dicts and lines out. The CLI
prints them as text or JSON; the engine only gathers what they need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bluegreen.model import Colour, Record, Release, Status, StepKind, Weights, weights_json
from bluegreen.output import clock_text
from bluegreen.ports import LockInfo


@dataclass(frozen=True)
class LiveState:
    colour: Colour | None
    release: Release | None


@dataclass(frozen=True)
class Holder:
    """The lock as `status` shows it: who holds it and whether that process still runs."""

    info: LockInfo
    running: bool


def status_body(
    environment: str,
    platform: str,
    live: LiveState,
    active: Record | None,
    latest: Record | None,
    read: Weights | None,
    holder: Holder | None,
) -> dict[str, Any]:
    """Where the environment is. `read`: the weights read from the load balancer, None to use the record."""
    weights: Weights | None = read
    source = "load_balancer" if read is not None else "record"
    if read is None and active is not None and (active.weights or active.from_colour is not None):
        weights = active.weights
        if weights is None:
            source = "unknown"  # a traffic change failed: nothing read back since
    elif read is None and live.colour is not None:
        weights = Weights.all_on(live.colour)
    if active is not None and not active.in_rollback and weights == Weights.all_on(active.to_colour):
        # The new colour serves everything (the old one may be retiring): it is what users get.
        live = LiveState(active.to_colour, active.release)
    return {
        "environment": environment,
        "platform": platform,
        "live_colour": live.colour.value if live.colour else None,
        "weights": weights_json(weights),
        "weights_source": source,
        "release": release_dict(live.release),
        "deployment": deployment_summary(active) if active else None,
        "last_deployment": deployment_summary(latest) if latest else None,
        "lock": lock_dict(holder) if holder else None,
        "next": next_action(active or latest, environment, running=holder.running if holder else True),
    }


def status_lines(st: dict[str, Any]) -> list[str]:
    """The `status` body as text."""
    w = Weights.from_json(st["weights"])
    rel = st["release"]
    lines = [
        f"environment: {st['environment']} ({st['platform']})",
        f"live colour: {st['live_colour'] or '(none)'}"
        + (f"   release: {rel['version']}" + (f" ({rel['ami']})" if rel.get("ami") else "") if rel else ""),
        f"weights:     {w.describe()}  (from the {st['weights_source']})"
        if w
        else f"weights:     unknown since a traffic change failed; read them: bluegreen status {st['environment']} --live"
        if st["weights_source"] == "unknown"
        else "weights:     (no traffic yet)",
    ]
    dep = st["deployment"]
    if dep:
        step = dep["step"]
        where = f"step {step['index']}/{step['total']}: {step['description']}" if step else dep["phase"]
        lines += [
            f"deployment:  {dep['id']}  {dep['status']}  {dep['from_colour'] or '-'} -> {dep['to_colour']}  "
            f"{dep['release']['version']}",
            f"             {where}",
            f"             started by {dep['started_by']} at {clock_text(dep['created_at'])}",
        ]
        if dep["failure"]:
            lines.append(f"             failure: {dep['failure']}")
        lines += analysis_lines(dep.get("analysis"))
    else:
        last = st["last_deployment"]
        if last:
            lines.append(f"last:        {last['id']}  {last['status']}  {last['release']['version']}")
            if last["failure"]:
                lines.append(f"             failure: {last['failure']}")
            lines += analysis_lines(last.get("analysis"))
    lock = st["lock"]
    if lock:
        if lock["process_running"]:
            who = lock["owner"]
        elif lock["owner"]:
            who = f"no process ({lock['owner']} is gone)"
        else:
            who = "no process (paused or interrupted)"
        lines.append(f"lock:        {lock['deployment_id']} held by {who} since {clock_text(lock['since'])}")
    lines.append(f"next:        {st['next']}")
    return lines


def analysis_lines(a: dict[str, Any] | None) -> list[str]:
    if not a:
        return []
    score = f"score {a['score']:.0f}" if a["score"] is not None else "no score"
    lines = [f"analysis:    {a['verdict']} ({score}) after step {a['step']}"]
    return lines + ["             " + line for line in metric_lines(a["metrics"])]


def metric_lines(metrics: list[dict[str, Any]]) -> list[str]:
    """One line per judged metric: classification, both colours' figures, p-value and effect."""
    lines = []
    for m in metrics:
        p = f"  p={m['p_value']:.2g}" if m.get("p_value") is not None else ""
        effect = f"  effect {m['effect']:+.3g}" if m.get("effect") is not None else ""
        lines.append(f"{m['name']}: {m['classification']}  new {_num(m['new'])}  old {_num(m['old'])}{p}{effect}")
    return lines


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def release_dict(release: Release | None) -> dict[str, Any] | None:
    if release is None:
        return None
    return {"version": release.version, "ami": release.ami, "source_hash": release.source_hash}


def lock_dict(holder: Holder) -> dict[str, Any]:
    info = holder.info
    return {
        "deployment_id": info.deployment_id,
        "owner": info.owner or None,
        "since": info.acquired_at,
        "lease_until": info.lease_until,
        "process_running": holder.running,
    }


def deployment_summary(rec: Record) -> dict[str, Any]:
    step = rec.step
    return {
        "id": rec.id,
        "status": rec.status.value,
        "phase": rec.phase.value,
        "step": {
            "index": rec.step_index + 1,
            "total": len(rec.steps),
            "kind": step.kind.value,
            "description": step.describe(),
        }
        if step is not None
        else None,
        "from_colour": rec.from_colour.value if rec.from_colour else None,
        "to_colour": rec.to_colour.value,
        "release": release_dict(rec.release),
        "weights": weights_json(rec.weights),
        "started_by": rec.started_by.describe(),
        "created_at": rec.created_at,
        "updated_at": rec.updated_at,
        "failure": rec.failure,
        "note": rec.note,
        "abort_requested": rec.abort is not None,
        "promote_requested": rec.promote is not None,
        "analysis": analysis_summary(rec),
    }


def analysis_summary(rec: Record) -> dict[str, Any] | None:
    """The last canary analysis: score, verdict and per metric new, old, p_value, effect, classification."""
    v = rec.verdict
    if not v:
        return None
    keep = ("name", "new", "old", "p_value", "effect", "classification", "reason", "critical", "weight")
    return {
        "score": v.get("score"),
        "verdict": v.get("verdict"),
        "step": int(v.get("step", 0)) + 1,
        "judged_at": v.get("judged_at"),
        "metrics": [{k: m.get(k) for k in keep} for m in v.get("metrics", [])],
    }


def next_action(rec: Record | None, environment: str, *, running: bool = True) -> str:
    """One line: what the operator can run next. `running`: a process is executing `rec` now."""
    if rec is None:
        return f"bluegreen deploy {environment} --version VERSION"
    if rec.note and rec.status in (Status.PAUSED, Status.BLOCKED, Status.ROLLBACK_INCOMPLETE):
        return rec.note
    match rec.status:
        case Status.RUNNING | Status.ROLLING_BACK if not running:
            return f"bluegreen resume {environment}"
        case Status.RUNNING | Status.ROLLING_BACK:
            return f"watch it: bluegreen status {environment}; stop it: bluegreen abort {environment}"
        case Status.PAUSED:
            return f"bluegreen promote {environment}  (or bluegreen abort {environment})"
        case Status.ABANDONED:
            return f"check the load balancer by hand (bluegreen status {environment} --live), then deploy again"
    return f"bluegreen deploy {environment} --version VERSION"


def plan_lines(rec: Record) -> list[str]:
    """What `bluegreen plan` prints: every step, wait, gate, image and what will be destroyed."""
    lines = [
        f"deploy {rec.release.version} to {rec.environment} ({rec.platform})",
        f"  from: {rec.from_colour or 'nothing live (first deploy)'}   to: {rec.to_colour}",
        f"  image: {rec.release.ami or 'baked from source (reused if the source hash matches)'}",
    ]
    for i, step in enumerate(rec.steps, 1):
        lines.append(f"  {i:>2}. {step.describe()}")
    if rec.from_colour is not None and any(s.kind is StepKind.RETIRE for s in rec.steps):
        lines.append(f"  destroys: {rec.from_colour} (after the scale-down delay, once it serves nothing)")
    else:
        lines.append("  destroys: nothing")
    lines.append(f"  on failure or abort: traffic back to {rec.from_colour or '(none)'}, then {rec.to_colour} removed")
    return lines
