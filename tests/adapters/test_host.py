"""The host adapter on this machine: who runs bluegreen, and whether a lease owner's process still exists."""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import sys

from bluegreen.adapters.host import current_actor, owner_gone


def test_the_os_user_when_the_shell_names_nobody() -> None:
    actor = current_actor({})  # no USER, LOGNAME or BLUEGREEN_ACTOR: cron, containers, some CI images
    assert actor.user == pwd.getpwuid(os.getuid()).pw_name != "unknown"
    assert actor.host == socket.gethostname() and actor.pid == os.getpid()
    assert actor.describe() == f"{actor.user}@{actor.host}"


def test_circleci_names_who_triggered_the_job_and_the_pipeline() -> None:
    circle = {"USER": "circleci", "CIRCLE_USERNAME": "ada", "CIRCLE_JOB": "deploy-prod", "CIRCLE_PIPELINE_NUMBER": "42"}
    actor = current_actor(circle)
    assert (actor.user, actor.ci_job, actor.ci_pipeline) == ("ada", "deploy-prod", "42")
    assert actor.describe() == f"ada@{socket.gethostname()} (CI job deploy-prod, pipeline 42)"
    older = current_actor({"CIRCLE_USERNAME": "ada", "CIRCLE_JOB": "deploy", "CIRCLE_BUILD_NUM": "7"})
    assert older.ci_pipeline == "7"  # CircleCI 2.0 jobs without pipelines have a build number
    assert current_actor({**circle, "BLUEGREEN_ACTOR": "release-bot"}).user == "release-bot"


def test_owner_gone_only_for_a_process_of_this_host_that_has_exited() -> None:
    host = socket.gethostname()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not owner_gone(f"ada@{host}:{proc.pid}")
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert owner_gone(f"ada@{host}:{proc.pid}")
    assert not owner_gone(f"ada@another-{host}:{proc.pid}")  # another machine's PIDs are not ours to judge
    assert not owner_gone("")
