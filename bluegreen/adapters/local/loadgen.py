"""A bounded pool of HTTP clients on loopback: the zero-downtime proof's traffic.

Prove "no dropped request" with traffic, not hope: while deploys, aborts and
restarts run, a few threads request a URL through nginx as fast as it
answers, half on fresh connections (keep-alive off), half reusing
keep-alive connections, and count every request sent, every answer that is
not 2xx and every connection error. The pool stops by itself after
`max_duration_s`.

By default the pool never resends: a keep-alive connection the server closed
while it was idle, under a request already sent, is a failed request, as it
is for a POST or for any client that does not resend. With `resend_stale`,
such a request is counted apart and resent once on a new connection, as
browsers, urllib3 and curl do for idempotent requests (RFC 9112, section
9.3.1): a measure of what those clients would see.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass
class LoadReport:
    sent: int = 0  # requests sent, answered or not (a resend counts again)
    requests: int = 0  # answered, any status
    ok: int = 0  # 2xx
    non_2xx: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # no answer: refused, reset, timed out...
    stale_retries: int = 0  # idle keep-alive connections closed by the server, resent once (resend_stale only)
    reused_errors: int = 0  # of `errors`: on a keep-alive connection that had answered before
    keepalive_requests: int = 0
    latencies_s: list[float] = field(default_factory=list)  # of 2xx answers
    bodies: Counter[str] = field(default_factory=Counter)  # first line of each 2xx body
    duration_s: float = 0.0

    @property
    def failures(self) -> int:
        return sum(self.non_2xx.values()) + sum(self.errors.values())

    @property
    def per_second(self) -> float:
        return self.ok / self.duration_s if self.duration_s else 0.0

    def percentile_ms(self, p: float) -> float:
        if not self.latencies_s:
            return 0.0
        ordered = sorted(self.latencies_s)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index] * 1000

    def add(self, other: LoadReport) -> None:
        self.sent += other.sent
        self.reused_errors += other.reused_errors
        self.requests += other.requests
        self.ok += other.ok
        self.non_2xx.update(other.non_2xx)
        self.errors.update(other.errors)
        self.stale_retries += other.stale_retries
        self.keepalive_requests += other.keepalive_requests
        self.latencies_s.extend(other.latencies_s)
        self.bodies.update(other.bodies)

    def summary(self) -> str:
        return (
            f"{self.sent} requests sent in {self.duration_s:.1f}s, {self.requests} answered "
            f"({self.keepalive_requests} on keep-alive connections): "
            f"{self.ok} 2xx, {sum(self.non_2xx.values())} non-2xx {dict(self.non_2xx)}, "
            f"{sum(self.errors.values())} connection errors {dict(self.errors)} "
            f"({self.reused_errors} on reused keep-alive connections), "
            f"{self.stale_retries} resent; "
            f"p50 {self.percentile_ms(50):.1f} ms, p99 {self.percentile_ms(99):.1f} ms"
        )


class LoadGenerator:
    """`with LoadGenerator(addr) as load: ...; report = load.report` — or start()/stop()."""

    def __init__(
        self,
        address: str,
        path: str = "/",
        *,
        threads: int = 4,
        keepalive_threads: int | None = None,
        max_duration_s: float = 300.0,
        timeout_s: float = 10.0,
        resend_stale: bool = False,
        pause_s: float = 0.0,
    ) -> None:
        host, _, port = address.rpartition(":")
        self.host, self.port, self.path = host, int(port), path
        self.keepalive_threads = threads // 2 if keepalive_threads is None else keepalive_threads
        self.threads = threads
        self.max_duration_s = max_duration_s
        self.timeout_s = timeout_s
        self.resend_stale = resend_stale
        self.pause_s = pause_s  # between one client's requests: a steady rate that leaves the machine room
        self._stop = threading.Event()
        self._reports = [LoadReport() for _ in range(threads)]
        self._threads = [
            threading.Thread(target=self._run, args=(i, i < self.keepalive_threads), name=f"load-{i}", daemon=True)
            for i in range(threads)
        ]
        self._started = 0.0
        self.report = LoadReport()

    def start(self) -> LoadGenerator:
        self._started = time.monotonic()
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> LoadReport:
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout_s + 5)
        self.report = self.snapshot()
        return self.report

    def snapshot(self) -> LoadReport:
        """The counts so far, the clients still running (a request in flight is counted when answered)."""
        report = LoadReport(duration_s=time.monotonic() - self._started)
        for r in self._reports:
            report.add(r)
        return report

    def __enter__(self) -> LoadGenerator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one client -----------------------------------------------------------------------

    def _run(self, index: int, keepalive: bool) -> None:
        report = self._reports[index]
        deadline = time.monotonic() + self.max_duration_s
        conn: http.client.HTTPConnection | None = None
        used = 0  # requests sent on `conn`
        while not self._stop.is_set() and time.monotonic() < deadline:
            if conn is None:
                conn, used = self._connect(), 0
            began = time.perf_counter()
            report.sent += 1
            try:
                status, body, will_close = self._get(conn, keepalive)
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = None
                reused = keepalive and used > 0
                if reused and self.resend_stale and isinstance(e, STALE_CONNECTION):
                    report.stale_retries += 1  # resend on a fresh connection, as browsers do
                    continue
                report.errors[type(e).__name__] += 1
                report.reused_errors += reused
                continue
            elapsed = time.perf_counter() - began
            used += 1
            report.requests += 1
            report.keepalive_requests += keepalive
            if 200 <= status < 300:
                report.ok += 1
                report.latencies_s.append(elapsed)
                report.bodies[body.split("\n", 1)[0][:80]] += 1
            else:
                report.non_2xx[status] += 1
            if will_close or not keepalive:
                conn.close()
                conn = None
            if self.pause_s:
                self._stop.wait(self.pause_s)
        if conn is not None:
            conn.close()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)

    def _get(self, conn: http.client.HTTPConnection, keepalive: bool) -> tuple[int, str, bool]:
        conn.request("GET", self.path, headers={} if keepalive else {"Connection": "close"})
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace")
        return resp.status, body, resp.will_close
