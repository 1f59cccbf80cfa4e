"""Target health as an ALB reports it, from what the proxy's health checks see.

States and reason codes are AWS's, from the ELBv2 API reference, TargetHealth
(https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetHealth.html):
  initial:   Elb.RegistrationInProgress, Elb.InitialHealthChecking
  unhealthy: Target.ResponseCodeMismatch, Target.Timeout, Target.FailedHealthChecks
  unused:    Target.NotRegistered, Target.NotInUse
  draining:  Target.DeregistrationInProgress
The descriptions are the sentences AWS sends with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INITIAL_REGISTERING = ("initial", "Elb.RegistrationInProgress", "Target registration is in progress")
INITIAL_CHECKING = ("initial", "Elb.InitialHealthChecking", "Initial health checks in progress")
FAILED = ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")
TIMEOUT = ("unhealthy", "Target.Timeout", "Request timed out")
DRAINING = ("draining", "Target.DeregistrationInProgress", "Target deregistration is in progress")
NOT_IN_USE = ("unused", "Target.NotInUse", "Target group is not configured to receive traffic from the load balancer")
NOT_REGISTERED = ("unused", "Target.NotRegistered", "Target is not registered to the target group")

# HAProxy's check_status values (management guide, "show stat", field 36).
_TIMEOUTS = frozenset({"L4TOUT", "L6TOUT", "L7TOUT"})


@dataclass(frozen=True)
class Seen:
    """What the proxy reports for one server, and what we remember of it."""

    status: str  # HAProxy's: "UP", "UP 1/2" (going down), "DOWN", "DOWN 1/3" (going up), "DRAIN", "MAINT"
    check_status: str  # "INI", "L7OK", "L7STS", "L4CON", "L7TOUT", ...
    check_code: str  # the HTTP status of the last check, for L7STS
    ever_up: bool
    checking_for_s: float  # since the target was handed to the proxy
    unhealthy_after_s: float  # unhealthy threshold x interval: a new target that never passed is unhealthy then


def failure(check_status: str, check_code: str) -> tuple[str, str, str]:
    if check_status in _TIMEOUTS:
        return TIMEOUT
    if check_status == "L7STS" and check_code:
        return ("unhealthy", "Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{check_code}]")
    return FAILED


def classify(seen: Seen | None, *, draining: bool) -> tuple[str, str, str]:
    """(state, reason, description); reason and description are empty for a healthy target."""
    if draining:
        return DRAINING
    if seen is None:
        return INITIAL_REGISTERING
    if seen.status.startswith("UP"):
        return ("healthy", "", "")
    last = last_check(seen.check_status)
    passed_once = last.endswith("OK")
    if not seen.ever_up:
        if last in ("", "INI"):
            return INITIAL_REGISTERING
        if passed_once or seen.checking_for_s < seen.unhealthy_after_s:
            return INITIAL_CHECKING
    if passed_once:
        return ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")  # going up again after a failure
    return failure(last, seen.check_code)


def last_check(check_status: str) -> str:
    """The last finished check's status: while a check runs, HAProxy reports it prefixed with "* " ("* L7STS").

    Management guide, "show stat", field 36 (check_status): "If a check is currently running, the last
    known status will be reported, prefixed with "* "". Read as it comes, a target answering 503 looked
    like a plain failed check for the length of every check (more often the more loaded the machine).
    """
    return check_status.removeprefix("* ")


def description(target_id: str, port: int, health_check_port: str, state: tuple[str, str, str]) -> dict[str, Any]:
    """One TargetHealthDescription, as boto3 shapes it."""
    health: dict[str, Any] = {"State": state[0]}
    if state[1]:
        health["Reason"] = state[1]
        health["Description"] = state[2]
    return {"Target": {"Id": target_id, "Port": port}, "HealthCheckPort": health_check_port, "TargetHealth": health}
