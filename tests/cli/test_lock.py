"""The environment's lock between `deploy`'s two writes: it takes the lock, then it writes the record.

A reader (`status`, another `deploy`) that finds a lock naming a deployment with no record frees it:
such a deploy died before recording anything. But a deploy between its two writes looks the same for a
moment, and freeing its lock let a second deploy run beside it (seen in the sandbox's kill-and-resume
test: the first deploy then died with "lost the lock"). A live lease whose process runs is not freed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from bluegreen.adapters.sqlite_store import SqliteStore
from tests.cli.helpers import run, status, write_config


def test_a_lock_taken_but_not_yet_recorded_stays_until_its_process_is_gone(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    assert run(cfg, "deploy", "web", "--version", "v1").returncode == 0
    store = SqliteStore(cfg.parent / ".bluegreen" / "bluegreen.db")
    host = socket.gethostname()

    # A deploy between its two writes: this test's own process holds a live lease for a record not yet written.
    store.acquire("web", "web-being-recorded", f"tester@{host}:{os.getpid()}", time.time(), 60)
    assert status(cfg)["deployment"] is None
    second = run(cfg, "deploy", "web", "--version", "v2")
    assert second.returncode == 3, second.stdout + second.stderr
    assert "held by deployment web-being-recorded" in second.stderr
    held = store.lock_info("web")
    assert held is not None and held.deployment_id == "web-being-recorded"

    # The same lock, its process gone before it wrote the record: the next reader frees the environment.
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    store.break_lock("web")
    store.acquire("web", "web-never-recorded", f"tester@{host}:{gone.pid}", time.time(), 60)
    assert status(cfg)["deployment"] is None
    assert store.lock_info("web") is None
    third = run(cfg, "deploy", "web", "--version", "v2")
    assert third.returncode == 0, third.stdout + third.stderr
