"""Everything on a load balancer that forwards to a target group: every listener, every rule.

bluegreen owns only the production listener's default action (its weights)
and the test listener. Before a colour is retired, nothing else may still
send it requests: a listener rule (path, host or header based) or another
listener that forwards to its target group with a weight above 0 would turn
into 503s once the colour is gone. Read with DescribeListeners and
DescribeRules, both paginated (NextMarker), per the Elastic Load Balancing API
reference (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeRules.html):
a listener's rules include its default rule (`IsDefault`, priority "default"),
which holds the listener's default actions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bluegreen.adapters.aws.cloudwatch import arn_resource, target_group_name
from bluegreen.adapters.aws.session import api_errors
from bluegreen.adapters.aws.traffic import forwarded_shares


@dataclass(frozen=True)
class Forward:
    """One listener rule (the default one included) forwarding to a target group with a weight."""

    listener_arn: str
    listener_port: int
    rule_arn: str
    priority: str  # "default" for the listener's default actions
    target_group_arn: str
    weight: int

    def describe(self) -> str:
        what = "default action" if self.priority == "default" else f"rule {self.rule_arn} (priority {self.priority})"
        return (
            f"{what} of the listener on port {self.listener_port} forwards to target group "
            f"{target_group_name(self.target_group_arn)} with weight {self.weight}"
        )


def load_balancer_arn(listener_arn: str) -> str:
    """`...:loadbalancer/app/web/50dc...` from `...:listener/app/web/50dc.../f2f7...`."""
    head = listener_arn[: -len(arn_resource(listener_arn))]
    parts = arn_resource(listener_arn).split("/")
    if len(parts) < 5 or parts[0] != "listener":
        raise ValueError(f"not a load balancer listener ARN: {listener_arn}")
    return head + "loadbalancer/" + "/".join(parts[1:4])


def forwards_of(listener: Mapping[str, Any], rules: Iterable[Mapping[str, Any]]) -> list[Forward]:
    """Every (rule, target group, weight) of one listener, from its DescribeRules pages' rules."""
    out = []
    for rule in rules:
        for group, weight in forwarded_shares(list(rule.get("Actions", []))).items():
            out.append(
                Forward(
                    listener_arn=str(listener["ListenerArn"]),
                    listener_port=int(listener.get("Port", 0)),
                    rule_arn=str(rule.get("RuleArn", "")),
                    priority="default" if rule.get("IsDefault") else str(rule.get("Priority", "")),
                    target_group_arn=group,
                    weight=weight,
                )
            )
    return out


def still_forwarding(
    forwards: Iterable[Forward], target_group_arn: str, *, owned_listeners: Iterable[str]
) -> list[Forward]:
    """The forwards with weight > 0 to the target group, but the default actions bluegreen owns (the
    production listener's weights, read back on their own; the test listener, which serves no user)."""
    owned = set(owned_listeners)
    return [
        f
        for f in forwards
        if f.target_group_arn == target_group_arn
        and f.weight > 0
        and not (f.listener_arn in owned and f.priority == "default")
    ]


def read_forwards(elbv2: Any, listener_arn: str) -> list[Forward]:
    """Every forward of every listener of the load balancer that holds `listener_arn`."""
    lb = load_balancer_arn(listener_arn)
    out: list[Forward] = []
    with api_errors("could not read the load balancer's listeners and rules", where=lb):
        for page in elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=lb):
            for listener in page.get("Listeners", []):
                rules: list[Mapping[str, Any]] = []
                for rules_page in elbv2.get_paginator("describe_rules").paginate(ListenerArn=listener["ListenerArn"]):
                    rules.extend(rules_page.get("Rules", []))
                out.extend(forwards_of(listener, rules))
    return out
