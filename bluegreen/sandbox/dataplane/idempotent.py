"""ELBv2's creates as AWS answers them: idempotent, where moto's are not.

AWS: "This operation is idempotent, which means that it completes at most one
time. If you attempt to create multiple load balancers [target groups,
listeners] with the same settings, each call succeeds."
https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html
https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html
https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateListener.html

So a create that an SDK resends after its first answer was lost gets what the
first call made. moto instead makes a second load balancer of the same name,
a second listener on the same port (its duplicate check compares a port with
listener ARNs), and refuses a second target group of the same name: a
Terraform apply under load then leaves an orphan listener forwarding to blue,
or fails. With different settings AWS refuses, with the errors named here.

`existing(request, forward)` answers a create whose resource exists (the
resource described, in the create's response shape) and returns None for one
that does not, which then goes to the API.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from urllib.parse import urlencode

from bluegreen.sandbox.dataplane.wire import XMLNS, Answer, Forward, Request, error_xml

NS = {"e": XMLNS}


def existing(request: Request, ask: Forward) -> Answer | None:
    f = request.fields
    version = f.get("Version", "2015-12-01")
    if request.action == "CreateLoadBalancer" and f.get("Name"):
        described, found = _describe(
            ask, "DescribeLoadBalancers", version, {"Names.member.1": f["Name"]}, "LoadBalancers"
        )
        if not found:
            return None
        # moto leaves out a Scheme it was not given; AWS's default is internet-facing.
        scheme = _text(found[0], "Scheme") or "internet-facing"
        same = _text(found[0], "Type") == f.get("Type", "application") and scheme == f.get("Scheme", "internet-facing")
        message = f"A load balancer with the name '{f['Name']}' already exists with different settings"
        return _as_create(request.action, described) if same else _duplicate("DuplicateLoadBalancerName", message)
    if request.action == "CreateTargetGroup" and f.get("Name"):
        described, found = _describe(
            ask, "DescribeTargetGroups", version, {"Names.member.1": f["Name"]}, "TargetGroups"
        )
        if not found:
            return None
        wanted = {"Protocol": f.get("Protocol", ""), "Port": f.get("Port", ""), "VpcId": f.get("VpcId", "")}
        wanted["TargetType"] = f.get("TargetType", "instance")
        same = all(_text(found[0], k) == v for k, v in wanted.items() if v)
        message = f"A target group with the name '{f['Name']}' already exists with different settings"
        return _as_create(request.action, described) if same else _duplicate("DuplicateTargetGroupName", message)
    if request.action == "CreateListener" and f.get("LoadBalancerArn") and f.get("Port"):
        return _existing_listener(request.action, f, version, ask)
    return None


def _existing_listener(action: str, f: Mapping[str, str], version: str, ask: Forward) -> Answer | None:
    _, members = _describe(ask, "DescribeListeners", version, {"LoadBalancerArn": f["LoadBalancerArn"]}, "Listeners")
    on_port = next((m for m in members if _text(m, "Port") == f["Port"]), None)
    if on_port is None:
        return None
    groups = {e.text for e in on_port.iter(f"{{{XMLNS}}}TargetGroupArn") if e.text}
    same = _text(on_port, "Protocol") == f.get("Protocol", _text(on_port, "Protocol")) and groups == {
        v for k, v in f.items() if k.startswith("DefaultActions.") and k.endswith("TargetGroupArn")
    }
    if not same:
        return _duplicate("DuplicateListener", f"A listener already exists on port {f['Port']} of this load balancer")
    arn = {"ListenerArns.member.1": _text(on_port, "ListenerArn")}
    described, one = _describe(ask, "DescribeListeners", version, arn, "Listeners")
    return _as_create(action, described) if one else None


def _describe(
    ask: Forward, action: str, version: str, fields: Mapping[str, str], plural: str
) -> tuple[Answer, list[ET.Element]]:
    """The API's answer to a Describe call and the members it lists (none when it says not found)."""
    answer = ask(urlencode({"Action": action, "Version": version, **fields}).encode())
    if answer.status != 200:
        return answer, []
    return answer, ET.fromstring(answer.payload).findall(f".//e:{plural}/e:member", NS)


def _text(member: ET.Element, name: str) -> str:
    return member.findtext(f"e:{name}", default="", namespaces=NS)


def _as_create(action: str, described: Answer) -> Answer:
    """A Describe answer of one resource in the Create response's shape: the same member under another name."""
    noun = action.removeprefix("Create")
    payload = described.payload.replace(f"Describe{noun}s".encode(), action.encode())
    return Answer(200, described.headers, payload)


def _duplicate(code: str, message: str) -> Answer:
    return Answer(400, {"Content-Type": "text/xml"}, error_xml(code, message, str(uuid.uuid4()), "Sender"))
