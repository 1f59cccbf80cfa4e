"""The tools' processes: they die with their starter, time out, and what a killed run left is stopped."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bluegreen.adapters import toolproc
from bluegreen.adapters.terraform import Stack, TerraformError, TerraformRunner, TerraformSettings

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

STARTER = """
import sys, time
from pathlib import Path
from bluegreen.adapters import toolproc
proc = toolproc.start(["sleep", "60"], cwd=Path(sys.argv[1]), env={"PATH": "/usr/bin:/bin"})
toolproc.record_owner(Path(sys.argv[1]), proc)
print(proc.pid, flush=True)
time.sleep(60)
"""


def wait_gone(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not toolproc.group_members(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Process groups a test starts; whatever is left is killed at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def sleeper(cwd: Path, started: list[subprocess.Popen[bytes]]) -> int:
    proc = subprocess.Popen(["sleep", "60"], cwd=cwd, start_new_session=True)
    started.append(proc)
    return proc.pid


def test_a_tool_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    starter = subprocess.Popen([sys.executable, "-c", STARTER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert starter.stdout is not None
        tool = int(starter.stdout.readline())
        assert toolproc.group_members(tool) == [tool]
        os.kill(starter.pid, signal.SIGKILL)
    finally:
        starter.wait(timeout=10)
    assert wait_gone(tool), "the tool outlived the process that started it"


def test_leftovers_of_a_dead_starter_are_stopped_and_only_those(
    tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    state = tmp_path / "state"
    orphan_dir, busy_dir = state / "web" / "blue", state / "web" / "green"
    for d in (orphan_dir, busy_dir):
        d.mkdir(parents=True)
    orphan = sleeper(orphan_dir, sleepers)
    (orphan_dir / toolproc.OWNER_FILE).write_text(json.dumps({"pid": orphan, "owner": dead_pid()}))
    busy = sleeper(busy_dir, sleepers)  # its starter (this test) is alive
    (busy_dir / toolproc.OWNER_FILE).write_text(json.dumps({"pid": busy, "owner": os.getpid()}))
    elsewhere = sleeper(tmp_path, sleepers)  # not under the state directory: never ours to stop
    elsewhere_dir = state / "web" / "other"
    elsewhere_dir.mkdir()
    (elsewhere_dir / toolproc.OWNER_FILE).write_text(json.dumps({"pid": elsewhere, "owner": dead_pid()}))

    said: list[str] = []
    stopped = toolproc.clean_leftovers(state, said.append, grace_s=5)

    assert stopped == [orphan]
    assert wait_gone(orphan)
    assert toolproc.group_members(busy) == [busy] and toolproc.group_members(elsewhere) == [elsewhere]
    assert not (orphan_dir / toolproc.OWNER_FILE).exists()
    assert (busy_dir / toolproc.OWNER_FILE).exists()
    assert len(said) == 1 and str(orphan) in said[0]


@pytest.mark.parametrize("caller_sigint", ["default", "ignored"])
def test_a_hung_terraform_times_out_with_its_argv_and_output(tmp_path: Path, caller_sigint: str) -> None:
    """Also when bluegreen itself has SIGINT ignored, as a shell's `cmd &` starts it: the tool must still stop."""
    previous = signal.signal(
        signal.SIGINT, signal.SIG_IGN if caller_sigint == "ignored" else signal.default_int_handler
    )
    try:
        _hung_terraform_times_out(tmp_path)
    finally:
        signal.signal(signal.SIGINT, previous)


def _hung_terraform_times_out(tmp_path: Path) -> None:
    hung = tmp_path / "bin" / "terraform"
    hung.parent.mkdir()
    hung.write_text("#!/bin/sh\necho 'Initializing the backend...'\nexec sleep 60\n")
    hung.chmod(0o755)
    (tmp_path / "infra" / "m").mkdir(parents=True)
    (tmp_path / "infra" / "m" / "main.tf").write_text("")
    settings = TerraformSettings(
        state_dir=tmp_path / "state", region="us-east-1", modules_root=tmp_path / "infra", binary=str(hung), timeout_s=1
    )
    began = time.monotonic()
    with pytest.raises(TerraformError) as caught:
        TerraformRunner(settings).validate(Stack("m", ("m",), title="stack m"), {})
    assert time.monotonic() - began < 30
    err = caught.value
    assert err.argv[:2] == [str(hung), "init"]
    assert "timed out after 1s" in err.output_tail and "Initializing the backend..." in err.output_tail
    assert "BLUEGREEN_TERRAFORM_TIMEOUT" in err.hint
    assert not list((tmp_path / "state").rglob(toolproc.OWNER_FILE))
