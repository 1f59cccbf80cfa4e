"""`bluegreen sandbox up`, `status` and `down`.

`start` runs a moto server on a free loopback port as a background process
of its own (port, PID and log recorded: record.py), then the data plane
(plane.py), whose front becomes the endpoint every client uses; `provision`
then creates the network (network.py) and every `platform: aws` environment
of the config with the same Terraform modules real AWS gets, through the
runner the composition root gives it, and waits until each environment's
listeners answer on their load balancer's address. A second `up` reuses the
running server, data plane and state (a no-op apply each); if the recorded
server is gone, its state went with it, so `up` starts both afresh. A fault
while starting (a port taken, a proxy or the data plane that does not start)
stops what this `up` started and says what, where and what to run next.

`down` stops the data plane (its proxies and app processes with it), then
the server (its whole process group, by the recorded PID), and forgets the
state and the record.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bluegreen.adapters.aws import stacks
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.terraform import TerraformRunner
from bluegreen.config import Config
from bluegreen.errors import BluegreenError, OperatorNeededError, UsageError
from bluegreen.sandbox import network as net
from bluegreen.sandbox import plane, record
from bluegreen.sandbox import server as moto

# How long `up` waits for every listener to answer once Terraform made it (the data plane follows within 1 s).
LISTENING_TIMEOUT_S = 20.0

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class SandboxInfo:
    endpoint: str  # the data plane's front: where every client goes
    pid: int
    port: int
    log: str
    api_endpoint: str = ""  # the moto server behind the front
    vpc_id: str = ""
    subnet_ids: tuple[str, ...] = ()
    environments: Mapping[str, str] = field(default_factory=dict)  # name -> load balancer DNS name
    load_balancers: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # name -> its URLs
    dataplane: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "running": True,
            "endpoint": self.endpoint,
            "api_endpoint": self.api_endpoint,
            "pid": self.pid,
            "port": self.port,
            "log": self.log,
            "vpc_id": self.vpc_id,
            "subnet_ids": list(self.subnet_ids),
            "environments": dict(self.environments),
            "load_balancers": {k: dict(v) for k, v in self.load_balancers.items()},
            "dataplane": dict(self.dataplane),
        }

    def problems(self) -> list[str]:
        """What does not run as it should: the data plane, a proxy, an app process that keeps dying."""
        return list(self.dataplane.get("problems", []))


def start(
    state_dir: Path, region: str, dataplane_options: Sequence[str] = (), progress: Progress = _quiet
) -> moto.MotoServer:
    """The running server and data plane, or new ones (and a clean slate) when the recorded server is gone."""
    server = record.running_server(state_dir)
    started = server is None
    if server is not None:
        progress(f"sandbox server already running at {server.endpoint} (pid {server.pid})")
    else:
        stale = moto.read(record.record_path(state_dir))
        if stale is not None:
            progress(f"the recorded sandbox server (pid {stale.pid}) is not running: starting afresh")
            _stop_if_ours(stale)
        plane.stop(state_dir)  # a data plane over a server that is gone serves nothing
        record.forget(state_dir)  # state that described the old server's resources describes nothing now
        server = moto.start(record.sandbox_dir(state_dir) / "moto.log")
        moto.save(server, record.record_path(state_dir))
        progress(f"sandbox server started at {server.endpoint} (pid {server.pid})")
    if plane.front_endpoint(state_dir):
        progress(f"data plane already running at {plane.front_endpoint(state_dir)}")
        return server
    plane.stop(state_dir)  # what a data plane that died left
    try:
        process = plane.start(state_dir, server.endpoint, region, dataplane_options)
    except BluegreenError:
        if started:
            down(state_dir)
        raise
    progress(f"data plane started at {plane.front_endpoint(state_dir)} (pid {process.pid}, log {process.log})")
    return server


def provision(config: Config, server: moto.MotoServer, runner: TerraformRunner) -> SandboxInfo:
    """Create (or update) the network and every AWS environment of the config; wait until their listeners answer."""
    network = net.apply_network(runner)
    environments = {}
    for env in config.environments.values():
        if env.platform == "aws":
            environments[env.name] = stacks.apply_environment(runner, env, network)
    _wait_listening(config.state.path, environments)
    return _info(config.state.path, server, network.vpc_id, network.subnet_ids, environments)


def _wait_listening(state_dir: Path, environments: Mapping[str, AwsEnvironment]) -> None:
    """Every listener answers on its load balancer's address, or the proxy's fault is raised (exit 2)."""
    albs = [e for e in environments.values() if e.load_balancer_type == "alb"]
    wanted = [(e.dns_name, port) for e in albs for port in (e.listener_port, e.test_listener_port)]
    deadline = time.monotonic() + LISTENING_TIMEOUT_S
    while True:
        found = plane.status(state_dir)
        if found is None:
            raise _dataplane_gone(state_dir)
        failed = [lb["proxy"] for lb in found.get("load_balancers", {}).values() if lb["proxy"]["state"] == "failed"]
        if failed:
            raise UsageError(
                f"a sandbox load balancer could not start: {failed[0]['error'].splitlines()[0]}",
                where=failed[0]["config"],
                hint="free the port (or set other listener ports in bluegreen.yaml), then run `bluegreen sandbox up`",
            )
        if all(_answers(h, p) for h, p in wanted):
            return
        if time.monotonic() > deadline:
            raise OperatorNeededError(
                f"the sandbox's listeners do not answer within {LISTENING_TIMEOUT_S:g}s: {wanted}",
                where=str(plane.process_path(state_dir).with_name("dataplane.log")),
                hint="read the data plane's log, then run `bluegreen sandbox down` and `bluegreen sandbox up`",
            )
        time.sleep(0.2)


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _dataplane_gone(state_dir: Path) -> OperatorNeededError:
    log = plane.process_path(state_dir).with_name("dataplane.log")
    return OperatorNeededError(
        "the sandbox's data plane is not running (no instance runs, no listener answers)",
        where=str(log),
        hint=f"read {log}, then run `bluegreen sandbox up`",
    )


def status(config: Config, server: moto.MotoServer, runner: TerraformRunner | None) -> SandboxInfo:
    """What the running sandbox holds; without a runner (the data plane is down) only the processes."""
    network = net.read_network(runner) if runner is not None else None
    environments = {}
    for env in config.environments.values():
        if env.platform == "aws" and runner is not None:
            outputs = stacks.environment_outputs(runner, env)
            if outputs is not None:
                environments[env.name] = outputs
    if network is None:
        return _info(config.state.path, server, "", (), environments)
    return _info(config.state.path, server, network.vpc_id, network.subnet_ids, environments)


def _info(
    state_dir: Path,
    server: moto.MotoServer,
    vpc_id: str,
    subnet_ids: tuple[str, ...],
    environments: Mapping[str, AwsEnvironment],
) -> SandboxInfo:
    load_balancers = {
        name: {
            "dns_name": e.dns_name,
            "production_url": f"http://{e.dns_name}:{e.listener_port}",
            "test_url": f"http://{e.dns_name}:{e.test_listener_port}" if e.load_balancer_type == "alb" else "",
        }
        for name, e in environments.items()
    }
    return SandboxInfo(
        endpoint=plane.front_endpoint(state_dir),
        pid=server.pid,
        port=server.port,
        log=server.log,
        api_endpoint=server.endpoint,
        vpc_id=vpc_id,
        subnet_ids=subnet_ids,
        environments={name: e.dns_name for name, e in environments.items()},
        load_balancers=load_balancers,
        dataplane=dataplane_summary(state_dir),
    )


def dataplane_summary(state_dir: Path) -> dict[str, Any]:
    """The data plane's processes and their state, and what is wrong with them (`problems`)."""
    process = plane.recorded(state_dir)
    log = str(plane.process_path(state_dir).with_name("dataplane.log"))
    found = plane.status(state_dir)
    if found is None:
        gone = _dataplane_gone(state_dir)
        return {"state": "stopped", "pid": process.pid if process else None, "log": log, "problems": [str(gone)]}
    problems = []
    proxies = {}
    for key, lb in found.get("load_balancers", {}).items():
        proxies[key] = {k: lb["proxy"].get(k) for k in ("pid", "state", "error", "config")} | {
            "listeners": [x["url"] for x in lb.get("listeners", [])],
            "target_groups": lb.get("target_groups", {}),
        }
        if lb["proxy"]["state"] != "running":
            problems.append(
                f"the proxy of load balancer {key} is {lb['proxy']['state']}: {lb['proxy']['error'] or '(no error)'}"
                f"\nwhere: {lb['proxy']['config']}\nnext: run `bluegreen sandbox up`"
            )
    apps = {
        i: {k: inst.get(k) for k in ("asg", "state", "pid", "port", "version", "reason", "restarts") if k in inst}
        for i, inst in found.get("instances", {}).items()
    }
    return {
        "state": "running",
        "pid": found.get("pid"),
        "log": log,
        "front_endpoint": found.get("front_endpoint", ""),
        "api_endpoint": found.get("api_endpoint", ""),
        "error": found.get("error", ""),
        "proxies": proxies,
        "instances": apps,
        "problems": problems,
    }


def down(state_dir: Path, progress: Progress = _quiet) -> None:
    """Stop the data plane and the server and forget the sandbox's state; nothing running is fine."""
    if plane.stop(state_dir):
        progress("sandbox data plane stopped (its proxies and app processes with it)")
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
