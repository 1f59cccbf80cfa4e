"""Where terraform runs and with what: the settings of every command, and one stack (module + state).

    <state_dir>/terraform/.cli.tfrc           the CLI config bluegreen gives terraform (TF_CLI_CONFIG_FILE)
    <state_dir>/terraform/.plugin-cache/      providers, shared by every working directory
    <stacks_dir>/<stack path>/                one working directory (and local state) per stack

The composition root (bluegreen/factory.py) fills these in: where the stacks'
working directories go, and the variables that point terraform at AWS
(endpoint, credentials). Nothing here knows where those come from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bluegreen.adapters.terraform.commands import backend_config
from bluegreen.adapters.terraform.stack import Stack

MIRROR_ENV = "BLUEGREEN_TF_PROVIDER_MIRROR"
TIMEOUT_ENV = "BLUEGREEN_TERRAFORM_TIMEOUT"
DEFAULT_TIMEOUT_S = 1800.0  # one command; an ALB takes minutes, a hung provider forever


def mirror_file(state_dir: Path) -> Path:
    """Where the provider mirror last given is remembered, for commands run without it (a plain shell)."""
    return state_dir / "terraform" / ".provider-mirror"


def remembered_mirror(state_dir: Path) -> str:
    """The provider mirror given before, if it is still a directory ("" otherwise)."""
    try:
        mirror = mirror_file(state_dir).read_text().strip()
    except OSError:
        return ""
    return mirror if mirror and Path(mirror).is_dir() else ""


@dataclass(frozen=True)
class TerraformSettings:
    state_dir: Path
    region: str
    stacks_root: Path | None = None  # None: <state_dir>/terraform
    # Set (None: removed) in the environment of every command that talks to AWS.
    aws_env: Mapping[str, str | None] = field(default_factory=dict)
    state_bucket: str = ""  # empty: local state
    lock_table: str = ""
    path_style: bool = False  # S3 bucket names in the path: any endpoint but AWS's own
    provider_mirror: str = ""  # empty: the public registry
    modules_root: Path | None = None  # None: the modules bluegreen ships (bluegreen/resources.py)
    binary: str = "terraform"
    timeout_s: float = DEFAULT_TIMEOUT_S  # for each command

    @property
    def tool_dir(self) -> Path:
        return self.state_dir / "terraform"

    @property
    def cli_config_path(self) -> Path:
        # Dot names cannot clash with environment names (which start with a letter).
        return self.tool_dir / ".cli.tfrc"

    @property
    def plugin_cache_dir(self) -> Path:
        return self.tool_dir / ".plugin-cache"

    @property
    def stacks_dir(self) -> Path:
        return self.stacks_root or self.tool_dir

    def workdir(self, stack: Stack) -> Path:
        return self.stacks_dir.joinpath(*stack.path)

    def backend(self, stack: Stack) -> dict[str, dict[str, Any]]:
        return backend_config(
            stack,
            region=self.region,
            state_bucket=self.state_bucket,
            lock_table=self.lock_table,
            path_style=self.path_style,
        )

    def process_env(self, *, aws: bool) -> dict[str, str | None]:
        """Variables for one terraform process (None: remove from the environment)."""
        env: dict[str, str | None] = {
            "TF_CLI_CONFIG_FILE": str(self.cli_config_path),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
        }
        if aws:
            env.update(self.aws_env)
        return env
