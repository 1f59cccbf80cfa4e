"""Which bluegreen.yaml keys the Packer baker reads, and how paths resolve."""

from __future__ import annotations

from pathlib import Path

from bluegreen import config, resources
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.factory import make_baker


def load(tmp_path: Path, bake: str) -> config.Config:
    path = tmp_path / "deploy" / "bluegreen.yaml"
    path.parent.mkdir()
    path.write_text(
        f"environments:\n  web:\n    platform: aws\n    load_balancer: {{test_cidrs: [10.0.0.0/16]}}\n    local: {{app: apps/site}}\n{bake}"
    )
    return config.load(path, env={})


def test_the_bake_settings_become_the_bakers(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        "    bake:\n"
        "      template: images/app.pkr.hcl\n"
        "      artifact: dist/app.tar.gz\n"
        "      source_ami: ami-0123\n"
        "      source_paths: [requirements.txt]\n"
        "      instance_type: t3.small\n"
        "      variables: {communicator: none, ssh_username: admin}\n",
    )
    target = AwsTarget("eu-west-1", "http://127.0.0.1:5000")

    baker = make_baker(cfg, cfg.environment("web"), target)

    base = tmp_path / "deploy"
    assert baker.target == target
    assert baker.template == base / "images" / "app.pkr.hcl"
    assert baker.artifact == base / "dist" / "app.tar.gz"
    assert baker.source_ami == "ami-0123"
    assert baker.instance_type == "t3.small"
    assert baker.source_paths == {"source_paths/requirements.txt": base / "requirements.txt"}
    assert baker.variables == {"communicator": "none", "ssh_username": "admin"}


def test_without_an_artifact_or_template_the_image_gets_the_local_app_and_the_builtin_template(
    tmp_path: Path,
) -> None:
    cfg = load(tmp_path, "")

    baker = make_baker(cfg, cfg.environment("web"), AwsTarget("us-east-1"))

    assert baker.artifact == tmp_path / "deploy" / "apps" / "site"
    assert baker.template == resources.packer_template(cfg.state.path)
    assert (baker.template.parent / "provision" / "install-release.sh").is_file()
    assert baker.variables == {}
