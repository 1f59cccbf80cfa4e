"""Where a sandbox load balancer listens: a loopback address of its own, named the way AWS's DNS would answer.

On AWS a load balancer's DNS name resolves to its own addresses, and its
listeners take their real ports there. The sandbox does the same on
127.0.0.0/8 (Linux routes all of it to `lo`, no setup needed): each load
balancer gets an address derived from its ARN, its proxy binds each
listener's real port on it, and the front answers that address as the
load balancer's `DNSName`, so unchanged clients (`http://{dns_name}:{port}`)
reach the proxy. The ARN, not moto's DNS name, is hashed: moto names every
load balancer `<name>-1.<region>.elb.amazonaws.com`, so two sandboxes with
an environment of the same name would share an address; the ARN carries a
random id.
"""

from __future__ import annotations

import hashlib
import re

_MEMBER_FIELD = re.compile(rb"<LoadBalancerArn>([^<]+)</LoadBalancerArn>|<DNSName>([^<]*)</DNSName>")


def balancer_address(lb_arn: str) -> str:
    """127.a.b.c, each of a, b, c in 1..254 (no network or broadcast-looking octet), never 127.0.0.1."""
    digest = hashlib.sha256(lb_arn.encode()).digest()
    return "127." + ".".join(str(1 + digest[i] % 254) for i in range(3))


def rewrite_dns_names(payload: bytes) -> bytes:
    """Every `<DNSName>` of a load balancer in an elbv2 XML answer replaced by its address.

    In AWS's LoadBalancer shape `LoadBalancerArn` comes before `DNSName`, so each
    DNSName belongs to the ARN seen last.
    """
    out: list[bytes] = []
    last_arn = b""
    pos = 0
    for m in _MEMBER_FIELD.finditer(payload):
        if m.group(1) is not None:
            last_arn = m.group(1)
            continue
        if not last_arn:
            continue
        out += [payload[pos : m.start()], b"<DNSName>", balancer_address(last_arn.decode()).encode(), b"</DNSName>"]
        pos = m.end()
    return b"".join(out) + payload[pos:]
