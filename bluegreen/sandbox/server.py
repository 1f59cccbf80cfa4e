"""Start and stop a moto server: AWS at a loopback endpoint, and know when it answers.

Used by `bluegreen sandbox up` and by the tests. The server runs as its own
background process on a free loopback port; its port and PID are written to
a JSON file so other processes (and `sandbox down`) find it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from bluegreen.adapters.files import write_text
from bluegreen.adapters.toolproc import alive as alive  # is a recorded server still running
from bluegreen.errors import AdapterError, MissingToolError

HOST = "127.0.0.1"


@dataclass(frozen=True)
class MotoServer:
    port: int
    pid: int
    log: str

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start(log_path: Path, *, timeout_s: float = 30.0) -> MotoServer:
    try:
        import moto.server  # noqa: F401  (fail here, clearly, if moto[server] is missing)
    except ImportError:
        raise MissingToolError(
            "moto[server] is not installed in this Python",
            where=sys.executable,
            hint="pip install 'bluegreen[sandbox]' (in a clone of bluegreen: make setup)",
        ) from None
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the CLI that started it; killed as a group
        )
    server = MotoServer(port=port, pid=proc.pid, log=str(log_path))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AdapterError(
                f"moto server exited with code {proc.returncode} while starting",
                where=str(log_path),
                hint=f"read {log_path}",
            )
        if is_up(server.endpoint):
            return server
        time.sleep(0.1)
    stop(server.pid)
    raise AdapterError(f"moto server did not answer on {server.endpoint} within {timeout_s:g}s", where=str(log_path))


def is_up(endpoint: str) -> bool:
    # The dashboard page is static; data.json serialises every resource (megabytes,
    # most of a second even when idle) and timed out under load, as if the server were down.
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=5) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def reset(endpoint: str) -> None:
    req = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(req, timeout=10):
        pass


def stop(pid: int, *, timeout_s: float = 10.0) -> None:
    """TERM the server's process group, then KILL it if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = 0 if alive(pid) else pid
            if done or not alive(pid):
                return
            time.sleep(0.05)


def save(server: MotoServer, path: Path) -> None:
    write_text(path, json.dumps(asdict(server)))


def read(path: Path) -> MotoServer | None:
    try:
        return MotoServer(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None
