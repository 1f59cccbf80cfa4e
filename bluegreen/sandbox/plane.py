"""The data plane's process under `sandbox up` and `down`: start it, find it, stop it and what it ran.

`sandbox up` starts `python -m bluegreen.sandbox.dataplane` (dataplane/daemon.py)
against the moto server, in a process group of its own that outlives the
command, its PID and log recorded in <state_dir>/sandbox/dataplane.process.json,
and waits (bounded) until it writes its front's endpoint. That front, not
moto, is the sandbox's endpoint for every client (boto3, Terraform, Packer):
it answers what only the data plane knows (target health, the load balancers'
addresses) and relays the rest; the daemon's own clients talk to moto.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bluegreen.adapters.files import write_text
from bluegreen.adapters.toolproc import alive
from bluegreen.errors import AdapterError
from bluegreen.sandbox import server as moto
from bluegreen.sandbox.dataplane import haproxy
from bluegreen.sandbox.dataplane.daemon import read_status, status_path, timing_path

START_TIMEOUT_S = 30.0
# The daemon stops every app process (TERM, then KILL after 5 s) and proxy on SIGTERM; then it is killed.
STOP_TIMEOUT_S = 20.0
MODULE = "bluegreen.sandbox.dataplane"


@dataclass(frozen=True)
class DataPlaneProcess:
    pid: int
    log: str


def _sandbox_dir(state_dir: Path) -> Path:
    return status_path(state_dir).parent  # <state_dir>/sandbox, where the daemon writes its status


def process_path(state_dir: Path) -> Path:
    return _sandbox_dir(state_dir) / "dataplane.process.json"


def start(state_dir: Path, moto_endpoint: str, region: str, options: Sequence[str] = ()) -> DataPlaneProcess:
    """Start the daemon and wait until its front answers; on any failure nothing of it is left running."""
    sandbox = _sandbox_dir(state_dir)
    sandbox.mkdir(parents=True, exist_ok=True)
    status_path(state_dir).unlink(missing_ok=True)  # a front endpoint from before is no answer
    log_path = sandbox / "dataplane.log"
    argv = [sys.executable, "-m", MODULE, "--state-dir", str(state_dir.resolve()), "--moto", moto_endpoint]
    argv += ["--region", region, *options]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    process = DataPlaneProcess(pid=proc.pid, log=str(log_path))
    write_text(process_path(state_dir), json.dumps(asdict(process)))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stop(state_dir)
            raise AdapterError(
                f"the sandbox's data plane exited with code {proc.returncode} while starting: {_tail(log_path)}",
                where=str(log_path),
                hint=f"read {log_path}, then run `bluegreen sandbox up` again",
            )
        if front_endpoint(state_dir):
            return process
        time.sleep(0.1)
    stop(state_dir)
    raise AdapterError(
        f"the sandbox's data plane did not report its endpoint within {START_TIMEOUT_S:g}s",
        where=str(log_path),
        hint=f"read {log_path}, then run `bluegreen sandbox up` again",
    )


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-600:].strip() or "(no output)"
    except OSError:
        return "(no log)"


def recorded(state_dir: Path) -> DataPlaneProcess | None:
    try:
        return DataPlaneProcess(**json.loads(process_path(state_dir).read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def running(state_dir: Path) -> DataPlaneProcess | None:
    """The recorded daemon if that PID still runs it (a PID outlives its process in a record)."""
    process = recorded(state_dir)
    if process is None or not alive(process.pid):
        return None
    try:
        argv = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return process  # no /proc (macOS): trust the PID
    return process if MODULE.encode() in argv and str(state_dir.resolve()).encode() in argv else None


def status(state_dir: Path) -> dict[str, Any] | None:
    """What the running daemon last wrote; None when it is not running."""
    process = running(state_dir)
    found = read_status(state_dir)
    if process is None or found is None or found.get("pid") != process.pid:
        return None
    return found


def publish_metrics_as(state_dir: Path, period_s: int, lag_s: float) -> None:
    """Tell the running (or next) data plane how to publish the load balancers' metrics from now on."""
    timing_path(state_dir).parent.mkdir(parents=True, exist_ok=True)
    write_text(timing_path(state_dir), json.dumps({"metric_period_s": period_s, "metric_lag_s": lag_s}))


def front_endpoint(state_dir: Path) -> str:
    """The endpoint every client uses, or "" when the daemon is not running (yet)."""
    found = status(state_dir)
    return str(found.get("front_endpoint") or "") if found else ""


def stop(state_dir: Path) -> bool:
    """SIGTERM the daemon (it closes its proxies and app processes), SIGKILL its group after the bound;
    then stop any proxy a killed daemon left. True if a daemon was running."""
    process = running(state_dir)
    if process is not None:
        moto.stop(process.pid, timeout_s=STOP_TIMEOUT_S)
    alb_dir = _sandbox_dir(state_dir) / "alb"
    for pid_file in sorted(alb_dir.glob("*/haproxy.pid")) if alb_dir.is_dir() else []:
        haproxy.stop_stale(pid_file, pid_file.with_name("haproxy.cfg"))
    process_path(state_dir).unlink(missing_ok=True)
    return process is not None
