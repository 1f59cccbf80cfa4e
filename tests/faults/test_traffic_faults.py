"""A throttling, failing or silent AWS endpoint during traffic shifts.

The engine drives the real AWS adapters (botocore with adaptive retries)
through the fault proxy; every case ends by reading the production listener
from moto itself and checking it against what the record says: a succeeded
deployment serves 100% on the new colour, a rolled-back one 100% on the old
one, and in every case the weights the record (and `status`) report are the
load balancer's.

Each world first deploys v1 to blue with no fault, then v2 to green, canary
10% -> 50% -> 100%, with the faults armed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

from bluegreen.adapters.aws.session import AwsTarget, client
from bluegreen.model import Colour, Record, Status
from tests.faults.conftest import READ_TIMEOUT_S
from tests.faults.proxy import (
    DROP,
    INTERNAL,
    THROTTLE,
    THROTTLE_EXCEPTION,
    UNAVAILABLE,
    Fault,
    FaultProxy,
    delayed,
    forward_weights,
)
from tests.faults.world import FaultWorld, assert_record_matches_load_balancer

NewWorld = Callable[..., FaultWorld]
Fields = Mapping[str, str]


def live_on_blue(new_world: NewWorld) -> FaultWorld:
    world = new_world()
    rec = world.deploy("v1")
    assert rec.status is Status.SUCCEEDED, rec.failure
    assert world.lb_weights() == {"blue": 100, "green": 0}
    return world


def production(world: FaultWorld) -> Callable[[Fields], bool]:
    """ModifyListener / DescribeListeners on the production listener (not the test listener)."""
    arn = world.outputs.listener_arn
    return lambda f: f.get("ListenerArn") == arn or f.get("ListenerArns.member.1") == arn


def shifting_to(world: FaultWorld, colour: str) -> Callable[[Fields], bool]:
    """A production listener change that sends `colour` some traffic."""
    on_production, group = production(world), world.outputs.target_group(Colour(colour))
    return lambda f: on_production(f) and forward_weights(f).get(group, 0) > 0


def attempts_per_call(world: FaultWorld) -> int:
    """How often botocore sends one call at most, as bluegreen's session configures it."""
    retries = client(AwsTarget(world.direct.region), "elbv2").meta.config.retries
    return int(retries["total_max_attempts"])


def failed_commands(rec: Record) -> list[str]:
    return [e.message for e in rec.events if e.kind == "command_failed"]


def abort_once_the_api_answers(world: FaultWorld, proxy: FaultProxy) -> Record:
    """What `status` told the operator to run, once the faults are gone; it must finish the rollback."""
    proxy.schedule.clear()
    rec = world.engine.abort(world.name, reason="the API answers again")
    assert rec.status is Status.ROLLED_BACK, (rec.status, rec.note)
    assert world.lb_weights() == {"blue": 100, "green": 0}
    assert_record_matches_load_balancer(world, rec)
    return rec


def test_throttling_bursts_on_every_shift_are_absorbed_by_retries(new_world: NewWorld, proxy: FaultProxy) -> None:
    world = live_on_blue(new_world)
    on_production = production(world)
    # Every change is refused twice (both of AWS's throttling codes) before it goes through;
    # every read-back once.
    proxy.schedule.add("ModifyListener", [THROTTLE, THROTTLE_EXCEPTION, None], cycle=True, when=on_production)
    proxy.schedule.add("DescribeListeners", [THROTTLE, None], cycle=True, when=on_production)
    mark = proxy.schedule.mark()

    rec = world.deploy("v2")

    assert rec.status is Status.SUCCEEDED, rec.failure
    assert failed_commands(rec) == []  # botocore retried; the engine never saw an error
    changes = proxy.schedule.seen("ModifyListener", since=mark)
    assert [s.status for s in changes if on_production(s.fields)] == [400, 400, 200] * 3  # 10%, 50%, 100%
    assert world.lb_weights() == {"blue": 0, "green": 100}
    assert_record_matches_load_balancer(world, rec)


@pytest.mark.parametrize(
    ("fault", "reported"),
    [(UNAVAILABLE, "ServiceUnavailable"), (DROP, "Connection was closed")],
    ids=["refused-with-503", "applied-but-never-acknowledged"],
)
def test_a_shift_that_keeps_failing_rolls_back_to_the_old_colour(
    new_world: NewWorld, proxy: FaultProxy, fault: Fault, reported: str
) -> None:
    world = live_on_blue(new_world)
    # Every attempt at the 10% change fails: refused (never applied), or applied with its answer lost.
    proxy.schedule.add("ModifyListener", then=fault, when=shifting_to(world, "green"))

    rec = world.deploy("v2")

    assert rec.status is Status.ROLLED_BACK, (rec.status, rec.note)
    assert reported in (rec.failure or "")
    failed = proxy.schedule.seen("ModifyListener", fault=True)
    assert len(failed) == attempts_per_call(world)  # one change, failed at every attempt botocore makes
    assert world.lb_weights() == {"blue": 100, "green": 0}
    assert_record_matches_load_balancer(world, rec)


def test_rollback_that_cannot_change_the_listener_says_so_and_abort_finishes_it(
    new_world: NewWorld, proxy: FaultProxy
) -> None:
    world = live_on_blue(new_world)
    proxy.schedule.add("ModifyListener", then=INTERNAL, when=production(world))

    rec = world.deploy("v2")

    assert rec.status is Status.ROLLBACK_INCOMPLETE, (rec.status, rec.note)
    assert world.lb_weights() == {"blue": 100, "green": 0}  # nothing ever reached the load balancer
    assert_record_matches_load_balancer(world, rec)
    status = world.status()
    assert status["deployment"]["status"] == "rollback_incomplete"
    assert f"bluegreen abort {world.name}" in status["next"]

    abort_once_the_api_answers(world, proxy)


def test_answers_lost_after_the_change_was_applied_converge_on_read_back(
    new_world: NewWorld, proxy: FaultProxy
) -> None:
    world = live_on_blue(new_world)
    on_production = production(world)
    # Each change is applied and its answer dropped; botocore sends it again (it is idempotent).
    proxy.schedule.add("ModifyListener", [DROP, None], cycle=True, when=on_production)

    rec = world.deploy("v2")

    assert rec.status is Status.SUCCEEDED, rec.failure
    dropped = [s for s in proxy.schedule.seen("ModifyListener", fault=True) if on_production(s.fields)]
    assert len(dropped) == 3 and all(s.status is None for s in dropped)
    assert_record_matches_load_balancer(world, rec)
    assert world.lb_weights() == {"blue": 0, "green": 100}


def test_answers_later_than_the_read_timeout_converge_on_read_back(new_world: NewWorld, proxy: FaultProxy) -> None:
    world = live_on_blue(new_world)
    on_production = production(world)
    proxy.schedule.add("ModifyListener", [delayed(READ_TIMEOUT_S + 2), None], cycle=True, when=on_production)

    rec = world.deploy("v2")

    assert rec.status is Status.SUCCEEDED, rec.failure
    assert_record_matches_load_balancer(world, rec)
    assert world.lb_weights() == {"blue": 0, "green": 100}


def test_shift_applied_unacknowledged_and_rollback_refused_claims_nothing_false(
    new_world: NewWorld, proxy: FaultProxy
) -> None:
    world = live_on_blue(new_world)
    # The nastiest: 10% reaches green but the client never hears so; then every change back is refused.
    proxy.schedule.add("ModifyListener", then=DROP, when=shifting_to(world, "green"))
    proxy.schedule.add("ModifyListener", then=UNAVAILABLE, when=production(world))

    rec = world.deploy("v2")

    assert rec.status is Status.ROLLBACK_INCOMPLETE, (rec.status, rec.note)
    assert world.lb_weights() == {"blue": 90, "green": 10}  # stuck where the unheard change left it
    assert rec.weights is None  # the record does not pretend blue still has it all
    assert world.status()["weights_source"] == "unknown"
    assert_record_matches_load_balancer(world, rec)

    abort_once_the_api_answers(world, proxy)


def test_read_back_failing_after_a_change_claims_nothing_false(new_world: NewWorld, proxy: FaultProxy) -> None:
    world = live_on_blue(new_world)
    # The 10% step reads back fine; from the 50% step on, no read of the listener answers.
    proxy.schedule.add("DescribeListeners", [None], then=UNAVAILABLE, when=production(world))

    rec = world.deploy("v2")

    # The change back reached the load balancer, but no read confirms it: not rolled back as far as we know.
    assert rec.status is Status.ROLLBACK_INCOMPLETE, (rec.status, rec.note)
    assert world.lb_weights() == {"blue": 100, "green": 0}
    assert rec.weights is None  # not the 10% it read last
    assert_record_matches_load_balancer(world, rec)

    abort_once_the_api_answers(world, proxy)
