"""The sandbox ALB forwards real traffic by the API's weights, through real HAProxy, to real apps on loopback."""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bluegreen.errors import AdapterError, MissingToolError
from bluegreen.sandbox.dataplane.addresses import balancer_address
from bluegreen.sandbox.dataplane.alb import LoadBalancers
from bluegreen.sandbox.dataplane.settings import DataPlaneSettings
from tests.sandbox.world import World, running_haproxies, wait_for


def keep_alive(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)


def get(conn: http.client.HTTPConnection, path: str = "/") -> tuple[int, str]:
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read().decode()


def healthy(world: World, colour: str, n: int) -> Callable[[], bool]:
    return lambda: [s for s, _ in world.health(colour).values()].count("healthy") == n


def test_requests_follow_the_listener_weights(make_world: Callable[..., World]) -> None:
    world = make_world()
    blue, green = world.app("blue"), world.app("green")
    world.instance(blue, "blue")
    world.instance(green, "green")
    wait_for(lambda: healthy(world, "blue", 1)() and healthy(world, "green", 1)(), 15, "both healthy", world.why)
    world.weights(80, 20)
    time.sleep(DataPlaneSettings().propagation_s)
    conn = keep_alive(world.url())
    answers = Counter(get(conn)[1] for _ in range(600))
    assert set(answers) == {"blue", "green"}
    assert 0.72 < answers["blue"] / 600 < 0.88, answers  # 80 % +- 8 points: a binomial of 600 stays well inside


def test_a_weight_change_never_fails_a_kept_alive_request(make_world: Callable[..., World]) -> None:
    world = make_world()
    blue, green = world.app("blue"), world.app("green")
    world.instance(blue, "blue")
    world.instance(green, "green")
    wait_for(lambda: healthy(world, "blue", 1)() and healthy(world, "green", 1)(), 15, "both healthy", world.why)
    url = world.url()
    errors: list[str] = []
    answered: Counter[str] = Counter()
    stop = threading.Event()

    def client() -> None:
        conn = keep_alive(url)  # one connection for the whole run, never a resend
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                status, body = get(conn)
            except (OSError, http.client.HTTPException) as e:
                errors.append(repr(e))
                return
            if status != 200:
                errors.append(str(status))
            answered[body] += 1

    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    for blue_weight in (90, 50, 0, 50, 100, 0):
        world.weights(blue_weight, 100 - blue_weight)
        time.sleep(0.8)
    green_before = answered["green"]
    blue_before = answered["blue"]
    time.sleep(1.5)
    stop.set()
    for t in threads:
        t.join(timeout=15)
    assert errors == []
    assert answered["blue"] > 0 and answered["green"] > green_before
    assert answered["blue"] - blue_before <= 3  # at 0 % the old colour got nothing more (a request in flight at most)


def test_a_weight_change_can_take_effect_late_as_on_aws(make_world: Callable[..., World]) -> None:
    world = make_world(change_delay_s=3.0, propagation_s=4.0)
    world.instance(world.app("blue"), "blue")
    world.instance(world.app("green"), "green")
    wait_for(lambda: healthy(world, "blue", 1)() and healthy(world, "green", 1)(), 15, "both healthy", world.why)
    conn = keep_alive(world.url())
    world.weights(0, 100)
    changed = time.monotonic()
    late = Counter(get(conn)[1] for _ in range(5000) if time.monotonic() - changed < 2.0)
    assert set(late) == {"blue"}  # the API says green; the proxies have not followed yet
    took = wait_for(lambda: get(conn)[1] == "green", 5, "green serving") + 2.0
    assert took <= 4.0 + 0.5
    assert all(get(conn)[1] == "green" for _ in range(50))


def test_a_new_target_is_healthy_only_after_the_threshold_and_gets_no_request_before(
    make_world: Callable[..., World],
) -> None:
    world = make_world(interval=2, timeout=1, healthy=3)
    blue = world.app("blue")
    target = world.instance(blue, "blue")
    seen: set[str] = set()

    def check() -> bool:
        state = world.health("blue")[target][0]
        seen.add(state)
        return state == "healthy"

    start = time.monotonic()
    conn = keep_alive(world.url())
    early = Counter(get(conn)[0] for _ in range(2000) if time.monotonic() - start < 2.5)
    took = time.monotonic() - start + wait_for(check, 20, "target healthy")
    assert took >= 3.0, f"healthy after {took:.1f}s with 3 checks 2 s apart"
    assert "initial" in seen
    assert set(early) == {503} and blue.requests() == 0  # before its checks passed, not one request reached it
    assert get(conn) == (200, "blue")


def test_unhealthy_targets_carry_aws_reason_codes(make_world: Callable[..., World]) -> None:
    world = make_world(interval=2, timeout=1, healthy=2, unhealthy=2)
    failing, slow = world.app("failing"), world.app("slow")
    failing.health_status = 503
    slow.health_delay_s = 3.0  # well past the 1 s timeout: on a loaded machine a late timer must still see none
    bad_code = world.instance(failing, "blue")
    timing_out = world.instance(slow, "blue")
    no_process = world.instance(None, "blue")
    states = lambda: [s for s, _ in world.health("blue").values()]  # noqa: E731
    wait_for(lambda: states() == ["unhealthy"] * 3, 20, "all three unhealthy", world.why)
    reasons = {t: r for t, (_, r) in world.health("blue").items()}
    assert reasons == {
        bad_code: "Target.ResponseCodeMismatch",
        timing_out: "Target.Timeout",
        no_process: "Target.FailedHealthChecks",
    }, world.why()
    description = next(
        d["TargetHealth"]["Description"]
        for d in world.dataplane.target_health(world.groups["blue"])
        if d["Target"]["Id"] == bad_code
    )
    assert description == "Health checks failed with these codes: [503]"
    failing.health_status = 200
    wait_for(lambda: world.health("blue")[bad_code][0] == "healthy", 15, "recovered target healthy")


def test_a_group_behind_no_listener_is_unused(make_world: Callable[..., World]) -> None:
    world = make_world()
    world.elbv2.modify_listener(
        ListenerArn=world.listener_arn,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": world.groups["blue"]}],
    )
    target = world.instance(world.app("green"), "green")
    wait_for(lambda: world.health("green").get(target) == ("unused", "Target.NotInUse"), 5, "green unused")


def test_a_deregistered_target_drains_its_in_flight_requests_and_gets_no_new_one(
    make_world: Callable[..., World],
) -> None:
    world = make_world(delay=20)
    old, new = world.app("old"), world.app("new")
    old.slow_s = 3.0
    old_id = world.instance(old, "blue")
    world.instance(new, "blue")
    wait_for(healthy(world, "blue", 2), 15, "both targets healthy")
    url = world.url()
    slow: list[tuple[int, str]] = []
    in_flight = []
    for _ in range(4):  # round robin: some of them land on the old target
        t = threading.Thread(target=lambda: slow.append(get(keep_alive(url), "/slow")))
        t.start()
        in_flight.append(t)
    wait_for(lambda: old.requests("/slow") >= 1, 5, "a slow request on the old target")
    world.elbv2.deregister_targets(TargetGroupArn=world.groups["blue"], Targets=[{"Id": old_id, "Port": 80}])
    wait_for(lambda: world.health("blue").get(old_id, ("", ""))[0] == "draining", 3, "old target draining")
    before = old.requests()
    conn = keep_alive(url)
    assert all(get(conn) == (200, "new") for _ in range(20))
    assert old.requests() == before
    for t in in_flight:
        t.join(timeout=15)
    assert sorted(s for s, _ in slow) == [200] * 4
    wait_for(lambda: old_id not in world.health("blue"), 5, "drained target gone once idle, before its delay")


def test_close_leaves_no_proxy_running(make_world: Callable[..., World], tmp_path: Path) -> None:
    world = make_world()
    pid = next(iter(world.dataplane.status().values()))["proxy"]["pid"]
    assert running_haproxies(tmp_path) == [pid]
    world.dataplane.close()
    assert running_haproxies(tmp_path) == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_taken_port_is_a_clear_error_and_nothing_is_left_running(
    make_world: Callable[..., World], tmp_path: Path
) -> None:
    world = make_world()
    world.dataplane.close()
    state = tmp_path / "taken"
    state.mkdir()
    host = balancer_address(world.lb_arn)
    with socket.socket() as holder:
        holder.bind((host, 8080))  # the listener's own address and port, taken before its proxy starts
        holder.listen()
        port = 8080
        dataplane = LoadBalancers(
            state_dir=state,
            elbv2=world.elbv2,
            cloudwatch=world.cloudwatch,
            address_of=lambda _: None,
            settings=DataPlaneSettings(),
        )
        try:
            with pytest.raises(AdapterError) as caught:
                dataplane.reconcile()
            message = str(caught.value)
            assert f"{host}:{port}" in message and "taken" in message
            assert "next:" in message and "where:" in message
            assert running_haproxies(state) == []
            status = next(iter(dataplane.status().values()))["proxy"]
            assert status["state"] == "failed" and "taken" in status["error"]
        finally:
            dataplane.close()
    assert running_haproxies(state) == []


def test_a_proxy_left_by_a_killed_data_plane_is_stopped_by_the_next(make_world: Callable[..., World]) -> None:
    world = make_world()
    world.stop_reconciling.set()  # the first data plane stops reconciling, as if killed: its proxy is left running
    time.sleep(0.5)
    state_dir = world.dataplane.state_dir
    left = next(iter(world.dataplane.status().values()))["proxy"]["pid"]
    assert running_haproxies(state_dir) == [left]
    second = LoadBalancers(
        state_dir=state_dir,
        elbv2=world.elbv2,
        cloudwatch=world.cloudwatch,
        address_of=world.addresses.get,
        settings=DataPlaneSettings(),
    )
    try:
        second.reconcile()
        pid = next(iter(second.status().values()))["proxy"]["pid"]
        assert pid != left and running_haproxies(state_dir) == [pid]
    finally:
        second.close()
    assert running_haproxies(state_dir) == []


def test_a_proxy_that_cannot_start_is_a_clear_error(make_world: Callable[..., World], tmp_path: Path) -> None:
    world = make_world()
    dataplane = LoadBalancers(
        state_dir=tmp_path / "nobinary",
        elbv2=world.elbv2,
        cloudwatch=world.cloudwatch,
        address_of=world.addresses.get,
        settings=DataPlaneSettings(haproxy_bin="no-such-haproxy"),
    )
    try:
        with pytest.raises(MissingToolError) as caught:
            dataplane.reconcile()
        assert "no-such-haproxy is not installed" in str(caught.value)
        assert "scripts/install-system-packages" in str(caught.value)
        assert next(iter(dataplane.status().values()))["proxy"]["state"] == "failed"
    finally:
        dataplane.close()
    assert running_haproxies(tmp_path / "nobinary") == []
