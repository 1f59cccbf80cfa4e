"""The health verdict on recorded AWS responses: the states moto never shows."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.model import StringShape
from hypothesis import given
from hypothesis import strategies as st

from bluegreen.adapters.aws.asg import AsgInstance, AsgView
from bluegreen.adapters.aws.health_rules import (
    Verdict,
    alb_verdict,
    classify,
    classify_alb,
    classify_elb,
    draining_targets,
    parse_target_health,
)
from bluegreen.ports import HealthSnapshot, HealthState, TargetHealth
from tests.aws.recorded import (
    ASG_NAME,
    CLASSIC_LB,
    GREEN_TARGET_GROUP,
    INSTANCE_A,
    INSTANCE_B,
    INSTANCE_C,
    recorded,
)

HEALTHY, PENDING, FAILED = HealthState.HEALTHY, HealthState.PENDING, HealthState.FAILED


def alb(asg: str, tg: str) -> HealthSnapshot:
    return classify_alb(recorded(asg), recorded(tg), asg_name=ASG_NAME, target_group_arn=GREEN_TARGET_GROUP)


@pytest.mark.parametrize(
    ("asg", "tg", "state", "reason_has"),
    [
        ("asg_in_service", "tg_healthy", HEALTHY, ""),
        ("asg_launching", "tg_initial", PENDING, "2 more instance(s) InService"),
        (
            "asg_in_service",
            "tg_initial",
            PENDING,
            f"not yet healthy in target group web-prod-green: {INSTANCE_A}, {INSTANCE_B}",
        ),
        ("asg_one_pending", "tg_one_registered", PENDING, "1 more instance(s) InService"),
        # unhealthy while the ASG still says Healthy: inside the grace period a slow start may recover
        ("asg_in_service", "tg_unhealthy", PENDING, "not yet healthy"),
        ("asg_marked_unhealthy", "tg_failed_health_checks", FAILED, f"marked {INSTANCE_B} Unhealthy"),
        ("asg_replacing", "tg_replacing", FAILED, f"marked {INSTANCE_B} Unhealthy and is replacing"),
        ("asg_deleting", "tg_draining", FAILED, "is being deleted"),
        ("asg_not_found", "tg_empty", FAILED, f"{ASG_NAME} does not exist"),
        ("asg_desired_zero", "tg_empty", FAILED, "desired capacity of 0"),
        ("asg_standby", "tg_healthy", PENDING, "1 more instance(s) InService"),
        ("asg_not_attached", "tg_empty", FAILED, "is not attached to target group web-prod-green"),
        ("asg_in_service", "tg_stopped", PENDING, INSTANCE_B),
        ("asg_in_service", "tg_not_in_use", PENDING, "not yet healthy"),
        ("asg_in_service", "tg_draining", PENDING, INSTANCE_B),
        ("asg_in_service", "tg_health_checks_disabled", FAILED, "cannot health-check"),
        ("asg_in_service", "tg_internal_error", PENDING, INSTANCE_B),
        ("asg_in_service", "tg_one_registered", PENDING, INSTANCE_B),
        ("asg_in_service", "tg_empty", PENDING, f"{INSTANCE_A}, {INSTANCE_B}"),
        # a terminated leftover (unused) and a draining stranger get no traffic: they do not block
        ("asg_in_service", "tg_with_leftovers", HEALTHY, ""),
        (
            "asg_in_service",
            "tg_foreign_initial",
            PENDING,
            f"target group web-prod-green also routes to i-0f8b6c3d4e5061728, not in {ASG_NAME} and not yet healthy",
        ),
        ("asg_in_service", "tg_unhealthy_draining", PENDING, INSTANCE_B),
        ("asg_in_service", "tg_ip_unusable", FAILED, "10.0.1.5"),
        ("asg_scaled_out", "tg_scaled_out", PENDING, INSTANCE_C),
    ],
)
def test_alb_classification(asg: str, tg: str, state: HealthState, reason_has: str) -> None:
    snapshot = alb(asg, tg)
    assert snapshot.state is state, snapshot.describe()
    assert reason_has in snapshot.reason


def test_counts_come_from_the_asg() -> None:
    snapshot = alb("asg_one_pending", "tg_one_registered")
    assert (snapshot.in_service, snapshot.desired) == (1, 2)


def test_failure_detail_names_instances_with_their_states_and_reason_codes() -> None:
    snapshot = alb("asg_in_service", "tg_unhealthy")
    assert (
        TargetHealth(
            INSTANCE_A, "unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [503]"
        )
        in snapshot.targets
    )
    text = snapshot.describe()
    assert f"{INSTANCE_A}: unhealthy (Target.ResponseCodeMismatch)" in text
    assert f"{INSTANCE_B}: unhealthy (Target.Timeout)" in text
    assert text.startswith("2/2 in service")


def test_stopped_instance_is_reported_with_its_reason() -> None:
    snapshot = alb("asg_in_service", "tg_stopped")
    assert f"{INSTANCE_B}: unused (Target.InvalidState)" in snapshot.describe()


def test_asg_lifecycle_is_added_where_it_matters() -> None:
    snapshot = alb("asg_replacing", "tg_replacing")
    by_id = {t.id: t for t in snapshot.targets}
    assert by_id[INSTANCE_B].reason == "Target.DeregistrationInProgress; ASG: Terminating/Unhealthy"
    assert by_id[INSTANCE_C].reason == "Elb.RegistrationInProgress; ASG: Pending/Healthy"
    assert by_id[INSTANCE_A].reason == ""


def test_unregistered_instance_is_listed_as_such() -> None:
    snapshot = alb("asg_in_service", "tg_one_registered")
    assert TargetHealth(INSTANCE_B, "not registered", "ASG: InService") in snapshot.targets


def test_leftover_targets_are_still_listed_for_the_operator() -> None:
    snapshot = alb("asg_in_service", "tg_with_leftovers")
    assert {t.id for t in snapshot.targets} >= {"i-0f8b6c3d4e5061728", "i-0a9c7d4e5f6172839"}


def test_draining_targets() -> None:
    assert draining_targets(parse_target_health(recorded("tg_draining"))) == [INSTANCE_B]
    assert draining_targets(parse_target_health(recorded("tg_unhealthy_draining"))) == [INSTANCE_B]
    assert draining_targets(parse_target_health(recorded("tg_healthy"))) == []


def test_parsing_keeps_aws_words() -> None:
    targets = parse_target_health(recorded("tg_initial"))
    assert targets[1] == TargetHealth(
        INSTANCE_B, "initial", "Elb.InitialHealthChecking", "Initial health checks in progress"
    )


# -- classic ELB ---------------------------------------------------------------------------


def elb(asg: str, health: str | None) -> HealthSnapshot:
    return classify_elb(
        recorded(asg),
        recorded(health) if health else None,
        asg_name=ASG_NAME,
        load_balancer_name=CLASSIC_LB,
    )


@pytest.mark.parametrize(
    ("asg", "health", "state", "reason_has"),
    [
        ("asg_classic_attached", "elb_in_service", HEALTHY, ""),
        ("asg_classic_attached", "elb_registering", PENDING, INSTANCE_B),
        ("asg_classic_attached", "elb_failing", PENDING, f"{INSTANCE_A}, {INSTANCE_B}"),
        ("asg_classic_attached", "elb_zone_disabled", FAILED, INSTANCE_B),
        ("asg_classic_attached", "elb_unknown", PENDING, INSTANCE_A),
        ("asg_classic_attached", "elb_stopped", PENDING, INSTANCE_B),
        ("asg_classic_attached", "elb_other_asg_only", PENDING, f"{INSTANCE_A}, {INSTANCE_B}"),
        ("asg_classic_attached", "elb_deregistering", PENDING, f"{INSTANCE_A}, {INSTANCE_B}"),
        # not attached yet: the ELB cannot vouch, the ASG's own view is all there is
        ("asg_classic_detached", None, HEALTHY, "ASG health only"),
        ("asg_classic_detached", "elb_in_service", HEALTHY, "ASG health only"),
        ("asg_classic_unhealthy", None, FAILED, f"marked {INSTANCE_B} Unhealthy"),
        ("asg_not_found", "elb_in_service", FAILED, "does not exist"),
    ],
)
def test_classic_classification(asg: str, health: str | None, state: HealthState, reason_has: str) -> None:
    snapshot = elb(asg, health)
    assert snapshot.state is state, snapshot.describe()
    assert reason_has in snapshot.reason


def test_classic_detail_keeps_the_elb_description() -> None:
    snapshot = elb("asg_classic_attached", "elb_failing")
    by_id = {t.id: t for t in snapshot.targets}
    assert by_id[INSTANCE_A].state == "OutOfService"
    assert by_id[INSTANCE_A].reason == "Instance"
    assert "UnhealthyThreshold" in by_id[INSTANCE_A].description
    assert f"{INSTANCE_A}: OutOfService (Instance)" in snapshot.describe()


# -- every state AWS documents -----------------------------------------------------------------


def _enum(service: str, shape: str) -> list[str]:
    model = botocore.session.get_session().get_service_model(service)
    found = model.shape_for(shape)
    assert isinstance(found, StringShape)
    return list(found.enum)


TARGET_STATES = _enum("elbv2", "TargetHealthStateEnum")
TARGET_REASONS = ["", *_enum("elbv2", "TargetHealthReasonEnum")]
LIFECYCLES = _enum("autoscaling", "LifecycleState")


@pytest.mark.parametrize("state", TARGET_STATES)
@pytest.mark.parametrize("reason", TARGET_REASONS)
def test_only_healthy_targets_are_ready(state: str, reason: str) -> None:
    verdict = alb_verdict(TargetHealth("i-1", state, reason))
    assert (verdict is Verdict.READY) == (state == "healthy")


@given(
    desired=st.integers(min_value=0, max_value=3),
    instances=st.lists(st.tuples(st.sampled_from(LIFECYCLES), st.sampled_from(["Healthy", "Unhealthy"])), max_size=4),
    states=st.lists(st.tuples(st.sampled_from(TARGET_STATES), st.sampled_from(TARGET_REASONS)), max_size=5),
)
def test_healthy_means_enough_in_service_and_every_one_healthy(
    desired: int, instances: list[tuple[str, str]], states: list[tuple[str, str]]
) -> None:
    members = tuple(AsgInstance(f"i-{n}", life, health) for n, (life, health) in enumerate(instances))
    asg = AsgView(ASG_NAME, desired, members, False, frozenset({GREEN_TARGET_GROUP}), frozenset())
    targets = [TargetHealth(f"i-{n}", s, r) for n, (s, r) in enumerate(states)]
    snapshot = classify(asg, ASG_NAME, targets, verdict=alb_verdict, attached=True, lb_label="target group")
    if snapshot.state is HealthState.HEALTHY:
        in_service = [i for i in members if i.lifecycle == "InService" and i.health == "Healthy"]
        healthy_ids = {t.id for t in targets if t.state == "healthy"}
        assert len(in_service) >= desired >= 1
        assert all(i.health == "Healthy" for i in members)
        assert all(i.id in healthy_ids for i in in_service)
        assert not [t for t in targets if t.state in ("initial", "unhealthy")]
