"""`bluegreen init`: what it writes passes `bluegreen validate` at once, and it never overwrites unasked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bluegreen import config, factory, init, resources
from bluegreen.adapters.aws.session import AwsTarget
from tests.cli.test_circleci import assert_parses, bluegreen_invocations

REPO = Path(__file__).resolve().parents[2]


def bluegreen(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BLUEGREEN_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "bluegreen", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def written(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("args", "files"),
    [
        (
            ["--platform", "aws"],
            {
                "bluegreen.yaml",
                "packer/app.pkr.hcl",
                "packer/plugins.pkr.hcl",
                "packer/provision/install-release.sh",
                "packer/provision/bluegreen-app.service",
                "packer/provision/record-image.sh",
                "packer/provision/resolve-secrets.py",
                ".circleci/config.yml",
            },
        ),
        (["--platform", "aws", "--sandbox", "--packer", "builtin"], {"bluegreen.yaml"}),
        (["--platform", "local", "--environment", "shop", "--health-path", "/ping"], {"bluegreen.yaml"}),
    ],
    ids=["aws", "sandbox-builtin-packer", "local"],
)
def test_what_init_writes_passes_validate(tmp_path: Path, args: list[str], files: set[str]) -> None:
    done = bluegreen(tmp_path, "init", *args)

    assert done.returncode == 0, done.stdout + done.stderr
    assert written(tmp_path) == files
    valid = bluegreen(tmp_path, "validate")
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "valid (1 environment" in valid.stdout


def test_the_config_names_the_environment_health_path_and_app(tmp_path: Path) -> None:
    done = bluegreen(tmp_path, "init", "--platform", "local", "--environment", "shop", "--health-path", "/ping")
    assert done.returncode == 0, done.stderr

    cfg = config.load(tmp_path / "bluegreen.yaml", env={})
    env = cfg.environment("shop")
    assert env.platform == "local"
    assert env.health_check.path == "/ping"
    assert env.local.app == "app"
    assert "next: put the app in app/" in done.stdout


def test_init_refuses_to_overwrite_without_force_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "bluegreen.yaml").write_text("# ours\n")

    refused = bluegreen(tmp_path, "init", "--platform", "aws")

    assert refused.returncode == 2
    assert "bluegreen.yaml already exists" in refused.stderr and "--force" in refused.stderr
    assert written(tmp_path) == {"bluegreen.yaml"}
    assert (tmp_path / "bluegreen.yaml").read_text() == "# ours\n"

    forced = bluegreen(tmp_path, "init", "--platform", "aws", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "platform: aws" in (tmp_path / "bluegreen.yaml").read_text()


def test_bad_options_exit_2_and_write_nothing(tmp_path: Path) -> None:
    for args, named in (
        (["--environment", "Web_Prod"], "--environment"),
        (["--health-path", "health"], "--health-path"),
        (["--platform", "local", "--sandbox"], "--sandbox"),
    ):
        done = bluegreen(tmp_path, "init", *args)
        assert done.returncode == 2, args
        assert named in done.stderr, done.stderr
    assert written(tmp_path) == set()


def test_the_packer_template_written_is_bluegreens_own_with_its_provisioning(tmp_path: Path) -> None:
    init.write_files(tmp_path, init.render(init.InitOptions()))

    shipped = resources.packer_template(tmp_path / "state")
    ours = (tmp_path / "packer" / "app.pkr.hcl").read_text()
    assert ours.startswith("# Written by `bluegreen init`")
    assert ours.endswith(shipped.read_text())
    assert os.access(tmp_path / "packer" / "provision" / "install-release.sh", os.X_OK)


def test_without_a_written_template_the_baker_uses_the_one_bluegreen_ships(tmp_path: Path) -> None:
    init.write_files(tmp_path, init.render(init.InitOptions(sandbox=True, packer="builtin")))
    cfg = config.load(tmp_path / "bluegreen.yaml", env={})

    baker = factory.make_baker(cfg, cfg.environment("web-prod"), AwsTarget("us-east-1"))

    assert baker.template == resources.packer_template(cfg.state.path)
    assert baker.artifact == tmp_path / "app"
    assert baker.variables == {"communicator": "none", "wsgi_app": "app:application"}


def test_the_circleci_config_installs_the_release_and_runs_real_commands() -> None:
    files = {str(f.path): f for f in init.render(init.InitOptions(environment="shop"), version="1.2.3")}
    ci: dict[str, Any] = yaml.safe_load(files[".circleci/config.yml"].content)

    steps = "\n".join(s["run"]["command"] for s in ci["commands"]["setup"]["steps"] if isinstance(s, dict))
    assert 'pip install "bluegreen==1.2.3"' in steps
    assert ci["executors"]["python"]["environment"]["BLUEGREEN_CONFIG"] == "bluegreen.yaml"
    assert ci["parameters"]["environment"]["default"] == "shop"
    invocations = bluegreen_invocations(ci)
    assert {args[0] for args in invocations} >= {"validate", "plan", "deploy", "promote", "abort", "status"}
    for args in invocations:
        assert_parses(args)


def test_a_config_in_a_subdirectory_is_named_from_the_repository_root(tmp_path: Path) -> None:
    done = bluegreen(tmp_path, "--config", "deploy/bluegreen.yaml", "init", "--platform", "aws")
    assert done.returncode == 0, done.stderr

    assert {"deploy/bluegreen.yaml", "deploy/packer/app.pkr.hcl", ".circleci/config.yml"} <= written(tmp_path)
    ci = yaml.safe_load((tmp_path / ".circleci" / "config.yml").read_text())
    assert ci["executors"]["python"]["environment"]["BLUEGREEN_CONFIG"] == "deploy/bluegreen.yaml"
    valid = bluegreen(tmp_path, "--config", "deploy/bluegreen.yaml", "validate")
    assert valid.returncode == 0, valid.stderr
