"""Sandbox instances run their release: real gunicorn processes for the instances of groups in a real moto server.

Images here are recorded in the image store directly (as the sandbox bake's
provisioner does; test_bake_to_instance.py runs the real Packer bake).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from bluegreen.sandbox.dataplane import imagestore
from bluegreen.sandbox.dataplane.instances import FAILED, LISTENING, NOT_STARTED, Instances
from tests.sandbox.instances_world import (
    EXAMPLE_APP,
    SECRET_REF,
    World,
    alive,
    cloud_config,
    get,
    group_members,
    wait_for,
)

_hashes = itertools.count(1)


@pytest.fixture(autouse=True)
def no_groups_left(world: World) -> Iterator[None]:
    """Each test sees only its own groups: groups are global to the module's moto server."""
    yield
    asg = world.client("autoscaling")
    for group in asg.describe_auto_scaling_groups()["AutoScalingGroups"]:
        world.delete(group["AutoScalingGroupName"])


def baked(world: World, instances: Instances, version: str) -> str:
    """An AMI whose release (the example app, `version`) is in the image store."""
    source_hash = f"{next(_hashes):064x}"
    assert instances.image_store is not None
    imagestore.record(instances.image_store, source_hash, EXAMPLE_APP, version)
    return world.image(source_hash)


def listening(instances: Instances, ids: list[str]) -> bool:
    return all(instances.address_of(i) is not None for i in ids)


def test_each_instance_of_a_group_runs_the_baked_release_until_it_is_terminated(
    world: World, instances: Instances
) -> None:
    group = world.group(baked(world, instances, "v7"), cloud_config({}, SECRET_REF), desired=2)
    ids = world.instances_of(group)

    wait_for(instances.reconcile, lambda: listening(instances, ids))

    addresses = [instances.address_of(i) for i in ids]
    assert len(set(addresses)) == 2
    for address in addresses:
        assert address is not None
        assert get(address, "/version") == (200, "version v7\n")
        assert get(address, "/health")[0] == 200
    status = instances.status()
    assert {status[i]["state"] for i in ids} == {LISTENING}
    assert {status[i]["version"] for i in ids} == {"v7"}
    assert {status[i]["asg"] for i in ids} == {group}
    pids = {i: status[i]["pid"] for i in ids}

    world.scale(group, 1)
    [kept] = world.instances_of(group)
    [gone] = [i for i in ids if i != kept]
    wait_for(instances.reconcile, lambda: not group_members(pids[gone]))
    assert instances.address_of(gone) is None
    assert gone not in instances.status()
    assert get(instances.address_of(kept) or ("", 0), "/version") == (200, "version v7\n")

    world.delete(group)
    wait_for(instances.reconcile, lambda: not group_members(pids[kept]))
    assert instances.status() == {}
    assert not any(alive(pid) for pid in pids.values())


def test_settings_and_secrets_reach_the_app(world: World, instances: Instances) -> None:
    world.client("secretsmanager").create_secret(Name="bluegreen/test/other", SecretString="from-secrets-manager")
    user_data = cloud_config(
        {"APP_FAIL_SMOKE": "1", "APP_LATENCY_MS": "0"},
        {"APP_SECRET": "secretsmanager:bluegreen/test/other"},
    )
    [instance] = world.instances_of(world.group(baked(world, instances, "v8"), user_data))

    wait_for(instances.reconcile, lambda: listening(instances, [instance]))

    address = instances.address_of(instance)
    assert address is not None
    assert get(address, "/version") == (200, "no idea\n")  # APP_FAIL_SMOKE=1 from app.env
    assert get(address, "/health") == (200, "ok v8\n")  # APP_VERSION from release.env


def test_an_image_never_baked_here_never_starts(world: World, instances: Instances) -> None:
    image = world.image(f"{next(_hashes):064x}")  # tagged like a bake, but nothing recorded it here
    [instance] = world.instances_of(world.group(image, cloud_config({}, SECRET_REF)))

    instances.reconcile()
    instances.reconcile()

    status = instances.status()[instance]
    assert status["state"] == NOT_STARTED
    assert f"image {image}" in status["reason"] and "never baked in this sandbox" in status["reason"]
    assert status["pid"] is None and instances.address_of(instance) is None


def test_an_image_without_a_source_hash_never_starts(world: World, instances: Instances) -> None:
    [instance] = world.instances_of(world.group(world.image(None), cloud_config({}, SECRET_REF)))

    instances.reconcile()

    assert "has no SourceHash tag" in instances.status()[instance]["reason"]


def test_a_secret_that_does_not_resolve_keeps_the_instance_down_until_it_exists(
    world: World, instances: Instances
) -> None:
    ref = {"APP_SECRET": "ssm:/bluegreen/test/not-yet"}
    [instance] = world.instances_of(world.group(baked(world, instances, "v9"), cloud_config({}, ref)))

    instances.reconcile()

    status = instances.status()[instance]
    assert status["state"] == NOT_STARTED
    assert "secret APP_SECRET (ssm:/bluegreen/test/not-yet) cannot be resolved: ParameterNotFound" in status["reason"]
    assert status["pid"] is None

    # As systemd's ExecStartPre is retried, the secret is looked up again and found.
    world.client("ssm").put_parameter(Name="/bluegreen/test/not-yet", Value="late", Type="SecureString")
    wait_for(instances.reconcile, lambda: listening(instances, [instance]))
    assert get(instances.address_of(instance) or ("", 0), "/version") == (200, "version v9\n")


def test_an_app_missing_its_secret_fails_and_restarts_but_never_listens(world: World, instances: Instances) -> None:
    [instance] = world.instances_of(world.group(baked(world, instances, "v10"), cloud_config({}, {})))

    wait_for(instances.reconcile, lambda: instances.status()[instance]["restarts"] >= 2, timeout_s=30)

    status = instances.status()[instance]
    assert status["state"] in {FAILED, "starting"}
    assert "APP_SECRET is not set; refusing to start" in status["reason"]
    assert "restarting" in status["reason"]
    assert instances.address_of(instance) is None


@pytest.mark.parametrize(
    ("user_data", "reason"),
    [
        (None, "has no user data: nothing starts bluegreen-app.service"),
        (cloud_config({}, SECRET_REF, start=False), "does not start bluegreen-app.service"),
        ("#!/bin/sh\necho hi\n", "does not start with '#cloud-config'"),
        (cloud_config({"app_greeting": "x"}, {}), "/etc/bluegreen/app.env line 1: expected NAME=VALUE"),
    ],
)
def test_user_data_that_starts_nothing_never_starts(
    world: World, instances: Instances, user_data: str | None, reason: str
) -> None:
    [instance] = world.instances_of(world.group(baked(world, instances, "v11"), user_data))

    instances.reconcile()

    status = instances.status()[instance]
    assert status["state"] == NOT_STARTED
    assert reason in status["reason"]


def test_close_leaves_no_process_behind(world: World, instances: Instances) -> None:
    group = world.group(baked(world, instances, "v12"), cloud_config({}, SECRET_REF), desired=2)
    ids = world.instances_of(group)
    wait_for(instances.reconcile, lambda: listening(instances, ids))
    pids = [instances.status()[i]["pid"] for i in ids]
    assert all(group_members(pid) for pid in pids)  # the master and its worker

    instances.close()

    assert [pid for pid in pids if group_members(pid)] == []
    assert instances.status() == {}
