"""`bluegreen sandbox up`, `status` and `down`.

`start` runs a moto server on a free loopback port as a background process
of its own (port, PID and log recorded: record.py); `provision` then creates
the network (network.py) and every `platform: aws` environment of the config
with the same Terraform modules real AWS gets, through the runner the
composition root gives it. A second `up` reuses the running server and the
state (a no-op apply each); if the recorded server is gone, its state went
with it, so `up` starts both afresh.

`down` stops the server (its whole process group, by the recorded PID) and
forgets the state and the record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bluegreen.adapters.aws import stacks
from bluegreen.adapters.terraform import TerraformRunner
from bluegreen.config import Config
from bluegreen.sandbox import network as net
from bluegreen.sandbox import record
from bluegreen.sandbox import server as moto

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


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


def start(state_dir: Path, progress: Progress = _quiet) -> moto.MotoServer:
    """The running server, or a new one (and a clean slate) when the recorded one is gone."""
    server = record.running_server(state_dir)
    if server is not None:
        progress(f"sandbox server already running at {server.endpoint} (pid {server.pid})")
        return server
    stale = moto.read(record.record_path(state_dir))
    if stale is not None:
        progress(f"the recorded sandbox server (pid {stale.pid}) is not running: starting afresh")
        _stop_if_ours(stale)
    record.forget(state_dir)  # state that described the old server's resources describes nothing now
    server = moto.start(record.sandbox_dir(state_dir) / "moto.log")
    moto.save(server, record.record_path(state_dir))
    progress(f"sandbox server started at {server.endpoint} (pid {server.pid})")
    return server


def provision(config: Config, server: moto.MotoServer, runner: TerraformRunner) -> SandboxInfo:
    """Create (or update) the network and every AWS environment of the config."""
    network = net.apply_network(runner)
    environments = {}
    for env in config.environments.values():
        if env.platform == "aws":
            environments[env.name] = stacks.apply_environment(runner, env, network).dns_name
    return _info(server, network.vpc_id, network.subnet_ids, environments)


def status(config: Config, server: moto.MotoServer, runner: TerraformRunner) -> SandboxInfo:
    """What the running sandbox holds."""
    network = net.read_network(runner)
    environments = {}
    for env in config.environments.values():
        if env.platform == "aws":
            outputs = stacks.environment_outputs(runner, env)
            if outputs is not None:
                environments[env.name] = outputs.dns_name
    if network is None:
        return _info(server, "", (), environments)
    return _info(server, network.vpc_id, network.subnet_ids, environments)


def _info(
    server: moto.MotoServer, vpc_id: str, subnet_ids: tuple[str, ...], environments: Mapping[str, str]
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


def down(state_dir: Path, progress: Progress = _quiet) -> None:
    """Stop the server and forget the sandbox's state; nothing running is fine."""
    server = moto.read(record.record_path(state_dir))
    if server is not None:
        if _stop_if_ours(server):
            progress(f"sandbox server stopped (pid {server.pid})")
        else:
            progress(f"the recorded sandbox server (pid {server.pid}) was not running")
    record.forget(state_dir)
    record.record_path(state_dir).unlink(missing_ok=True)


def _stop_if_ours(server: moto.MotoServer) -> bool:
    """Stop the recorded server's process group, only if that PID still is our moto server.

    A PID outlives its process in the record: after a reboot it may belong
    to anything, and that must not be killed.
    """
    if not moto.alive(server.pid) or not _is_moto_server(server):
        return False
    moto.stop(server.pid)
    return True


def _is_moto_server(server: moto.MotoServer) -> bool:
    try:
        argv = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        # No /proc (macOS): trust it if moto answers on the recorded port.
        return moto.is_up(server.endpoint)
    return b"moto.server" in argv and str(server.port).encode() in argv
