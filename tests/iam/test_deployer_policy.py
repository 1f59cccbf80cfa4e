"""The deployer policy (infra/modules/deployer-iam) is enough, and every action in it is needed.

A moto server with IAM enforced (its reset-auth switch, the server-side form
of INITIAL_NO_AUTH_ACTION_COUNT): the network and an IAM user holding only
the policy's actions are made first, then every request must be signed by
that user and allowed by its policy. A full deploy and abort through the CLI
(Packer bake, Terraform environment and slots, boto3 weights and health)
succeeds; with an action removed it fails, and bluegreen's message names it.

moto matches only `Resource: "*"` for most services (it does not build a
resource ARN per request), so the policy goes in with scope_resources = false:
this proves the actions, not the resource scoping (README of the module).
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bluegreen import factory
from bluegreen.adapters import terraform as tf
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.adapters.aws.stacks import Network
from bluegreen.config import Environment
from bluegreen.sandbox.network import apply_network
from tests.cli.helpers import BLUEGREEN
from tests.terraform.world import REGION, aws, make_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:The 'warn' method is deprecated:DeprecationWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
ACTIONS = json.loads((ROOT / "infra" / "modules" / "deployer-iam" / "actions.json").read_text())

CONFIG = """\
state: {{path: {state}}}
aws:
  region: {region}
  endpoint_url: {endpoint}
  vpc_id: {vpc}
  subnet_ids: [{subnets}]
environments:
  {name}:
    platform: aws
    load_balancer: {{type: alb, test_cidrs: [127.0.0.1/32], deletion_protection: false}}
    health_check: {{path: /health, interval: 5s, timeout: 2s, healthy_threshold: 2, deadline: 2m, poll: 500ms}}
    capacity: {{min: 1, desired: 1, max: 2}}
    bake:
      template: {root}/packer/app.pkr.hcl
      artifact: {root}/examples/app
      variables: {{communicator: none, source_ami_name: "amzn2-ami-hvm-*-x86_64-gp2"}}
    traffic: {{strategy: canary, steps: [{{weight: 50, wait: 1s}}], check_every: 1s}}
    promotion: manual
"""


def policy(without: str = "") -> str:
    actions = sorted(a for k, g in ACTIONS.items() if k != "_comment" for a in g["actions"] if a != without)
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})


def enforce(endpoint: str, after: str) -> None:
    """moto's switch: IAM is checked from the `after`-th request on ("inf": never)."""
    req = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=after.encode(), method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


def deployer(target: AwsTarget, name: str, document: str) -> dict[str, str]:
    iam = aws(target, "iam")
    iam.create_user(UserName=name)
    arn = iam.create_policy(PolicyName=name, PolicyDocument=document)["Policy"]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


@pytest.fixture(scope="module")
def network(moto_target: AwsTarget, tmp_path_factory: pytest.TempPathFactory) -> Network:
    state = tmp_path_factory.mktemp("network") / "state"
    config = make_config(state, [Environment(name="net", platform="aws")], endpoint_url=moto_target.endpoint_url)
    return apply_network(tf.TerraformRunner(factory.terraform_settings(config)))


@pytest.fixture
def enforced(moto_target: AwsTarget) -> Iterator[None]:
    try:
        yield
    finally:
        enforce(moto_target.endpoint_url, "inf")


def bluegreen(cfg: Path, creds: dict[str, str], *args: str, timeout: float = 420) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **creds, "BLUEGREEN_ACTOR": "tester"}
    env.pop("AWS_SESSION_TOKEN", None)
    return subprocess.run(
        [*BLUEGREEN, "--config", str(cfg), *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def write_config(tmp: Path, target: AwsTarget, network: Network, name: str) -> Path:
    cfg = tmp / "bluegreen.yaml"
    cfg.write_text(
        CONFIG.format(
            state=tmp / "state",
            region=REGION,
            endpoint=target.endpoint_url,
            vpc=network.vpc_id,
            subnets=", ".join(network.subnet_ids),
            name=name,
            root=ROOT,
        )
    )
    return cfg


def test_the_policy_is_enough_for_a_deploy_and_an_abort(
    moto_target: AwsTarget, network: Network, tmp_path: Path, enforced: None
) -> None:
    creds = deployer(moto_target, "deployer", policy())
    cfg = write_config(tmp_path, moto_target, network, "iam-ok")
    enforce(moto_target.endpoint_url, "0")
    # v1 all the way; v2 to the promotion gate (half the traffic on it), then aborted.
    for args in (
        ("env", "up", "iam-ok"),
        ("deploy", "iam-ok", "--version", "v1"),
        ("deploy", "iam-ok", "--version", "v2", "--no-wait"),
    ):
        res = bluegreen(cfg, creds, *args)
        assert res.returncode == 0, (args, res.stdout[-2000:], res.stderr[-3000:])
    res = bluegreen(cfg, creds, "abort", "iam-ok", "--reason", "policy test")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    res = bluegreen(cfg, creds, "status", "iam-ok", "--live", "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    status = json.loads(res.stdout)
    assert status["last_deployment"]["status"] == "rolled_back", status
    assert status["weights"] == {"blue": 100, "green": 0} and status["live_colour"] == "blue", status


def test_without_an_action_it_needs_the_deploy_fails_naming_it(
    moto_target: AwsTarget, network: Network, tmp_path: Path, enforced: None
) -> None:
    missing = "elasticloadbalancing:CreateTargetGroup"
    creds = deployer(moto_target, "short", policy(without=missing))
    cfg = write_config(tmp_path, moto_target, network, "iam-short")
    enforce(moto_target.endpoint_url, "0")
    res = bluegreen(cfg, creds, "env", "up", "iam-short")
    assert res.returncode != 0
    assert missing in res.stderr, res.stderr[-3000:]
    assert "error:" in res.stderr and "next:" in res.stderr
