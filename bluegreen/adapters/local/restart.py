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
    port_file = Path(proc.run_dir) / "ready-port"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as reports:
        reports.bind((HOST, 0))
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(str(reports.getsockname()[1]))
        tmp.replace(port_file)  # from now on new workers report here
        try:
            # Listed after the port file is in place: every worker forked from now on is a replacement
            # of one of these, and its report reaches us.
            originals = processes.workers(proc)
            if not originals:
                raise AdapterError(
                    f"{proc.colour} ({proc.version}) has no running workers to restart",
                    where=f"gunicorn master pid {proc.pid}",
                    hint=f"read {proc.log}",
                )
            first = {w.pid for w in originals}
            ready: set[int] = set()
            for n, old in enumerate(originals, 1):
                if old.pid in {w.pid for w in processes.workers(proc)}:
                    progress(f"{proc.colour}: worker {n}/{len(originals)} (pid {old.pid}) stops after its request")
                    with contextlib.suppress(ProcessLookupError):  # gone meanwhile: replaced all the same
                        os.kill(old.pid, signal.SIGTERM)
                else:
                    # Gone on its own (a held-back worker's readiness wait ran out, a crash): the master
                    # forks its replacement all the same, which must prove ready like the others.
                    progress(f"{proc.colour}: worker {n}/{len(originals)} (pid {old.pid}) has already left")
                _await_replaced(reports, proc, first, old.pid, ready, timeout_s, progress)
        finally:
            port_file.unlink(missing_ok=True)


def _await_replaced(
    reports: socket.socket,
    proc: AppProcess,
    first: set[int],
    old_pid: int,
    ready: set[int],
    timeout_s: float,
    progress: Callable[[str], None],
) -> None:
    """Until `old_pid` has gone and every original that has gone has a replacement that reported ready.

    The master forks one replacement per worker that leaves, so counting is exact where matching a report
    to the worker let go is not: a worker that left on its own has a replacement too, and whichever of the
    two reports first would have been taken for the other, letting the next worker go while one still booted.
    """
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
        alive = {w.pid for w in processes.workers(proc)}
        if old_pid not in alive and len(ready) >= len(first - alive):
            return
        reports.settimeout(min(left, RECV_SLICE_S))
        try:
            message = reports.recv(1024)
        except TimeoutError:
            continue
        try:
            pid, status = parse_report(message)
        except ValueError:
            continue
        if pid in first:
            continue  # not one of the replacements
        if not status.startswith("200"):
            raise AdapterError(
                f"new worker {pid} of {proc.colour} reported {status!r} instead of 200: the rolling restart stopped",
                where=where,
                hint=f"read {proc.log}; the other workers still serve. Fix the app's status check, then restart again",
            )
        if pid not in ready:
            ready.add(pid)
            progress(f"{proc.colour}: a replacement, pid {pid}, reported ready ({status})")
    raise AdapterError(
        f"no new worker of {proc.colour} reported ready within {timeout_s:g}s: the rolling restart stopped",
        where=where,
        hint=f"read {proc.log}; the other workers still serve. If the app is just slow to start, "
        "raise local.start_timeout and restart again",
    )
