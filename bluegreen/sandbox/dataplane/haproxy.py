"""One HAProxy process per sandbox load balancer: its configuration, its process, its runtime API.

The configuration holds only what HAProxy cannot change at run time: one
frontend per listener (its loopback port), one backend per target group
(its health check). Everything an API call changes while traffic flows
(forward weights, targets, draining) goes through the runtime API on a UNIX
socket, so it never needs a reload and never closes a client's connection.

Weights: each listener's frontend draws `rand(1000)` per request and looks
the number up in a map of ranges (`0:899 tg_blue`, `900:999 tg_green`), kept
on disk and replaced atomically at run time (`prepare map` / `add map` /
`commit map`). So, like an ALB, every request is routed on its own, also
on a kept-alive connection, and a target group's health checks run once,
in its own backend, however many listeners forward to it. (Per-server weights
in one backend per listener would check each target once per listener and
need rescaling whenever a target turns healthy.) `option http-server-close`
keeps no idle server connection, so a drained server can be deleted as soon
as its last request is answered.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bluegreen.adapters.toolproc import killed_with_parent
from bluegreen.errors import AdapterError, MissingToolError

HOST = "127.0.0.1"
RANGE = 1000  # rand(RANGE) per request: weights resolve to a thousandth, as an ALB's 0..999 weights
NO_BACKEND = "no_target_group"
RUNTIME_TIMEOUT_S = 5.0
LOG_MARK = "BGREQ"
# Tab-separated so names never split; %Tr is -1 when no server answered.
LOG_FORMAT = f"{LOG_MARK}\\t%Ts.%ms\\t%f\\t%b\\t%s\\t%ST\\t%Tr"


@dataclass(frozen=True)
class HealthCheck:
    path: str
    interval_s: int
    timeout_s: int
    healthy_threshold: int
    unhealthy_threshold: int
    matcher: str  # AWS's HttpCode: "200", "200-299", "200,202"


@dataclass(frozen=True)
class Backend:
    name: str
    check: HealthCheck


# HAProxy refuses a UNIX socket path of 97 bytes or more (the kernel's limit is 108 with its suffix).
MAX_SOCKET_PATH = 96


def socket_path(wanted: Path) -> str:
    """`wanted`, or where a socket that deep in the state directory can live: a short path named after it in
    a private directory under the temporary directory, so a deep state directory still starts the proxy."""
    if len(str(wanted)) <= MAX_SOCKET_PATH:
        return str(wanted)
    short = Path(tempfile.gettempdir()) / f"bluegreen-{os.getuid()}"
    short.mkdir(mode=0o700, exist_ok=True)
    digest = hashlib.sha256(str(wanted).encode()).hexdigest()[:16]
    return str(short / f"{digest}-{wanted.name}")


@dataclass(frozen=True)
class Frontend:
    name: str
    host: str  # the load balancer's own loopback address (addresses.py)
    port: int  # the listener's real port
    map_file: str


@dataclass(frozen=True)
class ProxyConfig:
    runtime_socket: str
    log_socket: str
    frontends: tuple[Frontend, ...]
    backends: tuple[Backend, ...]


def render(config: ProxyConfig) -> str:
    lines = [
        "global",
        f"  stats socket {config.runtime_socket} mode 600 level admin",
        f"  log {config.log_socket} len 1024 local0",
        "defaults",
        "  mode http",
        "  log global",
        f'  log-format "{LOG_FORMAT}"',
        "  option http-server-close",
        "  timeout connect 5s",
        "  timeout client 65s",  # an ALB's default idle timeout is 60 s
        "  timeout server 65s",
        "  timeout http-keep-alive 65s",
    ]
    for f in config.frontends:
        lines += [
            f"frontend {f.name}",
            f"  bind {f.host}:{f.port}",
            f"  http-request set-var(txn.slot) rand({RANGE})",
            f"  use_backend %[var(txn.slot),map_int({f.map_file},{NO_BACKEND})]",
            f"  default_backend {NO_BACKEND}",
        ]
    lines += [f"backend {NO_BACKEND}", "  http-request return status 503"]
    for b in config.backends:
        c = b.check
        lines += [
            f"backend {b.name}",
            "  balance roundrobin",
            # No healthy target: answer 503 now, as an ALB does, rather than queue until a timeout.
            "  http-request return status 503 if { nbsrv lt 1 }",
            "  option httpchk",
            f"  http-check send meth GET uri {c.path} ver HTTP/1.1 hdr Host {HOST}",
            f"  http-check expect status {c.matcher}",
            f"  timeout check {c.timeout_s}s",
        ]
    return "\n".join(lines) + "\n"


def weight_ranges(weights: Mapping[str, int]) -> list[tuple[str, str]]:
    """Backend name -> its share of 0..RANGE-1 as map entries ("lo:hi", backend); empty if all weights are 0."""
    total = sum(w for w in weights.values() if w > 0)
    out: list[tuple[str, str]] = []
    start = 0
    acc = 0
    for name in sorted(weights):
        if weights[name] <= 0:
            continue
        acc += weights[name]
        end = round(acc * RANGE / total)
        if end > start:
            out.append((f"{start}:{end - 1}", name))
        start = end
    return out


def map_text(entries: Sequence[tuple[str, str]]) -> str:
    return "".join(f"{k} {v}\n" for k, v in entries)


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


class Runtime:
    """The runtime API: one command line per connection, answered in text."""

    def __init__(self, path: str) -> None:
        self.path = path

    def ask(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(RUNTIME_TIMEOUT_S)
            s.connect(self.path)
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def must(self, command: str) -> str:
        """A command whose refusal is a fault of ours (an unknown server, a bad map): raise with HAProxy's words."""
        answer = self.ask(command)
        lowered = answer.lower()
        if any(w in lowered for w in ("unknown", "error", "not found", "invalid", "no such", "cannot", "require")):
            raise AdapterError(f"HAProxy refused `{command.splitlines()[0]}`: {answer.strip()}", where=self.path)
        return answer

    def stat(self) -> list[dict[str, str]]:
        """`show stat` for backends and servers: one row each (pxname, svname, status, check_status, scur, ...)."""
        text = self.ask("show stat -1 6 -1")
        rows = [line for line in text.splitlines() if line]
        if not rows or not rows[0].startswith("# "):
            return []
        header = rows[0][2:].split(",")
        return [dict(zip(header, r.split(","), strict=False)) for r in rows[1:]]

    def replace_map(self, map_file: str, entries: Sequence[tuple[str, str]]) -> None:
        """Swap a map's whole content at once: no request sees half the old ranges and half the new."""
        version = self.must(f"prepare map {map_file}").split(":")[-1].strip()
        for key, value in entries:
            self.must(f"add map @{version} {map_file} {key} {value}")
        self.must(f"commit map @{version} {map_file}")


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    config_path: Path
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout_s: float = 5.0) -> None:
        for signal_name in ("terminate", "kill"):
            if self.proc.poll() is not None:
                return
            getattr(self.proc, signal_name)()
            try:
                self.proc.wait(timeout=timeout_s)
                return
            except subprocess.TimeoutExpired:
                continue


def stop_stale(pid_file: Path, config_path: Path) -> None:
    """Stop a proxy left by a data plane that was killed: only if that pid still runs this very config."""
    try:
        pid = int(pid_file.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return
    if str(config_path) not in cmdline.split("\0"):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.05)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


def start(binary: str, config_path: Path, log_path: Path, runtime: Runtime, *, timeout_s: float) -> Process:
    """Start HAProxy in the foreground (its pid is ours to stop) and wait until its runtime API answers.

    On any failure nothing is left running and the error says what HAProxy said.
    """
    # Debian installs it in /usr/sbin, which is not on every user's PATH.
    found = shutil.which(binary) or shutil.which(binary, path=os.pathsep.join(("/usr/sbin", "/sbin")))
    argv = [found or binary, "-db", "-f", str(config_path)]
    try:
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=killed_with_parent,  # not left listening by a data plane killed with -9
            )
    except FileNotFoundError:
        raise MissingToolError(
            f"{binary} is not installed", where=str(config_path), hint="run scripts/install-system-packages"
        ) from None
    process = Process(proc, config_path, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            runtime.ask("show info")
            return process
        except OSError:
            time.sleep(0.05)
    process.stop()
    tail = log_path.read_text(errors="replace")[-800:].strip() if log_path.exists() else ""
    bind = re.search(r"cannot bind socket[^\n]*\[([0-9.]+:\d+)\]", tail)
    what = (
        f"the load balancer proxy could not listen on {bind.group(1)}: the port is taken"
        if bind
        else f"the load balancer proxy (haproxy) did not start: {tail or '(no output)'}"
    )
    raise AdapterError(
        what,
        where=f"{config_path} (log: {log_path})",
        hint="free the port (or give the listener another port in bluegreen.yaml), then run `bluegreen sandbox up` again"
        if bind
        else f"read {log_path}, then run `bluegreen sandbox up` again",
    )
