"""Releases through the real `bluegreen` command (subprocesses) on the simulated platform.

Each environment keeps its own simulated load balancer file; the deployment
records and the release record are read back through `status --json`.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import yaml

from tests.cli.helpers import run, start, wait_for

ENVS = ("staging", "prod-us", "prod-eu", "prod-ap")


def write(tmp: Path, release: dict[str, Any], *, hold: str = "300ms", **env: Any) -> Path:
    body: dict[str, Any] = {
        "platform": "simulated",
        "health_check": {"interval": "200ms", "timeout": "100ms", "healthy_threshold": 2, "deadline": "20s"},
        "traffic": {"strategy": "canary", "steps": [{"weight": 50, "wait": hold}], "check_every": "100ms"},
        **env,
    }
    doc = {"state": {"path": ".bluegreen"}, "environments": dict.fromkeys(ENVS, body), "releases": {"all": release}}
    path = tmp / "bluegreen.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def status(cfg: Path, name: str = "all") -> dict[str, Any]:
    res = run(cfg, "status", name, "--json")
    assert res.returncode == 0, res.stderr
    return dict(json.loads(res.stdout))


def envs(cfg: Path) -> dict[str, dict[str, Any]]:
    return {e["environment"]: e for e in status(cfg)["environments"]}


def fault(cfg: Path, env: str, **faults: Any) -> None:
    path = cfg.parent / ".bluegreen" / "simulated" / f"{env}.json"
    d = json.loads(path.read_text())
    d["faults"].update(faults)
    path.write_text(json.dumps(d))


def baseline(cfg: Path) -> None:
    """v0 live everywhere: a first deploy shifts at once, the next one holds at each canary step."""
    res = run(cfg, "release", "all", "--version", "v0")
    assert res.returncode == 0, res.stdout + res.stderr


def span(cfg: Path, env: str) -> tuple[float, float]:
    dep = envs(cfg)[env]["deployment"]
    return dep["created_at"], dep["updated_at"]


def test_waves_run_in_order_and_each_wave_in_parallel(tmp_path: Path) -> None:
    cfg = write(tmp_path, {"waves": [["staging"], ["prod-us", "prod-eu", "prod-ap"]]}, hold="1s")
    baseline(cfg)  # so that each deployment holds at its canary step for a second
    res = run(cfg, "release", "all", "--version", "v1")
    assert res.returncode == 0, res.stdout + res.stderr
    st = status(cfg)
    assert st["release"]["status"] == "succeeded"
    assert {e["state"] for e in st["environments"]} == {"succeeded"}
    staging = span(cfg, "staging")
    wave2 = [span(cfg, e) for e in ("prod-us", "prod-eu", "prod-ap")]
    assert all(created >= staging[1] for created, _ in wave2)  # the second wave began after the first ended
    assert max(c for c, _ in wave2) < min(u for _, u in wave2)  # all three ran at the same time


def test_parallelism_one_runs_a_wave_one_at_a_time(tmp_path: Path) -> None:
    cfg = write(tmp_path, {"waves": [["prod-us", "prod-eu"]], "parallelism": 1})
    assert run(cfg, "release", "all", "--version", "v1").returncode == 0
    us, eu = span(cfg, "prod-us"), span(cfg, "prod-eu")
    assert eu[0] >= us[1]


def test_a_failure_stops_the_release_and_rolls_back_the_rest_of_the_wave(tmp_path: Path) -> None:
    cfg = write(tmp_path, {"waves": [["prod-us", "prod-eu"], ["prod-ap"]]}, hold="20s")
    baseline(cfg)
    fault(cfg, "prod-us", smoke_fail_versions=["v1"])
    res = run(cfg, "release", "all", "--version", "v1")
    assert res.returncode == 1, res.stdout + res.stderr
    st = envs(cfg)
    assert st["prod-us"]["state"] == "failed" and st["prod-us"]["deployment"]["status"] == "rolled_back"
    assert st["prod-eu"]["state"] == "aborted" and st["prod-eu"]["deployment"]["status"] == "rolled_back"
    assert st["prod-ap"]["state"] == "skipped" and st["prod-ap"]["deployment"] is None
    assert status(cfg)["release"]["status"] == "failed"


def test_finish_wave_lets_the_others_of_the_wave_finish(tmp_path: Path) -> None:
    cfg = write(tmp_path, {"waves": [["prod-us", "prod-eu"], ["prod-ap"]], "on_failure": "finish-wave"})
    baseline(cfg)
    fault(cfg, "prod-us", smoke_fail_versions=["v1"])
    assert run(cfg, "release", "all", "--version", "v1").returncode == 1
    st = envs(cfg)
    assert [st[e]["state"] for e in ("prod-us", "prod-eu", "prod-ap")] == ["failed", "succeeded", "skipped"]


def test_abort_of_the_release_rolls_back_every_environment_in_flight(tmp_path: Path) -> None:
    cfg = write(tmp_path, {"waves": [["prod-us", "prod-eu"], ["prod-ap"]]}, hold="30s")
    baseline(cfg)
    proc = start(cfg, "release", "all", "--version", "v1")
    try:
        in_hold = lambda: all(  # noqa: E731
            (e["deployment"] or {}).get("weights", {}).get("green") == 50
            for n, e in envs(cfg).items()
            if n != "prod-ap"
        )
        wait_for(in_hold, timeout=30, what="both environments at 50%")
        res = run(cfg, "abort", "all", "--reason", "5xx")
        assert res.returncode == 0, res.stdout + res.stderr
        assert proc.wait(timeout=30) == 1
    finally:
        proc.kill()
        proc.wait()
    st = status(cfg)
    assert st["release"]["status"] == "aborted" and st["release"]["abort_requested"] == "5xx"
    e = {x["environment"]: x for x in st["environments"]}
    assert e["prod-us"]["deployment"]["status"] == e["prod-eu"]["deployment"]["status"] == "rolled_back"
    assert e["prod-ap"]["state"] == "skipped"


def test_a_killed_release_resumes_from_its_record(tmp_path: Path) -> None:
    # Killed in the second wave's hold: long enough that a `status` process, seconds to start on a busy
    # machine, still sees it running (a release that ended before the kill would leave nothing to resume).
    cfg = write(tmp_path, {"waves": [["staging"], ["prod-us", "prod-eu"]]}, hold="10s")
    baseline(cfg)
    proc = start(cfg, "release", "all", "--version", "v1")
    try:

        def in_second_wave() -> bool:
            dep = envs(cfg)["prod-us"]["deployment"] or {}
            return dep.get("release", {}).get("version") == "v1" and dep["status"] == "running"

        wait_for(in_second_wave, 30, "the second wave")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert status(cfg)["release"]["status"] == "running"
    res = run(cfg, "resume", "all")
    assert res.returncode == 0, res.stdout + res.stderr
    st = status(cfg)
    assert st["release"]["status"] == "succeeded"
    assert all(
        e["deployment"]["status"] == "succeeded"
        for e in st["environments"]
        if e["environment"] in st["release"]["envs"]
    )


def test_no_wait_stops_at_the_gate_between_waves_and_promote_passes_it(tmp_path: Path) -> None:
    cfg = write(tmp_path, {"waves": [["staging"], ["prod-us"]], "promotion": "manual"})
    res = run(cfg, "release", "all", "--version", "v1", "--no-wait")
    assert res.returncode == 0, res.stdout + res.stderr
    st = status(cfg)
    assert st["release"]["status"] == "paused" and st["release"]["at_gate"]
    assert [e["state"] for e in st["environments"]] == ["succeeded", "pending"]
    assert "bluegreen promote all" in st["next"]
    res = run(cfg, "promote", "all")
    assert res.returncode == 0, res.stdout + res.stderr
    assert status(cfg)["release"]["status"] == "succeeded"
    again = run(cfg, "promote", "all")
    assert again.returncode == 2 and "no release of all is in progress" in again.stderr


def test_a_locked_environment_fails_the_release_naming_the_holder(tmp_path: Path) -> None:
    cfg = write(tmp_path, {"waves": [["prod-us"]]}, promotion="manual")
    assert run(cfg, "deploy", "prod-us", "--version", "v0").returncode == 0  # a first deploy has no gate
    held = run(cfg, "deploy", "prod-us", "--version", "v0.1", "--no-wait")
    assert held.returncode == 0, held.stderr
    holder = json.loads(run(cfg, "status", "prod-us", "--json").stdout)["deployment"]["id"]
    res = run(cfg, "release", "all", "--version", "v1")
    assert res.returncode == 3, res.stdout + res.stderr
    assert f"held by deployment {holder}" in envs(cfg)["prod-us"]["note"]
    assert holder in res.stdout


def test_a_locked_environment_makes_the_release_wait_when_configured(tmp_path: Path) -> None:
    cfg = write(tmp_path, {"waves": [["prod-us"]], "when_locked": "wait", "lock_wait": "60s"}, promotion="manual")
    assert run(cfg, "deploy", "prod-us", "--version", "v0").returncode == 0  # a first deploy has no gate
    assert run(cfg, "deploy", "prod-us", "--version", "v0.1", "--no-wait").returncode == 0
    proc = start(cfg, "release", "all", "--version", "v1")
    try:
        held_by = "waiting: environment prod-us is held by"
        wait_for(lambda: envs(cfg).get("prod-us", {}).get("note", "").startswith(held_by), 30, "the release waiting")
        assert run(cfg, "promote", "prod-us").returncode == 0  # the holder finishes; the release goes on
        wait_for(lambda: envs(cfg)["prod-us"]["deployment"] is not None, 30, "the release's deployment")
        dep = envs(cfg)["prod-us"]["deployment"]["id"]
        wait_for(lambda: envs(cfg)["prod-us"]["deployment"]["status"] == "paused", 30, "its own gate")
        assert run(cfg, "promote", "prod-us").returncode == 0
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
    assert envs(cfg)["prod-us"]["deployment"]["id"] == dep


def test_one_ci_job_per_environment_coordinates_through_the_record(tmp_path: Path) -> None:
    cfg = write(tmp_path, {"waves": [["staging"], ["prod-us", "prod-eu"]]})
    later = [start(cfg, "release", "all", "--version", "v1", "--only", env) for env in ("prod-us", "prod-eu")]
    try:
        wait_for(lambda: status(cfg)["release"] is not None, 30, "the release record")
        assert envs(cfg)["prod-us"]["state"] == "pending"  # waits for staging's wave
        first = run(cfg, "release", "all", "--version", "v1", "--only", "staging")
        assert first.returncode == 0, first.stdout + first.stderr
        assert [p.wait(timeout=60) for p in later] == [0, 0]
    finally:
        for p in later:
            p.kill()
            p.wait()
    st = status(cfg)
    assert st["release"]["status"] == "succeeded" and st["release"]["split"]
    assert span(cfg, "prod-us")[0] >= span(cfg, "staging")[1]


def test_plan_shows_every_wave(tmp_path: Path) -> None:
    cfg = write(tmp_path, {"waves": [["staging"], ["prod-us", "prod-eu"]], "parallelism": 1})
    res = run(cfg, "plan", "all", "--version", "v1")
    assert res.returncode == 0, res.stderr
    assert "wave 1: staging" in res.stdout and "wave 2: prod-us, prod-eu" in res.stdout
    assert res.stdout.count("deploy v1 to") == 3
    plan = json.loads(run(cfg, "plan", "all", "--version", "v1", "--json").stdout)
    assert [[e["environment"] for e in w] for w in plan["waves"]] == [["staging"], ["prod-us", "prod-eu"]]


def test_bad_releases_are_exit_2_naming_the_key_and_change_nothing(tmp_path: Path) -> None:
    for bad, key in (
        ({"waves": [["staging"], ["prod-uk"]]}, "releases.all.waves[1][0]"),
        ({"waves": [["staging"], ["staging"]]}, "releases.all.waves[1][0]"),
        ({"waves": [["staging"], []]}, "releases.all.waves[1]"),
        ({"waves": [["staging"]], "parallelism": 0}, "releases.all.parallelism"),
    ):
        cfg = write(tmp_path, bad)
        res = run(cfg, "release", "all", "--version", "v1")
        assert res.returncode == 2 and key in res.stderr, res.stderr
        assert not (tmp_path / ".bluegreen").exists()


def test_an_environment_paused_at_its_own_gate_is_promoted_then_the_release_resumed(tmp_path: Path) -> None:
    cfg = write(tmp_path, {"waves": [["staging"], ["prod-us"]]}, promotion="manual")
    baseline(cfg)  # first deploys have no gate
    res = run(cfg, "release", "all", "--version", "v1", "--no-wait")
    assert res.returncode == 0, res.stdout + res.stderr
    st = status(cfg)
    assert st["environments"][0]["deployment"]["status"] == "paused" and st["environments"][1]["state"] == "pending"
    assert st["next"] == "bluegreen promote staging (paused at its own gate), then bluegreen resume all"
    assert run(cfg, "promote", "staging", "--no-wait").returncode == 0
    wait_for(lambda: status(cfg)["environments"][0]["deployment"]["status"] == "succeeded", 30, "staging done")
    res = run(cfg, "resume", "all", "--no-wait")  # prod-us pauses at its own gate in turn
    assert res.returncode == 0, res.stdout + res.stderr
    assert envs(cfg)["staging"]["state"] == "succeeded" and envs(cfg)["prod-us"]["deployment"]["status"] == "paused"
