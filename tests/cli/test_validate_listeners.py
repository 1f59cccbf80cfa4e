"""Who may reach an AWS environment's listeners: the test listener fails closed, plain HTTP is a warning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import run

BASE = """\
{aws}
environments:
  web:
    platform: aws
    load_balancer: {lb}
"""
SMOKE_FROM = "test_cidrs: [10.0.0.0/16]"
CERT = "certificate_arn: arn:aws:acm:eu-west-1:123456789012:certificate/0b1e2d3c-aaaa-bbbb-cccc-000000000001"


def write(tmp: Path, *, lb: str, aws: str = "aws: {region: eu-west-1}") -> Path:
    p = tmp / "bluegreen.yaml"
    p.write_text(BASE.format(aws=aws, lb="{" + lb + "}"))
    return p


def test_an_alb_without_test_cidrs_is_refused(tmp_path: Path) -> None:
    res = run(write(tmp_path, lb=CERT), "validate")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "environments.web.load_balancer.test_cidrs: is required for platform aws" in res.stderr
    assert "where: " in res.stderr and "next:" in res.stderr


@pytest.mark.parametrize("everyone", ["0.0.0.0/0", "::/0"])
def test_the_test_listener_is_never_open_to_everyone(tmp_path: Path, everyone: str) -> None:
    res = run(write(tmp_path, lb=f"{CERT}, test_cidrs: [10.0.0.0/16, '{everyone}']"), "validate")
    assert res.returncode == 2
    assert f"{everyone} opens the test listener (the unreleased colour) to everyone" in res.stderr


def test_a_test_cidr_must_be_an_address_range(tmp_path: Path) -> None:
    res = run(write(tmp_path, lb=f"{CERT}, test_cidrs: [office]"), "validate")
    assert res.returncode == 2
    assert "environments.web.load_balancer.test_cidrs[0]: 'office' is not an address range" in res.stderr


def test_a_classic_elb_has_no_test_listener_to_restrict(tmp_path: Path) -> None:
    res = run(write(tmp_path, lb=f"type: elb, {CERT}"), "validate")
    assert res.returncode == 0, res.stderr
    assert "warning" not in res.stderr


def test_plain_http_on_aws_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    res = run(write(tmp_path, lb=SMOKE_FROM), "validate", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["valid"] is True
    assert len(out["warnings"]) == 1 and "no certificate_arn" in out["warnings"][0]
    res = run(write(tmp_path, lb=SMOKE_FROM), "validate")
    assert res.returncode == 0 and "warning: environments.web.load_balancer: no certificate_arn" in res.stderr


def test_with_a_certificate_there_is_nothing_to_warn_about(tmp_path: Path) -> None:
    res = run(write(tmp_path, lb=f"{CERT}, {SMOKE_FROM}"), "validate", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["warnings"] == []


def test_the_sandbox_needs_no_certificate(tmp_path: Path) -> None:
    cfg = write(
        tmp_path, lb="test_cidrs: [127.0.0.1/32], deletion_protection: false", aws="aws: {endpoint_url: sandbox}"
    )
    res = run(cfg, "validate", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["warnings"] == []


def test_the_examples_say_who_may_reach_their_test_listener(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLUEGREEN_TF_STATE_BUCKET", "example-terraform-state")
    root = Path(__file__).resolve().parents[2]
    for example in ("sandbox", "aws"):
        res = run(root / "examples" / example / "bluegreen.yaml", "validate", "--json")
        assert res.returncode == 0, (example, res.stderr)
