"""bluegreen's own nginx for one environment: start, route, read back, retire workers gently, stop.

Never the system's nginx: this instance has its own prefix under the state
directory and listens on the environment's loopback port. Traffic changes
never touch nginx.conf: they replace the routes file atomically, and the
workers read it per request (njs.py), so a shift reloads nothing and closes
no connection. The change counts once nginx's running workers say they use
it (the control server), so the read-back is nginx's word, not the file's.

nginx.conf itself changes only when bluegreen renders a different one (a new
bluegreen, another listen port): it is checked with `nginx -t`, and applied
by a graceful reload only after the workers it retires have ended their
keep-alive connections (`retire_keepalive`). A candidate that fails leaves
the running config untouched and raises with nginx's own message.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import http.client
import os
import pwd
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from bluegreen.adapters.local import nginx, njs, procfs
from bluegreen.adapters.local.nginx import ControlReport, ProxyConfig
from bluegreen.adapters.local.njs import Routes, Server
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
        self.listen_port = listen_port
        self.listen = f"{HOST}:{listen_port}"
        self.timeout_s = timeout_s
        self.conf = prefix / "nginx.conf"
        self.candidate = prefix / "nginx.conf.new"
        self.script = prefix / nginx.SCRIPT_NAME
        self.routes_file = prefix / "routes.json"
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

    def routes(self) -> Routes | None:
        """The routes file as bluegreen last wrote it (None before the first route)."""
        try:
            return njs.parse_routes(self.routes_file.read_text())
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as e:
            raise AdapterError(
                f"the routes file {self.routes_file} is not one bluegreen wrote: {e}",
                where=str(self.routes_file),
                hint=f"route traffic again with a deploy or `bluegreen abort {self.env}`",
            ) from None

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
        """What nginx sends each colour now: its workers' word when running, else the routes file's."""
        if self.master_pid() is not None:
            return self.control().weights
        routes = self.routes()
        return routes.weights() if routes is not None else {c: 0 for c in Colour}

    def error_tail(self, lines: int = ERROR_LOG_TAIL) -> str:
        try:
            return "\n".join(self.error_log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    # -- changing -------------------------------------------------------------------------

    def apply(self, servers: Sequence[Server]) -> ControlReport:
        """Route traffic to `servers`; returns nginx's read-back. Doing it twice changes nothing the second time."""
        with self.lock():
            current = self.routes()
            if current is not None and current.same_traffic(servers) and self.master_pid() is not None:
                report = self.control()
                if report.generation == current.generation:
                    return report
            generation = (current.generation if current else 0) + 1
            # Under the lock no worker is being retired: a list left by a killed bluegreen goes.
            routes = Routes(generation, tuple(servers), (), time.time())
            try:
                text = njs.render_routes(routes)
            except ValueError as e:
                raise AdapterError(
                    f"refusing to route {self.env}'s traffic: {e}",
                    where=str(self.routes_file),
                    hint=f"nginx still routes as before; check the app processes with `bluegreen status {self.env}`",
                ) from None
            previous = self.routes_file.read_text() if current is not None else None
            _replace(self.routes_file, text)
            try:
                self._ensure_running()
                return self._await_generation(generation)
            except AdapterError:
                # nginx keeps routing what it had: the routes file must say the same.
                if previous is None:
                    self.routes_file.unlink(missing_ok=True)
                else:
                    _replace(self.routes_file, previous)
                raise

    def retire_keepalive(self, workers: set[int]) -> int:
        """Have `workers` close each connection after its next answer, until none they held is open.

        Call under `lock()`, before nginx is told to retire them. Returns how many connections were still
        open when the wait ended (the timeout): idle clients that sent nothing meanwhile.
        """
        self._set_closing(workers)
        held = procfs.connections_held(workers, self.listen_port)
        deadline = time.monotonic() + self.timeout_s
        while held and time.monotonic() < deadline:
            time.sleep(POLL_S / 5)
            held &= procfs.connections_held(workers, self.listen_port)
        return len(held)

    def clear_closing(self) -> None:
        """Workers retired (or kept after a rollback): none closes its connections any more. Call under `lock()`."""
        self._set_closing(set())

    def _set_closing(self, workers: set[int]) -> None:
        routes = self.routes()
        if routes is None or set(routes.closing_workers) == workers:
            return
        _replace(
            self.routes_file,
            njs.render_routes(Routes(routes.generation, routes.servers, tuple(sorted(workers)), routes.changed_at)),
        )

    def ensure_started(self) -> None:
        """Start nginx on the routes file when it is not running (after a reboot, or `stop`)."""
        with self.lock():
            routes = self.routes()
            if self.master_pid() is None and routes is not None:
                self._ensure_running()
                self._await_generation(routes.generation)

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

    def _ensure_running(self) -> None:
        """nginx runs bluegreen's current config: started, or reloaded gently if the config changed."""
        config = nginx.render(
            ProxyConfig(
                env=self.env,
                prefix=self.prefix,
                listen=self.listen,
                js_module=nginx.find_js_module(),
                user=_workers_user(self.prefix),
            )
        )
        script = njs.render_script(self.routes_file)
        master = self.master_pid()
        if master is not None and self.live_config() == config and _read(self.script) == script:
            return
        self._check(config, script)
        self.candidate.replace(self.conf)
        if master is None:
            nginx.run(nginx.start_argv(nginx.find_binary(), self.prefix, self.conf), hint=self._hint())
            return
        old_workers = accepting_workers(master)
        self.retire_keepalive(old_workers)
        try:
            nginx.run(nginx.signal_argv(nginx.find_binary(), self.prefix, self.conf, "reload"), hint=self._hint())
            self._await_workers_retired(old_workers)
        finally:
            self.clear_closing()

    def _check(self, config: str, script: str) -> None:
        """`nginx -t` on the candidate config (and the script it imports); on failure the live ones stay."""
        self._make_dirs()
        old_script = _read(self.script)
        self.candidate.write_text(config)
        _replace(self.script, script)  # running workers compiled the old one: only a (re)load reads it
        try:
            nginx.run(
                nginx.test_argv(nginx.find_binary(), self.prefix, self.candidate),
                hint=f"nginx still runs the previous config ({self.conf}); the rejected one was {self.candidate}",
            )
        except ToolError:
            self.candidate.replace(self.prefix / "nginx.conf.rejected")
            if old_script is not None:
                _replace(self.script, old_script)
            raise

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
                    f"nginx for {self.env} did not start routing generation {generation} "
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


def _workers_user(prefix: Path) -> str:
    """As root, nginx's workers run as the owner of the state directory (they read it); else as we do."""
    if os.geteuid() != 0:
        return ""
    st = prefix.stat()
    try:
        return f"{pwd.getpwuid(st.st_uid).pw_name} {grp.getgrgid(st.st_gid).gr_name}"
    except KeyError:  # an owner with no name: nginx takes numeric ids as well
        return f"{st.st_uid} {st.st_gid}"


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def _replace(path: Path, text: str) -> None:
    """Write `text` to `path` atomically: a reader sees the old file or the new one, never a part."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
