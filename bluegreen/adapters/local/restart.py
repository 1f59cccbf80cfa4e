"""Rolling restart: replace a release's gunicorn workers one at a time, each proven ready.

`kill -HUP` restarts every worker at once; with a slow-starting app the
connections wait on a socket nobody accepts. Here one worker at a time is
asked to stop (TERM: it finishes its request), gunicorn forks its
replacement, and the replacement's `post_worker_init` hook
(gunicorn_conf.py) calls the app's status check in-process and reports the
result over UDP on loopback. Only a "200" from the new worker lets the next
old worker go, so capacity never drops by more than one worker. No report
within the timeout, or any other status, stops the restart with the reason;
the hook keeps a worker that is not ready out of the accept loop, so it
serves nobody meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

from bluegreen.adapters.local import processes
from bluegreen.adapters.local.registry import AppProcess
from bluegreen.errors import AdapterError

HOST = "127.0.0.1"
RECV_SLICE_S = 0.2  # how often the wait looks at the master while no report comes


def parse_report(message: bytes) -> tuple[int, str]:
    """`b"<worker pid> <status line>"` -> (pid, status)."""
    pid, _, status = message.decode(errors="replace").strip().partition(" ")
    return int(pid), status


def restart_workers(proc: AppProcess, *, timeout_s: float, progress: Callable[[str], None]) -> None:
    originals = processes.workers(proc)
    if not originals:
        raise AdapterError(
            f"{proc.colour} ({proc.version}) has no running workers to restart",
            where=f"gunicorn master pid {proc.pid}",
            hint=f"read {proc.log}",
        )
    port_file = Path(proc.run_dir) / "ready-port"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as reports:
        reports.bind((HOST, 0))
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(str(reports.getsockname()[1]))
        tmp.replace(port_file)  # from now on new workers report here
        try:
            for n, old in enumerate(originals, 1):
                before = {w.pid for w in processes.workers(proc)}
                progress(f"{proc.colour}: worker {n}/{len(originals)} (pid {old.pid}) stops after its request")
                with contextlib.suppress(ProcessLookupError):  # it may have gone on its own: then it is replaced anyway
                    os.kill(old.pid, signal.SIGTERM)
                pid, status = _await_ready(reports, proc, before, timeout_s)
                progress(f"{proc.colour}: its replacement, pid {pid}, reported ready ({status})")
        finally:
            port_file.unlink(missing_ok=True)


def _await_ready(reports: socket.socket, proc: AppProcess, before: set[int], timeout_s: float) -> tuple[int, str]:
    where = f"{proc.colour} ({proc.version}), gunicorn master pid {proc.pid}"
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        if not processes.is_running(proc):
            raise AdapterError(
                f"the gunicorn master of {proc.colour} exited during the rolling restart; its log ends:\n"
                + processes.log_tail(proc.log),
                where=where,
                hint=f"read {proc.log}; deploy again to get a fresh release running",
            )
        reports.settimeout(min(left, RECV_SLICE_S))
        try:
            message = reports.recv(1024)
        except TimeoutError:
            continue
        try:
            pid, status = parse_report(message)
        except ValueError:
            continue
        if pid in before:
            continue  # not one of the replacements
        if status.startswith("200"):
            return pid, status
        raise AdapterError(
            f"new worker {pid} of {proc.colour} reported {status!r} instead of 200: the rolling restart stopped",
            where=where,
            hint=f"read {proc.log}; the other workers still serve. Fix the app's status check, then restart again",
        )
    raise AdapterError(
        f"no new worker of {proc.colour} reported ready within {timeout_s:g}s: the rolling restart stopped",
        where=where,
        hint=f"read {proc.log}; the other workers still serve. If the app is just slow to start, "
        "raise local.start_timeout and restart again",
    )
