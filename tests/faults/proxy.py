"""An AWS endpoint that misbehaves on cue: a fault-injecting HTTP proxy in front of a real moto server.

Every request is forwarded to the upstream server and its answer relayed,
except where the schedule says otherwise for the request's AWS action (the
`Action=` field of a query-protocol body, as elbv2, autoscaling and EC2
send it). A fault answers in AWS's own words, or lets the change happen and
withholds the answer:

- `THROTTLE` / `THROTTLE_EXCEPTION`: HTTP 400 with the XML error body AWS
  returns when an elbv2 call is rate limited (`Throttling` / `Rate exceeded`);
  the request never reaches the server;
- `INTERNAL` / `UNAVAILABLE`: HTTP 500 / 503 with AWS's XML error body; the
  request never reaches the server;
- `DROP`: the request is forwarded (the change is applied) and the connection
  closed without an answer;
- `delayed(s)`: forwarded (applied), answered only after `s` seconds, by
  when a client with a shorter read timeout has given up.

A `Rule` names an action, an optional predicate on the request's fields
(which listener, which weights) and a list of faults used in turn by the
matching requests (`None` passes one through); when the list runs out,
`then` applies to every later match (by default: pass). `cycle=True` starts
the list over instead. Every request is logged with what was done to it.

The relay is the sandbox's own (`bluegreen.sandbox.dataplane.front.Relay`),
with the schedule as its hook: it binds 127.0.0.1 on a free port, serves each
connection in a daemon thread and is stopped by `stop()` (the fixtures do
it); no upstream call or injected delay lasts longer than `UPSTREAM_TIMEOUT_S`.
"""

from __future__ import annotations

import http.client
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bluegreen.sandbox.dataplane.front import TIMEOUT_S, Answer, Forward, Relay, Request, error_xml

UPSTREAM_TIMEOUT_S = TIMEOUT_S
MAX_CONNECTIONS = 32  # more at once than any test opens: refused, so a runaway client cannot grow threads


@dataclass(frozen=True)
class Fault:
    kind: str  # "error": answer with status/code; "drop": apply, never answer; "delay": apply, answer late
    status: int = 0
    code: str = ""
    message: str = ""
    sender: bool = True  # AWS's <Type>: Sender for the caller's fault (throttling), Receiver for its own
    delay_s: float = 0.0

    def describe(self) -> str:
        if self.kind == "error":
            return f"{self.status} {self.code}"
        if self.kind == "delay":
            return f"applied, answered after {self.delay_s:g}s"
        return "applied, no answer"


THROTTLE = Fault("error", 400, "Throttling", "Rate exceeded")
THROTTLE_EXCEPTION = Fault("error", 400, "ThrottlingException", "Rate exceeded")
INTERNAL = Fault("error", 500, "InternalFailure", "An internal error has occurred.", sender=False)
UNAVAILABLE = Fault("error", 503, "ServiceUnavailable", "Service is unavailable. Please try again later.", sender=False)
DROP = Fault("drop")


def delayed(seconds: float) -> Fault:
    return Fault("delay", delay_s=min(seconds, UPSTREAM_TIMEOUT_S))


def error_body(fault: Fault, request_id: str) -> bytes:
    """The query/XML protocol's error document, as elbv2 sends it."""
    return error_xml(fault.code, fault.message, request_id, "Sender" if fault.sender else "Receiver")


def forward_weights(fields: Mapping[str, str]) -> dict[str, int]:
    """Target group ARN -> weight in a ModifyListener's weighted forward (empty if it has none)."""
    out: dict[str, int] = {}
    prefix = "DefaultActions.member.1.ForwardConfig.TargetGroups.member."
    for key, arn in fields.items():
        if key.startswith(prefix) and key.endswith(".TargetGroupArn"):
            index = key[len(prefix) : -len(".TargetGroupArn")]
            out[arn] = int(fields.get(f"{prefix}{index}.Weight", "1"))
    return out


Predicate = Callable[[Mapping[str, str]], bool]


@dataclass
class Rule:
    action: str
    faults: Sequence[Fault | None]
    then: Fault | None = None
    when: Predicate = lambda fields: True
    cycle: bool = False
    matched: int = 0

    def next_fault(self) -> Fault | None:
        n = self.matched
        self.matched += 1
        if self.faults and (n < len(self.faults) or self.cycle):
            return self.faults[n % len(self.faults)]
        return self.then


@dataclass(frozen=True)
class Seen:
    at: float
    action: str
    fields: Mapping[str, str]
    fault: Fault | None
    status: int | None  # what the client got (None: no answer)


@dataclass
class Schedule:
    rules: list[Rule] = field(default_factory=list)
    log: list[Seen] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self,
        action: str,
        faults: Sequence[Fault | None] = (),
        *,
        then: Fault | None = None,
        when: Predicate = lambda fields: True,
        cycle: bool = False,
    ) -> Rule:
        rule = Rule(action, list(faults), then, when, cycle)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def choose(self, action: str, fields: Mapping[str, str]) -> Fault | None:
        """The first matching rule decides (and counts the request)."""
        with self._lock:
            for rule in self.rules:
                if rule.action == action and rule.when(fields):
                    return rule.next_fault()
        return None

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.log.append(seen)

    def mark(self) -> int:
        """Where the log is now: pass it to `seen(since=...)` for what came after."""
        with self._lock:
            return len(self.log)

    def seen(self, action: str, *, fault: bool | None = None, since: int = 0) -> list[Seen]:
        with self._lock:
            found = [s for s in self.log[since:] if s.action == action]
        if fault is not None:
            found = [s for s in found if (s.fault is not None) == fault]
        return found


class FaultProxy(Relay):
    """The proxy's lifetime: `start()` binds and serves in a thread, `stop()` ends it."""

    def __init__(self, upstream: str) -> None:
        self.schedule = Schedule()
        super().__init__(upstream, self._inject, max_connections=MAX_CONNECTIONS)

    def _inject(self, request: Request, forward: Forward) -> Answer | None:
        action, fields, schedule = request.action, request.fields, self.schedule
        fault = schedule.choose(action, fields) if action else None
        # Logged before the client can see an answer, so a test reading the log after a call finds it.
        if fault is not None and fault.kind == "error":
            schedule.record(Seen(time.time(), action, fields, fault, fault.status))
            return Answer(fault.status, {"Content-Type": "text/xml"}, error_body(fault, str(uuid.uuid4())))
        try:
            answer = forward()
        except (http.client.HTTPException, OSError):
            schedule.record(Seen(time.time(), action, fields, fault, 502))
            raise  # the relay answers 502
        if fault is not None and fault.kind == "drop":
            schedule.record(Seen(time.time(), action, fields, fault, None))
            return None  # the change is made; the caller never hears of it
        schedule.record(Seen(time.time(), action, fields, fault, answer.status))
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.delay_s)
        return answer
