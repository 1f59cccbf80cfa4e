"""The CLI end to end over the simulated platform: real processes, real store, real exit codes."""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.cli.helpers import (
    BLUEGREEN,
    LOOK_EVERY_S,
    look,
    run,
    set_faults,
    start,
    status,
    wait_for,
    world,
    write_config,
)

CANARY = {
    "strategy": "canary",
    "steps": [{"weight": 10, "wait": "1s"}, {"weight": 50, "wait": "3s"}],
    "check_every": "100ms",
}


def test_help_lists_every_command(tmp_path: Path) -> None:
    res = run(tmp_path / "none.yaml", "--help")
    assert res.returncode == 0
    for cmd in ("deploy", "plan", "promote", "abort", "resume", "status", "history", "validate", "unlock"):
        assert f"  {cmd} " in res.stdout, cmd


def test_deploy_twice_then_status(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    first = run(cfg, "deploy", "web", "--version", "v1")
    assert first.returncode == 0, first.stderr
    second = run(cfg, "deploy", "web", "--version", "v2")
    assert second.returncode == 0, second.stderr
    st = status(cfg)
    assert st["live_colour"] == "green" and st["weights"] == {"blue": 0, "green": 100}
    assert st["release"]["version"] == "v2" and st["deployment"] is None
    assert st["last_deployment"]["status"] == "succeeded"
    assert world(cfg)["weights"] == {"blue": 0, "green": 100}


def test_manual_promotion_from_another_process(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, traffic=CANARY, promotion="manual")
    assert run(cfg, "deploy", "web", "--version", "v1").returncode == 0
    paused = run(cfg, "deploy", "web", "--version", "v2", "--no-wait")
    assert paused.returncode == 0, paused.stderr
    st = status(cfg)
    assert (st["deployment"]["status"], st["deployment"]["phase"]) == ("paused", "gate")
    assert "bluegreen promote web" in st["next"]
    assert world(cfg)["weights"] == {"blue": 50, "green": 50}
    again = run(cfg, "deploy", "web", "--version", "v3")
    assert again.returncode == 3 and "held by deployment" in again.stderr
    promoted = run(cfg, "promote", "web")
    assert promoted.returncode == 0, promoted.stderr
    st = status(cfg)
    assert st["live_colour"] == "green" and st["weights"] == {"blue": 0, "green": 100}


def test_promote_reaches_a_deploy_waiting_at_the_gate(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, traffic=CANARY, promotion="manual")
    assert run(cfg, "deploy", "web", "--version", "v1").returncode == 0
    proc = start(cfg, "deploy", "web", "--version", "v2")
    try:
        wait_for(lambda: (look(cfg)["deployment"] or {}).get("status") == "paused", what="the gate", every=LOOK_EVERY_S)
        assert run(cfg, "promote", "web", "--no-wait").returncode == 0
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "promoted by tester" in out
    assert status(cfg)["weights"] == {"blue": 0, "green": 100}


def test_abort_from_another_process_during_a_canary_hold(tmp_path: Path) -> None:
    # A hold the abort surely falls in (an `abort` process can take seconds to start on a busy machine); it cuts it short.
    cfg = write_config(
        tmp_path, traffic={**CANARY, "steps": [{"weight": 10, "wait": "1s"}, {"weight": 50, "wait": "120s"}]}
    )
    assert run(cfg, "deploy", "web", "--version", "v1").returncode == 0
    proc = start(cfg, "deploy", "web", "--version", "v2")
    try:
        wait_for(lambda: world(cfg)["weights"].get("green") == 50, what="the 50% step")
        aborted = run(cfg, "abort", "web", "--reason", "error rate")
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert aborted.returncode == 0, aborted.stderr
    assert proc.returncode == 1, (out, err)  # the deploy failed and was rolled back
    st = status(cfg)
    assert st["live_colour"] == "blue" and st["weights"] == {"blue": 100, "green": 0}
    assert st["last_deployment"]["status"] == "rolled_back"
    assert "error rate" in st["last_deployment"]["failure"]
    assert list(world(cfg)["colours"]) == ["blue"]


def test_second_concurrent_deploy_exits_3_naming_the_holder(tmp_path: Path) -> None:
    # A hold long enough that the first deploy still holds the lock on a busy machine; aborted once checked.
    held = {**CANARY, "steps": [{"weight": 10, "wait": "120s"}]}
    cfg = write_config(tmp_path, traffic=held)
    assert run(cfg, "deploy", "web", "--version", "v1").returncode == 0
    proc = start(cfg, "deploy", "web", "--version", "v2")
    try:
        wait_for(lambda: (look(cfg)["lock"] or {}).get("process_running", False), what="the lock", every=LOOK_EVERY_S)
        second = run(cfg, "deploy", "web", "--version", "v3")
    finally:
        run(cfg, "abort", "web", "--reason", "the test is done")
        proc.communicate(timeout=60)
    assert second.returncode == 3
    assert "environment web is held by deployment web-" in second.stderr
    assert "running in tester@" in second.stderr and "since" in second.stderr
    assert f"started by tester@{socket.gethostname()}," in second.stderr  # who, not only which process


def test_records_name_the_os_user_when_the_shell_names_nobody(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    bare = {k: v for k, v in os.environ.items() if k not in ("USER", "LOGNAME", "BLUEGREEN_ACTOR")}
    res = subprocess.run(
        [*BLUEGREEN, "--config", str(cfg), "deploy", "web", "--version", "v1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=bare,
    )
    assert res.returncode == 0, res.stderr
    assert status(cfg)["last_deployment"]["started_by"] == f"{pwd.getpwuid(os.getuid()).pw_name}@{socket.gethostname()}"


def test_unhealthy_release_exits_1_and_leaves_old_colour(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    assert run(cfg, "deploy", "web", "--version", "v1").returncode == 0
    set_faults(cfg, smoke_fail_versions=["v2"])
    res = run(cfg, "deploy", "web", "--version", "v2")
    assert res.returncode == 1
    assert "smoke checks failed on green" in res.stdout
    st = status(cfg)
    assert st["live_colour"] == "blue" and world(cfg)["weights"] == {"blue": 100, "green": 0}


def test_rollback_incomplete_exits_4_then_abort_finishes_it(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    assert run(cfg, "deploy", "web", "--version", "v1").returncode == 0
    set_faults(cfg, smoke_fail_versions=["v2"], fail_calls={"destroy": 50})
    res = run(cfg, "deploy", "web", "--version", "v2")
    assert res.returncode == 4, res.stdout + res.stderr
    assert "bluegreen abort web" in res.stdout
    st = status(cfg)
    assert st["deployment"]["status"] == "rollback_incomplete"
    set_faults(cfg, fail_calls={})
    fixed = run(cfg, "abort", "web")
    assert fixed.returncode == 0, fixed.stderr
    assert status(cfg)["last_deployment"]["status"] == "rolled_back"


@pytest.mark.parametrize("phase", ["wait_healthy", "shift", "observe", "retire"])
def test_kill_9_then_resume(tmp_path: Path, phase: str) -> None:
    # Each phase lasts seconds, so a status poll on a busy machine cannot miss it: a `status`
    # process can take seconds to start there, so waiting for health lasts 15 s (within a 60 s deadline).
    cfg = write_config(
        tmp_path,
        traffic={**CANARY, "steps": [{"weight": 10, "wait": "4s"}, {"weight": 50, "wait": "4s"}]},
        bake_time="5s",
        scale_down_delay="5s",
        health_check={"interval": "500ms", "timeout": "100ms", "healthy_threshold": 2, "deadline": "60s"},
    )
    assert run(cfg, "deploy", "web", "--version", "v1").returncode == 0
    set_faults(cfg, healthy_after_polls=30 if phase == "wait_healthy" else 10)
    proc = start(cfg, "deploy", "web", "--version", "v2")
    try:
        wait_for(
            lambda: (look(cfg)["deployment"] or {}).get("phase") == phase, what=f"phase {phase}", every=LOOK_EVERY_S
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    st = status(cfg)
    assert st["deployment"]["phase"] == phase
    # The killed process is gone from this host: say so, and what to run; not "watch it".
    assert st["lock"]["process_running"] is False and st["next"] == "bluegreen resume web"
    text = run(cfg, "status", "web").stdout
    assert "is gone) since" in text and "next:        bluegreen resume web" in text, text
    if phase == "retire":
        # 100% on green was read back before the old colour's retirement began: green is what users get.
        assert st["weights"] == {"blue": 0, "green": 100} and st["live_colour"] == "green"
    resumed = run(cfg, "resume", "web")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    st = status(cfg)
    assert st["live_colour"] == "green" and st["weights"] == {"blue": 0, "green": 100}
    assert list(world(cfg)["colours"]) == ["green"]


def test_unlock_needs_force_and_reason_and_records_them(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, traffic=CANARY, promotion="manual")
    assert run(cfg, "deploy", "web", "--version", "v1").returncode == 0
    assert run(cfg, "deploy", "web", "--version", "v2", "--no-wait").returncode == 0
    assert run(cfg, "unlock", "web").returncode == 2
    res = run(cfg, "unlock", "web", "--force", "--reason", "stuck in a test")
    assert res.returncode == 0, res.stderr
    hist = run(cfg, "history", "web", "--events")
    assert "abandoned" in hist.stdout and "stuck in a test" in hist.stdout
    assert run(cfg, "deploy", "web", "--version", "v3", "--no-wait").returncode == 0


def test_plan_changes_nothing(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, traffic=CANARY, promotion="manual", scale_down_delay="5m")
    assert run(cfg, "deploy", "web", "--version", "v1").returncode == 0
    before = world(cfg)
    res = run(cfg, "plan", "web", "--version", "v2")
    assert res.returncode == 0, res.stderr
    for text in ("shift 10% to the new colour, hold 1s", "wait for `bluegreen promote`",
                 "retire the old colour after 5m", "destroys: blue"):  # fmt: skip
        assert text in res.stdout, text
    assert world(cfg) == before
    assert status(cfg)["deployment"] is None


def test_nothing_to_abort_is_bad_input(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    res = run(cfg, "abort", "web")
    assert res.returncode == 2 and "no deployment is in progress in web" in res.stderr
