"""The sandbox: AWS on this machine, for a first deploy without an account and for the tests.

`up` starts a moto server on a free loopback port as a background process of
its own (port, PID and log recorded in <state_dir>/sandbox.json), then creates
the network (infra/sandbox) and every `platform: aws` environment of the
config with the same Terraform modules real AWS gets. Terraform's state for
it lives under <state_dir>/sandbox/, apart from real AWS's. A second `up`
reuses the running server and the state (a no-op apply each); if the recorded
server is gone, its state went with it, so `up` starts both afresh.

`down` stops the server (its whole process group, by the recorded PID) and
forgets the state and the record.

Config `aws.endpoint_url: sandbox` points every adapter at the recorded
server with the test credentials below (`endpoint`, `CREDENTIALS`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bluegreen.adapters import motoserver
from bluegreen.config import Config
from bluegreen.errors import UsageError

# moto accepts any credentials; these say plainly that they are not real ones.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def record_path(state_dir: Path) -> Path:
    return state_dir / "sandbox.json"


def sandbox_dir(state_dir: Path) -> Path:
    """The sandbox's own files: the server's log and Terraform's state."""
    return state_dir / "sandbox"


@dataclass(frozen=True)
class SandboxInfo:
    endpoint: str
    pid: int
    port: int
    log: str
    vpc_id: str = ""
    subnet_ids: tuple[str, ...] = ()
    environments: Mapping[str, str] = field(default_factory=dict)  # name -> load balancer DNS name

    def as_dict(self) -> dict[str, Any]:
        return {
            "running": True,
            "endpoint": self.endpoint,
            "pid": self.pid,
            "port": self.port,
            "log": self.log,
            "vpc_id": self.vpc_id,
            "subnet_ids": list(self.subnet_ids),
            "environments": dict(self.environments),
        }


def running_server(state_dir: Path) -> motoserver.MotoServer | None:
    """The recorded server if it is alive and answering, else None."""
    server = motoserver.read(record_path(state_dir))
    if server and motoserver.alive(server.pid) and motoserver.is_up(server.endpoint):
        return server
    return None


def endpoint_at(state_dir: Path) -> str:
    server = running_server(state_dir)
    if server is None:
        raise UsageError(
            "the sandbox is not running (no live server recorded in the state directory)",
            where=str(record_path(state_dir)),
            hint="run `bluegreen sandbox up`",
        )
    return server.endpoint


def endpoint(config: Config) -> str:
    """Where `aws.endpoint_url: sandbox` points: the server `sandbox up` recorded."""
    return endpoint_at(config.state.path)


def up(config: Config, progress: Callable[[str], None] = lambda s: None) -> SandboxInfo:
    """Start (or reuse) the server; create (or update) the network and every AWS environment."""
    # Deferred: every AWS command calls endpoint(); only up/status need terraform.
    from bluegreen.adapters import terraform

    state_dir = config.state.path
    server = running_server(state_dir)
    if server is None:
        stale = motoserver.read(record_path(state_dir))
        if stale is not None:
            progress(f"the recorded sandbox server (pid {stale.pid}) is not running: starting afresh")
            _stop_if_ours(stale)
        forget(state_dir)  # state that described the old server's resources describes nothing now
        server = motoserver.start(sandbox_dir(state_dir) / "moto.log")
        motoserver.save(server, record_path(state_dir))
        progress(f"sandbox server started at {server.endpoint} (pid {server.pid})")
    else:
        progress(f"sandbox server already running at {server.endpoint} (pid {server.pid})")

    settings = terraform.TerraformSettings.from_config(config, sandbox=True)
    runner = terraform.TerraformRunner(settings, progress)
    network = terraform.apply_network(runner)
    environments = {}
    for env in config.environments.values():
        if env.platform == "aws":
            created = terraform.apply_environment(config, env, progress, network=network, settings=settings)
            environments[env.name] = created.dns_name
    return _info(server, network.vpc_id, network.subnet_ids, environments)


def status(config: Config) -> SandboxInfo | None:
    """The running sandbox and what it holds; None when it is not running."""
    from bluegreen.adapters import terraform

    server = running_server(config.state.path)
    if server is None:
        return None
    settings = terraform.TerraformSettings.from_config(config, sandbox=True)
    runner = terraform.TerraformRunner(settings)
    network = runner.outputs(terraform.NETWORK) or {}
    environments = {}
    for env in config.environments.values():
        if env.platform == "aws":
            outputs = terraform.environment_outputs(config, env, settings=settings)
            if outputs is not None:
                environments[env.name] = outputs.dns_name
    return _info(server, str(network.get("vpc_id", "")), tuple(network.get("subnet_ids", ())), environments)


def _info(
    server: motoserver.MotoServer, vpc_id: str, subnet_ids: tuple[str, ...], environments: Mapping[str, str]
) -> SandboxInfo:
    return SandboxInfo(
        endpoint=server.endpoint,
        pid=server.pid,
        port=server.port,
        log=server.log,
        vpc_id=vpc_id,
        subnet_ids=subnet_ids,
        environments=dict(environments),
    )


def down(config: Config, progress: Callable[[str], None] = lambda s: None) -> None:
    """Stop the server and forget the sandbox's state; nothing running is fine."""
    state_dir = config.state.path
    server = motoserver.read(record_path(state_dir))
    if server is not None:
        if _stop_if_ours(server):
            progress(f"sandbox server stopped (pid {server.pid})")
        else:
            progress(f"the recorded sandbox server (pid {server.pid}) was not running")
    forget(state_dir)
    record_path(state_dir).unlink(missing_ok=True)


def store_path(state_dir: Path) -> Path:
    """The sandbox's deployment records: they describe its resources, so they go with it."""
    return sandbox_dir(state_dir) / "bluegreen.db"


def forget(state_dir: Path) -> None:
    """Drop the Terraform state and the deployment records of a sandbox that is gone."""
    shutil.rmtree(sandbox_dir(state_dir) / "terraform", ignore_errors=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store_path(state_dir)}{suffix}").unlink(missing_ok=True)


def _stop_if_ours(server: motoserver.MotoServer) -> bool:
    """Stop the recorded server's process group, only if that PID still is our moto server.

    A PID outlives its process in the record: after a reboot it may belong
    to anything, and that must not be killed.
    """
    if not motoserver.alive(server.pid) or not _is_moto_server(server):
        return False
    motoserver.stop(server.pid)
    return True


def _is_moto_server(server: motoserver.MotoServer) -> bool:
    try:
        argv = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        # No /proc (macOS): trust it if moto answers on the recorded port.
        return motoserver.is_up(server.endpoint)
    return b"moto.server" in argv and str(server.port).encode() in argv
