"""The rules of health on AWS, pure: one colour's Auto Scaling Group and the load balancer's view of it.

`AwsHealth.check(colour)` (health.py) is one poll; the engine counts consecutive HEALTHY polls
against its threshold. The verdict is a pure function of the raw
describe_auto_scaling_groups and describe_target_health (classic ELB:
describe_instance_health) responses, so every state real AWS reports, and
that moto never shows (it calls targets healthy at once), is tested on
recorded responses in tests/aws/recorded/.

HEALTHY: the ASG has at least its desired count InService and Healthy, every
one of those is a `healthy` target (classic: InService on the ELB), and no
other target the load balancer could route to is anything but healthy.

FAILED is kept for what waiting will not fix:
- the ASG does not exist, is being deleted, wants 0 instances, or is not
  attached to the colour's target group (its instances would never register);
- the ASG has marked an instance Unhealthy. With `health_check_type = "ELB"`
  that happens once the instance failed the load balancer's health check after
  the ASG's grace period (or failed EC2 status checks); the ASG replaces it
  with the same image, which is the release that just failed. The grace
  period is the application's start-up allowance: until it ends an
  `unhealthy` target is only PENDING, because a slow start recovers;
- the target group's health checks are disabled (unavailable,
  Target.HealthCheckDisabled), a target's IP is unusable (Target.IpUnusable),
  or (classic ELB) the instance's zone is not enabled on the load balancer.
Everything else is PENDING (initial, unhealthy within the grace period,
stopped or not yet registered instances, fewer InService than desired, ASG
lifecycle hooks, an internal ELB error, a state this code does not know);
the engine's deadline bounds how long PENDING may last. Target.NotInUse (no
listener forwards to the target group) is PENDING too: pointing the test
listener at the new colour is what starts its health checks, and the load
balancer takes a moment to notice. An ASG whose health
check type is EC2 never marks load balancer failures Unhealthy, so a bad
release there shows as PENDING until that deadline.

A classic ELB sees a colour only once its ASG is attached, which
ClassicElbTraffic does when it moves traffic (and it waits for InService
before detaching the old colour). Before that the ASG's own view is all
there is, and the snapshot says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from enum import Enum
from typing import Any

from bluegreen.adapters.aws.asg import HEALTHY_STATUS, IN_SERVICE, AsgView, parse_asg
from bluegreen.adapters.aws.cloudwatch import target_group_name
from bluegreen.model import Colour
from bluegreen.ports import DrainState, HealthSnapshot, HealthState, TargetHealth

NOT_REGISTERED = "not registered"  # our word: the instance is not in the load balancer's list at all


class Verdict(Enum):
    """What one load balancer entry means for readiness."""

    READY = "ready"  # receives traffic and passes health checks
    SETTLING = "settling"  # may become ready by itself
    IDLE = "idle"  # not routed to: leaving, stopped, not registered
    BROKEN = "broken"  # a configuration problem; will not change by waiting


# -- parsing the raw responses ----------------------------------------------------


def parse_target_health(response: Mapping[str, Any]) -> tuple[TargetHealth, ...]:
    return tuple(
        TargetHealth(
            id=d["Target"]["Id"],
            state=d.get("TargetHealth", {}).get("State", ""),
            reason=d.get("TargetHealth", {}).get("Reason", ""),
            description=d.get("TargetHealth", {}).get("Description", ""),
        )
        for d in response.get("TargetHealthDescriptions", [])
    )


def parse_instance_health(response: Mapping[str, Any]) -> tuple[TargetHealth, ...]:
    return tuple(
        TargetHealth(
            id=s["InstanceId"],
            state=s.get("State", ""),
            reason="" if s.get("ReasonCode") in (None, "N/A") else str(s["ReasonCode"]),
            description="" if s.get("Description") in (None, "N/A") else str(s["Description"]),
        )
        for s in response.get("InstanceStates", [])
    )


# -- what each load balancer state means -------------------------------------------


def alb_verdict(t: TargetHealth) -> Verdict:
    """An ALB/NLB target state (describe_target_health) as readiness."""
    if t.state == "healthy":
        return Verdict.READY
    if t.state in ("draining", "unhealthy.draining"):
        return Verdict.IDLE
    if t.state == "unused":
        if t.reason == "Target.IpUnusable":
            return Verdict.BROKEN
        if t.reason == "Target.NotInUse":
            return Verdict.SETTLING  # health checks start once a listener forwards to the group
        return Verdict.IDLE  # Target.NotRegistered, Target.InvalidState (stopped or terminated)
    if t.state == "unavailable" and t.reason == "Target.HealthCheckDisabled":
        return Verdict.BROKEN
    return Verdict.SETTLING  # initial, unhealthy, unavailable (Elb.InternalError), anything new


def elb_verdict(t: TargetHealth) -> Verdict:
    """A classic ELB instance state (describe_instance_health) as readiness.

    The classic API has only InService/OutOfService/Unknown; the cause is in
    the description, whose wording AWS documents.
    """
    if t.state == IN_SERVICE:
        return Verdict.READY
    text = t.description.lower()
    if "not configured to route traffic" in text:
        return Verdict.BROKEN  # the instance's zone is not enabled on the load balancer
    if any(s in text for s in ("deregistration", "not currently registered", "stopped state", "terminated state")):
        return Verdict.IDLE
    return Verdict.SETTLING  # registration in progress, threshold not yet met, transient error, Unknown


# -- the classification ---------------------------------------------------------------


def classify(
    asg: AsgView | None,
    asg_name: str,
    targets: Sequence[TargetHealth] | None,
    *,
    verdict: Callable[[TargetHealth], Verdict],
    attached: bool,
    lb_label: str,
) -> HealthSnapshot:
    """The verdict on one poll (see the module docstring for the rules).

    `targets` is the load balancer's list (None: the load balancer does not see
    this ASG yet, so only the ASG's own view counts).
    """
    if asg is None:
        return HealthSnapshot(HealthState.FAILED, 0, 0, reason=f"Auto Scaling group {asg_name} does not exist")
    in_service = sum(1 for i in asg.instances if i.in_service)
    entries = annotate(asg, targets)

    def snap(state: HealthState, reason: str) -> HealthSnapshot:
        return HealthSnapshot(state, in_service, asg.desired, entries, reason)

    if asg.deleting:
        return snap(HealthState.FAILED, f"Auto Scaling group {asg_name} is being deleted")
    if asg.desired <= 0:
        return snap(HealthState.FAILED, f"Auto Scaling group {asg_name} has a desired capacity of 0")
    if not attached and targets is not None:
        return snap(HealthState.FAILED, f"Auto Scaling group {asg_name} is not attached to {lb_label}")
    unhealthy = [i.id for i in asg.instances if i.health and i.health != HEALTHY_STATUS]
    if unhealthy:
        return snap(
            HealthState.FAILED,
            f"the ASG marked {', '.join(unhealthy)} Unhealthy and is replacing them with the same release "
            "(failed the load balancer's health check after the grace period, or an EC2 status check)",
        )
    if targets is None:
        if in_service < asg.desired:
            return snap(HealthState.PENDING, f"waiting for {asg.desired - in_service} more instance(s) InService")
        return snap(HealthState.HEALTHY, f"{lb_label} does not see this group yet: ASG health only")

    by_id = {t.id: t for t in targets}
    members = {i.id for i in asg.instances}
    broken = [t for t in targets if verdict(t) is Verdict.BROKEN]
    if broken:
        return snap(HealthState.FAILED, f"{lb_label} cannot health-check {', '.join(t.id for t in broken)}")
    if in_service < asg.desired:
        return snap(HealthState.PENDING, f"waiting for {asg.desired - in_service} more instance(s) InService")
    not_ready = [
        i.id for i in asg.instances if i.in_service and (i.id not in by_id or verdict(by_id[i.id]) is not Verdict.READY)
    ]
    settling_others = [t.id for t in targets if t.id not in members and verdict(t) is Verdict.SETTLING]
    if not_ready or settling_others:
        said = [f"not yet healthy in {lb_label}: {', '.join(not_ready)}"] if not_ready else []
        if settling_others:
            said.append(
                f"{lb_label} also routes to {', '.join(settling_others)}, not in {asg_name} and not yet healthy "
                "(registered by hand or left by another group): they pass their health checks or are deregistered"
            )
        return snap(HealthState.PENDING, "; ".join(said))
    return snap(HealthState.HEALTHY, "")


def annotate(asg: AsgView, targets: Sequence[TargetHealth] | None) -> tuple[TargetHealth, ...]:
    """One entry per ASG instance (the LB's word for it, plus the ASG's when that matters), then other targets."""
    by_id = {t.id: t for t in targets or ()}
    out = []
    for i in asg.instances:
        asg_note = "" if i.in_service else f"ASG: {i.lifecycle}/{i.health}"
        if targets is None:
            out.append(TargetHealth(i.id, i.lifecycle, reason=i.health if i.health != HEALTHY_STATUS else ""))
        elif i.id in by_id:
            t = by_id[i.id]
            out.append(replace(t, reason="; ".join(x for x in (t.reason, asg_note) if x)) if asg_note else t)
        else:
            out.append(TargetHealth(i.id, NOT_REGISTERED, reason=asg_note or f"ASG: {i.lifecycle}"))
    members = {i.id for i in asg.instances}
    out.extend(t for t in targets or () if t.id not in members)
    return tuple(out)


def classify_alb(
    asg_response: Mapping[str, Any],
    target_health_response: Mapping[str, Any],
    *,
    asg_name: str,
    target_group_arn: str,
) -> HealthSnapshot:
    asg = parse_asg(asg_response, asg_name)
    return classify(
        asg,
        asg_name,
        parse_target_health(target_health_response),
        verdict=alb_verdict,
        attached=asg is not None and target_group_arn in asg.target_groups,
        lb_label=f"target group {target_group_name(target_group_arn)}",
    )


def classify_elb(
    asg_response: Mapping[str, Any],
    instance_health_response: Mapping[str, Any] | None,
    *,
    asg_name: str,
    load_balancer_name: str,
) -> HealthSnapshot:
    """`instance_health_response` None: the ASG is not attached, the ELB has nothing to say yet."""
    asg = parse_asg(asg_response, asg_name)
    attached = asg is not None and load_balancer_name in asg.load_balancers
    return classify(
        asg,
        asg_name,
        parse_instance_health(instance_health_response) if attached and instance_health_response else None,
        verdict=elb_verdict,
        attached=attached,
        lb_label=f"classic load balancer {load_balancer_name}",
    )


def draining_targets(targets: Iterable[TargetHealth]) -> list[str]:
    return [t.id for t in targets if t.state in ("draining", "unhealthy.draining")]


def deregistration_delay(attributes: Iterable[Mapping[str, Any]]) -> str:
    """The target group's `deregistration_delay.timeout_seconds` (AWS's default: 300) from its attributes."""
    found = {str(a.get("Key")): str(a.get("Value")) for a in attributes}
    return found.get("deregistration_delay.timeout_seconds", "300")


def drained_state(
    target_health: Mapping[str, Any], colour: Colour, attributes: Iterable[Mapping[str, Any]]
) -> DrainState:
    """After deregistration: still serving while any target is `draining` (AWS keeps it so for the
    target group's deregistration delay, or until its in-flight requests end), or still registered."""
    targets = parse_target_health(target_health)
    draining = draining_targets(targets)
    if draining:
        return DrainState(
            serving=True,
            reason=f"targets of {colour} draining in-flight requests: {', '.join(draining)} "
            f"(deregistration delay {deregistration_delay(attributes)}s)",
        )
    left = [t.id for t in targets]
    if left:
        return DrainState(serving=True, reason=f"targets of {colour} still registered: {', '.join(left)}")
    return DrainState(serving=False, reason=f"no target of {colour} is registered or draining")
