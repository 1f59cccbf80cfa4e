"""From the real Packer bake to a running instance: the sandbox bake records the release, the instance runs it.

The project's own packer/app.pkr.hcl against a real moto server, as the
sandbox runs it (`communicator=none`, and `image_store` set by the
composition root); then a group of that AMI, run by the data plane.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.adapters.packer import PackerBaker
from bluegreen.config import load
from bluegreen.factory import sandbox_bake_variables
from bluegreen.sandbox.dataplane import imagestore
from bluegreen.sandbox.dataplane.instances import Instances
from tests.sandbox.instances_world import EXAMPLE_APP, REPO, SECRET_REF, World, cloud_config, get, make_world, wait_for

pytestmark = pytest.mark.slow

TEMPLATE = REPO / "packer" / "app.pkr.hcl"


@pytest.fixture
def world(aws_env: str) -> World:
    """A freshly reset moto server: the bake tests count images."""
    return make_world(AwsTarget("us-east-1", aws_env))


def test_an_instance_of_a_sandbox_baked_ami_runs_the_baked_release(
    world: World, instances: Instances, tmp_path: Path
) -> None:
    progress: list[str] = []
    assert instances.image_store is not None
    app = shutil.copytree(EXAMPLE_APP, tmp_path / "app")
    baker = PackerBaker(
        world.target,
        TEMPLATE,
        app,
        variables={"communicator": "none"},
        host_variables={"image_store": str(instances.image_store)},
        progress=progress.append,
    )
    unrecorded = PackerBaker(world.target, TEMPLATE, app, variables={"communicator": "none"})
    assert baker.source_hash("v3") == unrecorded.source_hash("v3")  # where it is recorded is not what it is

    result = baker.bake("demo", "v3")

    assert any(f"recorded release v3 (source {result.source_hash})" in line for line in progress)
    entry = imagestore.lookup(instances.image_store, result.source_hash)
    assert entry is not None
    assert entry.version == "v3" and entry.wsgi_app == "app:application"
    assert (entry.app_dir / "app.py").read_bytes() == (EXAMPLE_APP / "app.py").read_bytes()
    assert [p.name for p in instances.image_store.iterdir()] == [result.source_hash]  # no temporary left

    [instance] = world.instances_of(world.group(result.ami, cloud_config({}, SECRET_REF)))
    wait_for(instances.reconcile, lambda: instances.address_of(instance) is not None)
    assert get(instances.address_of(instance) or ("", 0), "/version") == (200, "version v3\n")
    assert instances.status()[instance]["image"] == result.ami


def test_a_bake_on_aws_records_nothing(world: World) -> None:
    progress: list[str] = []
    baker = PackerBaker(
        world.target, TEMPLATE, EXAMPLE_APP, variables={"communicator": "none"}, progress=progress.append
    )

    result = baker.bake("demo", "v1")

    assert result.ami.startswith("ami-")
    assert not [line for line in progress if "shell-local" in line or "recorded release" in line]


def test_only_the_sandbox_composition_gives_the_bake_an_image_store(tmp_path: Path) -> None:
    def config(name: str, endpoint: str) -> Path:
        path = tmp_path / name / "bluegreen.yaml"
        path.parent.mkdir()
        envs = "environments: {demo: {platform: simulated}}\n"
        path.write_text(f"state: {{path: state}}\naws: {{endpoint_url: '{endpoint}'}}\n" + envs)
        return path

    sandbox = sandbox_bake_variables(load(config("sandbox", "sandbox")))
    assert sandbox == {"image_store": str(tmp_path / "sandbox" / "state" / "sandbox" / "images")}
    assert sandbox_bake_variables(load(config("aws", ""))) == {}
    assert sandbox_bake_variables(load(config("other", "http://127.0.0.1:9"))) == {}
