"""Hot upgrade of the nginx binary while traffic flows.

nginx's own procedure (seed 004): USR2 to the master starts a new master
from the binary on disk (the old pid file is renamed .oldbin) sharing the
listen sockets; WINCH makes the old master's workers finish their requests
and exit; once the new workers are seen serving, QUIT retires the old
master. Until then the old master keeps its sockets, so a rollback is a
signal away: QUIT stops the new master, and HUP restarts the old master's
workers if WINCH had stopped them.

On WINCH, nginx closes the old workers' idle keep-alive connections at once,
racing any request a client is sending on one. So before WINCH the old
workers are told (through the routes file, njs.py) to answer every request
with `Connection: close`, and WINCH waits until the connections they held
have ended after an answer: the clients close them, nothing is cut.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bluegreen.adapters.local import nginx, procfs
from bluegreen.adapters.local.proxy import NginxProxy, accepting_workers
from bluegreen.errors import AdapterError, UsageError

POLL_S = 0.05


def hot_upgrade(proxy: NginxProxy, *, timeout_s: float, progress: Callable[[str], None]) -> None:
    with proxy.lock():  # no weight change lands in the middle of it
        _hot_upgrade(proxy, timeout_s, progress)


def _hot_upgrade(proxy: NginxProxy, timeout_s: float, progress: Callable[[str], None]) -> None:
    old = proxy.master_pid()
    if old is None:
        raise UsageError(
            f"nginx for {proxy.env} is not running: there is nothing to upgrade",
            where=str(proxy.conf),
            hint=f"deploy first (`bluegreen deploy {proxy.env} --version V`)",
        )
    if proxy.old_master_pid() is not None:
        raise AdapterError(
            f"nginx for {proxy.env} is already in the middle of an upgrade ({proxy.oldbin_pid_file} exists)",
            where=str(proxy.prefix),
            hint="finish it by hand (QUIT the old master, or HUP it and QUIT the new one), then run this again",
        )
    before = proxy.control()
    log_offset = _size(proxy.error_log)
    progress(f"USR2 to nginx master {old}: a new master starts from {nginx.find_binary()}")
    os.kill(old, signal.SIGUSR2)
    new, why = _await_new_master(proxy, old, log_offset, timeout_s)
    if new is None:
        _roll_back(proxy, old, _new_binary(proxy, log_offset).pid, timeout_s)
        raise _failed(proxy, f"the new nginx master did not come up: {why}")
    old_workers = {c.pid for c in procfs.children(old) if c.pid != new}  # the new master is a child too
    progress(f"new master {new} is up; the old workers {sorted(old_workers)} close each connection after its answer")
    idle = proxy.retire_keepalive(old_workers)
    if idle:
        progress(f"{idle} connections of the old workers stayed idle for {timeout_s:g}s: nginx closes them")
    progress(f"WINCH to {old}: its workers finish their requests and exit")
    os.kill(old, signal.SIGWINCH)
    why = _await_served_by(proxy, new, before.generation, timeout_s)
    if why:
        progress(f"the new master's workers do not serve ({why}): rolling back to {old}")
        _roll_back(proxy, old, new, timeout_s)
        proxy.clear_closing()
        raise _failed(proxy, f"the new nginx master's workers did not serve: {why}")
    progress(f"the new master's workers serve; QUIT to the old master {old}")
    os.kill(old, signal.SIGQUIT)
    exited = _await(lambda: not procfs.is_running(old), timeout_s)
    proxy.clear_closing()
    if not exited:
        raise AdapterError(
            f"the old nginx master {old} did not exit within {timeout_s:g}s after QUIT (the new one serves)",
            where=str(proxy.prefix),
            hint=f"kill -QUIT {old} again, or read {proxy.error_log}",
        )


@dataclass(frozen=True)
class NewBinary:
    """What the old master's error log says about the binary it started on USR2."""

    pid: int | None = None
    exit_code: int | None = None  # set once it exited


_STARTED = re.compile(r"start new binary process (\d+)")
_EXITED = re.compile(r"new binary process (\d+) exited with code (\d+)")


def parse_new_binary(error_log: str) -> NewBinary:
    started = _STARTED.findall(error_log)
    exited = _EXITED.findall(error_log)
    return NewBinary(
        pid=int(started[-1]) if started else None,
        exit_code=int(exited[-1][1]) if exited else None,
    )


def _new_binary(proxy: NginxProxy, offset: int) -> NewBinary:
    try:
        with open(proxy.error_log, "rb") as f:
            f.seek(offset)
            return parse_new_binary(f.read().decode(errors="replace"))
    except FileNotFoundError:
        return NewBinary()


def _await_new_master(proxy: NginxProxy, old: int, log_offset: int, timeout_s: float) -> tuple[int | None, str]:
    """The new master's pid once it wrote its pid file (and the old one's moved to .oldbin)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        new = proxy.master_pid()
        if proxy.old_master_pid() == old and new is not None and new != old:
            return new, ""
        binary = _new_binary(proxy, log_offset)
        if binary.exit_code is not None:
            return None, f"the new binary (pid {binary.pid}) exited with code {binary.exit_code}"
        time.sleep(POLL_S)
    binary = _new_binary(proxy, log_offset)
    started = f"it started as pid {binary.pid} but" if binary.pid else "it"
    return None, f"{started} wrote no pid file within {timeout_s:g}s"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _await_served_by(proxy: NginxProxy, new: int, generation: int, timeout_s: float) -> str:
    """'' once a request through nginx is answered by a worker of `new`, with the same config; else why not."""
    deadline = time.monotonic() + timeout_s
    why = "no answer yet"
    while time.monotonic() < deadline:
        if not procfs.is_running(new):
            return f"master {new} exited"
        try:
            report = proxy.control()
            stat = procfs.read_stat(report.worker_pid)
            if stat is not None and stat.ppid == new:
                if report.generation == generation:
                    return ""
                why = f"it serves config generation {report.generation}, not {generation}"
            else:
                why = f"worker {report.worker_pid} answered, not one of master {new}'s"
        except AdapterError as e:
            why = e.what
        time.sleep(POLL_S)
    return why


def _roll_back(proxy: NginxProxy, old: int, new: int | None, timeout_s: float) -> None:
    """The old master starts workers again (HUP) if WINCH stopped them, then the new master goes (QUIT, KILL)."""
    if not accepting_workers(old):
        # Only then: a HUP is a reload, which would retire workers that serve and cut their keep-alive connections.
        with contextlib.suppress(ProcessLookupError):
            os.kill(old, signal.SIGHUP)
    if new is not None and procfs.is_running(new):
        with contextlib.suppress(ProcessLookupError):
            os.kill(new, signal.SIGQUIT)
        if not _await(lambda: not procfs.is_running(new), timeout_s):
            for pid in [c.pid for c in procfs.children(new)] + [new]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    # The old master renames .oldbin back once the new binary's process has exited.
    _await(lambda: proxy.master_pid() == old, timeout_s)


def _failed(proxy: NginxProxy, what: str) -> AdapterError:
    tail = proxy.error_tail()
    served = "the old master serves again" if proxy.master_pid() is not None else "nginx is NOT serving"
    return AdapterError(
        f"nginx upgrade for {proxy.env} failed, {served}: {what}" + (f"; its error log ends:\n{tail}" if tail else ""),
        where=str(proxy.prefix),
        hint=f"check the nginx binary ({nginx.find_binary()} -t -p {proxy.prefix}/ -c {proxy.conf}), then try again",
    )


def _await(done: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True
