"""What a record's current step means, for the state machine and what it writes (pure).

Split from machine.py so that module keeps to the transitions: whether a step
holds, the weights it expects, how often it polls, how a step and a command
are named in events, and when a lagged hold's last check has been made.
"""

from __future__ import annotations

from typing import Any

from bluegreen.commands import Bake, CheckHeadroom, Command, Destroy, Provision, SetWeights, Smoke, command_name
from bluegreen.metric_lag import hold_ends
from bluegreen.model import Colour, Record, StepKind, Weights
from bluegreen.ports import HealthSnapshot

RETRY_BACKOFF_S = 1.0  # seconds between tries of a failed command (times the attempt)


def health_data(colour: Colour, snap: HealthSnapshot) -> dict[str, Any]:
    """A health poll as the pictures show it: the colour, its state and how many targets are in each state."""
    counts: dict[str, int] = {}
    for t in snap.targets:
        counts[t.state] = counts.get(t.state, 0) + 1
    return {
        "colour": colour.value,
        "state": snap.state.value,
        "in_service": snap.in_service,
        "desired": snap.desired,
        "targets": counts,
    }


def holding(rec: Record) -> bool:
    step = rec.step
    return not rec.in_rollback and step is not None and step.kind in (StepKind.SHIFT, StepKind.OBSERVE)


def expected_weights(rec: Record) -> Weights:
    if rec.in_rollback:
        assert rec.from_colour is not None
        return Weights.all_on(rec.from_colour)
    step = rec.step
    return Weights.split(rec.to_colour, step.weight if step is not None and step.weight is not None else 100)


def poll_interval(rec: Record) -> float:
    step = rec.step
    return step.poll_s if step is not None and step.poll_s > 0 else RETRY_BACKOFF_S


def step_label(rec: Record) -> str:
    step = rec.step
    return step.describe() if step is not None else rec.phase.value


def describe_command(cmd: Command) -> str:
    match cmd:
        case Bake(version=v):
            return f"baking the image for {v}"
        case Provision(colour=c, release=r):
            return f"provisioning {c} with {r.version}" + (f" ({r.ami})" if r.ami else "")
        case Smoke(colour=c):
            return f"smoke checks on {c} only"
        case CheckHeadroom(colour=c):
            return f"checking {c} could take all traffic back"
        case SetWeights():
            return f"setting traffic {cmd.weights.describe()}"
        case Destroy(colour=c):
            return f"removing {c}"
    return command_name(cmd)


def settled(rec: Record, issued_at: float) -> bool:
    """A clean alarm check issued once the lag after the hold had passed: the step's last minutes are judged."""
    step = rec.step
    ends = hold_ends(rec)
    return (
        holding(rec)
        and step is not None
        and step.settle_s > 0
        and ends is not None
        and rec.weights == expected_weights(rec)
        and issued_at >= ends
    )


def reason_suffix(reason: str) -> str:
    return f": {reason}" if reason else ""


def promoter(rec: Record) -> str:
    """Who passed the gate, for the event that says so."""
    return rec.promote.by.describe() if rec.promote is not None else "?"
