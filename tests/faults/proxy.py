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

The server binds 127.0.0.1 on a free port, serves each connection in a
daemon thread and is stopped by `stop()` (the fixtures do it); no upstream
call or injected delay lasts longer than `UPSTREAM_TIMEOUT_S`.
"""

from __future__ import annotations

import http.client
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

UPSTREAM_TIMEOUT_S = 30.0
MAX_CONNECTIONS = 32  # more at once than any test opens: refused, so a runaway client cannot grow threads
# Headers that describe one hop, not the message (RFC 9110 7.6.1), plus those we recompute.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "content-length"}
)
ELBV2_XMLNS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"


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


def error_body(fault: Fault, request_id: str, xmlns: str = ELBV2_XMLNS) -> bytes:
    """The query/XML protocol's error document, as elbv2 sends it."""
    kind = "Sender" if fault.sender else "Receiver"
    return (
        f'<ErrorResponse xmlns="{xmlns}">\n'
        f"  <Error>\n    <Type>{kind}</Type>\n    <Code>{fault.code}</Code>\n"
        f"    <Message>{fault.message}</Message>\n  </Error>\n"
        f"  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n"
    ).encode()


def form_fields(body: bytes) -> dict[str, str]:
    """A query-protocol body (`Action=ModifyListener&ListenerArn=...`) as field -> value."""
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return {}
    return {k: v[-1] for k, v in parsed.items()}


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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, upstream: str, schedule: Schedule) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.schedule = schedule
        self.local = threading.local()  # one keep-alive upstream connection per handler thread
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    timeout = UPSTREAM_TIMEOUT_S  # a client that stops talking frees its thread
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the schedule's log is the record

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        # JSON-protocol services (DynamoDB) name the action in a header: `DynamoDB_20120810.UpdateItem`.
        target = self.headers.get("X-Amz-Target", "")
        fields = form_fields(body) if body and not target else {}
        action = fields.get("Action", "") or target.rpartition(".")[2]
        schedule = self.server.schedule
        fault = schedule.choose(action, fields) if action else None
        # Logged before the client can see an answer, so a test reading the log after a call finds it.
        if fault is not None and fault.kind == "error":
            schedule.record(Seen(time.time(), action, fields, fault, fault.status))
            self._answer(fault.status, {"Content-Type": "text/xml"}, error_body(fault, str(uuid.uuid4())))
            return
        try:
            status, headers, payload = self._forward(body)
        except (http.client.HTTPException, OSError):
            schedule.record(Seen(time.time(), action, fields, fault, 502))
            self._answer(502, {"Content-Type": "text/plain"}, b"the upstream server did not answer\n")
            return
        if fault is not None and fault.kind == "drop":
            schedule.record(Seen(time.time(), action, fields, fault, None))
            self.close_connection = True  # the change is made; the caller never hears of it
            return
        schedule.record(Seen(time.time(), action, fields, fault, status))
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.delay_s)
        try:
            self._answer(status, headers, payload)
        except OSError:
            self.close_connection = True  # the client gave up waiting: nothing more to say

    def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
        headers["Host"] = f"{self.server.upstream_host}:{self.server.upstream_port}"
        headers["Content-Length"] = str(len(body))
        for attempt in (1, 2):
            conn = self._upstream()
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                self.server.local.conn = None
                if attempt == 2:
                    raise
                continue  # a kept-alive upstream connection closed under us: once more on a new one
            kept = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
            return response.status, kept, payload
        raise AssertionError("unreachable")

    def _upstream(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self.server.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(
                self.server.upstream_host, self.server.upstream_port, timeout=UPSTREAM_TIMEOUT_S
            )
            self.server.local.conn = conn
        return conn

    def _answer(self, status: int, headers: Mapping[str, str], payload: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class FaultProxy:
    """The proxy's lifetime: `start()` binds and serves in a thread, `stop()` ends it."""

    def __init__(self, upstream: str) -> None:
        self.schedule = Schedule()
        self._server = _Server(upstream.rstrip("/"), self.schedule)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
