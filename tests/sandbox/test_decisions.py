"""The data plane's pure parts: weights as ranges, health as AWS names it, log lines as requests, periods as datums."""

from __future__ import annotations

from pathlib import Path

import pytest

from bluegreen.sandbox.dataplane import haproxy, health, metrics
from bluegreen.sandbox.dataplane.front import asked_targets, query_fields, select


@pytest.mark.parametrize(
    ("weights", "ranges"),
    [
        ({"a": 100, "b": 0}, [("0:999", "a")]),
        ({"a": 90, "b": 10}, [("0:899", "a"), ("900:999", "b")]),
        ({"a": 1, "b": 1, "c": 1}, [("0:332", "a"), ("333:666", "b"), ("667:999", "c")]),
        ({"a": 0, "b": 0}, []),
        ({"a": 999, "b": 1}, [("0:998", "a"), ("999:999", "b")]),
    ],
)
def test_weights_become_ranges_of_the_per_request_draw(weights: dict[str, int], ranges: list[tuple[str, str]]) -> None:
    assert haproxy.weight_ranges(weights) == ranges


def seen(
    status: str, check: str = "L7OK", code: str = "200", *, ever_up: bool = False, for_s: float = 0.0
) -> health.Seen:
    return health.Seen(status, check, code, ever_up, for_s, unhealthy_after_s=4.0)


@pytest.mark.parametrize(
    ("observed", "draining", "expected"),
    [
        (None, False, ("initial", "Elb.RegistrationInProgress")),
        (seen("DOWN", "INI", ""), False, ("initial", "Elb.RegistrationInProgress")),
        (seen("DOWN 1/3"), False, ("initial", "Elb.InitialHealthChecking")),
        (seen("DOWN", "L7STS", "503", for_s=1.0), False, ("initial", "Elb.InitialHealthChecking")),
        (seen("DOWN", "L7STS", "503", for_s=5.0), False, ("unhealthy", "Target.ResponseCodeMismatch")),
        (seen("DOWN", "L7TOUT", "", for_s=5.0), False, ("unhealthy", "Target.Timeout")),
        (seen("DOWN", "L4CON", "", for_s=5.0), False, ("unhealthy", "Target.FailedHealthChecks")),
        # While a check runs, HAProxy prefixes the last status with "* ": it is still that status.
        (seen("DOWN", "* L7STS", "503", for_s=5.0), False, ("unhealthy", "Target.ResponseCodeMismatch")),
        (seen("DOWN", "* L7TOUT", "", for_s=5.0), False, ("unhealthy", "Target.Timeout")),
        (seen("DOWN", "* INI", ""), False, ("initial", "Elb.RegistrationInProgress")),
        (seen("DOWN", "* L7OK", "200", ever_up=True), False, ("unhealthy", "Target.FailedHealthChecks")),
        (seen("UP"), False, ("healthy", "")),
        (seen("UP 1/2", "L7STS", "500", ever_up=True), False, ("healthy", "")),
        (seen("DOWN", "L7STS", "500", ever_up=True), False, ("unhealthy", "Target.ResponseCodeMismatch")),
        (seen("DOWN 1/3", ever_up=True), False, ("unhealthy", "Target.FailedHealthChecks")),
        (seen("DRAIN"), True, ("draining", "Target.DeregistrationInProgress")),
    ],
)
def test_what_the_checks_see_is_named_as_aws_names_it(
    observed: health.Seen | None, draining: bool, expected: tuple[str, str]
) -> None:
    state, reason, _ = health.classify(observed, draining=draining)
    assert (state, reason) == expected


def test_a_log_line_is_one_request_and_anything_else_is_ignored() -> None:
    line = b"<134>Nov 28 20:00:00 haproxy[12]: BGREQ\t1764360000.125\tl_abc\ttg_web-blue_1\ti-1\t200\t12\n"
    assert metrics.parse_line(line) == metrics.Request(1764360000.125, "l_abc", "tg_web-blue_1", "i-1", 200, 12)
    assert metrics.parse_line(b"<133>Proxy l_abc started.") is None
    assert metrics.parse_line(b"BGREQ\tnot-a-time\tl\tb\ts\t200\t1") is None


def test_a_period_is_published_once_after_it_closes_and_the_lag_passes() -> None:
    periods = metrics.Periods(period_s=60, lag_s=60.0)
    tg: metrics.Dims = (("TargetGroup", "targetgroup/web-blue/1"), ("LoadBalancer", "app/web/2"))
    for ms in (10, 10, 30):
        periods.count(120.5, [tg], 200, ms)
    periods.count(130.0, [tg], 503, -1)
    assert periods.take_due(239.9) == []
    [(start, counts)] = periods.take_due(240.0)
    assert periods.take_due(1000.0) == []
    by_name = {d["MetricName"]: d for d in metrics.datums(start, counts)}
    assert start == 120 and by_name["RequestCount"]["Value"] == 4.0
    assert by_name["HTTPCode_Target_2XX_Count"]["Value"] == 3.0
    assert by_name["HTTPCode_ELB_5XX_Count"]["Value"] == 1.0
    assert (by_name["TargetResponseTime"]["Values"], by_name["TargetResponseTime"]["Counts"]) == (
        [0.01, 0.03],
        [2.0, 1.0],
    )


def test_describe_target_health_answers_only_the_targets_asked_for() -> None:
    fields = query_fields(
        b"Action=DescribeTargetHealth&TargetGroupArn=arn&Targets.member.1.Id=i-1&Targets.member.2.Id=i-9"
        b"&Targets.member.2.Port=80"
    )
    asked = asked_targets(fields)
    assert asked == [("i-1", None), ("i-9", 80)]
    known = [
        health.description("i-1", 80, "80", ("healthy", "", "")),
        health.description("i-2", 80, "80", ("healthy", "", "")),
    ]
    got = [
        (d["Target"]["Id"], d["TargetHealth"]["State"], d["TargetHealth"].get("Reason")) for d in select(known, asked)
    ]
    assert got == [("i-1", "healthy", None), ("i-9", "unused", "Target.NotRegistered")]


def test_a_socket_deep_in_the_state_directory_gets_a_short_private_path(tmp_path: Path) -> None:
    near = tmp_path / "rt.sock"
    assert haproxy.socket_path(near) == str(near) or len(str(near)) > haproxy.MAX_SOCKET_PATH
    deep = tmp_path.joinpath(*["a-rather-long-directory-name"] * 5, "rt.sock")
    short = haproxy.socket_path(deep)
    assert len(short) <= haproxy.MAX_SOCKET_PATH and short.endswith("-rt.sock")
    assert short == haproxy.socket_path(deep) != haproxy.socket_path(deep.with_name("log.sock"))
    assert Path(short).parent.stat().st_mode & 0o777 == 0o700
