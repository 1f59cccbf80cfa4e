"""The image's secret resolver (packer/provision/resolve-secrets.py), run as the unit runs it, against moto.

The script is executed as a process with AWS_ENDPOINT_URL pointing at the
moto server: the same file the bake installs, the same botocore calls the
instance makes with its role's credentials.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "packer" / "provision" / "resolve-secrets.py"


def resolve(ref_text: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    ref, out = tmp_path / "secrets.ref", tmp_path / "run" / "bluegreen" / "secrets.env"
    ref.write_text(ref_text)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(ref), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"},
    )
    return done, out


def test_parameters_and_secrets_become_an_environment_file_only_root_reads(aws_env: str, tmp_path: Path) -> None:
    ssm = boto3.client("ssm", endpoint_url=aws_env)
    ssm.put_parameter(Name="/bluegreen/demo/app-secret", Value='a "quoted" va$lue \\ #x', Type="SecureString")
    ssm.put_parameter(Name="plain-name", Value="plain", Type="String")
    sm = boto3.client("secretsmanager", endpoint_url=aws_env)
    arn = sm.create_secret(Name="demo/token", SecretString="tok=en")["ARN"]
    done, out = resolve(
        "APP_SECRET=ssm:/bluegreen/demo/app-secret\nPLAIN=ssm:plain-name\n"
        f"APP_TOKEN=secretsmanager:demo/token\nBY_ARN=secretsmanager:{arn}\n",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text() == (
        'APP_SECRET="a \\"quoted\\" va\\$lue \\\\ #x"\nPLAIN="plain"\nAPP_TOKEN="tok=en"\nBY_ARN="tok=en"\n'
    )
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "4 secret(s)" in done.stdout
    assert "tok=en" not in done.stdout + done.stderr


def test_no_references_writes_an_empty_file(aws_env: str, tmp_path: Path) -> None:
    done, out = resolve("", tmp_path)
    assert done.returncode == 0, done.stderr
    assert out.read_text() == ""


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("APP_SECRET=ssm:/no/such/parameter\n", "APP_SECRET (ssm:/no/such/parameter)"),
        ("APP_TOKEN=secretsmanager:no-such-secret\n", "APP_TOKEN (secretsmanager:no-such-secret)"),
        ("APP_SECRET=vault:/x\n", "expected NAME=ssm:<name>"),
    ],
)
def test_an_unresolvable_reference_fails_naming_it_and_writes_nothing(
    aws_env: str, tmp_path: Path, ref: str, says: str
) -> None:
    boto3.client("ssm", endpoint_url=aws_env).put_parameter(Name="/ok", Value="fine", Type="SecureString")
    done, out = resolve("OK=ssm:/ok\n" + ref, tmp_path)
    assert done.returncode == 1
    assert says in done.stderr
    assert "fine" not in done.stderr
    assert not out.exists()


def test_a_multi_line_value_is_refused(aws_env: str, tmp_path: Path) -> None:
    boto3.client("ssm", endpoint_url=aws_env).put_parameter(Name="/pem", Value="line1\nline2", Type="SecureString")
    done, out = resolve("PEM=ssm:/pem\n", tmp_path)
    assert done.returncode == 1 and "PEM (ssm:/pem): has a line break" in done.stderr
    assert not out.exists()


def test_the_resolver_runs_on_the_base_images_python_3_9() -> None:
    import ast

    ast.parse(SCRIPT.read_text(), feature_version=(3, 9))
