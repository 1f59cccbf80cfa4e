"""The data plane's process, as `sandbox up` will run it: a real subprocess against a real moto server.

Run with --instances-only: the instance half on its own (the load balancers
have their own tests).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bluegreen.sandbox.dataplane import imagestore
from bluegreen.sandbox.dataplane.daemon import read_status, status_path
from tests.sandbox.instances_world import EXAMPLE_APP, SECRET_REF, World, cloud_config, get, group_members
from tests.sandbox.world import plain, running_haproxies, wait_for

_hashes = itertools.count(1000)


@contextmanager
def running_daemon(world: World, state_dir: Path, *options: str) -> Iterator[subprocess.Popen[bytes]]:
    argv = [sys.executable, "-m", "bluegreen.sandbox.dataplane", "--state-dir", str(state_dir)]
    argv += ["--moto", world.target.endpoint_url, "--exit-after-api-lost-s", "5", *options]
    with open(state_dir / "daemon.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture
def daemon(world: World, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with running_daemon(world, tmp_path, "--instances-only") as proc:
        yield proc


def baked_group(world: World, state_dir: Path, version: str, desired: int) -> list[str]:
    source_hash = f"{next(_hashes):064x}"
    imagestore.record(imagestore.store_dir(state_dir), source_hash, EXAMPLE_APP, version)
    return world.instances_of(world.group(world.image(source_hash), cloud_config({}, SECRET_REF), desired=desired))


def status_until(state_dir: Path, done: Callable[[dict[str, Any]], bool], timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = read_status(state_dir)
        if status is not None and done(status):
            return status
        time.sleep(0.1)
    raise AssertionError(f"status not reached within {timeout_s:g}s: {read_status(state_dir)}")


def all_listening(ids: list[str]) -> Callable[[dict[str, Any]], bool]:
    return lambda s: all(s["instances"].get(i, {}).get("state") == "listening" for i in ids)


def test_the_daemon_runs_the_instances_reports_them_and_stops_them_on_sigterm(
    world: World, daemon: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    ids = baked_group(world, tmp_path, "v21", desired=2)

    status = status_until(tmp_path, all_listening(ids))

    assert status["running"] and status["pid"] == daemon.pid and status["error"] == ""
    assert status["load_balancers"] == {} and status["front_endpoint"] == ""
    for i in ids:
        assert get(("127.0.0.1", status["instances"][i]["port"]), "/version") == (200, "version v21\n")
    pids = [status["instances"][i]["pid"] for i in ids]

    daemon.send_signal(signal.SIGTERM)

    assert daemon.wait(timeout=20) == 0
    assert [p for p in pids if group_members(p)] == []
    final = read_status(tmp_path)
    assert final is not None and final["running"] is False and final["instances"] == {}
    assert not list(status_path(tmp_path).parent.glob(".*.tmp"))


def test_no_app_process_outlives_a_killed_daemon(world: World, daemon: subprocess.Popen[bytes], tmp_path: Path) -> None:
    ids = baked_group(world, tmp_path, "v22", desired=1)
    status = status_until(tmp_path, all_listening(ids))
    pids = [status["instances"][i]["pid"] for i in ids]

    os.killpg(daemon.pid, signal.SIGKILL)
    daemon.wait(timeout=10)

    deadline = time.monotonic() + 10  # the master dies at once (PDEATHSIG), its workers when they notice
    while time.monotonic() < deadline and any(group_members(p) for p in pids):
        time.sleep(0.1)
    assert [p for p in pids if group_members(p)] == []


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "bluegreen.sandbox.dataplane", "--state-dir", str(tmp_path)]

    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)

    assert done.returncode == 2
    assert "--moto" in done.stderr
    assert read_status(tmp_path) is None


def test_the_api_is_read_again_after_a_change_through_the_front_not_while_idle(world: World, tmp_path: Path) -> None:
    """An idle sandbox's data plane leaves the API alone; a change made through its endpoint is followed at once.

    The timed read is 30 s apart here, so a read within the test's few seconds can only be the front's doing."""
    ec2, elbv2 = world.client("ec2"), world.client("elbv2")
    name = f"idle-{next(_hashes)}"
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
    lb = elbv2.create_load_balancer(Name=name, Subnets=subnets)["LoadBalancers"][0]
    vpc = lb["VpcId"]
    groups = [
        elbv2.create_target_group(Name=f"{name}-{c}", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0][
            "TargetGroupArn"
        ]
        for c in ("blue", "green")
    ]

    def forward(blue: int) -> list[dict[str, Any]]:
        weights = [{"TargetGroupArn": groups[0], "Weight": blue}, {"TargetGroupArn": groups[1], "Weight": 100 - blue}]
        return [{"Type": "forward", "ForwardConfig": {"TargetGroups": weights}}]

    listener = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=8080, DefaultActions=forward(100)
    )["Listeners"][0]["ListenerArn"]

    def weights(status: dict[str, Any]) -> list[int]:
        [balancer] = status["load_balancers"].values()
        return [balancer["listeners"][0]["weights"].get(g) for g in groups]

    with running_daemon(world, tmp_path, "--api-read-every-s", "30"):
        first = status_until(tmp_path, lambda s: s["api_reads"] >= 1 and bool(s["load_balancers"]))
        assert first["front_endpoint"] and weights(first) == [100, 0]
        front = plain("elbv2", first["front_endpoint"])
        front.describe_target_groups()  # reads change nothing: no reason to read the API
        time.sleep(3)
        assert read_status(tmp_path)["api_reads"] == first["api_reads"]  # type: ignore[index]

        front.modify_listener(ListenerArn=listener, DefaultActions=forward(0))

        after = status_until(tmp_path, lambda s: weights(s) == [0, 100], timeout_s=10)
        assert after["api_reads"] == first["api_reads"] + 1
    # The daemon was killed with -9 on the way out: its proxy must not outlive it.
    wait_for(lambda: running_haproxies(tmp_path) == [], 10, "no haproxy of the killed daemon left")
