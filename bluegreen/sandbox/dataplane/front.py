"""The sandbox's AWS endpoint: every call goes to the API (moto) unchanged, but target health comes from the data plane.

moto calls a target healthy the moment it registers; only the proxies' health
checks know better. So elbv2 DescribeTargetHealth (query protocol,
`Action=DescribeTargetHealth`) is answered here, in AWS's XML shape, from
`LoadBalancers.target_health()`, filtered by the `Targets.member.N` asked
for as AWS does (a target asked for but not registered: unused,
Target.NotRegistered). A load balancer's `DNSName` (CreateLoadBalancer,
DescribeLoadBalancers) is answered as the loopback address its proxy listens
on (addresses.py), as AWS's DNS resolves the name to the load balancer.
ELBv2's creates are answered as AWS's idempotent ones (idempotent.py), and
a few errors as AWS gives them where moto does not (`Front._answer`).
Every other request is relayed byte for byte.

The relay itself (`Relay`: a threaded loopback server, each request read,
handed to a hook with the means to forward it, the hook's answer written
back) serves any endpoint put in front of the API; the tests' fault proxy is
another.
"""

from __future__ import annotations

import http.client
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from bluegreen.sandbox.dataplane import health
from bluegreen.sandbox.dataplane.addresses import rewrite_dns_names
from bluegreen.sandbox.dataplane.idempotent import existing
from bluegreen.sandbox.dataplane.wire import (
    AUTOSCALING_XMLNS,
    IAM_XMLNS,
    XMLNS,
    Answer,
    Forward,
    Hook,
    Request,
    error_xml,
    query_fields,
)

TIMEOUT_S = 30.0  # a client connection idle this long is closed
# How long a request may wait for the API. Never shorter than the clients' own timeouts: an answer the
# relay gives up on becomes a 502 the SDK retries, and a retried create that had been done is done twice.
UPSTREAM_TIMEOUT_S = 300.0
NAMES_A_LOAD_BALANCER = frozenset({"CreateLoadBalancer", "DescribeLoadBalancers"})
READS = ("Describe", "Get", "List")  # how the query-protocol actions that change nothing begin
# Headers that describe one hop, not the message (RFC 9110 7.6.1), and the length we recompute.
_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"})

TargetHealth = Callable[[str], list[dict[str, Any]]]


def asked_targets(fields: Mapping[str, str]) -> list[tuple[str, int | None]]:
    """The `Targets.member.N.Id` / `.Port` of a DescribeTargetHealth call, in order."""
    out = []
    n = 1
    while f"Targets.member.{n}.Id" in fields:
        port = fields.get(f"Targets.member.{n}.Port")
        out.append((fields[f"Targets.member.{n}.Id"], int(port) if port else None))
        n += 1
    return out


def select(described: list[dict[str, Any]], asked: list[tuple[str, int | None]]) -> list[dict[str, Any]]:
    if not asked:
        return described
    out = []
    for target_id, port in asked:
        match = [d for d in described if d["Target"]["Id"] == target_id and port in (None, d["Target"].get("Port"))]
        out += match or [health.description(target_id, port or 80, str(port or 80), health.NOT_REGISTERED)]
    return out


def response_xml(described: list[dict[str, Any]], request_id: str) -> bytes:
    members = []
    for d in described:
        h = d["TargetHealth"]
        parts = [f"<State>{escape(h['State'])}</State>"]
        if "Reason" in h:
            parts += [
                f"<Reason>{escape(h['Reason'])}</Reason>",
                f"<Description>{escape(h['Description'])}</Description>",
            ]
        members.append(
            "<member>"
            f"<HealthCheckPort>{escape(d['HealthCheckPort'])}</HealthCheckPort>"
            f"<TargetHealth>{''.join(parts)}</TargetHealth>"
            f"<Target><Port>{d['Target']['Port']}</Port><Id>{escape(d['Target']['Id'])}</Id></Target>"
            "</member>"
        )
    return (
        f'<DescribeTargetHealthResponse xmlns="{XMLNS}"><DescribeTargetHealthResult>'
        f"<TargetHealthDescriptions>{''.join(members)}</TargetHealthDescriptions>"
        f"</DescribeTargetHealthResult><ResponseMetadata><RequestId>{request_id}</RequestId>"
        "</ResponseMetadata></DescribeTargetHealthResponse>"
    ).encode()


def already_exists(group: str) -> Answer:
    """AWS refuses a second Auto Scaling group of the same name; moto replaces the first one, orphaning its
    instances (still running, still registered). A create retried after a lost answer meets this on AWS.
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CreateAutoScalingGroup.html (Errors)"""
    message = f"AutoScalingGroup by this name already exists - A group with the name {group} already exists"
    body = error_xml("AlreadyExists", message, str(uuid.uuid4()), "Sender", AUTOSCALING_XMLNS)
    return Answer(400, {"Content-Type": "text/xml"}, body)


def not_in_profile(profile: str, role: str) -> Answer:
    """AWS answers NoSuchEntity (404), which the AWS provider takes as done; moto fails with a 500 (a Python
    ValueError) that the provider retries for minutes, so a destroy whose profile lost its role hangs.
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_RemoveRoleFromInstanceProfile.html (Errors)"""
    message = f"Role {role} is not in instance profile {profile}."
    body = error_xml("NoSuchEntity", message, str(uuid.uuid4()), "Sender", IAM_XMLNS)
    return Answer(404, {"Content-Type": "text/xml"}, body)


def not_found_xml(arn: str, request_id: str) -> bytes:
    return error_xml("TargetGroupNotFound", f"Target groups '{arn}' not found", request_id, "Sender")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # socketserver's default of 5 pending connections drops SYNs when the SDKs of a few terraform runs and
    # deploys connect at once; each drop costs the client a 1 s retransmit.
    request_queue_size = 128

    def __init__(self, upstream: str, hook: Hook, max_connections: int | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.hook = hook
        self._slots = threading.BoundedSemaphore(max_connections) if max_connections else None

    def process_request(self, request: Any, client_address: Any) -> None:
        if self._slots is not None and not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # refused: a runaway client cannot grow threads
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            if self._slots is not None:
                self._slots.release()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    timeout = TIMEOUT_S
    server: _Server

    def setup(self) -> None:
        super().setup()
        # The headers and the body are two writes: with Nagle's algorithm on, the body waits for the client's
        # delayed ACK of the headers (40 ms on Linux) on every call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = self.headers.get("X-Amz-Target", "")
        fields = query_fields(body) if body and not target else {}
        request = Request(fields, fields.get("Action", "") or target.rpartition(".")[2])
        try:
            answer = self.server.hook(request, lambda other=None: self._forward(body if other is None else other))
        except (http.client.HTTPException, OSError) as e:
            # Said in the data plane's log too: a client's SDK retries a 502, and a create retried after it was
            # done meets "already exists" (the log tells why).
            print(f"front: {request.action or self.path}: the API did not answer: {e!r}", file=sys.stderr)
            answer = Answer(502, {"Content-Type": "text/plain"}, f"the API did not answer: {e}\n".encode())
        if answer is None:
            self.close_connection = True
            return
        try:
            self._answer(answer.status, answer.headers, answer.payload)
        except OSError as e:
            self.close_connection = True  # the client gave up waiting: nothing more to say
            print(f"front: {request.action or self.path}: answer {answer.status} not delivered: {e!r}", file=sys.stderr)

    def _forward(self, body: bytes) -> Answer:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP | {"host", "content-length"}}
        host, port = self.server.upstream
        headers["Host"] = f"{host}:{port}"
        headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection(host, port, timeout=UPSTREAM_TIMEOUT_S)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            kept = {k: v for k, v in response.getheaders() if k.lower() not in _HOP | {"content-length"}}
            return Answer(response.status, kept, payload)
        finally:
            conn.close()

    def _answer(self, status: int, headers: Mapping[str, str], payload: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class Relay:
    """A relay to the API at `upstream` through `hook`: `start()` binds a free loopback port, `stop()` ends it.

    `max_connections`: more connections at once are refused (None: no limit).
    """

    def __init__(self, upstream: str, hook: Hook, max_connections: int | None = None) -> None:
        self._server = _Server(upstream.rstrip("/"), hook, max_connections)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class Front(Relay):
    """The endpoint bluegreen's AWS clients get: DescribeTargetHealth answered from the data plane, the rest relayed."""

    def __init__(
        self,
        upstream: str,
        target_health: TargetHealth,
        group_exists: Callable[[str], bool] | None = None,
        profile_roles: Callable[[str], list[str] | None] | None = None,  # None: no such instance profile
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(upstream, self._answer)
        self._target_health = target_health
        self._group_exists = group_exists
        self._profile_roles = profile_roles
        self._changed = changed  # told after the API did a call that may change what the data plane follows

    def _answer(self, request: Request, forward: Forward) -> Answer:
        fields = request.fields
        if request.action == "DescribeTargetHealth" and "TargetGroupArn" in fields:
            return self._describe_target_health(fields)
        name = fields.get("AutoScalingGroupName", "")
        if request.action == "CreateAutoScalingGroup" and self._group_exists and name and self._group_exists(name):
            return already_exists(name)
        if request.action == "RemoveRoleFromInstanceProfile" and self._profile_roles:
            profile, role = fields.get("InstanceProfileName", ""), fields.get("RoleName", "")
            held = self._profile_roles(profile)
            if held is not None and role not in held:
                return not_in_profile(profile, role)
        answer = existing(request, forward) or forward()
        if answer.status < 300 and fields and not request.action.startswith(READS):
            self._changed()
        if answer.status == 200 and request.action in NAMES_A_LOAD_BALANCER:
            return Answer(answer.status, answer.headers, rewrite_dns_names(answer.payload))
        return answer

    def _describe_target_health(self, fields: Mapping[str, str]) -> Answer:
        request_id = str(uuid.uuid4())
        arn = fields["TargetGroupArn"]
        try:
            described = self._target_health(arn)
        except LookupError:
            return Answer(400, {"Content-Type": "text/xml"}, not_found_xml(arn, request_id))
        except Exception as e:  # the data plane could not tell (the API behind it is down): AWS's 500, retried by SDKs
            return Answer(500, {"Content-Type": "text/xml"}, error_xml("InternalFailure", str(e), request_id))
        payload = response_xml(select(described, asked_targets(fields)), request_id)
        return Answer(200, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, payload)
