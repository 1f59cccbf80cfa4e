"""The single-host platform: nginx in front of one gunicorn process per colour.

    bake       copy the app source into an immutable release directory (reused by source hash)
    provision  start the colour's release beside the live one, on its own loopback port;
               publish it in the registry once it listens
    health     GET /health on the process itself; an exited process is FAILED, with why
    smoke      the configured checks against the process itself (never through nginx)
    traffic    weights and addresses in nginx's routes file, replaced atomically and read
               per request by nginx's workers (no reload: no connection closes), read back
               from the running workers; a colour at 0 gets nothing
    drain      the old colour serves nothing once nginx gives it 0, every request that chose it
               before the change has connected (SETTLE_S), and no connection to it remains
    destroy    graceful stop (TERM, in-flight requests finish), KILL after the stop timeout

Plus the operations of one host: `rolling_restart` (workers replaced one at a
time, each proven ready), `proxy_upgrade` (nginx binary hot upgrade) and
`stop_all`. Every method can be run twice: the second run finds the work done.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bluegreen.adapters import http_smoke
from bluegreen.adapters.http_smoke import HttpSmoke
from bluegreen.adapters.local import health, processes, procfs, release, restart, upgrade
from bluegreen.adapters.local.njs import Server
from bluegreen.adapters.local.paths import LocalPaths, prune
from bluegreen.adapters.local.processes import AppSpec
from bluegreen.adapters.local.proxy import NginxProxy
from bluegreen.adapters.local.registry import AppProcess, Registry
from bluegreen.config import Config, Environment
from bluegreen.errors import AdapterError, UsageError
from bluegreen.model import Colour, Release, Weights
from bluegreen.ports import (
    AlarmCheck,
    BakeResult,
    DrainState,
    Headroom,
    HealthSnapshot,
    HealthState,
    Platform,
    ProvisionResult,
)

Progress = Callable[[str], None]
KEEP_RUNS = 10  # run directories (logs of past processes) kept besides the registry's
KEEP_RELEASES = 5  # release directories kept besides the running ones
# A worker picks a colour and connects in the same event-loop turn; on a loaded host that turn may be
# delayed, so a colour left at 0 counts as drained only this long after the change.
SETTLE_S = 1.0


class LocalSite:
    """One environment on this host: its files, registry, nginx and settings; shared by the adapters."""

    def __init__(self, config: Config, env: Environment) -> None:
        self.config = config
        self.env = env
        self.settings = env.local
        self.paths = LocalPaths.of(config, env)
        self.registry = Registry(self.paths.registry)
        self.proxy = NginxProxy(
            self.paths.nginx, env.name, self.settings.listen_port, timeout_s=self.settings.start_timeout_s
        )

    def process(self, colour: Colour) -> AppProcess | None:
        return self.registry.current(colour)

    def running(self, colour: Colour) -> AppProcess | None:
        proc = self.process(colour)
        return proc if proc is not None and processes.is_running(proc) else None

    def base_url(self, colour: Colour) -> str:
        proc = self.process(colour)
        if proc is None:
            raise AdapterError(
                f"{colour} has no app process in {self.env.name}",
                where=str(self.paths.registry),
                hint=f"deploy first (`bluegreen deploy {self.env.name} --version V`)",
            )
        return proc.base_url

    def stop(self, proc: AppProcess) -> None:
        processes.stop(proc, stop_timeout_s=self.settings.stop_timeout_s)

    def prune(self) -> None:
        """Old run directories (logs) and releases go; those the registry names and the newest few stay."""
        known = self.registry.everything()
        prune(self.paths.runs, keep={Path(p.run_dir) for p in known}, newest=KEEP_RUNS)
        prune(self.paths.releases, keep={Path(p.release_dir) for p in known}, newest=KEEP_RELEASES)

    def where(self) -> str:
        return f"{self.env.name} on this host ({self.paths.root})"


class LocalBaker:
    def __init__(self, site: LocalSite) -> None:
        self.site = site

    def bake(self, environment: str, version: str, *, force: bool = False) -> BakeResult:
        s = self.site
        return release.bake(
            s.config.resolve(s.settings.app), s.paths.releases, version, wsgi=s.settings.wsgi, force=force
        )

    def check_image(self, image: str) -> None:
        pass  # a release directory given by hand is checked when its process starts (published once listening)


class LocalProvisioner:
    def __init__(self, site: LocalSite) -> None:
        self.site = site

    def provision(self, colour: Colour, release_: Release) -> ProvisionResult:
        s = self.site
        release_dir = Path(release_.ami) if release_.ami else None
        if release_dir is None or not release_dir.is_dir():
            raise AdapterError(
                f"release {release_.version} has no release directory ({release_.ami or 'none recorded'})",
                where=s.where(),
                hint=f"bake it first (`bluegreen bake {s.env.name} --version {release_.version}`)",
            )
        current = s.running(colour)
        if current is not None:
            if current.version == release_.version and Path(current.release_dir) == release_dir:
                return ProvisionResult(current.details())  # already there: provisioning twice changes nothing
            self._refuse_if_serving(colour, f"replace {colour} with {release_.version}")
            s.stop(current)
        spec = AppSpec(
            env=s.env.name,
            colour=colour.value,
            version=release_.version,
            release_dir=release_dir,
            wsgi=s.settings.wsgi,
            workers=s.settings.workers,
            drain_timeout_s=s.settings.drain_timeout_s,
            start_timeout_s=s.settings.start_timeout_s,
            status_path=s.env.health_check.path,
            app_env=s.settings.env,
        )
        known = {p.run_dir for p in s.registry.everything()}
        processes.stop_strays(s.paths.runs, colour.value, known, stop_timeout_s=s.settings.stop_timeout_s)
        proc = processes.start(spec, s.paths.runs)
        s.registry.publish(proc)
        return ProvisionResult(proc.details())

    def destroy(self, colour: Colour) -> None:
        s = self.site
        proc = s.process(colour)
        if proc is None:
            return
        self._refuse_if_serving(colour, f"stop {colour}")
        s.stop(proc)
        s.registry.retire(colour)
        s.prune()

    def _refuse_if_serving(self, colour: Colour, doing: str) -> None:
        weight = self.site.proxy.weights()[colour]
        if weight > 0:
            raise AdapterError(
                f"refusing to {doing}: nginx still sends {colour} {weight}% of {self.site.env.name}'s traffic",
                where=str(self.site.proxy.conf),
                hint=f"shift traffic away from {colour} first (`bluegreen abort {self.site.env.name}` or a deploy)",
            )


class LocalHealth:
    def __init__(self, site: LocalSite) -> None:
        self.site = site

    def check(self, colour: Colour) -> HealthSnapshot:
        s = self.site
        proc = s.process(colour)
        if proc is None:
            return health.classify(colour, s.env.health_check.path, None, None)
        running = processes.is_running(proc)
        view = health.ProcessView(
            pid=proc.pid,
            address=proc.address,
            running=running,
            exit_code=None if running else processes.exit_code(proc),
            log_tail="" if running else processes.log_tail(proc.log),
        )
        answer = self._probe(proc) if running else None
        return health.classify(colour, s.env.health_check.path, view, answer)

    def headroom(self, colour: Colour) -> Headroom:
        snapshot = self.check(colour)
        if snapshot.state is not HealthState.HEALTHY:
            return Headroom(False, f"{colour} is not healthy: {snapshot.describe()}")
        proc = self.site.process(colour)
        assert proc is not None  # healthy implies a process
        workers = len(processes.workers(proc))
        if workers < self.site.settings.workers:
            return Headroom(False, f"{colour} runs {workers} of {self.site.settings.workers} workers")
        return Headroom(True, f"{colour} is healthy with {workers} workers")

    def drain_state(self, colour: Colour, *, deregister: bool = False) -> DrainState:
        # nginx no longer routing to it is the deregistration: the same evidence either way.
        s = self.site
        weight = s.proxy.weights()[colour]
        if weight > 0:
            return DrainState(True, f"nginx sends {colour} {weight}% of the traffic")
        proc = s.running(colour)
        if proc is None:
            return DrainState(False, f"{colour} has no running process")
        open_connections = procfs.established_connections(proc.port)
        if open_connections:
            return DrainState(True, f"{open_connections} connections to {colour} ({proc.address}) are still open")
        routes = s.proxy.routes()
        since = time.time() - routes.changed_at if routes is not None else SETTLE_S
        if 0 <= since < SETTLE_S:
            return DrainState(True, f"nginx stopped sending {colour} traffic {since:.2f}s ago: letting requests settle")
        return DrainState(False, f"nginx gives {colour} nothing and no connection to {proc.address} is open")

    def _probe(self, proc: AppProcess) -> http_smoke.Answer:
        hc = self.site.env.health_check
        return http_smoke.fetch(proc.base_url + hc.path, hc.timeout_s)


class LocalTraffic:
    def __init__(self, site: LocalSite) -> None:
        self.site = site

    def set_weights(self, weights: Weights) -> None:
        s = self.site
        if not weights.complete:
            raise UsageError(f"weights must sum to 100, got {weights.describe()}", where=s.where())
        servers = []
        for colour, weight in weights.items():
            proc = s.running(colour) if weight > 0 else s.process(colour)
            if proc is None and weight > 0:
                raise AdapterError(
                    f"cannot send {weight}% of {s.env.name}'s traffic to {colour}: it has no running app process",
                    where=s.where(),
                    hint=f"`bluegreen status {s.env.name}`; deploy a release to {colour} first",
                )
            if proc is not None:
                servers.append(Server(colour, proc.address, weight))
        s.proxy.apply(servers)

    def read_weights(self) -> Weights:
        s = self.site
        s.proxy.ensure_started()
        if s.proxy.master_pid() is None:
            return Weights()  # never routed anything yet
        return Weights(**{c.value: w for c, w in s.proxy.control().weights.items()})


class NoAlarms:
    """One host has no alarm service; health, smoke and the operator's abort are the guards."""

    def evaluate(self, colour: Colour, since: float | None = None) -> AlarmCheck:
        return AlarmCheck()


def build_local_platform(config: Config, env: Environment) -> Platform:
    site = LocalSite(config, env)
    return Platform(
        name="local",
        baker=LocalBaker(site),
        provisioner=LocalProvisioner(site),
        health=LocalHealth(site),
        traffic=LocalTraffic(site),
        verifier=HttpSmoke(site.base_url, env.smoke),
        alarms=NoAlarms(),
    )


# -- operations of one host ---------------------------------------------------------------


def rolling_restart(config: Config, env: Environment, progress: Progress) -> None:
    """Replace the workers of every colour nginx sends traffic to, one worker at a time."""
    site = LocalSite(config, env)
    live = [c for c, w in site.proxy.weights().items() if w > 0]
    if site.proxy.master_pid() is None or not live:
        raise UsageError(
            f"nothing is live in {env.name}: there are no workers to restart",
            where=site.where(),
            hint=f"deploy first (`bluegreen deploy {env.name} --version V`)",
        )
    for colour in live:
        proc = site.running(colour)
        if proc is None:
            raise AdapterError(
                f"nginx sends traffic to {colour}, but its app process is not running",
                where=site.where(),
                hint=f"`bluegreen status {env.name}`; deploy again to get a healthy release live",
            )
        restart.restart_workers(proc, timeout_s=site.settings.start_timeout_s, progress=progress)


def proxy_upgrade(config: Config, env: Environment, progress: Progress) -> None:
    """Hot-upgrade the environment's nginx binary; on failure the old master serves again."""
    site = LocalSite(config, env)
    upgrade.hot_upgrade(site.proxy, timeout_s=site.proxy.timeout_s, progress=progress)


def stop_all(config: Config, env: Environment) -> None:
    """Stop the environment's nginx and every app process the registry knows, and forget the processes."""
    site = LocalSite(config, env)
    site.proxy.stop(site.settings.stop_timeout_s)
    for proc in site.registry.everything():
        site.stop(proc)
    for colour in Colour:
        site.registry.retire(colour)
