"""Terraform, the generic tool: settings, command lines, output parsers and the runner.

    stack.py     one module of infra/ applied from its own working directory and state
    settings.py  where terraform runs and with which variables (filled in by bluegreen/factory.py)
    commands.py  pure builders: CLI config, backend, root module, command options
    parse.py     pure parsers of `-json` output, errors and outputs
    runner.py    the one place a terraform command runs

What is applied lives with its users: the AWS environment and slots in
bluegreen/adapters/aws/stacks.py, the sandbox's network in bluegreen/sandbox/.
"""

from bluegreen.adapters.terraform.runner import Progress, TerraformError, TerraformRunner, ignore
from bluegreen.adapters.terraform.settings import MIRROR_ENV, TerraformSettings
from bluegreen.adapters.terraform.stack import Stack

__all__ = ["MIRROR_ENV", "Progress", "Stack", "TerraformError", "TerraformRunner", "TerraformSettings", "ignore"]
