"""Terraform, the generic tool: settings, command lines, output parsers and the runner.

    stack.py     one module of infra/ applied from its own working directory and state
    settings.py  where terraform runs and with which variables (filled in by bluegreen/factory.py)
    commands.py  pure builders: CLI config, backend, root module, command options
    parse.py     pure parsers of `-json` output, errors and outputs
    runner.py    the one place a terraform command runs

What is applied lives with its users: the AWS environment and slots in
bluegreen/adapters/aws/stacks.py, the sandbox's network in bluegreen/sandbox/.
"""

from bluegreen.adapters.terraform.commands import (
    LOCK_TIMEOUT,
    MODULE,
    apply_options,
    backend_config,
    cli_config_text,
    hcl_string,
    import_options,
    init_options,
    module_address,
    module_source,
    output_options,
    plan_options,
    root_module,
    state_key,
    validate_options,
)
from bluegreen.adapters.terraform.parse import (
    ERROR_TAIL_CHARS,
    error_text,
    json_messages,
    parse_outputs,
    progress_lines,
)
from bluegreen.adapters.terraform.runner import (
    INPUTS_FILE,
    ROOT_FILE,
    Progress,
    TerraformError,
    TerraformRunner,
    ignore,
)
from bluegreen.adapters.terraform.settings import INFRA, MIRROR_ENV, TerraformSettings
from bluegreen.adapters.terraform.stack import Stack

__all__ = [
    "ERROR_TAIL_CHARS",
    "INFRA",
    "INPUTS_FILE",
    "LOCK_TIMEOUT",
    "MIRROR_ENV",
    "MODULE",
    "ROOT_FILE",
    "Progress",
    "Stack",
    "TerraformError",
    "TerraformRunner",
    "TerraformSettings",
    "apply_options",
    "backend_config",
    "cli_config_text",
    "error_text",
    "hcl_string",
    "ignore",
    "import_options",
    "init_options",
    "json_messages",
    "module_address",
    "module_source",
    "output_options",
    "parse_outputs",
    "plan_options",
    "progress_lines",
    "root_module",
    "state_key",
    "validate_options",
]
