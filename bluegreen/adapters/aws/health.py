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
from bluegreen.adapters.aws.cloudwatch import fetch_between, published_window, target_group_metric, total
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.forwards import read_forwards, still_forwarding
from bluegreen.adapters.aws.health_rules import (
    classify_alb,
    classify_elb,
    drained_state,
    draining_targets,
    parse_instance_health,
    parse_target_health,
)
from bluegreen.adapters.aws.session import AwsTarget, api_errors, client
from bluegreen.model import Colour
from bluegreen.ports import DrainState, Headroom, HealthSnapshot, HealthState, Traffic
from bluegreen.settings import MetricThresholds

AWS_PUBLICATION = MetricThresholds()  # ALB metrics: 60 s periods, about a minute late

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
        publication: MetricThresholds = AWS_PUBLICATION,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._env = env
        self._autoscaling = autoscaling
        self._traffic = traffic
        self._elbv2 = elbv2
        self._elb = elb
        self._cloudwatch = cloudwatch
        self._publication = publication
        self._now = now

    @classmethod
    def from_target(
        cls,
        env: AwsEnvironment,
        target: AwsTarget,
        *,
        traffic: Traffic,
        publication: MetricThresholds = AWS_PUBLICATION,
    ) -> AwsHealth:
        classic = env.load_balancer_type == "elb"
        return cls(
            env,
            autoscaling=client(target, "autoscaling"),
            traffic=traffic,
            elbv2=None if classic else client(target, "elbv2"),
            elb=client(target, "elb") if classic else None,
            cloudwatch=None if classic else client(target, "cloudwatch"),
            publication=publication,
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

    def drain_state(self, colour: Colour, *, deregister: bool = False) -> DrainState:
        """Configuration first (every listener and rule), then deregistration and draining, then the metrics.

        Weight 0 never drains a target: only deregistration does, and its
        in-flight requests get the target group's deregistration delay.
        """
        weight = self._traffic.read_weights().of(colour)
        if weight > 0:
            return DrainState(serving=True, reason=f"the load balancer still sends {weight}% of traffic to {colour}")
        if self._classic:
            return self._classic_drain_state(colour)
        group = self._env.target_group(colour)
        owned = (self._env.listener_arn, self._env.test_listener_arn)
        forwarding = still_forwarding(read_forwards(self._elbv2, self._env.listener_arn), group, owned_listeners=owned)
        if forwarding:
            return DrainState(
                serving=True,
                blocked=True,
                reason="; ".join(f.describe() for f in forwarding)
                + f" (change or delete it so nothing forwards to {colour}: aws elbv2 modify-rule / delete-rule)",
            )
        if deregister:
            return self._deregister(colour)
        response = self.describe_target_health(colour)
        draining = draining_targets(parse_target_health(response))
        if draining:
            return DrainState(serving=True, reason=f"targets of {colour} still draining: {', '.join(draining)}")
        return self._requests_seen(colour)

    def _requests_seen(self, colour: Colour) -> DrainState:
        """Requests CloudWatch has published for the colour in its last two periods before the publication lag.

        Two whole periods (AWS: two minutes) with no request published, after the colour left every
        listener and its targets finished draining, is the evidence that nothing still reaches it.
        """
        query = target_group_metric(self._env, colour, "RequestCount")
        now, lag, period = self._now(), self._publication.publication_lag_s, int(self._publication.period_s)
        window = published_window(now - lag - 2 * period, now, lag, period)
        requests = total(fetch_between(self._cloudwatch, query, ["Sum"], window)) or 0.0
        if requests > 0:
            return DrainState(serving=True, reason=f"{requests:g} requests reached {colour} from {window.describe()}")
        return DrainState(
            serving=False,
            reason=f"nothing forwards to {colour}, no draining targets, no requests published from {window.describe()}",
        )

    def _deregister(self, colour: Colour) -> DrainState:
        """Take the colour's targets out of its target group (idempotent), then report whether they drain."""
        group, name = self._env.target_group(colour), self._env.asg_name(colour)
        asg = parse_asg(self.describe_asg(colour), name)
        if asg is not None and group in asg.target_groups:
            with api_errors(f"could not detach {name} from its target group", where=group):
                # Detaching deregisters the group's instances and keeps the ASG from registering new ones.
                self._autoscaling.detach_load_balancer_target_groups(AutoScalingGroupName=name, TargetGroupARNs=[group])
        response = self.describe_target_health(colour)
        registered = [
            {"Id": d["Target"]["Id"], **({"Port": d["Target"]["Port"]} if "Port" in d["Target"] else {})}
            for d in response.get("TargetHealthDescriptions", [])
            if d.get("TargetHealth", {}).get("State") not in ("draining", "unhealthy.draining")
        ]
        if registered:
            with api_errors(f"could not deregister the targets of {colour}", where=group):
                self._elbv2.deregister_targets(TargetGroupArn=group, Targets=registered)
            response = self.describe_target_health(colour)
        if not draining_targets(parse_target_health(response)):
            return drained_state(response, colour, [])
        with api_errors("could not read the target group's attributes", where=group):
            attributes = self._elbv2.describe_target_group_attributes(TargetGroupArn=group).get("Attributes", [])
        return drained_state(response, colour, attributes)

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
