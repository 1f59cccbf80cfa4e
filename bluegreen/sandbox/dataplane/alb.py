"""The sandbox's load balancers carry traffic: each ALB listener is a real proxy on a loopback port.

`reconcile()` reads the API's state (load balancers, listeners and their
forward weights, target groups, registered targets) and makes one HAProxy
process per load balancer match it (see `haproxy.py` for why the weights are
maps and the target groups backends). Changes of weights and targets go
through HAProxy's runtime API, so they never close a client's connection;
only a new listener or a changed health check restarts that load balancer's
proxy. A deregistered target drains: no new requests, in-flight ones finish,
and it goes when it has none or its deregistration delay has passed (AWS's
rule). The API cannot be told what the checks see, so target health and
metrics come from here: `target_health()` (answered in front of the API by
`front.py`) and `publish_metrics()`.

Differences from an ALB, on purpose: no fail-open (a target group whose
targets are all unhealthy answers 503, where an ALB would try them all);
listener rules other than the default action are not followed.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from bluegreen.adapters.aws.session import error_code
from bluegreen.errors import AdapterError, BluegreenError
from bluegreen.sandbox.dataplane import api, haproxy, health, metrics
from bluegreen.sandbox.dataplane.addresses import balancer_address
from bluegreen.sandbox.dataplane.api import GroupView, ListenerView, lb_key, tg_key
from bluegreen.sandbox.dataplane.settings import DataPlaneSettings

AddressOf = Callable[[str], tuple[str, int] | None]

# Where a target with no running process is checked: nothing listens there, so its checks fail as on AWS.
NOWHERE = ("127.0.0.1", 1)
ATTRIBUTES_REFRESH_S = 10.0
RETRY_START_S = 5.0


class TargetGroupNotFound(LookupError):
    pass


@dataclass
class _Server:
    address: tuple[str, int]
    added_at: float
    port: int
    ever_up: bool = False
    drain_until: float | None = None


@dataclass
class _Balancer:
    arn: str
    key: str  # app/<name>/<id>, CloudWatch's LoadBalancer dimension
    directory: Path
    config: haproxy.ProxyConfig | None = None
    process: haproxy.Process | None = None
    error: str = ""
    retry_at: float = 0.0
    listeners: list[ListenerView] = field(default_factory=list)
    maps: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    pending: dict[str, tuple[list[tuple[str, str]], float]] = field(default_factory=dict)  # listener -> (map, due)
    backends: dict[str, str] = field(default_factory=dict)  # target group ARN -> backend name
    servers: dict[str, dict[str, _Server]] = field(default_factory=dict)  # group ARN -> target id -> server
    stats: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    @property
    def runtime(self) -> haproxy.Runtime:
        return haproxy.Runtime(haproxy.socket_path(self.directory / "rt.sock"))


class LoadBalancers:
    def __init__(
        self,
        *,
        state_dir: Path,
        elbv2: Any,
        cloudwatch: Any,
        address_of: AddressOf,
        settings: DataPlaneSettings,
    ) -> None:
        self.state_dir = state_dir
        self.elbv2 = elbv2
        self.cloudwatch = cloudwatch
        self.address_of = address_of
        self.settings = settings
        state_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._balancers: dict[str, _Balancer] = {}
        self._state: api.ApiState | None = None  # the API as last read
        self._health: dict[str, list[dict[str, Any]]] = {}
        self._attached: set[str] = set()  # target groups some listener forwards to
        self._attributes: dict[str, tuple[float, float]] = {}  # group ARN -> (read at, deregistration delay)
        self._names: dict[str, list[metrics.Dims]] = {}  # frontend/backend name -> dimensions its requests count under
        self.periods = metrics.Periods(settings.metric_period_s, settings.metric_lag_s)
        self._log_path = haproxy.socket_path(state_dir / "log.sock")
        Path(self._log_path).unlink(missing_ok=True)
        self._log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._log.bind(self._log_path)
        self._log.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self._log.settimeout(0.2)
        self._closing = threading.Event()
        self._reader = threading.Thread(target=self._read_log, name="alb-log", daemon=True)
        self._reader.start()

    # -- the API's state -------------------------------------------------------

    def _deregistration_delay(self, arn: str, now: float) -> float:
        read_at, delay = self._attributes.get(arn, (-ATTRIBUTES_REFRESH_S, 300.0))
        if now - read_at >= ATTRIBUTES_REFRESH_S:
            with api.api_errors("read a target group's deregistration delay", self.elbv2):
                delay = api.deregistration_delay(self.elbv2, arn)
            self._attributes[arn] = (now, delay)
        return delay

    # -- reconcile ---------------------------------------------------------------

    def reconcile(self, *, read: bool = True) -> None:
        """Make the proxies match the API (read now, or as last read when not `read`).

        A proxy that cannot start is reported (status, and raised) after the rest."""
        if read or self._state is None:
            self._state = api.read(self.elbv2)
        state = self._state
        lbs, listeners, groups = state.balancers, state.listeners, state.groups
        now = time.monotonic()
        errors: list[BluegreenError] = []
        with self._lock:
            for arn in [a for a in self._balancers if a not in lbs]:
                self._stop(self._balancers.pop(arn))
            attached: set[str] = set()
            for arn, kind in lbs.items():
                if kind != "application":
                    continue
                lb = self._balancers.setdefault(arn, _Balancer(arn, lb_key(arn), self._dir(arn)))
                lb.listeners = sorted(listeners.get(arn, []), key=lambda x: x.api_port)
                used = {g for x in lb.listeners for g in x.weights if g in groups}
                attached |= used
                try:
                    self._reconcile_one(lb, [groups[g] for g in sorted(used)], now)
                except BluegreenError as e:
                    errors.append(e)
            self._health = {arn: self._describe(arn, g, attached, now) for arn, g in groups.items()}
            self._attached = attached
        if errors:
            raise errors[0]

    def _dir(self, lb_arn: str) -> Path:
        path = self.state_dir / haproxy.safe_name(lb_arn.rsplit("/", 1)[-1])
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _reconcile_one(self, lb: _Balancer, groups: list[GroupView], now: float) -> None:
        backends = {g.arn: haproxy.safe_name("tg_" + g.key.replace("targetgroup/", "", 1)) for g in groups}
        frontends = tuple(
            haproxy.Frontend(
                haproxy.safe_name("l_" + x.arn.rsplit("/", 1)[-1]),
                balancer_address(lb.arn),
                x.api_port,
                str(lb.directory / f"{haproxy.safe_name(x.arn.rsplit('/', 1)[-1])}.map"),
            )
            for x in lb.listeners
        )
        config = haproxy.ProxyConfig(
            haproxy.socket_path(lb.directory / "rt.sock"),
            self._log_path,
            frontends,
            tuple(haproxy.Backend(backends[g.arn], g.check) for g in groups),
        )
        running = lb.process is not None and lb.process.running()
        if config != lb.config or not running:
            if now < lb.retry_at and config == lb.config:
                raise AdapterError(lb.error)
            self._restart(lb, config, backends, groups, now)
        for x, f in zip(lb.listeners, frontends, strict=True):
            entries = haproxy.weight_ranges({backends[g]: w for g, w in x.weights.items() if g in backends})
            if lb.maps.get(x.arn) == entries:
                lb.pending.pop(x.arn, None)
                continue
            if x.arn in lb.maps and self.settings.change_delay_s > 0:  # a change, not the proxy's first weights
                if lb.pending.get(x.arn, (None, 0.0))[0] != entries:
                    lb.pending[x.arn] = (entries, now + self.settings.change_delay_s)
                if now < lb.pending[x.arn][1]:
                    continue
            lb.runtime.replace_map(f.map_file, entries)
            Path(f.map_file).write_text(haproxy.map_text(entries))  # a restart starts from the same weights
            lb.maps[x.arn] = entries
            lb.pending.pop(x.arn, None)
        rows = {(r["pxname"], r["svname"]): r for r in lb.runtime.stat()}
        lb.stats = rows
        for g in groups:
            self._reconcile_servers(lb, g, backends[g.arn], rows, now)

    def _restart(
        self, lb: _Balancer, config: haproxy.ProxyConfig, backends: dict[str, str], groups: list[GroupView], now: float
    ) -> None:
        config_path = lb.directory / "haproxy.cfg"
        if lb.process is None:  # a pid file without a process of ours: a proxy left by a killed data plane
            haproxy.stop_stale(lb.directory / "haproxy.pid", config_path)
        self._stop(lb)
        lb.config, lb.backends, lb.maps, lb.servers, lb.pending = config, backends, {}, {}, {}
        for f in config.frontends:
            Path(f.map_file).write_text("")
        config_path.write_text(haproxy.render(config))
        try:
            lb.process = haproxy.start(
                self.settings.haproxy_bin,
                config_path,
                lb.directory / "haproxy.log",
                lb.runtime,
                timeout_s=self.settings.proxy_start_timeout_s,
            )
        except BluegreenError as e:
            lb.process, lb.error, lb.retry_at = None, str(e), now + RETRY_START_S
            raise
        lb.error = ""
        (lb.directory / "haproxy.pid").write_text(str(lb.process.pid))
        lb_dims: metrics.Dims = (("LoadBalancer", lb.key),)
        for f in config.frontends:
            self._names[f.name] = [lb_dims]
        for g in groups:
            self._names[backends[g.arn]] = [(("TargetGroup", g.key), ("LoadBalancer", lb.key)), lb_dims]

    def _reconcile_servers(
        self, lb: _Balancer, g: GroupView, backend: str, rows: dict[tuple[str, str], dict[str, str]], now: float
    ) -> None:
        rt = lb.runtime
        servers = lb.servers.setdefault(g.arn, {})
        registered = dict(g.targets)
        for target_id, port in registered.items():
            address = self.address_of(target_id) or NOWHERE
            name = f"{backend}/{haproxy.safe_name(target_id)}"
            s = servers.get(target_id)
            if s is None:
                host, p = address
                # Added at weight 0 and marked down, so it gets no request before it passes `rise` checks.
                c = g.check
                checks = f"check inter {c.interval_s}s rise {c.healthy_threshold} fall {c.unhealthy_threshold}"
                rt.must(f"add server {name} {host}:{p} weight 0 {checks}")
                try:
                    rt.must(f"enable health {name}")
                    rt.must(f"enable server {name}")
                    rt.must(f"set server {name} health down")
                    rt.must(f"set server {name} weight 1")
                except AdapterError:
                    rt.ask(f"set server {name} state maint")  # not half-added: the next reconcile starts over
                    rt.ask(f"del server {name}")
                    raise
                servers[target_id] = _Server(address, now, port)
                continue
            if s.drain_until is not None:
                rt.must(f"set server {name} state ready")  # registered again while draining
                s.drain_until = None
            if s.address != address:
                rt.must(f"set server {name} addr {address[0]} port {address[1]}")
                s.address = address
            row = rows.get((backend, haproxy.safe_name(target_id)), {})
            s.ever_up = s.ever_up or row.get("status", "").startswith("UP")
        for target_id in [t for t in servers if t not in registered]:
            s = servers[target_id]
            name = f"{backend}/{haproxy.safe_name(target_id)}"
            if s.drain_until is None:
                rt.must(f"set server {name} state drain")
                s.drain_until = now + self._deregistration_delay(g.arn, now)
                continue
            row = rows.get((backend, haproxy.safe_name(target_id)), {})
            idle = row.get("scur", "0") == "0" and row.get("qcur", "0") in ("0", "")
            if idle or now >= s.drain_until:
                rt.ask(f"set server {name} state maint")
                rt.ask(f"shutdown sessions server {name}")
                if "deleted" in rt.ask(f"del server {name}").lower():
                    del servers[target_id]

    def _describe(self, arn: str, g: GroupView, attached: set[str], now: float) -> list[dict[str, Any]]:
        lb = next((b for b in self._balancers.values() if arn in b.backends and b.process is not None), None)
        if lb is None or arn not in attached:
            return [health.description(t, p, self._hc_port(g, p), health.NOT_IN_USE) for t, p in g.targets]
        backend = lb.backends[arn]
        servers = lb.servers.get(arn, {})
        out = []
        healthy = unhealthy = 0
        ids = [t for t, _ in g.targets] + [t for t in servers if t not in dict(g.targets)]
        for target_id in ids:
            s = servers.get(target_id)
            row = lb.stats.get((backend, haproxy.safe_name(target_id)))
            seen = None
            if s is not None and row is not None:
                seen = health.Seen(
                    status=row.get("status", ""),
                    check_status=row.get("check_status", ""),
                    check_code=row.get("check_code", ""),
                    ever_up=s.ever_up,
                    checking_for_s=now - s.added_at,
                    unhealthy_after_s=float(g.check.unhealthy_threshold * g.check.interval_s),
                )
            state = health.classify(seen, draining=s is not None and s.drain_until is not None)
            healthy += state[0] == "healthy"
            unhealthy += state[0] == "unhealthy"
            port = s.port if s is not None else dict(g.targets)[target_id]
            out.append(health.description(target_id, port, self._hc_port(g, port), state))
        self.periods.sample_hosts(time.time(), (("TargetGroup", g.key), ("LoadBalancer", lb.key)), healthy, unhealthy)
        return out

    @staticmethod
    def _hc_port(g: GroupView, port: int) -> str:
        return str(port) if g.health_check_port == "traffic-port" else g.health_check_port

    # -- what the API cannot answer ------------------------------------------------

    def target_health(self, target_group_arn: str) -> list[dict[str, Any]]:
        """TargetHealthDescriptions as DescribeTargetHealth returns them: every registered target, then the draining.

        The registered targets are read from the API now, so a target registered a moment ago is
        `initial` at once, as on AWS, before the next reconcile hands it to the proxy.
        """
        try:
            found = self.elbv2.describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
        except ClientError as e:
            if error_code(e) == "TargetGroupNotFound":
                raise TargetGroupNotFound(target_group_arn) from e
            raise
        with self._lock:
            known = {d["Target"]["Id"]: d for d in self._health.get(target_group_arn, [])}
            attached = target_group_arn in self._attached
        out = []
        for d in found:
            target_id, port = d["Target"]["Id"], int(d["Target"].get("Port", 80))
            state = health.INITIAL_REGISTERING if attached else health.NOT_IN_USE
            out.append(dict(known.pop(target_id, {}) or health.description(target_id, port, str(port), state)))
        return out + [dict(d) for d in known.values() if d["TargetHealth"]["State"] == "draining"]

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {lb.key: self._status_one(lb) for lb in self._balancers.values()}

    def _status_one(self, lb: _Balancer) -> dict[str, Any]:
        host = balancer_address(lb.arn)
        urls = [f"http://{host}:{x.api_port}" for x in lb.listeners]
        proc = lb.process
        groups: dict[str, Any] = {}
        for arn, backend in lb.backends.items():
            total = lb.stats.get((backend, "BACKEND"), {})
            groups[tg_key(arn)] = {
                "servers": [
                    {"id": t, "address": f"{s.address[0]}:{s.address[1]}", "draining": s.drain_until is not None}
                    | {k: lb.stats.get((backend, haproxy.safe_name(t)), {}).get(k, "") for k in ("status", "scur")}
                    for t, s in lb.servers.get(arn, {}).items()
                ],
                "counters": {k: total.get(k, "") for k in ("stot", "hrsp_2xx", "hrsp_4xx", "hrsp_5xx", "scur")},
            }
        return {
            "production_url": urls[0] if urls else None,
            "test_url": urls[1] if len(urls) > 1 else None,
            "listeners": [
                {"arn": x.arn, "port": x.api_port, "url": f"http://{host}:{x.api_port}"} | {"weights": x.weights}
                for x in lb.listeners
            ],
            "proxy": {
                "pid": proc.pid if proc else None,
                "state": "running" if proc and proc.running() else ("failed" if lb.error else "stopped"),
                "error": lb.error,
                "config": str(lb.directory / "haproxy.cfg"),
            },
            "target_groups": groups,
        }

    def publish_metrics(self, now: float) -> None:
        """Publish every period that closed at least the lag before `now` (epoch seconds, as the proxy's log)."""
        for start, counts in self.periods.take_due(now):
            with api.api_errors("publish the load balancer metrics", self.cloudwatch):
                metrics.publish(self.cloudwatch, list(metrics.datums(start, counts)))

    def _read_log(self) -> None:
        while not self._closing.is_set():
            try:
                raw = self._log.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            request = metrics.parse_line(raw)
            if request is None:
                continue
            dims = self._names.get(request.backend) or self._names.get(request.frontend) or []
            self.periods.count(request.at, dims, request.status, request.response_ms)

    # -- stopping ----------------------------------------------------------------

    def _stop(self, lb: _Balancer) -> None:
        if lb.process is not None:
            lb.process.stop()
            lb.process = None
        (lb.directory / "haproxy.pid").unlink(missing_ok=True)
        lb.config = None

    def close(self) -> None:
        """Stop every proxy this object started, and its log reader."""
        with self._lock:
            for lb in self._balancers.values():
                self._stop(lb)
        self._closing.set()
        self._reader.join(timeout=2)
        self._log.close()
        Path(self._log_path).unlink(missing_ok=True)
