"""Terraform: the environment, each colour's slot and the sandbox network, each from its own state.

    <state_dir>/terraform/.cli.tfrc           the CLI config bluegreen gives terraform (TF_CLI_CONFIG_FILE)
    <state_dir>/terraform/.plugin-cache/      providers, shared by every working directory
    <root>/<env>/environment/                 infra/modules/environment: load balancer, target groups
    <root>/<env>/blue/  <root>/<env>/green/   infra/modules/slot: one colour each
    <root>/sandbox/network/                   infra/sandbox: the sandbox's VPC and subnets

<root> is <state_dir>/terraform, or <state_dir>/sandbox/terraform when AWS is
the sandbox, so the sandbox's state goes with it and never mixes with real
AWS's. Each working directory holds a generated root module (main.tf.json)
that calls one module of infra/ by relative path with the inputs in
terraform.tfvars.json, and its backend: local state beside them, or one S3
key per environment and colour with a DynamoDB lock table. Applying green
can therefore never plan a change to blue, and retiring a colour is a destroy
of its own state.

Pure builders (CLI config, backend, root module, inputs, command options,
parsing `-json` output) are tested alone; `TerraformRunner` is the one place a
terraform command runs, through python-terraform, and raises `TerraformError`
with Terraform's own words, the module and the colour.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_terraform import IsFlagged, Terraform

from bluegreen.adapters import sandbox
from bluegreen.adapters.aws import denied
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.config import Config, Environment
from bluegreen.errors import ConfigError, MissingToolError, ToolError, UsageError
from bluegreen.model import Colour, Release

Progress = Callable[[str], None]

# infra/ sits next to the bluegreen package in the source tree.
INFRA = Path(__file__).resolve().parents[2] / "infra"
MIRROR_ENV = "BLUEGREEN_TF_PROVIDER_MIRROR"
ROOT_FILE = "main.tf.json"
INPUTS_FILE = "terraform.tfvars.json"
MODULE = "main"  # the module block's name in every generated root module
STATE_KEY_PREFIX = "bluegreen"
LOCAL_STATE = "terraform.tfstate"
# A command resumed after its process was killed waits this long for the terraform
# that process started (still running, holding the state lock) instead of failing.
LOCK_TIMEOUT = "10m"
ERROR_TAIL_CHARS = 3000


def ignore(_: str) -> None:
    """A progress callback that drops every line."""


# -- what is applied where -------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    """One module applied from its own working directory and state."""

    module: str  # under infra/
    path: tuple[str, ...]  # the working directory under the root, and the S3 state key
    environment: str = ""
    colour: str = ""

    @property
    def label(self) -> str:
        if self.colour:
            return f"slot {self.environment}/{self.colour}"
        if self.environment:
            return f"environment {self.environment}"
        return "sandbox network"


NETWORK = Stack("sandbox", ("sandbox", "network"))


def environment_stack(environment: str) -> Stack:
    return Stack("modules/environment", (environment, "environment"), environment=environment)


def slot_stack(environment: str, colour: Colour) -> Stack:
    return Stack("modules/slot", (environment, colour.value), environment=environment, colour=colour.value)


@dataclass(frozen=True)
class Network:
    """Where an environment's load balancer and instances go."""

    vpc_id: str
    subnet_ids: tuple[str, ...]


@dataclass(frozen=True)
class TerraformSettings:
    state_dir: Path
    region: str
    # AWS is the sandbox's server: its endpoint comes from the sandbox's record,
    # credentials are the test ones, and state stays under <state_dir>/sandbox.
    sandbox: bool = False
    endpoint_url: str = ""  # outside the sandbox; empty: AWS itself (or the caller's AWS_ENDPOINT_URL)
    state_bucket: str = ""  # empty: local state
    lock_table: str = ""
    provider_mirror: str = ""  # empty: the public registry
    modules_root: Path = INFRA
    binary: str = "terraform"

    @classmethod
    def from_config(
        cls, config: Config, *, sandbox: bool | None = None, endpoint_url: str | None = None
    ) -> TerraformSettings:
        """Settings for `config`; `sandbox=True` targets the sandbox whatever the config's endpoint."""
        in_sandbox = config.aws.endpoint_url == "sandbox" if sandbox is None else sandbox
        endpoint = config.aws.endpoint_url if endpoint_url is None else endpoint_url
        return cls(
            state_dir=config.state.path,
            region=config.aws.region,
            sandbox=in_sandbox,
            endpoint_url="" if in_sandbox else endpoint,
            # The sandbox's state lives and dies with its server: always local.
            state_bucket="" if in_sandbox else config.aws.terraform_state_bucket,
            lock_table="" if in_sandbox else config.aws.terraform_lock_table,
            provider_mirror=config.aws.provider_mirror or os.environ.get(MIRROR_ENV, ""),
        )

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
        return sandbox.sandbox_dir(self.state_dir) / "terraform" if self.sandbox else self.tool_dir

    def workdir(self, stack: Stack) -> Path:
        return self.stacks_dir.joinpath(*stack.path)

    def backend(self, stack: Stack) -> dict[str, dict[str, Any]]:
        return backend_config(
            stack,
            region=self.region,
            state_bucket=self.state_bucket,
            lock_table=self.lock_table,
            path_style=bool(self.endpoint_url),
        )

    def process_env(self, *, aws: bool) -> dict[str, str | None]:
        """Variables for one terraform process (None: remove from the environment)."""
        env: dict[str, str | None] = {
            "TF_CLI_CONFIG_FILE": str(self.cli_config_path),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
        }
        if aws and self.sandbox:
            env["AWS_ENDPOINT_URL"] = self.aws_endpoint()
            env.update(sandbox.CREDENTIALS)
            env["AWS_PROFILE"] = None  # a profile would win over the test credentials
            env["AWS_SESSION_TOKEN"] = None
        elif aws and self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        return env

    def aws_endpoint(self) -> str:
        """The AWS endpoint terraform talks to (empty: AWS's own)."""
        return sandbox.endpoint_at(self.state_dir) if self.sandbox else self.endpoint_url


# -- pure builders ------------------------------------------------------------------------


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


def _whole_seconds(seconds: float) -> int:
    return max(1, round(seconds))


def environment_inputs(env: Environment, network: Network) -> dict[str, Any]:
    hc, lb = env.health_check, env.load_balancer
    return {
        "name": env.name,
        "vpc_id": network.vpc_id,
        "subnet_ids": list(network.subnet_ids),
        "load_balancer_type": lb.type,
        "listener_port": lb.listener_port,
        "test_listener_port": lb.test_listener_port,
        "health_check_path": hc.path,
        "health_check_interval": _whole_seconds(hc.interval_s),
        "health_check_timeout": _whole_seconds(hc.timeout_s),
        "healthy_threshold": hc.healthy_threshold,
        "unhealthy_threshold": hc.unhealthy_threshold,
        "certificate_arn": lb.certificate_arn,
        "https_port": lb.https_port,
        "internal": lb.internal,
        "ingress_cidrs": list(lb.ingress_cidrs),
        "test_ingress_cidrs": list(lb.test_cidrs),
        "deletion_protection": lb.deletion_protection,
        "access_logs_bucket": lb.access_logs_bucket,
        "access_logs_prefix": lb.access_logs_prefix,
    }


def slot_inputs(env: Environment, colour: Colour, release: Release, outputs: AwsEnvironment) -> dict[str, Any]:
    if not release.ami:
        raise UsageError(
            f"release {release.version} has no image to run",
            where=f"slot {env.name}/{colour.value}",
            hint=f"bake it first: bluegreen bake {env.name} --version {release.version}",
        )
    cap = env.capacity
    return {
        "environment": env.name,
        "colour": colour.value,
        "version_label": release.version,
        "ami": release.ami,
        "instance_type": cap.instance_type,
        "min_size": cap.min,
        "max_size": cap.max,
        "desired_capacity": cap.desired,
        "subnet_ids": list(outputs.subnet_ids),
        "security_group_id": outputs.security_group_id,
        "target_group_arn": outputs.target_group(colour) if outputs.load_balancer_type == "alb" else "",
        # A classic ELB's membership is the traffic adapter's: it attaches the new
        # colour only when traffic moves, so the slot starts detached.
        "load_balancer_name": "",
        # Within bluegreen's deadline for turning healthy, the group must not
        # replace instances that are still starting.
        "health_check_grace_period": _whole_seconds(env.health_check.deadline_s),
        # Settings by value, secrets by name: the instance fetches secret values at boot.
        "app_settings": dict(env.app.settings),
        "app_secrets": dict(env.app.secrets),
        "instance_profile_name": env.app.instance_profile,
    }


def init_options(*, migrate_state: bool = False) -> dict[str, Any]:
    backend = {"migrate_state": IsFlagged, "force_copy": IsFlagged} if migrate_state else {"reconfigure": IsFlagged}
    return {"input": False, "no_color": IsFlagged, **backend}


def module_address(address: str) -> str:
    """`aws_launch_template.this` -> its address in the generated root module."""
    return f"module.{MODULE}.{address}"


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


# -- pure parsers of terraform's output ------------------------------------------------------


def json_messages(stdout: str) -> list[dict[str, Any]]:
    """The machine-readable lines of `-json` output (anything else is skipped)."""
    messages = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict):
            messages.append(message)
    return messages


def _short(text: str) -> str:
    return text.replace(f"module.{MODULE}.", "")


def progress_lines(messages: Iterable[Mapping[str, Any]]) -> list[str]:
    """What an operator wants to see: each resource done or failed, warnings, the summary."""
    lines = []
    for m in messages:
        kind = m.get("type")
        if kind in ("apply_complete", "apply_errored", "change_summary") or (
            kind == "diagnostic" and m.get("@level") == "warn"
        ):
            lines.append(_short(str(m.get("@message", ""))))
    return lines


def error_text(messages: Iterable[Mapping[str, Any]], stdout: str, stderr: str) -> str:
    """Terraform's own words for a failure: its error diagnostics, else the tail of what it printed."""
    errors = []
    for m in messages:
        diag = m.get("diagnostic")
        if m.get("type") != "diagnostic" or not isinstance(diag, Mapping) or diag.get("severity") != "error":
            continue
        text = f"Error: {diag.get('summary', '')}"
        if diag.get("address"):
            text += f" ({_short(str(diag['address']))})"
        if diag.get("detail"):
            text += f": {diag['detail']}"
        errors.append(text)
    text = ("\n".join(errors) if errors else (stderr.strip() or stdout.strip()))[-ERROR_TAIL_CHARS:]
    refused = denied.explain(text)
    return f"{refused}; {denied.POLICY_HINT}\n{text}" if refused else text


def parse_outputs(text: str) -> dict[str, Any]:
    """`terraform output -json` -> name -> value."""
    data = json.loads(text or "{}")
    return {str(name): body.get("value") for name, body in data.items()}


# -- running terraform ---------------------------------------------------------------------------


class TerraformError(ToolError):
    """A terraform command failed; says which module, environment and colour."""

    def __init__(
        self, stack: Stack, command: str, argv: list[str], returncode: int, output_tail: str, *, where: str, hint: str
    ) -> None:
        super().__init__("terraform", argv, returncode, output_tail, where=where, hint=hint)
        self.module = stack.module
        self.environment = stack.environment
        self.colour = stack.colour
        self.what = (
            f"terraform {command} of {stack.label} (module infra/{stack.module}) failed with exit code "
            f"{returncode}:\n{output_tail.strip() or '(no output)'}"
        )
        self.args = (self.what,)


_ENV_LOCK = threading.Lock()


@contextmanager
def _process_environment(changes: Mapping[str, str | None]) -> Iterator[None]:
    """Set (None: remove) variables in os.environ for the length of one command.

    python-terraform hands terraform a copy of os.environ and takes no
    environment of its own; the lock keeps two threads' commands apart.
    """

    def put(name: str, value: str | None) -> None:
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

    with _ENV_LOCK:
        saved = {name: os.environ.get(name) for name in changes}
        try:
            for name, value in changes.items():
                put(name, value)
            yield
        finally:
            for name, value in saved.items():
                put(name, value)


@dataclass(frozen=True)
class _Result:
    returncode: int
    stdout: str
    stderr: str


class TerraformRunner:
    """Runs terraform for one stack at a time: the one place a terraform command runs."""

    def __init__(self, settings: TerraformSettings, progress: Progress = ignore) -> None:
        self.settings = settings
        self.progress = progress

    # -- what callers use --------------------------------------------------------------------

    def apply(self, stack: Stack, inputs: Mapping[str, Any], *, replace: Iterable[str] = ()) -> dict[str, Any]:
        """Bring the stack to `inputs`, recreating the module resources in `replace`; returns the module's outputs."""
        previous = _read_json(self.settings.workdir(stack) / INPUTS_FILE)
        workdir = self._prepare(stack, inputs)
        self.progress(f"terraform apply: {stack.label} ({workdir})")
        try:
            self._run(stack, workdir, "apply", apply_options(replace=replace))
        except TerraformError:
            # Keep inputs that passed before: a destroy must still be able to
            # evaluate the module after an apply with bad ones was refused.
            if previous is not None:
                _write_json(workdir / INPUTS_FILE, previous)
            raise
        return self._outputs(stack, workdir) or {}

    def destroy(self, stack: Stack) -> bool:
        """Destroy everything in the stack's state; False when there was nothing (never applied, or gone)."""
        workdir = self.settings.workdir(stack)
        inputs = _read_json(workdir / INPUTS_FILE)
        if inputs is None:
            return False
        self._prepare(stack, inputs)
        if not self._managed(stack, workdir):
            return False
        self.progress(f"terraform destroy: {stack.label} ({workdir})")
        self._run(stack, workdir, "apply", apply_options(destroy=True), label="destroy")
        return True

    def adopt(self, stack: Stack, existing: Mapping[str, str]) -> list[str]:
        """Import each of `existing` (module resource address -> id) that the stack's state lacks.

        A terraform killed in the middle of an apply has created resources it
        never recorded; the next apply would fail on their names and a destroy
        would leave them behind. Returns the addresses imported.
        """
        workdir = self.settings.workdir(stack)
        inputs = _read_json(workdir / INPUTS_FILE)
        if not existing or inputs is None:
            return []
        self._prepare(stack, inputs)
        managed = set(self._managed(stack, workdir))
        adopted = []
        for address, resource_id in existing.items():
            if module_address(address) not in managed:
                self.progress(f"{stack.label}: adopting {address} ({resource_id}), created but never recorded")
                self._run(stack, workdir, "import", import_options(), args=(module_address(address), resource_id))
                adopted.append(address)
        return adopted

    def outputs(self, stack: Stack) -> dict[str, Any] | None:
        """The module's outputs from its state (no apply); None when it was never applied or is destroyed."""
        workdir = self.settings.workdir(stack)
        if not (workdir / ROOT_FILE).exists():
            return None
        if not (workdir / ".terraform").is_dir():
            inputs = _read_json(workdir / INPUTS_FILE)
            if inputs is None:
                return None
            self._prepare(stack, inputs)
        return self._outputs(stack, workdir)

    def has_changes(self, stack: Stack, inputs: Mapping[str, Any] | None = None) -> bool:
        """Would an apply change anything? (`plan -detailed-exitcode`; the recorded inputs by default.)"""
        workdir = self.settings.workdir(stack)
        recorded = inputs if inputs is not None else _read_json(workdir / INPUTS_FILE)
        if recorded is None:
            return True
        self._prepare(stack, recorded)
        return self._run(stack, workdir, "plan", plan_options(), ok=(0, 2)).returncode == 2

    def validate(self, stack: Stack, inputs: Mapping[str, Any]) -> None:
        workdir = self._prepare(stack, inputs)
        self._run(stack, workdir, "validate", validate_options())

    # -- the working directory ----------------------------------------------------------------

    def _prepare(self, stack: Stack, inputs: Mapping[str, Any]) -> Path:
        """Write the CLI config, the root module and the inputs; `terraform init`."""
        self._write_cli_config()
        module_dir = self.settings.modules_root / stack.module
        if not (module_dir / "main.tf").is_file():
            raise MissingToolError(
                f"the Terraform module {module_dir} is missing",
                where=stack.label,
                hint="run bluegreen from its source tree (infra/ next to the bluegreen package)",
            )
        workdir = self.settings.workdir(stack)
        workdir.mkdir(parents=True, exist_ok=True)
        backend = self.settings.backend(stack)
        previous = _read_json(workdir / ROOT_FILE)
        moved = (
            previous is not None
            and previous.get("terraform", {}).get("backend") != backend
            and (workdir / ".terraform").is_dir()
        )
        root = root_module(module_source(module_dir, workdir), inputs, region=self.settings.region, backend=backend)
        _write_json(workdir / ROOT_FILE, root)
        _write_json(workdir / INPUTS_FILE, dict(inputs))
        if moved:
            self.progress(f"{stack.label}: the state backend changed; moving the state to {next(iter(backend))}")
        self._run(stack, workdir, "init", init_options(migrate_state=moved))
        return workdir

    def _write_cli_config(self) -> None:
        mirror = self.settings.provider_mirror
        if mirror and not Path(mirror).is_dir():
            raise ConfigError(
                f"the Terraform provider mirror {mirror} is not a directory",
                where=f"aws.provider_mirror or {MIRROR_ENV}",
                hint="point it at the directory that holds registry.terraform.io/, or unset it to use the public registry",
            )
        self.settings.plugin_cache_dir.mkdir(parents=True, exist_ok=True)
        text = cli_config_text(self.settings.plugin_cache_dir, mirror)
        path = self.settings.cli_config_path
        if not path.exists() or path.read_text() != text:
            _write_text(path, text)

    def _managed(self, stack: Stack, workdir: Path) -> list[str]:
        """The resource addresses in the stack's state.

        `state list` fails outright where no local state was ever written (an
        apply killed before it wrote one): that state holds nothing.
        """
        local = workdir / LOCAL_STATE
        if not self.settings.state_bucket and (not local.exists() or local.stat().st_size == 0):
            return []
        return self._run(stack, workdir, "state list", {}).stdout.split()

    def _outputs(self, stack: Stack, workdir: Path) -> dict[str, Any] | None:
        values = parse_outputs(self._run(stack, workdir, "output", output_options()).stdout)
        module = values.get(MODULE)
        return dict(module) if isinstance(module, Mapping) and module else None

    # -- one command --------------------------------------------------------------------------

    def _needs_aws(self, command: str) -> bool:
        return command in ("apply", "plan", "import") or bool(self.settings.state_bucket)

    def _run(
        self,
        stack: Stack,
        workdir: Path,
        command: str,
        options: Mapping[str, Any],
        *,
        ok: tuple[int, ...] = (0,),
        label: str = "",
        args: tuple[str, ...] = (),
    ) -> _Result:
        if shutil.which(self.settings.binary) is None:
            raise MissingToolError(
                f"{self.settings.binary} is not installed (or not on PATH)",
                where=stack.label,
                hint="install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install) and run this again",
            )
        tf = Terraform(working_dir=str(workdir), terraform_bin_path=self.settings.binary)
        argv = [str(a) for a in tf.generate_cmd_string(command, *args, **options)]
        with _process_environment(self.settings.process_env(aws=self._needs_aws(command))):
            returncode, stdout, stderr = tf.cmd(command, *args, **options)
        messages = json_messages(stdout)
        for line in progress_lines(messages):
            self.progress(f"{stack.label}: {line}")
        if returncode not in ok:
            cli = self.settings.cli_config_path
            raise TerraformError(
                stack,
                label or command,
                argv,
                returncode,
                error_text(messages, stdout, stderr),
                where=f"{stack.label}: {workdir}",
                hint=(
                    "fix the cause Terraform names and run the command again; to look yourself: "
                    f"TF_CLI_CONFIG_FILE={cli} terraform -chdir={workdir} plan"
                ),
            )
        return _Result(returncode, stdout, stderr)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return data if isinstance(data, dict) else None


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    _write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


# -- what the rest of bluegreen calls --------------------------------------------------------


def apply_network(runner: TerraformRunner) -> Network:
    """The sandbox's VPC and two subnets in two availability zones."""
    region = runner.settings.region
    outputs = runner.apply(NETWORK, {"availability_zones": [f"{region}a", f"{region}b"]})
    return Network(vpc_id=str(outputs["vpc_id"]), subnet_ids=tuple(outputs["subnet_ids"]))


def network_for(config: Config, runner: TerraformRunner) -> Network:
    """The network from the config (real AWS), else the one the sandbox made."""
    if config.aws.vpc_id:
        return Network(vpc_id=config.aws.vpc_id, subnet_ids=config.aws.subnet_ids)
    if runner.settings.sandbox:
        outputs = runner.outputs(NETWORK)
        if outputs:
            return Network(vpc_id=str(outputs["vpc_id"]), subnet_ids=tuple(outputs["subnet_ids"]))
        raise UsageError(
            "the sandbox has no network yet",
            where=str(runner.settings.workdir(NETWORK)),
            hint="run `bluegreen sandbox up`",
        )
    raise ConfigError(
        "no network for the load balancer: aws.vpc_id and aws.subnet_ids are not set",
        where=f"{config.path}: aws",
        hint="set aws.vpc_id and aws.subnet_ids (two subnets in two availability zones), "
        "or use the sandbox (aws.endpoint_url: sandbox)",
    )


def apply_environment(
    config: Config,
    env: Environment,
    progress: Progress = ignore,
    *,
    network: Network | None = None,
    settings: TerraformSettings | None = None,
) -> AwsEnvironment:
    """Create or update the environment's load balancer, target groups and security groups.

    Safe to run at any time: the listeners' forwarding is bluegreen's
    (ignore_changes in the module), so this never moves traffic.
    """
    runner = TerraformRunner(settings or TerraformSettings.from_config(config), progress)
    net = network or network_for(config, runner)
    outputs = runner.apply(environment_stack(env.name), environment_inputs(env, net))
    return AwsEnvironment.from_outputs(env.name, outputs)


def environment_outputs(
    config: Config, env: Environment, *, settings: TerraformSettings | None = None
) -> AwsEnvironment | None:
    """The environment as its state records it (no apply); None if it was never created."""
    runner = TerraformRunner(settings or TerraformSettings.from_config(config))
    outputs = runner.outputs(environment_stack(env.name))
    return AwsEnvironment.from_outputs(env.name, outputs) if outputs else None


def destroy_environment(
    config: Config, env: Environment, progress: Progress = ignore, *, settings: TerraformSettings | None = None
) -> None:
    """Destroy both colours' slots, then the environment (load balancer and all)."""
    runner = TerraformRunner(settings or TerraformSettings.from_config(config), progress)
    for colour in Colour:
        runner.destroy(slot_stack(env.name, colour))
    runner.destroy(environment_stack(env.name))
