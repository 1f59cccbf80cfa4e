"""The machine this command runs on: its clock, who is at it, and whether a process of it still runs."""

from __future__ import annotations

import os
import pwd
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
    """Who is running this command: a person, or a CI pipeline (CircleCI's variables, or BLUEGREEN_CI_*).

    The user is the OS account when the shell does not say (USER is unset in
    cron, containers and some CI images); in CircleCI, whoever triggered the
    pipeline (CIRCLE_USERNAME), with the job and the pipeline number.
    """
    env = os.environ if env is None else env
    user = env.get("BLUEGREEN_ACTOR") or env.get("CIRCLE_USERNAME") or env.get("USER") or env.get("LOGNAME")
    return Actor(
        user=user or os_user(),
        host=socket.gethostname(),
        pid=os.getpid(),
        ci_job=env.get("BLUEGREEN_CI_JOB") or env.get("CIRCLE_JOB", ""),
        ci_pipeline=env.get("BLUEGREEN_CI_PIPELINE") or env.get("CIRCLE_PIPELINE_NUMBER", "")
        or env.get("CIRCLE_BUILD_NUM", ""),
    )  # fmt: skip


def os_user() -> str:
    """The account this process runs as, from the password database (the uid when it has no entry)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid {os.getuid()}"


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
