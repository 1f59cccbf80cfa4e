"""The machine this command runs on: its clock, who is at it, and whether a process of it still runs."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

from bluegreen.model import Actor


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def current_actor(env: Mapping[str, str] | None = None) -> Actor:
    """Who is running this command: a person, or a CI job (CircleCI's variables, or BLUEGREEN_CI_*)."""
    env = os.environ if env is None else env
    user = env.get("BLUEGREEN_ACTOR") or env.get("USER") or env.get("LOGNAME") or "unknown"
    return Actor(
        user=user,
        host=socket.gethostname(),
        pid=os.getpid(),
        ci_job=env.get("BLUEGREEN_CI_JOB") or env.get("CIRCLE_JOB", ""),
        ci_pipeline=env.get("BLUEGREEN_CI_PIPELINE") or env.get("CIRCLE_PIPELINE_NUMBER", "")
        or env.get("CIRCLE_BUILD_NUM", ""),
    )  # fmt: skip


def owner_gone(owner: str) -> bool:
    """True when the lease owner (`user@host:pid`) ran on this host and its process no longer exists."""
    host, _, pid = owner.rpartition(":")
    if not pid.isdigit() or host.rpartition("@")[2] != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
