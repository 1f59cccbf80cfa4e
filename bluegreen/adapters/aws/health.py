"""The `Health` port on AWS: reads the Auto Scaling Group and the load balancer, judges by health_rules.py.

`check(colour)` is one poll, classified by the pure rules in health_rules.py
(which say what HEALTHY, PENDING and FAILED mean); `headroom` and
`drain_state` are the evidence the engine asks for before it moves traffic
back or retires a colour.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bluegreen.adapters.aws.asg import describe_group, elb_attachment, parse_asg
from bluegreen.adapters.aws.cloudwatch import fetch_datapoints, target_group_metric, total
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.health_rules import (
    classify_alb,
    classify_elb,
    draining_targets,
    parse_instance_health,
    parse_target_health,
)
from bluegreen.adapters.aws.session import AwsTarget, api_errors, client
from bluegreen.model import Colour
from bluegreen.ports import DrainState, Headroom, HealthSnapshot, HealthState, Traffic

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
        return describe_group(self._autoscaling, self._env.asg_name(colour))

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
        lb = self._env.load_balancer_name
        attachment = elb_attachment(self._autoscaling, name, lb)
        if attachment and attachment != "Removed":
            return DrainState(serving=True, reason=f"{name} is attached to {lb} ({attachment})")
        members = {i.id for i in asg.instances}
        still = [t.id for t in parse_instance_health(self.describe_instance_health()) if t.id in members]
        if still:
            return DrainState(serving=True, reason=f"{lb} still lists {', '.join(still)} of {name}")
        return DrainState(serving=False, reason=f"{name} is detached from {lb} and none of its instances is registered")
