"""The live view on a real terminal: the command runs in tmux (a pseudo-terminal), the test reads the screen.

A panel that redraws in place leaves one copy of itself on the screen and in
the scrollback; a scroll of lines would leave many. Each test has its own
tmux server (its own socket), killed at the end with everything it runs.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.helpers import BLUEGREEN, LOOK_EVERY_S, look, run, start, wait_for, write_config

pytestmark = pytest.mark.timeout(180)

CANARY = {
    "strategy": "canary",
    "steps": [{"weight": 10, "wait": "1500ms"}, {"weight": 50, "wait": "1500ms"}],
    "check_every": "200ms",
}
TITLE = "web · v2"


class Screen:
    def __init__(self, socket: Path) -> None:
        tmux = shutil.which("tmux")
        assert tmux, "tmux is not installed: run scripts/install-system-packages"
        self.base = [tmux, "-S", str(socket), "-f", "/dev/null"]

    def tmux(self, *args: str) -> str:
        return subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=10, check=True).stdout

    def start(self, cfg: Path, *args: str) -> None:
        bluegreen = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "bluegreen", "--config", str(cfg), *args])
        # The shell stays after the command so its exit code can be read; the server's kill ends it.
        command = f"BLUEGREEN_ACTOR=tester {bluegreen}; echo EXIT=$?; sleep 600"
        self.tmux("new-session", "-d", "-x", "120", "-y", "45", "-s", "t", command)

    def text(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t")

    def everything(self) -> str:
        """The screen and all that scrolled off it."""
        return self.tmux("capture-pane", "-p", "-t", "t", "-S", "-", "-E", "-")

    def until_exit(self, timeout: float = 90) -> list[str]:
        """The screens seen, every 0.1 s, until the command printed its exit code."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.text()
            if not seen or screen != seen[-1]:
                seen.append(screen)
            if "EXIT=" in screen:
                return seen
            time.sleep(0.1)
        raise AssertionError("no exit within the time:\n" + (seen[-1] if seen else ""))


@pytest.fixture
def screen(tmp_path: Path) -> Iterator[Screen]:
    s = Screen(tmp_path / "tmux.sock")
    yield s
    subprocess.run([*s.base, "kill-server"], capture_output=True, timeout=10)


def deployed_v1(tmp_path: Path, **settings: object) -> Path:
    cfg = write_config(tmp_path, traffic=CANARY, **settings)
    res = run(cfg, "deploy", "web", "--version", "v1")
    assert res.returncode == 0, res.stdout + res.stderr
    return cfg


def exit_code(screen: str) -> int:
    return int(screen.split("EXIT=")[1].split()[0])


def test_a_deploy_on_a_terminal_is_one_panel_redrawn_in_place(tmp_path: Path, screen: Screen) -> None:
    cfg = deployed_v1(tmp_path)
    screen.start(cfg, "deploy", "web", "--version", "v2")
    screens = screen.until_exit()
    assert exit_code(screens[-1]) == 0
    holding = [s for s in screens if "▶  6. shift 10% to the new colour, hold 1.5s" in s]
    assert holding, "never saw the first shift as the current step:\n" + "\n=====\n".join(screens[-3:])
    during = holding[-1]
    assert "left of 1.5s" in during
    assert re.findall(r"│ (\S) +\d+\. ", during) == ["✓"] * 5 + ["▶"] + ["·"] * 4
    assert "·  7. shift 50% to the new colour" in during
    assert "blue  90% " in during and " 10% green" in during and "█" in during
    assert "serves 10%" in during and "healthy, 1/1 in service, targets: 1 healthy" in during

    final = screen.everything()
    # Redrawn, not scrolled: one panel title in all the terminal ever showed, and every step done in it.
    assert final.count(TITLE) == 1, final
    assert re.findall(r"│ (\S) +\d+\. ", final) == ["✓"] * 10 and "succeeded: v2 serves all traffic on green" in final
    assert "deployment " in final and ": succeeded (phase done)" in final
    assert len({s for s in screens if TITLE in s}) > 5  # it changed many times while running


def test_status_watch_follows_another_process_until_the_end(tmp_path: Path, screen: Screen) -> None:
    # The deploy waits at its gate, so the watch surely starts while another process runs it (a deploy of
    # a few seconds could end before the watch began, on a loaded machine); the promote lets it go on.
    cfg = deployed_v1(tmp_path, promotion="manual")
    deploy = start(cfg, "deploy", "web", "--version", "v2")
    try:
        wait_for(lambda: (look(cfg)["deployment"] or {}).get("status") == "paused", what="the gate", every=LOOK_EVERY_S)
        screen.start(cfg, "status", "web", "--watch", "--interval", "0.3")
        wait_for(lambda: "waiting for `bluegreen promote`" in screen.text(), what="the panel at the gate")
        at_gate = screen.text()
        assert run(cfg, "promote", "web", "--no-wait").returncode == 0
        screens = screen.until_exit()
        assert deploy.wait(timeout=60) == 0
    finally:
        deploy.kill()
        deploy.communicate()
    assert exit_code(screens[-1]) == 0
    assert "(read from the load balancer now)" in at_gate and "▶" in at_gate, at_gate
    final = screen.everything()
    assert final.count(TITLE) == 1 and "succeeded: v2 serves all traffic on green" in final


def test_status_watch_at_the_gate_ends_with_ctrl_c_and_exit_0(tmp_path: Path, screen: Screen) -> None:
    cfg = deployed_v1(tmp_path, promotion="manual")
    res = run(cfg, "deploy", "web", "--version", "v2", "--no-wait")
    assert res.returncode == 0, res.stderr
    screen.start(cfg, "status", "web", "--watch", "--interval", "0.2")
    wait_for(lambda: "waiting for `bluegreen promote`" in screen.text(), what="the panel at the gate")
    time.sleep(0.5)
    assert "EXIT=" not in screen.text()  # a paused deployment is still watched
    screen.tmux("send-keys", "-t", "t", "C-c")
    assert exit_code(screen.until_exit(timeout=20)[-1]) == 0
    assert run(cfg, "abort", "web").returncode == 0


def test_status_watch_without_a_terminal_prints_lines_and_ends_with_the_deployment(tmp_path: Path) -> None:
    cfg = deployed_v1(tmp_path, promotion="manual")
    deploy = start(cfg, "deploy", "web", "--version", "v2")
    out = tmp_path / "watch.out"
    try:
        wait_for(lambda: (look(cfg)["deployment"] or {}).get("status") == "paused", what="the gate", every=LOOK_EVERY_S)
        with out.open("w") as sink:
            watch = subprocess.Popen(
                [*BLUEGREEN, "--config", str(cfg), "status", "web", "--watch", "--interval", "0.2"],
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for(lambda: "wait for `bluegreen promote`" in out.read_text(), what="the watch at the gate")
            assert run(cfg, "promote", "web", "--no-wait").returncode == 0
            assert watch.wait(timeout=90) == 0, out.read_text()
        finally:
            watch.kill()
            watch.wait()
        assert deploy.wait(timeout=60) == 0
    finally:
        deploy.kill()
        deploy.communicate()
    text = out.read_text()
    lines = text.splitlines()
    assert lines[0] == "environment: web (simulated)"
    assert any("web  promoted by tester" in line for line in lines), lines
    assert any(line.endswith("web  v2 serves all traffic on green") for line in lines)
    assert "█" not in text and "╭" not in text
