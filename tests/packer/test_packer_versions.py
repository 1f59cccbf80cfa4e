"""Which Packer runs the bake: the built-in amazon-ebs of Packer 1.6 or the plugin of current Packer.

Pure choices on recorded `packer version` output (tests/packer/recorded/),
and the one fact they rest on, checked with the Packer installed here (1.6.6):
it rejects a `required_plugins` block, so that block lives in its own file.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bluegreen.adapters.packer import PLUGINS_FILE, init_argv, parse_packer_version

RECORDED = Path(__file__).parent / "recorded"
REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "packer" / "app.pkr.hcl"


@pytest.mark.parametrize(
    ("recorded", "version"), [("version-1.6.6.txt", (1, 6, 6)), ("version-1.11.2.txt", (1, 11, 2))]
)
def test_the_version_is_read_from_packer_version(recorded: str, version: tuple[int, int, int]) -> None:
    assert parse_packer_version((RECORDED / recorded).read_text()) == version


def test_an_unreadable_version_is_none() -> None:
    assert parse_packer_version("packer: command not understood") is None


def test_packer_1_6_builds_without_init() -> None:
    assert init_argv(TEMPLATE, parse_packer_version((RECORDED / "version-1.6.6.txt").read_text())) is None


def test_current_packer_inits_the_plugins_file_beside_the_template() -> None:
    version = parse_packer_version((RECORDED / "version-1.11.2.txt").read_text())
    assert init_argv(TEMPLATE, version, packer="/opt/packer") == [
        "/opt/packer",
        "init",
        str(REPO / "packer" / PLUGINS_FILE),
    ]


@pytest.mark.parametrize(
    ("version", "inits"), [((1, 6, 99), False), ((1, 7, 0), True), ((1, 10, 0), True), (None, True)]
)
def test_init_from_1_7_on_and_when_the_version_is_unknown(version: tuple[int, int, int] | None, inits: bool) -> None:
    assert (init_argv(TEMPLATE, version) is not None) is inits


def test_no_plugins_file_no_init(tmp_path: Path) -> None:
    (tmp_path / "own.pkr.hcl").write_text("")
    assert init_argv(tmp_path / "own.pkr.hcl", (1, 11, 2)) is None


def test_the_plugins_file_declares_the_amazon_plugin() -> None:
    text = (REPO / "packer" / PLUGINS_FILE).read_text()
    assert 'source  = "github.com/hashicorp/amazon"' in text
    assert "required_plugins" in text and "required_plugins" not in TEMPLATE.read_text()


def test_packer_1_6_rejects_required_plugins_so_the_template_must_not_have_it(tmp_path: Path) -> None:
    installed = subprocess.run(["packer", "version"], capture_output=True, text=True, timeout=60)
    version = parse_packer_version(installed.stdout)
    if version is None or version >= (1, 7, 0):
        pytest.skip(f"this checks Packer 1.6; installed: {installed.stdout.strip()}")
    template = tmp_path / "both.pkr.hcl"
    template.write_text((REPO / "packer" / PLUGINS_FILE).read_text() + TEMPLATE.read_text())
    checked = subprocess.run(
        ["packer", "validate", "-syntax-only", str(template)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "CHECKPOINT_DISABLE": "1"},
    )
    assert checked.returncode != 0
    assert 'Blocks of type "required_plugins" are not expected here' in checked.stdout + checked.stderr


def test_the_example_app_is_python_3_9_the_default_base_images_python() -> None:
    # Amazon Linux 2023's python3 is 3.9: the baked virtualenv is made from it.
    import ast

    source = (REPO / "examples" / "app" / "app.py").read_text()
    ast.parse(source, feature_version=(3, 9))


def test_the_default_base_is_amazon_linux_2023_from_amazon() -> None:
    inspected = subprocess.run(
        ["packer", "inspect", str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "CHECKPOINT_DISABLE": "1"},
    )
    assert inspected.returncode == 0, inspected.stdout + inspected.stderr
    defaults = dict(line.split(": ", 1) for line in inspected.stdout.splitlines() if line.startswith("var."))
    assert defaults["var.source_ami_name"] == '"al2023-ami-2023.*-x86_64"'
    assert '\\"amazon\\"' in defaults["var.source_ami_owners"]  # a list, printed escaped
    assert defaults["var.ssh_username"] == '"ec2-user"'
    assert defaults["var.ssh_source_cidrs"] == '"[]"'  # nobody, until the config names the builder
