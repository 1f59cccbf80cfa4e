"""The proof: not one request dropped while the platform changes under traffic.

Real nginx, real gunicorn, real HTTP on loopback. A bounded pool of client
threads (half keep-alive, half a fresh connection per request) requests
/version through nginx while ten releases are deployed one after another
(canary 10% -> 50% -> 100%, then the old colour drains and stops), one
deploy is aborted at 50%, two broken releases are turned away (one refuses
to start, one fails its smoke check), the live workers are restarted one at
a time and nginx's binary is upgraded in place. The clients never resend: a
request lost on a keep-alive connection nginx closed is a failure. Every
request sent must be answered with a 2xx; the broken releases must receive no
request; and no traffic shift may retire an nginx worker (no reload), so no
shift closes a connection.
"""

from __future__ import annotations

import re
import time

import pytest

from bluegreen.adapters.local import platform as local
from bluegreen.adapters.local.loadgen import LoadGenerator
from bluegreen.adapters.local.proxy import accepting_workers
from bluegreen.model import Colour
from tests.local.helpers import DeployFailed, LocalEnv, PortDriver

DEPLOYS = 10


def upstreams_in_access_log(env: LocalEnv) -> set[str]:
    """Every app address nginx forwarded a request to."""
    text = env.site.proxy.access_log.read_text()
    # $upstream_addr lists every server tried, "a:1, b:2", when nginx retried another one.
    return {addr for tried in re.findall(r"upstream=(.*?) upstream_status=", text) for addr in tried.split(", ")}


def test_no_request_is_dropped_across_deploys_abort_restart_and_proxy_upgrade(
    local_env: LocalEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    env = local_env
    drive = PortDriver(env.platform, env.env)
    notes: list[str] = []
    drive.deploy("v1")
    broken: dict[str, str] = {}  # address -> what was wrong with it
    master = env.site.proxy.master_pid()
    assert master is not None
    nginx_workers = accepting_workers(master)
    with LoadGenerator(env.address, "/version", threads=4, max_duration_s=150, resend_stale=False) as load:
        for n in range(2, 2 + DEPLOYS):
            drive.deploy(f"v{n}")
            if n == 3:
                with pytest.raises(DeployFailed, match="APP_SECRET is not set") as refused:
                    drive.start("v3-no-secret", env.variant(APP_SECRET=""))
                broken[refused.value.details["address"]] = "refuses to start"
            if n == 5:
                with pytest.raises(DeployFailed, match=r"smoke checks on \w+ failed") as failed_smoke:
                    drive.start("v5-bad-smoke", env.variant(APP_FAIL_SMOKE="1"))
                broken[failed_smoke.value.details["address"]] = "fails its smoke check"
            if n == 7:
                aborted = drive.start("v7-aborted")
                drive.shift({aborted.colour: 50, aborted.colour.other: 50})
                time.sleep(0.3)
                drive.abort(aborted)
                notes.append(f"aborted v7-aborted at 50% on {aborted.colour}")
        assert env.site.proxy.master_pid() == master and accepting_workers(master) == nginx_workers, "no reload"
        live = drive.live()
        assert live is not None
        workers_before = env.worker_pids(live)
        local.rolling_restart(env.config, env.env, notes.append)
        workers_after = env.worker_pids(live)
        master_before = env.site.proxy.master_pid()
        local.proxy_upgrade(env.config, env.env, notes.append)
        master_after = env.site.proxy.master_pid()
        time.sleep(0.5)  # traffic on the upgraded nginx too
    report = load.report
    with capsys.disabled():
        print(
            f"\nzero-downtime proof: {DEPLOYS} deploys, 1 abort, 2 broken releases, 1 rolling restart, 1 proxy upgrade"
        )
        print(f"  {report.summary()}")
        print(f"  versions served: {dict(sorted(report.bodies.items()))}")

    assert report.failures == 0, report.summary()
    assert report.sent == report.requests == report.ok and report.stale_retries == 0, report.summary()
    assert report.ok > 500, f"too little traffic to prove anything: {report.summary()}"
    assert report.keepalive_requests > 0 and report.keepalive_requests < report.requests
    # Every release that went live served; the aborted one got its canary share, then nothing.
    for n in range(1, 2 + DEPLOYS):
        assert report.bodies[f"version v{n}"] > 0, f"v{n} never answered: {report.bodies}"
    assert report.bodies["version v7-aborted"] > 0
    # v1 went to blue; each later release to the other colour (the aborted one changed nothing).
    assert drive.live() is (Colour.BLUE if (1 + DEPLOYS) % 2 == 1 else Colour.GREEN)
    # Broken releases: nginx never forwarded anything to them, and the clients never saw them.
    assert len(broken) == 2
    upstreams = upstreams_in_access_log(env)
    serving = env.site.running(live)
    assert serving is not None and serving.address in upstreams, "the access log shows where requests went"
    assert not set(broken) & upstreams, broken
    assert "no idea" not in report.bodies
    assert workers_before and not workers_before & workers_after, "every worker was replaced"
    assert master_before != master_after and master_after is not None, "a new nginx master serves"
    # Old logs and releases are pruned as colours retire.
    assert len(list(env.site.paths.runs.iterdir())) <= local.KEEP_RUNS + 4
    assert len(list(env.site.paths.releases.iterdir())) <= local.KEEP_RELEASES + 2
