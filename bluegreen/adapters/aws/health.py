"""Health of one colour on AWS: its Auto Scaling Group and the load balancer's view of it.

`check(colour)` is one poll; the engine counts consecutive HEALTHY polls
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

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from bluegreen.adapters.aws.alarms import fetch_datapoints, target_group_metric, target_group_name, total
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.session import AwsTarget, api_errors, client
from bluegreen.model import Colour
from bluegreen.ports import DrainState, Headroom, HealthSnapshot, HealthState, TargetHealth, Traffic

IN_SERVICE = "InService"
HEALTHY_STATUS = "Healthy"
NOT_REGISTERED = "not registered"  # our word: the instance is not in the load balancer's list at all


class Verdict(Enum):
    """What one load balancer entry means for readiness."""

    READY = "ready"  # receives traffic and passes health checks
    SETTLING = "settling"  # may become ready by itself
    IDLE = "idle"  # not routed to: leaving, stopped, not registered
    BROKEN = "broken"  # a configuration problem; will not change by waiting


@dataclass(frozen=True)
class AsgInstance:
    id: str
    lifecycle: str  # Pending, Pending:Wait, InService, Terminating, Standby, ...
    health: str  # Healthy | Unhealthy

    @property
    def in_service(self) -> bool:
        return self.lifecycle == IN_SERVICE and self.health == HEALTHY_STATUS


@dataclass(frozen=True)
class AsgView:
    name: str
    desired: int
    instances: tuple[AsgInstance, ...]
    deleting: bool
    target_groups: frozenset[str]
    load_balancers: frozenset[str]


# -- parsing the raw responses ----------------------------------------------------


def parse_asg(response: Mapping[str, Any], name: str) -> AsgView | None:
    """The named group from a describe_auto_scaling_groups response (None: it does not exist)."""
    for group in response.get("AutoScalingGroups", []):
        if group.get("AutoScalingGroupName") != name:
            continue
        sources = group.get("TrafficSources", [])
        return AsgView(
            name=name,
            desired=int(group.get("DesiredCapacity", 0)),
            instances=tuple(
                AsgInstance(id=i["InstanceId"], lifecycle=i.get("LifecycleState", ""), health=i.get("HealthStatus", ""))
                for i in group.get("Instances", [])
            ),
            # Status is only present while DeleteAutoScalingGroup runs ("Delete in progress").
            deleting="delete" in str(group.get("Status", "")).lower(),
            target_groups=frozenset(group.get("TargetGroupARNs", []))
            | {s["Identifier"] for s in sources if s.get("Type", "elbv2") == "elbv2"},
            load_balancers=frozenset(group.get("LoadBalancerNames", []))
            | {s["Identifier"] for s in sources if s.get("Type") == "elb"},
        )
    return None


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
        return snap(HealthState.PENDING, f"not yet healthy in {lb_label}: {', '.join(not_ready + settling_others)}")
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


# -- the adapter ------------------------------------------------------------------------


class AwsHealth:
    """The `Health` port on AWS (ALB target groups, or a classic ELB)."""

    def __init__(
        self,
        env: AwsEnvironment,
        *,
        autoscaling: Any,
        traffic: Traffic,
        elbv2: Any = None,
        elb: Any = None,
        cloudwatch: Any = None,
        request_window_s: float = 180.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._env = env
        self._autoscaling = autoscaling
        self._traffic = traffic
        self._elbv2 = elbv2
        self._elb = elb
        self._cloudwatch = cloudwatch
        self._request_window_s = request_window_s
        self._now = now

    @classmethod
    def from_target(cls, env: AwsEnvironment, target: AwsTarget, *, traffic: Traffic) -> AwsHealth:
        classic = env.load_balancer_type == "elb"
        return cls(
            env,
            autoscaling=client(target, "autoscaling"),
            traffic=traffic,
            elbv2=None if classic else client(target, "elbv2"),
            elb=client(target, "elb") if classic else None,
            cloudwatch=None if classic else client(target, "cloudwatch"),
        )

    @property
    def _classic(self) -> bool:
        return self._env.load_balancer_type == "elb"

    # raw reads --------------------------------------------------------------------
    def describe_asg(self, colour: Colour) -> dict[str, Any]:
        name = self._env.asg_name(colour)
        with api_errors(f"could not read Auto Scaling group {name}", where=name):
            return dict(self._autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name]))

    def describe_target_health(self, colour: Colour) -> dict[str, Any]:
        arn = self._env.target_group(colour)
        with api_errors(
            f"could not read the target health of {colour}",
            where=arn,
            hint="check the environment's target groups (`terraform output` of the environment module)",
        ):
            return dict(self._elbv2.describe_target_health(TargetGroupArn=arn))

    def describe_instance_health(self) -> dict[str, Any]:
        name = self._env.load_balancer_name
        # Without an instance list: asking about an unregistered instance is an error on AWS.
        with api_errors(f"could not read the instance health of classic load balancer {name}", where=name):
            return dict(self._elb.describe_instance_health(LoadBalancerName=name))

    # the port -----------------------------------------------------------------------
    def check(self, colour: Colour) -> HealthSnapshot:
        asg_response = self.describe_asg(colour)
        if self._classic:
            asg = parse_asg(asg_response, self._env.asg_name(colour))
            attached = asg is not None and self._env.load_balancer_name in asg.load_balancers
            return classify_elb(
                asg_response,
                self.describe_instance_health() if attached else None,
                asg_name=self._env.asg_name(colour),
                load_balancer_name=self._env.load_balancer_name,
            )
        return classify_alb(
            asg_response,
            self.describe_target_health(colour),
            asg_name=self._env.asg_name(colour),
            target_group_arn=self._env.target_group(colour),
        )

    def headroom(self, colour: Colour) -> Headroom:
        snapshot = self.check(colour)
        if snapshot.state is HealthState.HEALTHY:
            return Headroom(ok=True, reason=f"{colour} could take all traffic now: {snapshot.describe()}")
        return Headroom(ok=False, reason=f"{colour} could not take all traffic back now: {snapshot.describe()}")

    def drain_state(self, colour: Colour) -> DrainState:
        weight = self._traffic.read_weights().of(colour)
        if weight > 0:
            return DrainState(serving=True, reason=f"the load balancer still sends {weight}% of traffic to {colour}")
        if self._classic:
            return self._classic_drain_state(colour)
        draining = draining_targets(parse_target_health(self.describe_target_health(colour)))
        if draining:
            return DrainState(serving=True, reason=f"targets of {colour} still draining: {', '.join(draining)}")
        query = target_group_metric(self._env, colour, "RequestCount")
        window = self._request_window_s
        requests = total(fetch_datapoints(self._cloudwatch, query, ["Sum"], now=self._now(), window_s=window)) or 0.0
        if requests > 0:
            return DrainState(serving=True, reason=f"{requests:g} requests reached {colour} in the last {window:g}s")
        return DrainState(
            serving=False,
            reason=f"weight 0, no draining targets and no requests in the last {window:g}s on {colour}",
        )

    def _classic_drain_state(self, colour: Colour) -> DrainState:
        name = self._env.asg_name(colour)
        asg = parse_asg(self.describe_asg(colour), name)
        if asg is None:
            return DrainState(serving=False, reason=f"Auto Scaling group {name} does not exist")
        with api_errors(f"could not read the load balancers of {name}", where=name):
            states = self._autoscaling.describe_load_balancers(AutoScalingGroupName=name).get("LoadBalancers", [])
        lb = self._env.load_balancer_name
        attachment = next((s.get("State", "") for s in states if s.get("LoadBalancerName") == lb), "")
        if attachment and attachment != "Removed":
            return DrainState(serving=True, reason=f"{name} is attached to {lb} ({attachment})")
        members = {i.id for i in asg.instances}
        still = [t.id for t in parse_instance_health(self.describe_instance_health()) if t.id in members]
        if still:
            return DrainState(serving=True, reason=f"{lb} still lists {', '.join(still)} of {name}")
        return DrainState(serving=False, reason=f"{name} is detached from {lb} and none of its instances is registered")
