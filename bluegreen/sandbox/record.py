"""The endpoint record: where the running sandbox server is, and the sandbox's own files.

    <state_dir>/sandbox.json          the server's port, PID and log (written by `sandbox up`)
    <state_dir>/sandbox/moto.log      the server's log
    <state_dir>/sandbox/terraform/    Terraform's state for the sandbox, apart from real AWS's
    <state_dir>/sandbox/bluegreen.db  the deployment records of the sandbox's environments
    <state_dir>/sandbox/dataplane.*   the data plane's process, status and log (plane.py)

Config `aws.endpoint_url: sandbox` points every adapter at the data plane's
front (which relays to the recorded server) with the test credentials below.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bluegreen.errors import UsageError
from bluegreen.sandbox import plane
from bluegreen.sandbox import server as moto

# moto accepts any credentials; these say plainly that they are not real ones.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def record_path(state_dir: Path) -> Path:
    return state_dir / "sandbox.json"


def sandbox_dir(state_dir: Path) -> Path:
    """The sandbox's own files: the server's log and Terraform's state."""
    return state_dir / "sandbox"


def terraform_dir(state_dir: Path) -> Path:
    """The root of the sandbox's Terraform working directories (and their state)."""
    return sandbox_dir(state_dir) / "terraform"


def store_path(state_dir: Path) -> Path:
    """The sandbox's deployment records: they describe its resources, so they go with it."""
    return sandbox_dir(state_dir) / "bluegreen.db"


def running_server(state_dir: Path) -> moto.MotoServer | None:
    """The recorded server if it is alive and answering, else None."""
    server = moto.read(record_path(state_dir))
    if server and moto.alive(server.pid) and moto.is_up(server.endpoint):
        return server
    return None


def endpoint_at(state_dir: Path) -> str:
    """Where `aws.endpoint_url: sandbox` points: the data plane's front before the server `sandbox up` recorded."""
    server = running_server(state_dir)
    if server is None:
        raise UsageError(
            "the sandbox is not running (no live server recorded in the state directory)",
            where=str(record_path(state_dir)),
            hint="run `bluegreen sandbox up`",
        )
    front = plane.front_endpoint(state_dir)
    if not front:
        raise UsageError(
            "the sandbox's data plane is not running (its API server is)",
            where=str(plane.process_path(state_dir)),
            hint="run `bluegreen sandbox up` (it starts the data plane again)",
        )
    return front


def forget(state_dir: Path) -> None:
    """Drop the Terraform state and the deployment records of a sandbox that is gone."""
    shutil.rmtree(terraform_dir(state_dir), ignore_errors=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store_path(state_dir)}{suffix}").unlink(missing_ok=True)
