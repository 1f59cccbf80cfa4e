"""`sandbox up/status/down` for real: its own moto server process, the network and a classic-ELB environment.

A classic ELB builds in seconds (an ALB takes a minute), so the sandbox's
environment here is one; test_modules.py covers the ALB.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bluegreen import config as config_module
from bluegreen import factory
from bluegreen.adapters.aws.provisioner import AwsProvisioner
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.config import Config
from bluegreen.errors import UsageError
from bluegreen.model import Colour, Release
from bluegreen.sandbox import record
from bluegreen.sandbox import server as motoserver
from bluegreen.sandbox.lifecycle import SandboxInfo
from tests.terraform.world import REGION, aws, use_test_credentials

pytestmark = pytest.mark.slow

CONFIG = """
state:
  path: {state}
aws:
  region: {region}
  endpoint_url: sandbox
environments:
  shop:
    platform: aws
    load_balancer: {{type: elb}}
    health_check: {{path: /healthz, interval: 10s, timeout: 3s}}
  site:
    platform: local
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Config]:
    """The config a newcomer writes; `sandbox down` afterwards whatever happened, so no server is left."""
    base = tmp_path_factory.mktemp("sandbox")
    path = base / "bluegreen.yaml"
    path.write_text(CONFIG.format(state=base / "state", region=REGION))
    loaded = config_module.load(path, env={})
    with pytest.MonkeyPatch.context() as mp:
        use_test_credentials(mp)
        try:
            yield loaded
        finally:
            factory.sandbox_down(loaded)


@pytest.fixture(scope="module")
def first_up(config: Config) -> SandboxInfo:
    return factory.sandbox_up(config)


def client(config: Config, service: str) -> Any:
    return aws(AwsTarget(region=REGION, endpoint_url=record.endpoint_at(config.state.path)), service)


def test_up_starts_a_loopback_server_and_builds_the_aws_environments(config: Config, first_up: SandboxInfo) -> None:
    assert first_up.api_endpoint == f"http://127.0.0.1:{first_up.port}"
    assert first_up.endpoint.startswith("http://127.0.0.1:") and first_up.endpoint != first_up.api_endpoint
    assert motoserver.alive(first_up.pid)
    assert record.endpoint_at(config.state.path) == first_up.endpoint
    assert record.record_path(config.state.path).exists()
    assert set(first_up.environments) == {"shop"}  # the local platform's environment is not AWS's
    balancers = client(config, "elb").describe_load_balancers()["LoadBalancerDescriptions"]
    assert [(b["LoadBalancerName"], b["DNSName"]) for b in balancers] == [("shop", first_up.environments["shop"])]
    assert balancers[0]["HealthCheck"]["Target"] == "HTTP:80/healthz"
    assert (balancers[0]["HealthCheck"]["Interval"], balancers[0]["HealthCheck"]["Timeout"]) == (10, 3)
    subnets = client(config, "ec2").describe_subnets(SubnetIds=list(first_up.subnet_ids))["Subnets"]
    assert {s["VpcId"] for s in subnets} == {first_up.vpc_id}
    assert len({s["AvailabilityZone"] for s in subnets}) == 2


def test_status_reports_the_running_sandbox(config: Config, first_up: SandboxInfo) -> None:
    assert factory.sandbox_status(config) == first_up
    assert first_up.as_dict()["running"] is True


def test_a_second_up_reuses_the_server_and_changes_nothing(config: Config, first_up: SandboxInfo) -> None:
    progress: list[str] = []
    # How long a second `up` takes is measured in bench/, not asserted here (a busy machine is slow).
    again = factory.sandbox_up(config, progress.append)
    assert again == first_up
    assert any("already running" in line for line in progress)
    summaries = [line for line in progress if "Apply complete!" in line]
    assert len(summaries) == 2
    assert all("Resources: 0 added, 0 changed, 0 destroyed." in line for line in summaries)


def test_a_classic_elb_slot_starts_detached_and_a_later_apply_keeps_bluegreens_attachment(
    config: Config, first_up: SandboxInfo
) -> None:
    env = config.environment("shop")
    outputs = factory.environment_outputs(config, env)
    assert outputs is not None and outputs.load_balancer_type == "elb" and outputs.load_balancer_name == "shop"
    provisioner = AwsProvisioner(factory.terraform_runner(config), env, outputs, factory.aws_target(config))
    release = Release("v1", "ami-0000000000000e1b1")
    assert provisioner.provision(Colour.BLUE, release).details["asg_name"] == "shop-blue"
    autoscaling = client(config, "autoscaling")

    def attached() -> list[str]:
        group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["shop-blue"])["AutoScalingGroups"][0]
        return list(group["LoadBalancerNames"])

    assert attached() == []
    autoscaling.attach_load_balancers(AutoScalingGroupName="shop-blue", LoadBalancerNames=["shop"])  # traffic moves
    provisioner.provision(Colour.BLUE, release)
    assert attached() == ["shop"]


def test_destroying_the_environment_takes_its_slots_first(config: Config, first_up: SandboxInfo) -> None:
    env = config.environment("shop")
    factory.destroy_environment(config, env)
    assert client(config, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"] == []
    assert client(config, "elb").describe_load_balancers()["LoadBalancerDescriptions"] == []
    assert factory.environment_outputs(config, env) is None


def test_a_data_plane_that_died_is_reported_and_the_next_up_starts_it_again(
    config: Config, first_up: SandboxInfo
) -> None:
    dataplane_pid = first_up.dataplane["pid"]
    assert first_up.dataplane["state"] == "running" and motoserver.alive(dataplane_pid)
    os.kill(dataplane_pid, signal.SIGKILL)
    wait_until_gone(dataplane_pid)
    info = factory.sandbox_status(config)
    assert info is not None and info.dataplane["state"] == "stopped"
    problem = info.problems()[0]
    assert "data plane is not running" in problem and "dataplane.log" in problem and "sandbox up" in problem
    with pytest.raises(UsageError) as caught:
        record.endpoint_at(config.state.path)  # no client is pointed at a sandbox that cannot answer truly
    assert "data plane" in caught.value.what
    again = factory.sandbox_up(config)
    assert again.pid == first_up.pid and again.dataplane["state"] == "running"
    assert again.dataplane["pid"] != dataplane_pid and not again.problems()


def wait_until_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
        time.sleep(0.05)


def test_up_after_the_server_died_starts_afresh(config: Config, first_up: SandboxInfo) -> None:
    motoserver.stop(first_up.pid)
    assert factory.sandbox_status(config) is None
    with pytest.raises(UsageError) as caught:
        record.endpoint_at(config.state.path)
    assert "bluegreen sandbox up" in caught.value.hint
    progress: list[str] = []
    fresh = factory.sandbox_up(config, progress.append)
    assert fresh.pid != first_up.pid and motoserver.alive(fresh.pid)
    assert any("is not running: starting afresh" in line for line in progress)
    assert set(fresh.environments) == {"shop"}
    assert client(config, "elb").describe_load_balancers()["LoadBalancerDescriptions"][0]["LoadBalancerName"] == "shop"


def test_down_leaves_no_server_and_no_state(config: Config) -> None:
    info = factory.sandbox_status(config)
    assert info is not None
    dataplane_pid = info.dataplane["pid"]
    progress: list[str] = []
    factory.sandbox_down(config, progress.append)
    assert not motoserver.alive(info.pid)
    assert not Path(f"/proc/{info.pid}").exists()
    wait_until_gone(dataplane_pid)
    assert not Path(f"/proc/{dataplane_pid}").exists(), "the data plane outlived `sandbox down`"
    assert not record.record_path(config.state.path).exists()
    assert not (record.sandbox_dir(config.state.path) / "terraform").exists()
    assert factory.sandbox_status(config) is None
    assert any(f"stopped (pid {info.pid})" in line for line in progress)
    with pytest.raises(UsageError):
        record.endpoint_at(config.state.path)
    factory.sandbox_down(config)  # nothing running: still fine
