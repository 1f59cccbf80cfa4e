"""Moving traffic between the colours on AWS, and reading it back from the load balancer.

ALB (`AlbTraffic`): the production listener's default action is a weighted
forward to both colours' target groups, changed with ONE modify_listener, so
a shift or an abort is a single API call. Both target groups stay in the
forward (the idle one at weight 0) so the load balancer keeps health-checking
both. Stickiness is off: a sticky client would keep hitting the old colour
after its weight went to 0. `read_weights` reports what the listener says,
never what we last asked for. The test listener forwards to one colour only
(`point_test_listener`), so smoke checks reach the new colour before any user
does. Only the default actions are bluegreen's; listener rules are left alone.

Classic ELB (`ClassicElbTraffic`): no weights, only which ASGs are attached.
Moving traffic attaches the new colour's ASG, waits (bounded) until every
one of its InService instances is InService on the ELB, and only then
detaches the old one, so there is never a moment with nobody serving.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bluegreen.adapters.aws.asg import elb_attachment, parse_asg
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.health_rules import classify, elb_verdict, parse_instance_health
from bluegreen.adapters.aws.session import AwsTarget, api_errors, client
from bluegreen.errors import AdapterError
from bluegreen.model import Colour, Weights
from bluegreen.ports import HealthState

# autoscaling describe_load_balancers states in which the ELB routes to the group's instances
ATTACHED_STATES = ("Adding", "Added", "InService")


# -- pure: weights in, actions out, and back ---------------------------------------------


def checked_weights(weights: Weights, where: str) -> Weights:
    """The weights when they sum to 100, or an AdapterError."""
    if not weights.complete:
        raise AdapterError(
            f"traffic weights must sum to 100, got {weights.describe()}",
            where=where,
            hint="this is a bug in the deployment plan; report it with `bluegreen status --json`",
        )
    return weights


def forward_action(target_groups: Mapping[Colour, str], weights: Weights) -> dict[str, Any]:
    """A listener default action forwarding to both colours by weight, stickiness off."""
    return {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": target_groups[c], "Weight": weights.of(c)} for c in Colour],
            "TargetGroupStickinessConfig": {"Enabled": False},
        },
    }


def single_forward_action(target_group_arn: str) -> dict[str, Any]:
    return {"Type": "forward", "TargetGroupArn": target_group_arn}


def forwarded_shares(actions: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Target group ARN -> relative weight of the listener's forward action ({} when it forwards nowhere).

    AWS returns a plain forward both as TargetGroupArn and as a one-entry
    ForwardConfig; the ForwardConfig is the full truth when present. With an
    authenticate action first, the forward is the last action (by Order).
    """
    forwards = [a for a in actions if a.get("Type") == "forward"]
    if not forwards:
        return {}
    action = max(forwards, key=lambda a: int(a.get("Order", 0)))
    groups = action.get("ForwardConfig", {}).get("TargetGroups")
    if groups:
        return {str(g["TargetGroupArn"]): int(g.get("Weight", 1)) for g in groups}
    if action.get("TargetGroupArn"):
        return {str(action["TargetGroupArn"]): 1}
    return {}


def percents(shares: Mapping[str, int]) -> dict[str, int]:
    """Relative weights as whole percents summing to 100 (largest remainder), all 0 when nothing has weight."""
    whole = sum(shares.values())
    if whole <= 0:
        return {k: 0 for k in shares}
    exact = {k: 100 * w / whole for k, w in shares.items()}
    out = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - out[k], reverse=True)[: 100 - sum(out.values())]:
        out[k] += 1
    return out


def weights_from_actions(actions: Sequence[Mapping[str, Any]], target_groups: Mapping[Colour, str]) -> Weights:
    """Each colour's percent of the listener's traffic, as the load balancer has it.

    A target group that is neither colour's keeps its share, so blue + green
    then add up to less than 100 and a read-back comparison notices.
    """
    share = percents(forwarded_shares(actions))
    return Weights(**{c.value: share.get(target_groups[c], 0) for c in Colour})


def only_colour(weights: Weights, where: str) -> Colour:
    """The classic ELB can only send everything to one colour."""
    full = checked_weights(weights, where)
    if sorted(w for _, w in full.items()) != [0, 100]:
        raise AdapterError(
            "a classic load balancer only moves traffic all at once: weights must be 0 or 100, got "
            + ", ".join(f"{c}={w}" for c, w in full.items()),
            where=where,
            hint="use `traffic: {strategy: all-at-once}` with a classic ELB, or switch to `load_balancer: {type: alb}`",
        )
    return next(c for c, w in full.items() if w == 100)


# -- ALB -----------------------------------------------------------------------------------------


class AlbTraffic:
    """The `Traffic` port on an Application Load Balancer's listeners."""

    def __init__(self, env: AwsEnvironment, elbv2: Any) -> None:
        self._env = env
        self._elbv2 = elbv2

    @classmethod
    def from_target(cls, env: AwsEnvironment, target: AwsTarget) -> AlbTraffic:
        return cls(env, client(target, "elbv2"))

    @property
    def _target_groups(self) -> dict[Colour, str]:
        return {c: self._env.target_group(c) for c in Colour}

    def set_weights(self, weights: Weights) -> None:
        arn = self._env.listener_arn
        action = forward_action(self._target_groups, checked_weights(weights, where=arn))
        with api_errors(
            "could not change the listener's weights",
            where=arn,
            hint="run `bluegreen status` to see the weights the load balancer has now, then retry or abort",
        ):
            self._elbv2.modify_listener(ListenerArn=arn, DefaultActions=[action])

    def read_weights(self) -> Weights:
        return weights_from_actions(self._default_actions(self._env.listener_arn), self._target_groups)

    def point_test_listener(self, colour: Colour) -> None:
        """Forward the test listener to `colour` alone: smoke checks reach it and no user does."""
        arn = self._require_test_listener()
        with api_errors(f"could not point the test listener at {colour}", where=arn):
            self._elbv2.modify_listener(
                ListenerArn=arn, DefaultActions=[single_forward_action(self._env.target_group(colour))]
            )

    def test_url(self, colour: Colour) -> str:
        """Where smoke checks reach `colour` alone: the test listener, pointed at it first if it is not.

        Meant as HttpSmoke's base-URL resolver; the runner points the listener
        right after provisioning, so by smoke time this is a read and no change.
        """
        if self.test_listener_colour() is not colour:
            self.point_test_listener(colour)
        scheme = self._env.listener_protocol.lower()
        return f"{scheme}://{self._env.dns_name}:{self._env.test_listener_port}"

    def test_listener_colour(self) -> Colour | None:
        """The colour the test listener forwards to, read back (None: not one colour alone)."""
        weights = weights_from_actions(self._default_actions(self._require_test_listener()), self._target_groups)
        return next((c for c, w in weights.items() if w == 100), None)

    def _require_test_listener(self) -> str:
        if not self._env.test_listener_arn:
            raise AdapterError(
                f"environment {self._env.name} has no test listener",
                where=f"environment {self._env.name}",
                hint="apply the environment module with a test listener port (load_balancer.test_listener_port)",
            )
        return self._env.test_listener_arn

    def _default_actions(self, listener_arn: str) -> list[dict[str, Any]]:
        with api_errors(
            "could not read the listener back",
            where=listener_arn,
            hint="check that the environment exists (`terraform output` of the environment module)",
        ):
            listeners = self._elbv2.describe_listeners(ListenerArns=[listener_arn]).get("Listeners", [])
        if not listeners:
            raise AdapterError("the load balancer returned no listener", where=listener_arn)
        return list(listeners[0].get("DefaultActions", []))


# -- classic ELB -------------------------------------------------------------------------------------


class ClassicElbTraffic:
    """The `Traffic` port on a classic ELB: attach the new colour's ASG, wait, detach the old one."""

    def __init__(
        self,
        env: AwsEnvironment,
        *,
        autoscaling: Any,
        elb: Any,
        deadline_s: float = 600.0,
        poll_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._env = env
        self._autoscaling = autoscaling
        self._elb = elb
        self._deadline_s = deadline_s
        self._poll_s = poll_s
        self._sleep = sleep
        self._monotonic = monotonic

    @classmethod
    def from_target(
        cls, env: AwsEnvironment, target: AwsTarget, *, deadline_s: float = 600.0, poll_s: float = 5.0
    ) -> ClassicElbTraffic:
        return cls(
            env,
            autoscaling=client(target, "autoscaling"),
            elb=client(target, "elb"),
            deadline_s=deadline_s,
            poll_s=poll_s,
        )

    @property
    def _lb(self) -> str:
        return self._env.load_balancer_name

    def set_weights(self, weights: Weights) -> None:
        colour = only_colour(weights, where=self._lb)
        asg = self._env.asg_name(colour)
        with api_errors(f"could not attach {asg} to classic load balancer {self._lb}", where=asg):
            self._autoscaling.attach_load_balancers(AutoScalingGroupName=asg, LoadBalancerNames=[self._lb])
        self._wait_in_service(colour)
        old = colour.other
        if self._attachment(old) in ATTACHED_STATES:
            old_asg = self._env.asg_name(old)
            with api_errors(f"could not detach {old_asg} from classic load balancer {self._lb}", where=old_asg):
                self._autoscaling.detach_load_balancers(AutoScalingGroupName=old_asg, LoadBalancerNames=[self._lb])

    def read_weights(self) -> Weights:
        """100 for each colour whose ASG the ELB routes to (both, in the middle of a switch)."""
        return Weights(**{c.value: 100 if self._attachment(c) in ATTACHED_STATES else 0 for c in Colour})

    def _attachment(self, colour: Colour) -> str:
        return elb_attachment(self._autoscaling, self._env.asg_name(colour), self._lb)

    def _wait_in_service(self, colour: Colour) -> None:
        asg = self._env.asg_name(colour)
        give_up = self._monotonic() + self._deadline_s
        while True:
            with api_errors(f"could not read the health of {asg} on {self._lb}", where=asg):
                groups = self._autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg])
                instances = self._elb.describe_instance_health(LoadBalancerName=self._lb)
            # Judged on the ELB's list even if the ASG does not show the attachment yet: only
            # InService on the ELB itself proves the instances get traffic.
            snapshot = classify(
                parse_asg(groups, asg),
                asg,
                parse_instance_health(instances),
                verdict=elb_verdict,
                attached=True,
                lb_label=f"classic load balancer {self._lb}",
            )
            if snapshot.state is HealthState.HEALTHY:
                return
            if snapshot.state is HealthState.FAILED or self._monotonic() >= give_up:
                why = "failed" if snapshot.state is HealthState.FAILED else f"not within {self._deadline_s:g}s"
                raise AdapterError(
                    f"{asg} did not come InService on classic load balancer {self._lb} ({why}): {snapshot.describe()}",
                    where=f"{self._lb} / {asg}",
                    hint=f"the other colour still serves; abort with `bluegreen abort {self._env.name}` "
                    "and look at the instances' health check",
                )
            self._sleep(self._poll_s)
