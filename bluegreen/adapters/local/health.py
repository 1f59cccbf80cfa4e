"""A colour's health on one host, decided from what its process and its /health said. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from bluegreen.adapters.http_smoke import Answer, snippet
from bluegreen.model import Colour
from bluegreen.ports import HealthSnapshot, HealthState, TargetHealth


@dataclass(frozen=True)
class ProcessView:
    """What bluegreen knows about a colour's process when it polls."""

    pid: int
    address: str
    running: bool
    exit_code: int | None = None  # once it has exited, if recorded
    log_tail: str = ""


def classify(colour: Colour, path: str, process: ProcessView | None, answer: Answer | None) -> HealthSnapshot:
    """One poll: HEALTHY on a 200 from a running process, FAILED once it exited, PENDING otherwise.

    `answer` is None when the process was not asked (it is not running).
    """
    if process is None:
        return HealthSnapshot(
            HealthState.FAILED, 0, 1, reason=f"{colour} has no app process (not provisioned, or destroyed)"
        )
    target_id = f"{colour} pid {process.pid} at {process.address}"
    if not process.running or answer is None:
        code = "an unrecorded code" if process.exit_code is None else f"code {process.exit_code}"
        why = f"exited with {code}; its log ends:\n{process.log_tail}"
        return HealthSnapshot(
            HealthState.FAILED, 0, 1, targets=(TargetHealth(target_id, "exited", why),), reason=f"process {why}"
        )
    if answer.status == 200:
        return HealthSnapshot(HealthState.HEALTHY, 1, 1, targets=(TargetHealth(target_id, "healthy"),))
    if answer.status is None:
        why = f"GET {path}: {answer.error}"
        return HealthSnapshot(
            HealthState.PENDING, 0, 1, targets=(TargetHealth(target_id, "unreachable", why),), reason=why
        )
    why = f"GET {path} answered {answer.status}: {snippet(answer.body)}"
    return HealthSnapshot(HealthState.PENDING, 0, 1, targets=(TargetHealth(target_id, "unhealthy", why),), reason=why)
