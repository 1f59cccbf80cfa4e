"""The proof again, through the command line: `bluegreen` subprocesses drive the engine and the local platform.

deploy (first, then canary), abort from another process in the middle of a
canary, restart, proxy-upgrade, status --json and stop, while a client pool
sends traffic through nginx: every answer a 2xx, every exit code as the
README promises.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bluegreen.adapters.local.loadgen import LoadGenerator
from bluegreen.errors import EXIT_OK, EXIT_ROLLED_BACK
from bluegreen.model import Colour
from tests.local.helpers import ENV_NAME, REPO, LocalEnv


def bluegreen(env: LocalEnv, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bluegreen", "--config", str(env.config_path), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        stdin=subprocess.DEVNULL,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == EXIT_OK, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_deploy_abort_restart_and_upgrade_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = LocalEnv(tmp_path / "env", hold="1s")
    try:
        ok(bluegreen(env, "deploy", ENV_NAME, "--version", "v1"))
        with LoadGenerator(env.address, "/version", threads=4, max_duration_s=150) as load:
            ok(bluegreen(env, "deploy", ENV_NAME, "--version", "v2"))
            ok(bluegreen(env, "deploy", ENV_NAME, "--version", "v3", "--strategy", "all-at-once"))

            # A canary deploy, aborted from another process while it holds at 10%: held long enough that the
            # abort (a Python process starting on a busy machine) comes before the hold ends, then cut short by it.
            env.hold("120s")
            deploying = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bluegreen",
                    "--config",
                    str(env.config_path),
                    "deploy",
                    ENV_NAME,
                    "--version",
                    "v4",
                ],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            try:
                deadline = time.monotonic() + 60
                while env.site.proxy.weights()[Colour.GREEN] != 10:
                    assert deploying.poll() is None and time.monotonic() < deadline, "never reached the canary"
                    time.sleep(0.05)
                ok(bluegreen(env, "abort", ENV_NAME, "--reason", "test"))
                output, _ = deploying.communicate(timeout=60)
            finally:
                if deploying.poll() is None:
                    deploying.kill()
            assert deploying.returncode == EXIT_ROLLED_BACK, output

            ok(bluegreen(env, "restart", ENV_NAME))
            ok(bluegreen(env, "proxy-upgrade", ENV_NAME))
            status = json.loads(ok(bluegreen(env, "status", ENV_NAME, "--json", "--live")))
            time.sleep(0.3)
        report = load.report
        with capsys.disabled():
            print(f"\nCLI proof: 3 deploys, 1 abort, restart, proxy-upgrade\n  {report.summary()}")
        assert report.failures == 0, report.summary()
        assert report.ok > 300
        assert status["live_colour"] == "blue" and status["weights"] == {"blue": 100, "green": 0}
        assert status["release"]["version"] == "v3"
        assert {"version v1", "version v2", "version v3"} <= set(report.bodies)

        ok(bluegreen(env, "stop", ENV_NAME))
        assert env.site.proxy.master_pid() is None
        assert all(env.site.process(c) is None for c in Colour)
    finally:
        env.stop()
