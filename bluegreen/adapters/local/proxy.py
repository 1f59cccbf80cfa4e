"""bluegreen's own nginx for one environment: start, apply weights, read back, stop.

Never the system's nginx: this instance has its own prefix under the state
directory and listens on the environment's loopback port. A change is
rendered to a candidate file and checked with `nginx -t`; only a config that
passes replaces the live one and is applied with a graceful reload (old
workers finish their requests). A candidate that fails leaves the running
config untouched and raises with nginx's own message. The change counts once
nginx's running workers say they serve it (the control server), so the
read-back is nginx's word, not the file's.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import os
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from bluegreen.adapters.local import nginx, procfs
from bluegreen.adapters.local.nginx import ControlReport, ProxyConfig, Server
from bluegreen.errors import AdapterError, ToolError
from bluegreen.model import Colour

HOST = "127.0.0.1"
POLL_S = 0.05
ERROR_LOG_TAIL = 10
CONTROL_TIMEOUT_S = 2.0
WORKER_TITLE = "nginx: worker process"


class NginxProxy:
    def __init__(self, prefix: Path, env: str, listen_port: int, *, timeout_s: float = 10.0) -> None:
        self.prefix = prefix
        self.env = env
        self.listen = f"{HOST}:{listen_port}"
        self.timeout_s = timeout_s
        self.conf = prefix / "nginx.conf"
        self.candidate = prefix / "nginx.conf.new"
        self.pid_file = prefix / "nginx.pid"
        self.oldbin_pid_file = prefix / "nginx.pid.oldbin"
        self.error_log = prefix / "logs" / "error.log"
        self.access_log = prefix / "logs" / "access.log"

    # -- observing ----------------------------------------------------------------------

    def master_pid(self) -> int | None:
        """The running master of this instance (None when it is not running)."""
        return self._master_from(self.pid_file)

    def old_master_pid(self) -> int | None:
        """The previous master during a binary upgrade."""
        return self._master_from(self.oldbin_pid_file)

    def _master_from(self, pid_file: Path) -> int | None:
        try:
            pid = int(pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        # The pid file may outlive nginx, and its PID be reused: trust it only for our master.
        title = procfs.cmdline(pid)
        if procfs.is_running(pid) and "nginx: master" in title and str(self.conf) in title:
            return pid
        return None

    def live_config(self) -> str | None:
        try:
            return self.conf.read_text()
        except FileNotFoundError:
            return None

    def control(self) -> ControlReport:
        """Ask the running workers what they serve; raises AdapterError when nginx does not answer."""
        try:
            return nginx.parse_control(_get_control(self.listen))
        except (OSError, http.client.HTTPException, ValueError) as e:
            raise AdapterError(
                f"nginx for {self.env} did not answer its control request on {self.listen}: {e}",
                where=str(self.conf),
                hint=f"read {self.error_log}",
            ) from None

    def weights(self) -> dict[Colour, int]:
        """What nginx sends each colour now: its workers' word when running, else the live file's."""
        if self.master_pid() is not None:
            return self.control().weights
        text = self.live_config()
        if text is None:
            return {c: 0 for c in Colour}
        return nginx.parse_config_weights(text)

    def error_tail(self, lines: int = ERROR_LOG_TAIL) -> str:
        try:
            return "\n".join(self.error_log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    # -- changing -------------------------------------------------------------------------

    def apply(self, servers: Sequence[Server]) -> ControlReport:
        """Route traffic to `servers`; returns nginx's read-back. Doing it twice changes nothing the second time."""
        with self.lock():
            live = self.live_config()
            generation = (nginx.parse_generation(live) or 0) if live else 0
            if live is not None and self.master_pid() is not None:
                report = self.control()
                if report.generation == generation and live == self._render(generation, servers):
                    return report
            text = self._render(generation + 1, servers)
            self._check(text)
            self.candidate.replace(self.conf)
            try:
                master = self.master_pid()
                if master is None:
                    self._start()
                    return self._await_generation(generation + 1)
                old_workers = accepting_workers(master)
                nginx.run(nginx.signal_argv(nginx.find_binary(), self.prefix, self.conf, "reload"), hint=self._hint())
                report = self._await_generation(generation + 1)
                self._await_workers_retired(old_workers)
                return report
            except AdapterError:
                # nginx keeps running what it had: the live file must say the same.
                if live is None:
                    self.conf.unlink(missing_ok=True)
                else:
                    self.conf.write_text(live)
                raise

    def ensure_started(self) -> None:
        """Start nginx on the live config when it is not running (after a reboot, or `stop`)."""
        with self.lock():
            if self.master_pid() is None and self.conf.exists():
                generation = nginx.parse_generation(self.conf.read_text()) or 0
                self._start()
                self._await_generation(generation)

    def stop(self, timeout_s: float) -> None:
        """Gracefully stop every master of this instance (QUIT), then KILL the group of any that lingers."""
        masters = [p for p in (self.old_master_pid(), self.master_pid()) if p is not None]
        groups = {pid: stat.pgrp for pid in masters if (stat := procfs.read_stat(pid)) is not None}
        for pid in masters:
            _signal(pid, signal.SIGQUIT)
        deadline = time.monotonic() + timeout_s
        while any(procfs.is_running(p) for p in masters) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        for pid, group in groups.items():
            if procfs.is_running(pid):  # the workers share the master's group (nginx daemonized with setsid)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)

    # -- helpers ------------------------------------------------------------------------------

    def _render(self, generation: int, servers: Sequence[Server]) -> str:
        return nginx.render(
            ProxyConfig(
                env=self.env, prefix=self.prefix, listen=self.listen, generation=generation, servers=tuple(servers)
            )
        )

    def _check(self, text: str) -> None:
        """`nginx -t` on the candidate; on failure the live config is untouched."""
        self._make_dirs()
        self.candidate.write_text(text)
        try:
            nginx.run(
                nginx.test_argv(nginx.find_binary(), self.prefix, self.candidate),
                hint=f"nginx still runs the previous config ({self.conf}); the rejected one was {self.candidate}",
            )
        except ToolError:
            self.candidate.replace(self.prefix / "nginx.conf.rejected")
            raise

    def _start(self) -> None:
        self._make_dirs()
        nginx.run(nginx.start_argv(nginx.find_binary(), self.prefix, self.conf), hint=self._hint())

    def _await_generation(self, generation: int) -> ControlReport:
        deadline = time.monotonic() + self.timeout_s
        last = "no answer yet"
        while True:
            try:
                report = self.control()
                if report.generation == generation:
                    return report
                last = f"it still serves generation {report.generation}"
            except AdapterError as e:
                last = e.what
            if time.monotonic() >= deadline:
                tail = self.error_tail()
                raise AdapterError(
                    f"nginx for {self.env} did not start serving config generation {generation} "
                    f"within {self.timeout_s:g}s ({last})" + (f"; its error log ends:\n{tail}" if tail else ""),
                    where=str(self.conf),
                    hint=self._hint(),
                )
            time.sleep(POLL_S)

    def _await_workers_retired(self, old_workers: set[int]) -> None:
        """Until the workers of the previous config stop accepting, a request may still get the old weights."""
        deadline = time.monotonic() + self.timeout_s
        while still := accepting(old_workers):
            if time.monotonic() >= deadline:
                raise AdapterError(
                    f"nginx for {self.env} serves the new config, but old workers {sorted(still)} still accept "
                    f"connections {self.timeout_s:g}s after the reload",
                    where=str(self.conf),
                    hint=self._hint(),
                )
            time.sleep(POLL_S)

    def _make_dirs(self) -> None:
        for d in ("logs", *(f"temp/{t}" for t in nginx.TEMP_DIRS)):
            (self.prefix / d).mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One change to this nginx at a time, across bluegreen processes."""
        self.prefix.mkdir(parents=True, exist_ok=True)
        with open(self.prefix / "apply.lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def _hint(self) -> str:
        return f"read {self.error_log}; check the environment with `bluegreen status {self.env}`"


def accepting_workers(master: int) -> set[int]:
    """The master's workers that take new connections."""
    return accepting({c.pid for c in procfs.children(master)})


def accepting(workers: set[int]) -> set[int]:
    # A worker told to quit renames itself ("... is shutting down") as it closes its listeners.
    return {pid for pid in workers if procfs.cmdline(pid) == WORKER_TITLE}


def _get_control(address: str) -> str:
    host, _, port = address.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=CONTROL_TIMEOUT_S)
    try:
        conn.request("GET", nginx.CONTROL_PATH, headers={"Host": nginx.CONTROL_HOST, "Connection": "close"})
        return conn.getresponse().read(4096).decode(errors="replace")
    finally:
        conn.close()


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
