"""Rolling restart for real: workers replaced one at a time, each proven ready by its own status check."""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path

import pytest

from bluegreen.adapters.local import platform as local
from bluegreen.adapters.local import processes
from bluegreen.adapters.local.loadgen import LoadGenerator
from bluegreen.errors import AdapterError, UsageError
from bluegreen.model import Colour
from tests.local.helpers import LocalEnv, PortDriver


def test_restart_of_nothing_live_is_refused(local_env: LocalEnv) -> None:
    with pytest.raises(UsageError, match="nothing is live"):
        local.rolling_restart(local_env.config, local_env.env, print)


def test_a_worker_that_never_turns_ready_stops_the_restart_and_nobody_notices(tmp_path: Path) -> None:
    flag = tmp_path / "maintenance"
    env = LocalEnv(
        tmp_path / "env",
        start_timeout="2s",
        workers=3,
        env={"APP_SECRET": "s", "APP_MAINTENANCE_FILE": str(flag)},
    )
    try:
        PortDriver(env.platform, env.env).deploy("v1")
        before = env.worker_pids(Colour.BLUE)
        progress: list[str] = []
        with LoadGenerator(env.address, "/version", threads=2, max_duration_s=60) as load:
            flag.touch()  # from now on the app's status check answers 503
            with pytest.raises(AdapterError, match="rolling restart stopped") as stopped:
                local.rolling_restart(env.config, env.env, progress.append)
            assert "restart again" in stopped.value.hint
            assert len(progress) == 1, "it stopped at the first worker"
            assert len(before - env.worker_pids(Colour.BLUE)) == 1, "only one old worker was let go"

            flag.unlink()  # fixed: the held-back worker turns ready, and a restart goes through
            # Each new worker must now be ready in time: 2 s, which the stop above needed short, is too
            # short for a fork and the app's import on a loaded machine.
            patient = dataclasses.replace(env.env, local=dataclasses.replace(env.env.local, start_timeout_s=60))
            local.rolling_restart(env.config, patient, progress.append)
        assert not before & env.worker_pids(Colour.BLUE)
        assert len(env.worker_pids(Colour.BLUE)) == 3
        assert load.report.failures == 0, load.report.summary()
        assert load.report.ok > 50
    finally:
        env.stop()


def test_a_worker_that_leaves_on_its_own_during_the_restart_is_not_waited_for(tmp_path: Path) -> None:
    # Seen when a held-back worker's own readiness wait ran out just as a restart began: the master had
    # already replaced it, and the restart waited for a second replacement that never came.
    env = LocalEnv(tmp_path / "env", start_timeout="10s", workers=3)
    try:
        PortDriver(env.platform, env.env).deploy("v1")
        before = env.worker_pids(Colour.BLUE)
        proc = env.site.running(Colour.BLUE)
        assert proc is not None
        third = processes.workers(proc)[-1].pid  # the restart lets the youngest go last
        progress: list[str] = []

        def note(line: str) -> None:
            if not progress:
                os.kill(third, signal.SIGTERM)  # it leaves on its own, while the first one is replaced
            progress.append(line)

        with LoadGenerator(env.address, "/version", threads=2, max_duration_s=60) as load:
            local.rolling_restart(env.config, env.env, note)
        assert any(f"(pid {third}) has already left" in line for line in progress), progress
        assert not before & env.worker_pids(Colour.BLUE)
        assert len(env.worker_pids(Colour.BLUE)) == 3
        assert load.report.failures == 0, load.report.summary()
    finally:
        env.stop()
