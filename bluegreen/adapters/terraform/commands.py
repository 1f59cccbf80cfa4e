"""Pure builders of what terraform is given: its CLI config, a root module, a backend, command options."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from python_terraform import IsFlagged

from bluegreen.adapters.terraform.stack import Stack

MODULE = "main"  # the module block's name in every generated root module
STATE_KEY_PREFIX = "bluegreen"
LOCAL_STATE = "terraform.tfstate"
# A command resumed after its process was killed waits this long for the terraform
# that process started (still running, holding the state lock) instead of failing.
LOCK_TIMEOUT = "10m"


def hcl_string(value: str) -> str:
    """A JSON string is an HCL string once template sequences are escaped."""
    return json.dumps(value).replace("${", "$${").replace("%{", "%%{")


def cli_config_text(plugin_cache_dir: Path, provider_mirror: str = "") -> str:
    """The CLI config: a shared plugin cache, and the filesystem mirror when there is one.

    Without a mirror there is no provider_installation block: terraform uses
    the public registry as it does by default.
    """
    lines = [
        "# Written by bluegreen for the terraform it runs (TF_CLI_CONFIG_FILE).",
        f"plugin_cache_dir   = {hcl_string(str(plugin_cache_dir))}",
        "disable_checkpoint = true",
    ]
    if provider_mirror:
        lines += [
            "",
            "provider_installation {",
            "  filesystem_mirror {",
            f"    path    = {hcl_string(provider_mirror)}",
            '    include = ["registry.terraform.io/hashicorp/*"]',
            "  }",
            "  direct {",
            '    exclude = ["registry.terraform.io/hashicorp/*"]',
            "  }",
            "}",
        ]
    return "\n".join(lines) + "\n"


def state_key(stack: Stack) -> str:
    return "/".join((STATE_KEY_PREFIX, *stack.path)) + ".tfstate"


def backend_config(
    stack: Stack, *, region: str, state_bucket: str = "", lock_table: str = "", path_style: bool = False
) -> dict[str, dict[str, Any]]:
    """The root module's backend block: local state, or S3 keyed per environment and colour.

    Locking: a configured DynamoDB table as before (`dynamodb_table`,
    deprecated since Terraform 1.11), else S3's own lock file
    (`use_lockfile`, Terraform 1.10+: a `<key>.tflock` object written with a
    conditional PUT). https://developer.hashicorp.com/terraform/language/backend/s3#state-locking
    """
    if not state_bucket:
        return {"local": {"path": LOCAL_STATE}}
    s3: dict[str, Any] = {"bucket": state_bucket, "key": state_key(stack), "region": region, "encrypt": True}
    if lock_table:
        s3["dynamodb_table"] = lock_table
    else:
        s3["use_lockfile"] = True
    if path_style:
        # Bucket names as host names resolve at AWS's own endpoints only.
        s3["use_path_style"] = True
    return {"s3": s3}


def root_module(
    module_source: str, input_names: Iterable[str], *, region: str, backend: Mapping[str, Any]
) -> dict[str, Any]:
    """A root module (Terraform JSON syntax) that calls one module with every input from tfvars."""
    names = sorted(input_names)
    return {
        "//": "Written by bluegreen on every run: change infra/ instead.",
        "terraform": {"backend": dict(backend), "required_providers": {"aws": {"source": "hashicorp/aws"}}},
        "provider": {"aws": {"region": region}},
        "variable": {name: {} for name in names},
        "module": {MODULE: {"source": module_source, **{name: f"${{var.{name}}}" for name in names}}},
        "output": {MODULE: {"value": f"${{module.{MODULE}}}"}},
    }


def module_source(module_dir: Path, workdir: Path) -> str:
    """A local module path as Terraform wants it: relative, starting with ./ or ../."""
    rel = os.path.relpath(module_dir, workdir)
    return rel if rel.startswith("../") else f"./{rel}"


def module_address(address: str) -> str:
    """`aws_launch_template.this` -> its address in the generated root module."""
    return f"module.{MODULE}.{address}"


def init_options(*, migrate_state: bool = False) -> dict[str, Any]:
    backend = {"migrate_state": IsFlagged, "force_copy": IsFlagged} if migrate_state else {"reconfigure": IsFlagged}
    return {"input": False, "no_color": IsFlagged, **backend}


def apply_options(*, destroy: bool = False, replace: Iterable[str] = ()) -> dict[str, Any]:
    # Never python-terraform's apply()/destroy() defaults: -auto-approve=false waits
    # for an answer that never comes, and -force no longer exists.
    options: dict[str, Any] = {
        "auto_approve": IsFlagged,
        "input": False,
        "no_color": IsFlagged,
        "json": IsFlagged,
        "lock_timeout": LOCK_TIMEOUT,
    }
    if destroy:
        options["destroy"] = IsFlagged
    if replace:
        options["replace"] = [module_address(a) for a in replace]
    return options


def import_options() -> dict[str, Any]:
    return {"input": False, "no_color": IsFlagged, "lock_timeout": LOCK_TIMEOUT}


def plan_options() -> dict[str, Any]:
    return {"detailed_exitcode": IsFlagged, "input": False, "no_color": IsFlagged}


def output_options() -> dict[str, Any]:
    return {"json": IsFlagged, "no_color": IsFlagged}


def validate_options() -> dict[str, Any]:
    return {"json": IsFlagged, "no_color": IsFlagged}
