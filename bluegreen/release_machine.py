"""The pure decisions of a release: which environments start next, when a wave is done, what a failure does.

`decide(release)` reads only the release record and says what to do now;
whoever drives the release (one process for every wave, or one CI job per
environment) acts on it and records the outcome, then asks again. The
invariants:

- a wave starts only when every environment of the previous waves succeeded
  (and, with `promotion: manual`, once `promote` passed the gate before it);
- at most `parallelism` environments of a wave run at once (0: the whole wave);
- after a failure no later wave starts. `rollback-wave` aborts the wave's
  environments still in flight and starts no more; `finish-wave` lets the
  wave's remaining environments run to their end;
- an abort request aborts every environment in flight and starts none;
- environments of earlier waves that succeeded stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from bluegreen.release_record import EnvState, ReleaseRecord, ReleaseStatus

STOPPED = (EnvState.FAILED, EnvState.ABORTED)


@dataclass(frozen=True)
class Next:
    wave: int  # the wave in progress (len(waves) when every wave succeeded)
    start: tuple[str, ...] = ()  # environments to start now
    abort: tuple[str, ...] = ()  # environments in flight to roll back
    gate: bool = False  # waiting for `promote` before `wave`
    finished: ReleaseStatus | None = None  # the release ends with this once nothing runs
    skip: tuple[str, ...] = ()  # with `finished`: the environments that never started


def current_wave(rel: ReleaseRecord) -> int:
    for i, wave in enumerate(rel.waves):
        if any(rel.entry(e).state is not EnvState.SUCCEEDED for e in wave):
            return i
    return len(rel.waves)


def decide(rel: ReleaseRecord) -> Next:
    w = current_wave(rel)
    states = {e: rel.entry(e).state for e in rel.environments}
    running = tuple(e for e in rel.environments if states[e] is EnvState.RUNNING)
    pending = tuple(e for e in rel.environments if states[e] is EnvState.PENDING)
    if rel.status.terminal:
        return Next(wave=w, finished=rel.status)

    def stop(status: ReleaseStatus) -> Next:
        return Next(wave=w, finished=status, skip=pending)

    if rel.abort_requested:
        return Next(wave=w, abort=running) if running else stop(ReleaseStatus.ABORTED)
    if any(s in STOPPED for s in states.values()):
        if rel.on_failure == "rollback-wave":
            return Next(wave=w, abort=running) if running else stop(ReleaseStatus.FAILED)
        start = _fill(rel, w, running)
        return Next(wave=w, start=start) if running or start else stop(ReleaseStatus.FAILED)
    if w == len(rel.waves):
        return Next(wave=w, finished=ReleaseStatus.SUCCEEDED)
    wave_untouched = all(states[e] is EnvState.PENDING for e in rel.waves[w])
    if w > 0 and rel.promotion == "manual" and w not in rel.promoted and wave_untouched:
        return Next(wave=w, gate=True)
    return Next(wave=w, start=_fill(rel, w, running))


def _fill(rel: ReleaseRecord, w: int, running: tuple[str, ...]) -> tuple[str, ...]:
    """The wave's pending environments that fit beside those running, in the order the file names them."""
    wave = rel.waves[w]
    room = (rel.parallelism or len(wave)) - sum(1 for e in running if e in wave)
    todo = [e for e in wave if rel.entry(e).state is EnvState.PENDING]
    return tuple(todo[: max(0, room)])


def may_start(rel: ReleaseRecord, environment: str) -> bool:
    """Whether `environment` is among those to start now (a CI job running one environment asks this)."""
    return environment in decide(rel).start


def finish(rel: ReleaseRecord, nxt: Next, now: float) -> ReleaseRecord:
    """The release record once it ends as `nxt` says (nothing in flight)."""
    assert nxt.finished is not None
    out = rel
    for e in nxt.skip:
        out = out.with_entry(e, state=EnvState.SKIPPED, note="the release stopped before its wave")
    done = sum(1 for e in rel.environments if out.entry(e).state is EnvState.SUCCEEDED)
    message = f"release {rel.name} {nxt.finished.value}: {done}/{len(rel.environments)} environments on {rel.version}"
    return out.replace(status=nxt.finished).with_event(now, f"release_{nxt.finished.value}", message)
