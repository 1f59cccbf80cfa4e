"""What the operator reads about a release: its status body, lines, plan, next command and exit code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bluegreen.errors import EXIT_LOCKED, EXIT_OK, EXIT_ROLLBACK_INCOMPLETE, EXIT_ROLLED_BACK
from bluegreen.model import Record
from bluegreen.release_machine import decide
from bluegreen.release_record import EnvState, ReleaseRecord, ReleaseStatus, release_to_dict
from bluegreen.reporting import deployment_summary

NEEDS_OPERATOR = ("rollback_incomplete", "blocked", "abandoned")


def exit_code(rel: ReleaseRecord, verb: str) -> int:
    """As for one deployment (README, "Exit codes"): 0 done or paused, 1 stopped and rolled back,
    3 an environment was held by another deployment, 4 an environment needs an operator."""
    if rel.status in (ReleaseStatus.SUCCEEDED, ReleaseStatus.RUNNING, ReleaseStatus.PAUSED):
        return EXIT_OK
    entries = [rel.entry(e) for e in rel.environments]
    if any(e.deployment_status in NEEDS_OPERATOR for e in entries):
        return EXIT_ROLLBACK_INCOMPLETE
    if rel.status is ReleaseStatus.ABORTED:
        return EXIT_OK if verb == "abort" else EXIT_ROLLED_BACK
    if any(e.state is EnvState.FAILED and e.deployment_status == "locked" for e in entries):
        return EXIT_LOCKED
    return EXIT_ROLLED_BACK


def next_command(rel: ReleaseRecord | None, name: str) -> str:
    if rel is None or rel.status.terminal:
        return f"bluegreen release {name} --version VERSION"
    if rel.split:
        return f"each environment's CI job: bluegreen release {name} --version {rel.version} --only ENV"
    paused = [
        e for e in rel.environments if rel.entry(e).deployment_status == "paused" and not rel.entry(e).state.finished
    ]
    if paused and not rel.split:
        return f"bluegreen promote {paused[0]} (paused at its own gate), then bluegreen resume {name}"
    if decide(rel).gate:
        return f"bluegreen promote {name}  (or bluegreen abort {name})"
    return f"watch it: bluegreen status {name}; continue it if its process died: bluegreen resume {name}"


def status_body(
    rel: ReleaseRecord | None, name: str, deployment: Callable[[ReleaseRecord, str], Record | None]
) -> dict[str, Any]:
    if rel is None:
        return {"release": None, "name": name, "environments": [], "next": next_command(None, name)}
    nxt = decide(rel)
    body = release_to_dict(rel)
    body["wave"] = min(nxt.wave + 1, len(rel.waves))
    body["at_gate"] = nxt.gate
    envs = []
    for i, wave in enumerate(rel.waves):
        for env in wave:
            entry = rel.entry(env)
            rec = deployment(rel, env)
            envs.append(
                {
                    "environment": env,
                    "wave": i + 1,
                    "state": entry.state.value,
                    "deployment_id": entry.deployment_id,
                    "note": entry.note,
                    "deployment": deployment_summary(rec) if rec is not None else None,
                }
            )
    return {"release": body, "name": name, "environments": envs, "next": next_command(rel, name)}


def status_lines(st: dict[str, Any]) -> list[str]:
    rel = st["release"]
    if rel is None:
        return [f"release {st['name']}: never run", f"next: {st['next']}"]
    gate = " (waiting at the gate)" if rel["at_gate"] else ""
    lines = [
        f"release {rel['id']}: {rel['status']}, version {rel['version']}, wave {rel['wave']} of {len(rel['waves'])}"
        + gate,
        f"  started by {rel['started_by']['user']}"
        + (f"; abort requested: {rel['abort_requested']}" if rel["abort_requested"] else ""),
    ]
    for env in st["environments"]:
        dep = env["deployment"]
        where = f"  deployment {dep['id']} ({dep['status']}, phase {dep['phase']})" if dep else ""
        lines.append(f"  wave {env['wave']}  {env['environment']:<16} {env['state']:<10}{where}")
        if env["note"] and env["state"] != "succeeded":
            lines.append(f"           {env['note']}")
    lines.append(f"next: {st['next']}")
    return lines


def plan_header(name: str, version: str, waves: tuple[tuple[str, ...], ...], settings: Any) -> list[str]:
    at_once = settings.parallelism or "all"
    lines = [
        f"release {name} of {version}: {len(waves)} wave(s), {at_once} at once per wave; "
        f"on failure: {settings.on_failure}; an environment held by another deployment: {settings.when_locked}"
    ]
    if settings.promotion == "manual" and len(waves) > 1:
        lines.append(f"  between waves: wait for `bluegreen promote {name}`")
    return lines
