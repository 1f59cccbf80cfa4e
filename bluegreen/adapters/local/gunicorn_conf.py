"""The gunicorn configuration bluegreen ships for the app processes it starts.

Loaded by gunicorn itself (`gunicorn --config <this file>`), so it imports
nothing from bluegreen; it is told where to write through environment
variables set by bluegreen/adapters/local/processes.py.

- `when_ready`: the master listens; it writes its PID and bound address
  (bluegreen binds port 0, so the kernel picks a free port with no race), and
  bluegreen publishes the process only after that.
- `post_worker_init`: a new worker calls the app's own status check
  in-process and stays out of the accept loop until it answers 200, so a
  worker never takes a request before the app is ready. It reports the
  result over UDP on loopback to a waiting rolling restart, if any. A worker
  that never gets a 200 stops instead of serving (gunicorn starts another);
  the hook never raises: an exception here would stop the whole master.
"""

from __future__ import annotations

import io
import json
import os
import socket
import sys
import time
from collections.abc import Iterable
from typing import Any

READY_FILE = "BLUEGREEN_READY_FILE"  # where the master writes {"pid", "address"}
STATUS_PATH = "BLUEGREEN_STATUS_PATH"  # the app's status check, e.g. /health
READY_TIMEOUT = "BLUEGREEN_READY_TIMEOUT"  # seconds a worker may take to turn ready
READY_PORT_FILE = "BLUEGREEN_READY_PORT_FILE"  # holds the UDP port of a waiting rolling restart
POLL_S = 0.1

# gunicorn 24+ opens a control socket at one path per user; several releases side by side would fight over it.
# (Older versions ignore settings they do not know.)
control_socket_disable = True


def when_ready(server: Any) -> None:
    path = os.environ.get(READY_FILE)
    if not path:
        return
    host, port = server.LISTENERS[0].sock.getsockname()[:2]
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump({"pid": os.getpid(), "address": f"{host}:{port}"}, f)
    os.replace(tmp, path)


def post_worker_init(worker: Any) -> None:
    try:
        status = _await_ready(worker)
    except Exception as e:  # a hook must never stop the master
        status = f"500 readiness hook failed: {e}"
    ready = status.startswith("200")
    _report(f"{os.getpid()} {status}")
    if not ready:
        worker.log.error("worker %s not ready (%s): it stops without serving", os.getpid(), status)
        worker.alive = False


def _await_ready(worker: Any) -> str:
    path = os.environ.get(STATUS_PATH, "/health")
    deadline = time.monotonic() + float(os.environ.get(READY_TIMEOUT, "30"))
    while True:
        status = _call_app(worker, path)
        if status.startswith("200") or not worker.alive or time.monotonic() >= deadline:
            return status
        time.sleep(POLL_S)


def _call_app(worker: Any, path: str) -> str:
    """GET `path` through the worker's own WSGI app, in this process."""
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)
        return lambda data: None

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "0",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    body: Iterable[bytes] = worker.wsgi(environ, start_response)
    try:
        for _ in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return statuses[-1] if statuses else "500 no status from the app"


def _report(message: str) -> None:
    path = os.environ.get(READY_PORT_FILE)
    if not path:
        return
    try:
        with open(path) as f:
            port = int(f.read().strip())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(message.encode(), ("127.0.0.1", port))
    except (OSError, ValueError):
        pass  # nobody is waiting: only a rolling restart listens
