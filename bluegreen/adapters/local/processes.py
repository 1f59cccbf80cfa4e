"""App processes: one gunicorn master per release, on its own loopback port.

A release starts beside the running one, in its own process group
(start_new_session), on port 0 so the kernel picks a free port. It counts as
started only once its master listens (gunicorn_conf.when_ready wrote its
address and a TCP connect succeeds): only then is it returned, to be
published in the registry. A small shell wrapper records gunicorn's exit
code, so any bluegreen process (not just the one that started it) can say
why it exited. Stopping is graceful: TERM to the master (workers finish
their requests within the drain timeout), KILL to the group after the stop
timeout.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bluegreen.adapters.local import gunicorn_conf, procfs
from bluegreen.adapters.local.paths import safe_name
from bluegreen.adapters.local.registry import AppProcess
from bluegreen.errors import AdapterError, MissingToolError

HOST = "127.0.0.1"
GUNICORN_CONF = Path(gunicorn_conf.__file__)
# Runs gunicorn and writes its exit code where any process can read it.
WRAPPER = '"$@"; echo $? > "$BLUEGREEN_EXIT_FILE"'
POLL_S = 0.05
LOG_TAIL_LINES = 15
MIN_WORKER_TIMEOUT_S = 30.0

# Wrappers this process started, reaped when they end (no zombies in long-lived processes such as tests).
_started: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class AppSpec:
    env: str
    colour: str
    version: str
    release_dir: Path
    wsgi: str  # module:callable
    workers: int
    drain_timeout_s: float
    start_timeout_s: float
    status_path: str  # the app's status check, called in-process by each new worker
    app_env: Mapping[str, str]


def gunicorn_argv(python: str, spec: AppSpec, run_dir: Path) -> list[str]:
    return [
        python,
        "-m",
        "gunicorn",
        "--config",
        str(GUNICORN_CONF),
        "--bind",
        f"{HOST}:0",
        "--workers",
        str(spec.workers),
        "--graceful-timeout",
        f"{spec.drain_timeout_s:g}",
        # A worker held back by the readiness hook must not be killed for it.
        "--timeout",
        f"{max(MIN_WORKER_TIMEOUT_S, spec.start_timeout_s + 10):g}",
        "--chdir",
        str(spec.release_dir),
        "--access-logfile",
        str(run_dir / "access.log"),
        "--error-logfile",
        "-",
        "--name",
        f"bluegreen-{spec.env}-{spec.colour}",
        spec.wsgi,
    ]


def app_environment(spec: AppSpec, run_dir: Path, inherited: Mapping[str, str]) -> dict[str, str]:
    return {
        **inherited,
        **spec.app_env,
        "APP_VERSION": spec.version,
        "BLUEGREEN_EXIT_FILE": str(run_dir / "exit-code"),
        gunicorn_conf.READY_FILE: str(run_dir / "ready.json"),
        gunicorn_conf.STATUS_PATH: spec.status_path,
        gunicorn_conf.READY_TIMEOUT: f"{spec.start_timeout_s:g}",
        gunicorn_conf.READY_PORT_FILE: str(run_dir / "ready-port"),
    }


def run_dir_name(colour: str, version: str) -> str:
    return f"{colour}-{safe_name(version)}-{time.strftime('%Y%m%d-%H%M%S')}-"


def start(spec: AppSpec, runs: Path) -> AppProcess:
    """Start the release; return once its master listens. Raises AdapterError if it exits or hangs first."""
    if importlib.util.find_spec("gunicorn") is None:
        raise MissingToolError(
            f"gunicorn is not installed in {sys.executable}",
            where=sys.executable,
            hint="pip install 'bluegreen[local]' (in a clone of bluegreen: make setup)",
        )
    runs.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix=run_dir_name(spec.colour, spec.version), dir=runs))
    log = run_dir / "gunicorn.log"
    argv = [
        "/bin/sh",
        "-c",
        WRAPPER,
        f"bluegreen-{spec.env}-{spec.colour}",
        *gunicorn_argv(sys.executable, spec, run_dir),
    ]
    with open(log, "ab") as out:
        wrapper = subprocess.Popen(
            argv,
            cwd=spec.release_dir,
            env=app_environment(spec, run_dir, os.environ),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: outlives this command, killed as a group
        )
    _started[wrapper.pid] = wrapper
    wrapper_stat = procfs.read_stat(wrapper.pid)
    # Known before it is published: a bluegreen killed right now leaves a stray that the next provision stops.
    (run_dir / "group.json").write_text(
        json.dumps({"group": wrapper.pid, "start_ticks": wrapper_stat.start_ticks if wrapper_stat else None})
    )
    where = f"{spec.colour} ({spec.version}) in {run_dir}"
    deadline = time.monotonic() + spec.start_timeout_s
    while True:
        listening = _listening(run_dir / "ready.json")
        if listening is not None:
            pid, address = listening
            stat = procfs.read_stat(pid)
            if stat is not None:
                return AppProcess(
                    colour=spec.colour,
                    version=spec.version,
                    release_dir=str(spec.release_dir),
                    pid=pid,
                    start_ticks=stat.start_ticks,
                    group=wrapper.pid,
                    address=address,
                    run_dir=str(run_dir),
                    started_at=time.time(),
                )
        if wrapper.poll() is not None:
            code = _read_exit_code(run_dir / "exit-code")
            raise AdapterError(
                f"{spec.colour} ({spec.version}) exited with code {code} before it listened; its log ends:\n"
                + log_tail(log),
                where=where,
                hint=f"read {log}, fix the release or its settings (local.env), then deploy again",
            )
        if time.monotonic() >= deadline:
            _kill_group(wrapper.pid)
            raise AdapterError(
                f"{spec.colour} ({spec.version}) did not listen within {spec.start_timeout_s:g}s; its log ends:\n"
                + log_tail(log),
                where=where,
                hint=f"read {log}; raise local.start_timeout if the app is just slow to start",
            )
        time.sleep(POLL_S)


def _listening(ready_file: Path) -> tuple[int, str] | None:
    try:
        ready = json.loads(ready_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    address = str(ready["address"])
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=1.0).close()
    except OSError:
        return None
    return int(ready["pid"]), address


def is_running(proc: AppProcess) -> bool:
    _reap(proc.group)
    return procfs.is_running(proc.pid, proc.start_ticks)


def exit_code(proc: AppProcess) -> int | None:
    """The gunicorn master's exit code, once it has exited (None if unknown, e.g. it was killed with its group)."""
    return _read_exit_code(proc.exit_file)


def workers(proc: AppProcess) -> list[procfs.ProcStat]:
    """The master's live workers, oldest first."""
    return procfs.children(proc.pid) if is_running(proc) else []


def stop(proc: AppProcess, *, stop_timeout_s: float) -> None:
    """Graceful stop (TERM: workers finish in-flight requests); KILL the group after `stop_timeout_s`."""
    if is_running(proc):
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        if not _wait_gone(proc, stop_timeout_s):
            _kill_group(proc.group)
            _wait_gone(proc, 5.0)
    _reap(proc.group)


def stop_strays(runs: Path, colour: str, known: set[str], *, stop_timeout_s: float) -> list[str]:
    """Stop `colour`'s processes whose run directory is not in `known` (the registry's): started, never published.

    Returns the run directories whose processes were stopped.
    """
    stopped = []
    for run_dir in sorted(runs.glob(f"{colour}-*")):
        if str(run_dir) in known:
            continue
        try:
            group = json.loads((run_dir / "group.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            continue
        if not procfs.is_running(group["group"], group["start_ticks"]):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group["group"], signal.SIGTERM)
        deadline = time.monotonic() + stop_timeout_s
        while _group_alive(group["group"]) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        _kill_group(group["group"])
        stopped.append(str(run_dir))
    return stopped


def _group_alive(group: int) -> bool:
    _reap(group)  # a wrapper this process started would otherwise linger as a zombie member
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return summarise_log(path.read_text(errors="replace"), lines)
    except FileNotFoundError:
        return "(no log)"


def summarise_log(text: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` meaningful lines: traceback frames are dropped, so the errors themselves show."""
    kept = [
        line
        for line in text.splitlines()
        if line.strip() and not line[0].isspace() and not line.startswith("Traceback (most recent call last)")
    ]
    return "\n".join(kept[-lines:]) or "(empty log)"


def _wait_gone(proc: AppProcess, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while is_running(proc):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True


def _kill_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)


def _reap(pid: int) -> None:
    wrapper = _started.get(pid)
    if wrapper is not None and wrapper.poll() is not None:
        del _started[pid]


def _read_exit_code(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
