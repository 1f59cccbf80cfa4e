"""What the state machine asks for, and what comes back.

Commands are frozen values: the runner executes them through the ports and
`bluegreen plan` prints them. Each observation names the command it answers
(`seq`), so an answer that arrives after the record moved on is ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bluegreen.analysis import Verdict
from bluegreen.model import Colour, Release, Weights
from bluegreen.ports import Alarm, BakeResult, DrainState, Headroom, HealthSnapshot, ProvisionResult, SmokeResult
from bluegreen.settings import AnalysisSettings

# -- commands ------------------------------------------------------------------


@dataclass(frozen=True)
class Bake:
    environment: str
    version: str
    force: bool = False  # even when an image of the same source exists


@dataclass(frozen=True)
class Provision:
    colour: Colour
    release: Release


@dataclass(frozen=True)
class CheckHealth:
    colour: Colour


@dataclass(frozen=True)
class Smoke:
    colour: Colour
    release: str = ""  # the version being deployed: a check's `{release}` stands for it


@dataclass(frozen=True)
class CheckHeadroom:
    colour: Colour


@dataclass(frozen=True)
class SetWeights:
    """Apply the weights in one change, then read them back."""

    weights: Weights


@dataclass(frozen=True)
class CheckAlarms:
    colour: Colour
    since: float | None = None  # the step's start: metrics are judged from there on


@dataclass(frozen=True)
class CheckDrain:
    colour: Colour
    deregister: bool = False  # retiring has begun: take the colour's targets out, then watch them drain


@dataclass(frozen=True)
class Analyse:
    """Judge the new colour's metrics in `new_window` against the old colour's in `old_window` (epoch seconds)."""

    new: Colour
    old: Colour
    new_window: tuple[float, float]
    old_window: tuple[float, float]
    settings: AnalysisSettings


@dataclass(frozen=True)
class Destroy:
    colour: Colour


@dataclass(frozen=True)
class Sleep:
    """Nothing to do until `until` (or until an operator writes to the record)."""

    until: float


@dataclass(frozen=True)
class AwaitPromotion:
    """Paused at the gate: wait for `bluegreen promote`, or exit if told not to wait."""


Command = (
    Bake
    | Provision
    | CheckHealth
    | Smoke
    | CheckHeadroom
    | SetWeights
    | CheckAlarms
    | CheckDrain
    | Analyse
    | Destroy
    | Sleep
    | AwaitPromotion
)

# Commands with effects or observations get an inflight marker; waits do not.
WAITS = (Sleep, AwaitPromotion)


def command_name(cmd: Command) -> str:
    return type(cmd).__name__


# -- observations --------------------------------------------------------------


@dataclass(frozen=True)
class Baked:
    seq: int
    result: BakeResult


@dataclass(frozen=True)
class Provisioned:
    seq: int
    result: ProvisionResult


@dataclass(frozen=True)
class HealthPolled:
    seq: int
    snapshot: HealthSnapshot


@dataclass(frozen=True)
class Smoked:
    seq: int
    result: SmokeResult


@dataclass(frozen=True)
class HeadroomChecked:
    seq: int
    headroom: Headroom


@dataclass(frozen=True)
class WeightsRead:
    seq: int
    weights: Weights


@dataclass(frozen=True)
class AlarmsChecked:
    seq: int
    alarms: Sequence[Alarm]
    notes: Sequence[str] = ()  # what the check could not judge (no published data), for the record


@dataclass(frozen=True)
class DrainChecked:
    seq: int
    drain: DrainState


@dataclass(frozen=True)
class Analysed:
    seq: int
    verdict: Verdict


@dataclass(frozen=True)
class Destroyed:
    seq: int


@dataclass(frozen=True)
class Failed:
    """The adapter raised: `error` is its operator-facing message."""

    seq: int
    error: str


Observation = (
    Baked
    | Provisioned
    | HealthPolled
    | Smoked
    | HeadroomChecked
    | WeightsRead
    | AlarmsChecked
    | DrainChecked
    | Analysed
    | Destroyed
    | Failed
)
