"""What passes through the sandbox's endpoint: a request as a hook sees it, the answer it gives, AWS's errors.

Shared by the front (front.py) and what it answers itself (idempotent.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

AUTOSCALING_XMLNS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
XMLNS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
IAM_XMLNS = "https://iam.amazonaws.com/doc/2010-05-08/"


@dataclass(frozen=True)
class Request:
    """What a hook sees of a request: its fields (query protocol) and the AWS action it names."""

    fields: Mapping[str, str]
    # `Action=` in a query-protocol body (elbv2, autoscaling, EC2); JSON-protocol services
    # (DynamoDB) name it in a header instead: `X-Amz-Target: DynamoDB_20120810.UpdateItem`.
    action: str


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    payload: bytes


class Forward(Protocol):
    """Relays the request to the API, or another body in its place (a call of the hook's own, same headers).

    Raises OSError or HTTPException if the API does not answer.
    """

    def __call__(self, body: bytes | None = None) -> Answer: ...


# What the client gets (None: the connection is closed without an answer).
Hook = Callable[[Request, Forward], Answer | None]


def query_fields(body: bytes) -> dict[str, str]:
    """A query-protocol body (`Action=...&TargetGroupArn=...`) as field -> value; empty if it is not one."""
    try:
        return {k: v[-1] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
    except UnicodeDecodeError:
        return {}


def error_xml(code: str, message: str, request_id: str, kind: str = "Receiver", xmlns: str = XMLNS) -> bytes:
    return (
        f'<ErrorResponse xmlns="{xmlns}"><Error><Type>{kind}</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
