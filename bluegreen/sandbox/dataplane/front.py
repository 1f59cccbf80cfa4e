"""The sandbox's AWS endpoint: every call goes to the API (moto) unchanged, but target health comes from the data plane.

moto calls a target healthy the moment it registers; only the proxies' health
checks know better. So elbv2 DescribeTargetHealth (query protocol,
`Action=DescribeTargetHealth`) is answered here, in AWS's XML shape, from
`LoadBalancers.target_health()`, filtered by the `Targets.member.N` asked
for as AWS does (a target asked for but not registered: unused,
Target.NotRegistered). A load balancer's `DNSName` (CreateLoadBalancer,
DescribeLoadBalancers) is answered as the loopback address its proxy listens
on (addresses.py), as AWS's DNS resolves the name to the load balancer.
Every other request is relayed byte for byte.
"""

from __future__ import annotations

import http.client
import threading
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from bluegreen.sandbox.dataplane import health
from bluegreen.sandbox.dataplane.addresses import rewrite_dns_names

TIMEOUT_S = 30.0
NAMES_A_LOAD_BALANCER = frozenset({"CreateLoadBalancer", "DescribeLoadBalancers"})
XMLNS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
# Headers that describe one hop, not the message (RFC 9110 7.6.1), and the length we recompute.
_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"})

TargetHealth = Callable[[str], list[dict[str, Any]]]


def query_fields(body: bytes) -> dict[str, str]:
    """A query-protocol body (`Action=...&TargetGroupArn=...`) as field -> value; empty if it is not one."""
    try:
        return {k: v[-1] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
    except UnicodeDecodeError:
        return {}


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


def error_xml(code: str, message: str, request_id: str, kind: str = "Receiver") -> bytes:
    return (
        f'<ErrorResponse xmlns="{XMLNS}"><Error><Type>{kind}</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()


def not_found_xml(arn: str, request_id: str) -> bytes:
    return error_xml("TargetGroupNotFound", f"Target groups '{arn}' not found", request_id, "Sender")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, upstream: str, target_health: TargetHealth) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.target_health = target_health


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    timeout = TIMEOUT_S
    server: _Server

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
        fields = query_fields(body) if body else {}
        if fields.get("Action") == "DescribeTargetHealth" and "TargetGroupArn" in fields:
            self._target_health(fields)
            return
        try:
            status, headers, payload = self._forward(body)
        except (http.client.HTTPException, OSError) as e:
            self._answer(502, {"Content-Type": "text/plain"}, f"the sandbox API did not answer: {e}\n".encode())
            return
        if status == 200 and fields.get("Action") in NAMES_A_LOAD_BALANCER:
            payload = rewrite_dns_names(payload)
        self._answer(status, headers, payload)

    def _target_health(self, fields: Mapping[str, str]) -> None:
        request_id = str(uuid.uuid4())
        arn = fields["TargetGroupArn"]
        try:
            described = self.server.target_health(arn)
        except LookupError:
            self._answer(400, {"Content-Type": "text/xml"}, not_found_xml(arn, request_id))
            return
        except Exception as e:  # the data plane could not tell (the API behind it is down): AWS's 500, retried by SDKs
            self._answer(500, {"Content-Type": "text/xml"}, error_xml("InternalFailure", str(e), request_id))
            return
        payload = response_xml(select(described, asked_targets(fields)), request_id)
        self._answer(200, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, payload)

    def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP | {"host", "content-length"}}
        host, port = self.server.upstream
        headers["Host"] = f"{host}:{port}"
        headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            kept = {k: v for k, v in response.getheaders() if k.lower() not in _HOP | {"content-length"}}
            return response.status, kept, payload
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


class Front:
    """The endpoint bluegreen's AWS clients get: `start()` binds a free loopback port, `stop()` ends it."""

    def __init__(self, upstream: str, target_health: TargetHealth) -> None:
        self._server = _Server(upstream.rstrip("/"), target_health)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Front:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
