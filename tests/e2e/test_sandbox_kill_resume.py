"""kill -9 of the deploying process in every phase, then `bluegreen resume`: the deploy ends as if nothing happened.

The process is killed alone, as the OOM killer or an operator's `kill -9`
would: what it started (terraform, packer) runs on, orphaned, until it dies
writing to the pipe nobody reads, and the resumed deployment has to live
with what it left. One case kills the whole process group, as when the host
is lost. Terraform is killed at its worst moment: right after it created the
launch template and before it recorded it.

The phase being killed holds for seconds, so the `status --json` poll that
decides when to kill cannot miss it; every other wait is short. A watcher
samples the listener and the Auto Scaling groups throughout: at no moment may
the listener send traffic to a colour whose group is gone or empty.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.world import (
    ENV,
    Processes,
    Sandbox,
    Started,
    Watcher,
    deployment_in_progress,
    latest_record,
    live_colour,
    merged,
    other,
    run,
    status,
    wait_for,
)

pytestmark = pytest.mark.slow

HOLD = "6s"  # the killed phase's length: many status polls long
QUICK: dict[str, Any] = {
    "health_check": {"healthy_threshold": 2, "poll": "500ms"},
    "traffic": {
        "strategy": "canary",
        "steps": [{"weight": 10, "wait": "1s"}, {"weight": 50, "wait": "1s"}],
        "check_every": "500ms",
    },
    "bake_time": "1s",
    "scale_down_delay": "1s",
}


def _steps(*holds: tuple[int, str]) -> dict[str, Any]:
    return {"traffic": {"steps": [{"weight": w, "wait": h} for w, h in holds]}}


@dataclass(frozen=True)
class Case:
    phase: str  # deployment.phase while the process dies
    overrides: Mapping[str, Any] = field(default_factory=dict)
    step: str = ""  # how the current step's description starts, when the phase has several steps
    moment: str = "into the phase"  # or "template created", "destroying"
    reissued: str = ""  # the command that was under way, so resume runs it again
    whole_group: bool = False
    slow_bake: bool = False
    resume_says: str = ""

    def reached(self, deployment: Mapping[str, Any] | None) -> bool:
        if not deployment or deployment["phase"] != self.phase:
            return False
        return not self.step or (deployment["step"] or {}).get("description", "").startswith(self.step)


CASES = {
    "bake": Case("bake", slow_bake=True, reissued="Bake"),
    "provision": Case("provision", moment="template created", reissued="Provision"),
    "provision-whole-group": Case(
        "provision",
        moment="template created",
        reissued="Provision",
        whole_group=True,
        resume_says="adopting aws_launch_template.this",
    ),
    "wait_healthy": Case("wait_healthy", {"health_check": {"healthy_threshold": 10, "poll": "700ms"}}),
    "shift-10": Case("shift", _steps((10, HOLD), (50, "1s")), step="shift 10%"),
    "shift-50": Case("shift", _steps((10, "1s"), (50, HOLD)), step="shift 50%"),
    "shift-100": Case("shift", _steps((10, "1s"), (50, "1s"), (100, HOLD)), step="shift 100%"),
    "observe": Case("observe", {"bake_time": HOLD}),
    "gate": Case("gate", {"promotion": "manual"}),
    "retire-delay": Case("retire", {"scale_down_delay": HOLD}),
    "retire-destroying": Case("retire", moment="destroying", reissued="Destroy"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_kill_9_then_resume(sandbox: Sandbox, processes: Processes, tmp_path: Path, name: str) -> None:
    case = CASES[name]
    old = live_colour(sandbox)
    new = other(old)
    version = f"k-{name}"
    cfg = sandbox.write_config(f"kill-{name}", **merged(QUICK, case.overrides))
    with Watcher(sandbox) as watcher:
        slow = _slow_packer(tmp_path) if case.slow_bake else None
        deploy = processes.start(cfg, "deploy", ENV, "--version", version, path_prefix=slow)
        wait_for(
            lambda: case.reached(deployment_in_progress(cfg)) or not deploy.running(),
            timeout=180,
            what=f"phase {name}",
            every=0.2,
        )
        _wait_for_the_moment(sandbox, deploy, case, new=new, old=old)
        assert deploy.running(), f"the deploy ended before {name}:\n{deploy.output()}"
        if case.whole_group:
            deploy.kill_9_group()
        else:
            deploy.kill_9()

        killed = status(cfg)["deployment"]
        assert killed is not None and case.reached(killed), killed
        assert killed["status"] in ("running", "paused")

        if case.phase == "gate":
            waiting = run(cfg, "resume", ENV, "--no-wait")
            assert waiting.returncode == 0, waiting.stdout + waiting.stderr
            assert status(cfg)["deployment"]["status"] == "paused"
            assert sandbox.weights() == {new: 50, old: 50}
            finished = run(cfg, "promote", ENV)
        else:
            finished = run(cfg, "resume", ENV)
        assert finished.returncode == 0, deploy.output() + finished.stdout + finished.stderr
        time.sleep(0.5)  # a last sample or two of the end state

    assert case.resume_says in finished.stdout
    sandbox.assert_serving(new)
    st = status(cfg)
    assert (st["live_colour"], st["release"]["version"], st["deployment"]) == (new, version, None)
    if case.reissued:
        again = [e["message"] for e in latest_record(cfg)["events"] if e["kind"] == "resumed"]
        assert any(m.startswith(f"{case.reissued} started earlier did not record its end") for m in again), again
    assert len(watcher.samples) > 20, watcher.errors
    assert watcher.served_without_instances() == []


def _wait_for_the_moment(sandbox: Sandbox, deploy: Started, case: Case, *, new: str, old: str) -> None:
    if case.moment == "template created":
        # Terraform is mid-apply: the launch template exists, its state does not say so yet.
        wait_for(
            lambda: f"{ENV}-{new}" in sandbox.launch_templates() or not deploy.running(),
            timeout=60,
            what=f"terraform to create {new}'s launch template",
            every=0.05,
        )
    elif case.moment == "destroying":
        wait_for(
            lambda: f"terraform destroy: slot {ENV}/{old}" in deploy.stdout.read_text() or not deploy.running(),
            timeout=60,
            what=f"terraform to start destroying {old}",
            every=0.05,
        )
    else:
        time.sleep(1.0)  # into the phase: a command or a hold under way


def _slow_packer(tmp_path: Path) -> Path:
    """A `packer` first on PATH: the real one after a pause, as a real bake takes minutes, not a second."""
    real = shutil.which("packer")
    assert real, "packer is not installed"
    bin_dir = tmp_path / "slow-packer"
    bin_dir.mkdir()
    script = bin_dir / "packer"
    script.write_text(f'#!/bin/sh\nsleep {HOLD.removesuffix("s")}\nexec {real} "$@"\n')
    script.chmod(0o755)
    return bin_dir
