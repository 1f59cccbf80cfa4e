"""The deployment state machine.

    observe -> decide -> act -> record

The runner loads the record, hands `decide` the record, what the last
command observed and the time; `decide` returns the record to store and the
next command. The runner stores the record *before* it runs the command
(the `inflight` marker) and feeds the outcome back, which `decide` applies
and the runner stores *after*. Everything a deployment knows is in the
record, so a killed process resumes by calling `decide` again: an unfinished
command is simply issued again (every port is idempotent).

Pure: no I/O, no clock, no boto3, no subprocess. Invariants it keeps:
- traffic goes to the new colour only after it passed health and smoke checks;
- every traffic change is confirmed by reading the load balancer back before
  the next step;
- the old colour is retired only after the new one serves 100% (read back),
  every hold/bake time has passed and the old colour serves nothing;
- an abort before retiring ends with 100% on the old colour (read back),
  then the new colour removed; a rollback that cannot finish says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from bluegreen.analysis import Verdict
from bluegreen.analysis_policy import Move, react, windows
from bluegreen.commands import (
    AlarmsChecked,
    Analyse,
    Analysed,
    AwaitPromotion,
    Bake,
    Baked,
    CheckAlarms,
    CheckDrain,
    CheckHeadroom,
    CheckHealth,
    Command,
    Destroy,
    Destroyed,
    DrainChecked,
    Failed,
    HeadroomChecked,
    HealthPolled,
    Observation,
    Provision,
    Provisioned,
    SetWeights,
    Sleep,
    Smoke,
    Smoked,
    WeightsRead,
    command_name,
)
from bluegreen.errors import UsageError
from bluegreen.metric_lag import hold_ends, hold_over, note_metrics
from bluegreen.model import Actor, Inflight, Phase, Record, Release, Request, Status, Step, StepKind, Weights
from bluegreen.ports import HealthSnapshot, HealthState
from bluegreen.step_rules import (
    RETRY_BACKOFF_S,
    describe_command,
    expected_weights,
    health_data,
    holding,
    poll_interval,
    promoter,
    reason_suffix,
    settled,
    step_label,
)

ROLLBACK_ATTEMPTS = 5  # rollback and retire steps retry this often before asking for an operator
# Polls leave no start/finish events (a long bake time would flood the history);
# their outcome is in the record and in events when something changes.
POLLS = (CheckHealth, CheckAlarms, CheckDrain, Analyse)
SET_WEIGHTS = SetWeights.__name__  # its command_name
POLL_NAMES = frozenset(c.__name__ for c in POLLS)


@dataclass(frozen=True)
class Decision:
    record: Record
    command: Command | None


def decide(rec: Record, obs: Observation | None, now: float) -> Decision:
    if obs is not None:
        rec = _apply(rec, obs, now)
    rec = _take_abort(rec, now)
    return _next(rec, now)


# -- operator requests (written into the record by any process) ----------------


def request_abort(rec: Record, by: Actor, now: float, reason: str = "") -> Record:
    env = rec.environment
    if rec.status.terminal:
        raise UsageError(
            f"deployment {rec.id} has already {rec.status.value}; there is nothing to abort",
            where=f"environment {env}",
            hint=f"to go back to an earlier release, deploy it: bluegreen deploy {env} --version VERSION",
        )
    if rec.retiring:
        raise UsageError(
            f"deployment {rec.id} is retiring the old colour {rec.from_colour}: too late to abort",
            where=f"environment {env}, phase {rec.phase.value}",
            hint=f"let it finish (bluegreen resume {env}), then deploy the previous release",
        )
    rec = rec.replace(abort=Request(by=by, at=now, reason=reason))
    if rec.status is Status.ROLLBACK_INCOMPLETE:
        rec = rec.replace(status=Status.ROLLING_BACK, attempts=0, next_check_at=None, note="")
        return rec.with_event(now, "abort_requested", f"{by.describe()} retries the rollback")
    return rec.with_event(now, "abort_requested", f"abort requested by {by.describe()}" + reason_suffix(reason))


def request_promote(rec: Record, by: Actor, now: float) -> Record:
    at_gate = rec.phase is Phase.GATE or rec.analysis_hold
    if not at_gate or rec.status not in (Status.PAUSED, Status.RUNNING):
        raise UsageError(
            f"deployment {rec.id} is not at the promotion gate (phase {rec.phase.value}, status {rec.status.value})",
            where=f"environment {rec.environment}",
            hint=f"see where it is: bluegreen status {rec.environment}",
        )
    if rec.promote is not None:
        return rec
    rec = rec.replace(promote=Request(by=by, at=now))
    return rec.with_event(now, "promote_requested", f"promoted by {by.describe()}")


def request_resume(rec: Record, by: Actor, now: float) -> Record:
    if rec.status.terminal:
        raise UsageError(
            f"deployment {rec.id} has already {rec.status.value}; there is nothing to resume",
            where=f"environment {rec.environment}",
            hint=f"start a new one: bluegreen deploy {rec.environment} --version VERSION",
        )
    if rec.status is Status.BLOCKED:
        rec = rec.replace(status=Status.RUNNING, attempts=0, next_check_at=None, note="")
    return rec.with_event(now, "resumed", f"resumed by {by.describe()}")


# -- applying what a command observed -------------------------------------------


def _apply(rec: Record, obs: Observation, now: float) -> Record:
    if rec.inflight is None or obs.seq != rec.inflight.seq:
        return rec  # an answer to a command the record has moved past
    name, issued_at = rec.inflight.name, rec.inflight.started_at
    rec = rec.replace(inflight=None, updated_at=now)
    if isinstance(obs, Failed):
        if name == SET_WEIGHTS:
            # The change may have reached the load balancer though no answer came back (or only
            # the read-back failed): what it serves is unknown until the next read-back.
            rec = rec.replace(weights=None)
        return _on_failure(rec, name, obs.error, now)
    if not isinstance(obs, POLL_OBSERVATIONS):
        rec = rec.with_event(now, "command_finished", f"{name} finished")
    elif rec.attempts:
        rec = rec.replace(attempts=0)  # polls give up on errors in a row: one answered ends the run
    match obs:
        case Baked(result=r):
            verb = "reused" if r.reused else "baked"
            rec = rec.replace(release=Release(rec.release.version, r.ami, r.source_hash))
            return _advance(rec, now, f"{verb} image {r.ami} (source hash {r.source_hash[:12]})")
        case Provisioned(result=r):
            rec = rec.replace(slots={**rec.slots, rec.to_colour.value: dict(r.details)})
            return _advance(rec, now, f"{rec.to_colour} provisioned")
        case HealthPolled(snapshot=snap):
            return _on_health(rec, snap, now)
        case Smoked(result=r):
            if not r.ok:
                return _begin_rollback(rec, now, f"smoke checks failed on {rec.to_colour}: {r.detail}", cause="smoke")
            return _advance(rec.replace(smoke_passed=True), now, f"smoke checks passed on {rec.to_colour}")
        case HeadroomChecked(headroom=h):
            if h.ok:
                return _advance(rec, now, f"{rec.from_colour} could take all traffic back")
            why = f"the old colour {rec.from_colour} could not take all traffic back: {h.reason}"
            if rec.weights is None or rec.weights.of(rec.to_colour) == 0:
                return _begin_rollback(rec, now, why + "; refusing to shift")
            # The new colour serves: going back would be worse. Hold before retiring.
            note = f"{why}; not retiring it. Fix it, then run: bluegreen resume {rec.environment}"
            return rec.replace(status=Status.BLOCKED, note=note).with_event(now, "blocked", note)
        case WeightsRead(weights=w):
            return _on_weights(rec, w, now)
        case AlarmsChecked(alarms=alarms, notes=notes):
            rec = note_metrics(rec, notes, now)
            if alarms:
                a = alarms[0]
                return _begin_rollback(rec, now, f"alarm {a.name} is in ALARM" + reason_suffix(a.reason), alarm=a.name)
            if settled(rec, issued_at):
                lag = rec.step.settle_s if rec.step else 0.0
                return _advance(
                    rec, now, f"{step_label(rec)}: held with no alarm, checked again after the {lag:g}s lag"
                )
            return rec.replace(next_check_at=now + poll_interval(rec))
        case DrainChecked(drain=d):
            if d.blocked and not rec.retiring:
                note = f"retiring {rec.from_colour} is blocked: {d.reason}. Fix it, then run: bluegreen resume {rec.environment}"
                return rec.replace(status=Status.BLOCKED, note=note).with_event(now, "blocked", note)
            if d.serving:
                note = f"waiting for {rec.from_colour} to stop serving: {d.reason}"
                if note != rec.note:
                    rec = rec.with_event(now, "drain", note)
                return rec.replace(note=note, next_check_at=now + poll_interval(rec))
            if rec.retiring:
                drained = f"{rec.from_colour} drained" + reason_suffix(d.reason)
                return rec.replace(drained=True, note="").with_event(now, "drain", drained)
            return rec.replace(retiring=True, note="").with_event(now, "drain", f"{rec.from_colour} serves nothing")
        case Analysed(verdict=v):
            return _on_verdict(rec, v, now)
        case Destroyed():
            return _on_destroyed(rec, now)
    return rec


POLL_OBSERVATIONS = (HealthPolled, AlarmsChecked, DrainChecked, Analysed)


def _on_failure(rec: Record, name: str, error: str, now: float) -> Record:
    if rec.in_rollback or rec.phase is Phase.RETIRE or name in POLL_NAMES:
        # Going back, finishing, or merely looking must not give up at the first error.
        rec = rec.with_event(now, "command_failed", f"{name} failed: {error}")
        attempts = rec.attempts + 1
        if attempts < ROLLBACK_ATTEMPTS:
            return rec.replace(attempts=attempts, next_check_at=now + RETRY_BACKOFF_S * attempts)
        if rec.in_rollback or rec.phase is Phase.RETIRE:
            return _stuck(rec, now, error)
    # One event says it (a tool's error is long): the rollback and its reason.
    return _begin_rollback(rec, now, f"{step_label(rec)} failed: {error}")


def _stuck(rec: Record, now: float, error: str) -> Record:
    env = rec.environment
    if rec.in_rollback:
        if rec.phase is not Phase.DECOMMISSION:
            where = f"traffic could not be restored to {rec.from_colour}"
        elif rec.from_colour is None:  # a first deployment: no traffic to bring back
            where = f"removing {rec.to_colour} failed"
        else:
            where = f"traffic is back on {rec.from_colour}, but removing {rec.to_colour} failed"
        note = f"rollback incomplete: {where}: {error}. Fix it, then run: bluegreen abort {env}"
        return rec.replace(status=Status.ROLLBACK_INCOMPLETE, note=note).with_event(now, "rollback_incomplete", note)
    note = f"retiring {rec.from_colour} failed: {error}. Fix it, then run: bluegreen resume {env}"
    return rec.replace(status=Status.BLOCKED, note=note).with_event(now, "blocked", note)


def _on_health(rec: Record, snap: HealthSnapshot, now: float) -> Record:
    state, text = snap.state, snap.describe()
    last = next((e.message for e in reversed(rec.events) if e.kind == "health"), None)
    if text != last:
        rec = rec.with_event(now, "health", text, **health_data(rec.to_colour, snap))
    step = rec.step
    assert step is not None
    if state is HealthState.FAILED:
        return _begin_rollback(rec, now, f"{rec.to_colour} is unhealthy: {text}")
    streak = rec.healthy_streak + 1 if state is HealthState.HEALTHY else 0
    if streak >= step.threshold:
        rec = rec.replace(healthy_streak=streak, healthy_passed=True)
        return _advance(rec, now, f"{rec.to_colour} healthy for {streak} consecutive polls")
    rec = rec.replace(healthy_streak=streak, next_check_at=now + step.poll_s)
    return _check_health_deadline(rec, now, text)


def _check_health_deadline(rec: Record, now: float, text: str) -> Record:
    step = rec.step
    assert step is not None and rec.step_started_at is not None
    if now >= rec.step_started_at + step.timeout_s:
        return _begin_rollback(rec, now, f"{rec.to_colour} not healthy within {step.timeout_s:g}s: {text}")
    return rec


def _on_weights(rec: Record, read: Weights, now: float) -> Record:
    expected = expected_weights(rec)
    rec = rec.replace(weights=read)
    shown = read.describe()
    if read == expected:
        rec = rec.replace(attempts=0, next_check_at=None).with_event(
            now, "traffic", f"{shown} (read back)", weights=read.to_json()
        )
        if rec.in_rollback:
            rec = rec.replace(phase=Phase.DECOMMISSION)
            return rec.with_event(now, "rollback", f"all traffic is back on {rec.from_colour}")
        step = rec.step
        assert step is not None
        return rec.replace(wait_until=now + step.wait_s, next_check_at=now + min(step.poll_s, step.wait_s))
    attempts = rec.attempts + 1
    msg = f"load balancer reports {shown}, expected {expected.describe()}"
    rec = rec.with_event(now, "traffic_mismatch", f"{msg} (attempt {attempts})", weights=read.to_json())
    limit = ROLLBACK_ATTEMPTS if rec.in_rollback else (rec.step.retries if rec.step else 0)
    if attempts <= limit:
        return rec.replace(attempts=attempts, next_check_at=now + RETRY_BACKOFF_S)
    if rec.in_rollback:
        return _stuck(rec, now, msg)
    return _begin_rollback(rec, now, f"traffic change not confirmed: {msg}")


def _on_verdict(rec: Record, verdict: Verdict, now: float) -> Record:
    settings = rec.analysis
    assert settings is not None
    label = step_label(rec)
    shown = {**verdict.to_json(), "step": rec.step_index, "judged_at": now}
    rec = rec.replace(verdict=shown).with_event(now, "analysis", f"{label}: {verdict.describe()}", **shown)
    r = react(settings, verdict, rec, label, now)
    if r.move is Move.ADVANCE:
        return _advance(rec, now, r.message)
    if r.move is Move.ROLLBACK:
        return _begin_rollback(rec, now, r.message)
    if r.move is Move.PAUSE:
        # Only a promote asked for after this pause goes on.
        rec = rec.replace(status=Status.PAUSED, analysis_hold=True, promote=None, note=r.message)
        return rec.with_event(now, "gate", r.message)
    since = rec.inconclusive_since if rec.inconclusive_since is not None else now
    return rec.replace(inconclusive_since=since, note=r.message, next_check_at=now + settings.interval_s)


def _on_destroyed(rec: Record, now: float) -> Record:
    if rec.in_rollback:
        slots = {k: v for k, v in rec.slots.items() if k != rec.to_colour.value}
        rec = rec.replace(phase=Phase.ROLLED_BACK, status=Status.ROLLED_BACK, slots=slots, note="")
        serves = f", {rec.from_colour} serves" if rec.from_colour is not None else ""
        return rec.with_event(now, "rolled_back", f"rolled back: {rec.to_colour} removed{serves}")
    assert rec.from_colour is not None
    slots = {k: v for k, v in rec.slots.items() if k != rec.from_colour.value}
    return _advance(rec.replace(slots=slots), now, f"{rec.from_colour} retired")


# -- moving through the plan -----------------------------------------------------


def _advance(rec: Record, now: float, message: str) -> Record:
    rec = rec.with_event(now, "step_finished", message)
    index = rec.step_index + 1
    rec = rec.replace(
        step_index=index,
        step_started_at=None,
        wait_until=None,
        next_check_at=None,
        attempts=0,
        status=Status.RUNNING,
        note="",
        inconclusive_since=None,
        analysis_hold=False,
    )
    if index >= len(rec.steps):
        rec = rec.replace(phase=Phase.DONE, status=Status.SUCCEEDED)
        return rec.with_event(now, "succeeded", f"{rec.release.version} serves all traffic on {rec.to_colour}")
    return rec.replace(phase=Phase(rec.steps[index].kind.value))


def _begin_rollback(rec: Record, now: float, reason: str, **data: str) -> Record:
    """Turn back; `data` names the cause for the pictures (`alarm=NAME`, `cause="smoke"`)."""
    rec = rec.replace(
        phase=Phase.ROLLBACK_TRAFFIC if rec.from_colour else Phase.DECOMMISSION,
        status=Status.ROLLING_BACK,
        failure=rec.failure or reason,
        inflight=None,
        attempts=0,
        wait_until=None,
        next_check_at=None,
        note="",
        analysis_hold=False,
        inconclusive_since=None,
    )
    return rec.with_event(now, "rollback_started", f"rolling back: {reason}", **data)


def _take_abort(rec: Record, now: float) -> Record:
    if rec.abort is None or rec.in_rollback or rec.retiring or rec.status.terminal:
        return rec
    if rec.status not in (Status.RUNNING, Status.PAUSED):
        return rec
    return _begin_rollback(rec, now, f"aborted by {rec.abort.by.describe()}" + reason_suffix(rec.abort.reason))


def _next(rec: Record, now: float) -> Decision:
    if rec.status not in (Status.RUNNING, Status.PAUSED, Status.ROLLING_BACK):
        return Decision(rec, None)
    if rec.next_check_at is not None and rec.inflight is None:
        until = rec.next_check_at
        ends = hold_ends(rec)
        if holding(rec) and ends is not None and rec.inconclusive_since is None:
            until = min(until, ends)  # a hold ends on time, whatever the poll cadence
        if now < until:
            return Decision(rec, Sleep(until))
    if rec.in_rollback:
        if rec.phase is Phase.ROLLBACK_TRAFFIC:
            return _issue(rec, SetWeights(expected_weights(rec)), now)
        return _issue(rec, Destroy(rec.to_colour), now)
    step = rec.step
    if step is None:
        return Decision(rec, None)
    if rec.step_started_at is None:
        rec = rec.replace(step_started_at=now, healthy_streak=0, attempts=0)
        rec = rec.with_event(now, "step_started", f"step {rec.step_index + 1}/{len(rec.steps)}: {step.describe()}")
    return _next_forward(rec, step, now)


def _next_forward(rec: Record, step: Step, now: float) -> Decision:
    match step.kind:
        case StepKind.BAKE:
            if rec.release.ami:
                return _next(_advance(rec, now, f"using image {rec.release.ami}"), now)
            return _issue(rec, Bake(rec.environment, rec.release.version, force=rec.force_bake), now)
        case StepKind.PROVISION:
            return _issue(rec, Provision(rec.to_colour, rec.release), now)
        case StepKind.WAIT_HEALTHY:
            last = next((e.message for e in reversed(rec.events) if e.kind == "health"), "no poll answered yet")
            checked = _check_health_deadline(rec, now, last)
            if checked.in_rollback:
                return _next(checked, now)
            return _issue(rec, CheckHealth(rec.to_colour), now)
        case StepKind.SMOKE:
            return _issue(rec, Smoke(rec.to_colour, rec.release.version), now)
        case StepKind.HEADROOM:
            assert rec.from_colour is not None
            return _issue(rec, CheckHeadroom(rec.from_colour), now)
        case StepKind.SHIFT:
            if rec.weights != expected_weights(rec) or rec.wait_until is None:
                return _issue(rec, SetWeights(expected_weights(rec)), now)
            return _hold(rec, now)
        case StepKind.OBSERVE:
            if rec.wait_until is None:
                rec = rec.replace(wait_until=now + step.wait_s)
            return _hold(rec, now)
        case StepKind.GATE:
            if rec.promote is not None:
                return _next(_advance(rec, now, f"promoted by {rec.promote.by.describe()}"), now)
            if rec.status is not Status.PAUSED:
                note = f"paused at the promotion gate: run `bluegreen promote {rec.environment}` (or abort)"
                rec = rec.replace(status=Status.PAUSED, note=note).with_event(now, "gate", note)
            return Decision(rec, AwaitPromotion())
        case StepKind.RETIRE:
            old = rec.from_colour
            assert old is not None
            if rec.retiring and not rec.drained:
                # Past the point of no return (abort refused): only now are its targets taken out.
                return _issue(rec, CheckDrain(old, deregister=True), now)
            if rec.retiring:
                return _issue(rec, Destroy(old), now)
            delay_ends = rec.wait_until if rec.wait_until is not None else now + step.wait_s
            if now < delay_ends:
                note = f"scale-down delay: {step.wait_s:g}s before {old} may go"
                return Decision(rec.replace(wait_until=delay_ends, note=note), Sleep(delay_ends))
            return _issue(rec.replace(wait_until=delay_ends), CheckDrain(old), now)
    raise AssertionError(f"unknown step {step.kind}")


def _hold(rec: Record, now: float) -> Decision:
    """Wait out a step's hold time, looking at alarms every poll.

    With a metric lag (`settle_s`), the hold's last minutes are published only
    that much later (`hold_over`): then the step advances on a clean check
    issued after the lag (see `settled`), or on the analysis, never on the
    hold's end alone.
    """
    assert rec.wait_until is not None
    step = rec.step
    judged = step is not None and step.analyse and rec.analysis is not None and rec.from_colour is not None
    over = hold_over(rec, now)
    if over and judged:
        # The hold's last period is published by now: the judge sees the whole hold.
        return _analyse(rec, now)
    if over and (step is None or step.settle_s <= 0):
        done = "confirmed" if step is not None and step.wait_s == 0 else "held with no alarm"
        return _next(_advance(rec, now, f"{step_label(rec)}: {done}"), now)
    if step is not None and step.settle_s > 0 and now >= rec.wait_until and not over:
        then = "the analysis" if judged else "a last check"
        note = f"hold over: waiting for its last minute's metrics ({step.settle_s:g}s publication lag), then {then}"
        if rec.note != note:
            rec = rec.replace(note=note).with_event(now, "hold", note)
    return _issue(rec, CheckAlarms(rec.to_colour, since=rec.step_started_at), now)


def _analyse(rec: Record, now: float) -> Decision:
    """The hold is over: judge the new colour (or wait for a person, when the analysis paused)."""
    settings, old = rec.analysis, rec.from_colour
    assert settings is not None and old is not None
    if rec.analysis_hold:
        if rec.promote is not None:
            rec = rec.replace(promote=None)
            return _next(_advance(rec, now, f"promoted past the analysis by {promoter(rec)}"), now)
        return Decision(rec, AwaitPromotion())
    new_window, old_window = windows(rec, now)
    return _issue(rec, Analyse(rec.to_colour, old, new_window, old_window, settings), now)


def _issue(rec: Record, cmd: Command, now: float) -> Decision:
    name = command_name(cmd)
    if rec.inflight is not None:
        # Started before, outcome never recorded (the process died): run it again.
        rec = rec.with_event(now, "resumed", f"{rec.inflight.name} started earlier did not record its end; again")
    seq = rec.seq + 1
    rec = rec.replace(seq=seq, inflight=Inflight(seq=seq, name=name, started_at=now), next_check_at=None)
    if not isinstance(cmd, POLLS):
        rec = rec.with_event(now, "command_started", describe_command(cmd))
    return Decision(rec, cmd)
