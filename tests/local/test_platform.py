"""The single-host adapters against real gunicorn processes and a real nginx, one port at a time."""

from __future__ import annotations

import json
import stat
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from bluegreen.adapters.local import processes, procfs, release
from bluegreen.adapters.local.registry import AppProcess
from bluegreen.errors import AdapterError
from bluegreen.model import Colour, Release, Weights
from bluegreen.ports import HealthState
from tests.local.helpers import APP, DeployFailed, LocalEnv, PortDriver


def get(url: str, timeout_s: float = 10.0) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        return int(resp.status), resp.read().decode()


# -- bake ------------------------------------------------------------------------------------------


def test_bake_copies_once_per_version_and_source(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "app.py").write_text("application = None\n")
    (app / "__pycache__").mkdir()
    (app / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"cache")
    releases = tmp_path / "releases"

    first = release.bake(app, releases, "v1", wsgi="app:application")
    assert not first.reused
    target = Path(first.ami)
    assert target.name == f"v1-{first.source_hash[:12]}"
    assert (target / "app.py").read_text() == "application = None\n"
    assert not (target / "__pycache__").exists()
    assert not (target / "app.py").stat().st_mode & stat.S_IWUSR, "a release's files are read-only"

    again = release.bake(app, releases, "v1", wsgi="app:application")
    assert again.reused and again.ami == first.ami and again.source_hash == first.source_hash
    forced = release.bake(app, releases, "v1", wsgi="app:application", force=True)
    assert not forced.reused and forced.ami == first.ami

    (app / "app.py").write_text("application = 1\n")
    changed = release.bake(app, releases, "v1", wsgi="app:application")
    assert not changed.reused and changed.source_hash != first.source_hash
    assert release.bake(app, releases, "v2", wsgi="app:application").source_hash != changed.source_hash
    assert not list(releases.glob(".*")), "no staging leftovers"


# -- provision, health, destroy -------------------------------------------------------------------


def test_provision_publishes_a_listening_process_and_is_idempotent(local_env: LocalEnv) -> None:
    p = local_env.platform
    baked = p.baker.bake(local_env.env.name, "v1")
    first = p.provisioner.provision(Colour.BLUE, Release("v1", baked.ami, baked.source_hash)).details
    second = p.provisioner.provision(Colour.BLUE, Release("v1", baked.ami, baked.source_hash)).details
    assert first == second, "provisioning twice starts nothing new"
    registry = json.loads(local_env.site.paths.registry.read_text())
    assert registry["colours"]["blue"]["current"]["pid"] == first["pid"]
    assert get(first["url"] + "/version") == (200, "version v1\n")

    # The idle colour gets another release: the old process stops and is kept as `previous`.
    baked2 = p.baker.bake(local_env.env.name, "v2")
    third = p.provisioner.provision(Colour.BLUE, Release("v2", baked2.ami, baked2.source_hash)).details
    assert third["pid"] != first["pid"] and not procfs.is_running(first["pid"])
    previous = local_env.site.registry.previous(Colour.BLUE)
    assert previous is not None and previous.pid == first["pid"]
    assert get(third["url"] + "/version") == (200, "version v2\n")


def test_a_release_that_refuses_to_start_is_failed_with_its_exit_code_and_words(local_env: LocalEnv) -> None:
    p = local_env.variant(APP_SECRET="")
    baked = p.baker.bake(local_env.env.name, "v1")
    p.provisioner.provision(Colour.GREEN, Release("v1", baked.ami, baked.source_hash))
    deadline = time.monotonic() + 15
    while (snap := p.health.check(Colour.GREEN)).state is not HealthState.FAILED:
        assert snap.state is HealthState.PENDING, snap.describe()
        assert time.monotonic() < deadline, snap.describe()
        time.sleep(0.1)
    assert "exited with code" in snap.reason
    assert "APP_SECRET is not set; refusing to start" in snap.reason
    assert not p.health.headroom(Colour.GREEN).ok
    p.provisioner.destroy(Colour.GREEN)
    p.provisioner.destroy(Colour.GREEN)  # already gone: fine
    assert p.health.check(Colour.GREEN).state is HealthState.FAILED


def test_traffic_and_stop_guards(local_env: LocalEnv, driver: PortDriver) -> None:
    p = local_env.platform
    with pytest.raises(AdapterError, match="has no running app process"):
        p.traffic.set_weights(Weights(blue=100, green=0))
    assert p.traffic.read_weights() == Weights(), "nothing routed yet"
    driver.deploy("v1")
    with pytest.raises(AdapterError, match="nginx still sends blue 100%"):
        p.provisioner.destroy(Colour.BLUE)
    assert get(f"http://{local_env.address}/version") == (200, "version v1\n")


def test_headroom_and_drain_follow_the_old_colours_real_state(local_env: LocalEnv, driver: PortDriver) -> None:
    p = local_env.platform
    driver.deploy("v1")
    assert p.health.headroom(Colour.BLUE).ok
    assert p.health.drain_state(Colour.BLUE).serving
    new = driver.start("v2")

    # A slow request is in flight on blue when traffic moves to green.
    answers: list[tuple[int, str]] = []
    slow = threading.Thread(target=lambda: answers.append(get(f"http://{local_env.address}/slow?ms=1500")))
    slow.start()
    time.sleep(0.3)
    driver.shift({new.colour: 100, Colour.BLUE: 0})
    drain = p.health.drain_state(Colour.BLUE)
    assert drain.serving and "connections to blue" in drain.reason, drain.reason

    # Stopping blue now is graceful: the request in flight finishes within the drain timeout.
    p.provisioner.destroy(Colour.BLUE)
    slow.join(10)
    assert answers == [(200, "slept 1500 ms on v1\n")]
    assert not p.health.drain_state(Colour.BLUE).serving


def test_smoke_checks_the_new_colour_only(local_env: LocalEnv, driver: PortDriver) -> None:
    driver.deploy("v1")
    with pytest.raises(DeployFailed, match="lacks 'version '") as failed:
        driver.start("v2-bad", local_env.variant(APP_FAIL_SMOKE="1"))
    live = local_env.site.running(Colour.BLUE)
    assert live is not None and failed.value.details["address"] != live.address
    assert get(f"http://{local_env.address}/version") == (200, "version v1\n")
    assert local_env.site.process(Colour.GREEN) is None, "the failed release was removed"


def test_stop_all_leaves_no_process(local_env: LocalEnv, driver: PortDriver) -> None:
    driver.deploy("v1")
    driver.start("v2")
    procs: list[AppProcess] = [p for c in Colour if (p := local_env.site.running(c)) is not None]
    workers = [w.pid for proc in procs for w in processes.workers(proc)]
    master = local_env.site.proxy.master_pid()
    assert len(procs) == 2 and workers and master
    local_env.stop()
    assert not any(procfs.is_running(pid) for pid in [master, *workers, *(p.pid for p in procs)])
    assert local_env.site.process(Colour.BLUE) is None and local_env.site.process(Colour.GREEN) is None


def test_the_example_app_directory_is_what_gets_baked(local_env: LocalEnv) -> None:
    baked = local_env.platform.baker.bake(local_env.env.name, "v1")
    assert (Path(baked.ami) / "app.py").read_bytes() == (APP / "app.py").read_bytes()


def test_a_process_started_but_never_published_is_stopped_by_the_next_provision(local_env: LocalEnv) -> None:
    p = local_env.platform
    baked = p.baker.bake(local_env.env.name, "v1")
    stray = p.provisioner.provision(Colour.GREEN, Release("v1", baked.ami, baked.source_hash)).details
    # As if bluegreen had been killed between starting the process and publishing it.
    local_env.site.paths.registry.write_text(json.dumps({"schema_version": 1, "colours": {}}))
    fresh = p.provisioner.provision(Colour.GREEN, Release("v1", baked.ami, baked.source_hash)).details
    assert fresh["pid"] != stray["pid"]
    assert not procfs.is_running(stray["pid"]), "the stray was stopped"
    assert get(fresh["url"] + "/version") == (200, "version v1\n")
