"""Running terraform: the one place a terraform command runs.

Each stack has a working directory that holds a generated root module
(main.tf.json) calling one module of infra/ by relative path with the inputs
in terraform.tfvars.json, and its backend: local state beside them, or one
S3 key per stack with a DynamoDB lock table. Applying one stack can
therefore never plan a change to another, and removing one is a destroy of
its own state.

python-terraform builds each command line; the command runs as a child
process with an environment built for it (the settings' variables), never by
changing this process's, in its own process group that dies with bluegreen,
within the settings' timeout (adapters/toolproc.py). A failure raises `TerraformError` (a ToolError:
tool, argv, exit code, Terraform's own words) naming the module and stack.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_terraform import Terraform

from bluegreen import resources
from bluegreen.adapters import toolproc
from bluegreen.adapters.environ import environ_with
from bluegreen.adapters.files import read_json, write_json, write_text
from bluegreen.adapters.terraform.commands import (
    LOCAL_STATE,
    apply_options,
    cli_config_text,
    import_options,
    init_options,
    module_address,
    module_source,
    output_options,
    plan_options,
    root_module,
    validate_options,
)
from bluegreen.adapters.terraform.parse import (
    applied_outputs,
    error_text,
    json_messages,
    module_outputs,
    parse_outputs,
    progress_lines,
    state_holds_resources,
)
from bluegreen.adapters.terraform.settings import (
    MIRROR_ENV,
    TIMEOUT_ENV,
    TerraformSettings,
    mirror_file,
    remembered_mirror,
)
from bluegreen.adapters.terraform.stack import Stack
from bluegreen.errors import ConfigError, MissingToolError, ToolError

Progress = Callable[[str], None]

ROOT_FILE = "main.tf.json"
INPUTS_FILE = "terraform.tfvars.json"
LOCK_FILE = ".terraform.lock.hcl"
INIT_STAMP = ".terraform/bluegreen-init"  # inside .terraform: gone with it
# How `terraform init` says it could not fetch a provider (from the registry, or a mirror that lacks it).
PROVIDER_DOWNLOAD_FAILED = (
    "Failed to query available provider packages",
    "Failed to install provider",
    "could not connect to registry.terraform.io",
)
# After SIGINT terraform stops what it is doing and writes its state; give it time.
INTERRUPT_GRACE_S = 60.0


def init_stamp(root: Mapping[str, Any], cli_config: str, module_dir: Path) -> str:
    """What an init of a working directory depends on: the root module (backend, module source, provider),
    the CLI config (mirror, plugin cache) and the module's files (its provider constraints)."""
    digest = hashlib.sha256(json.dumps(root, sort_keys=True).encode() + b"\0" + cli_config.encode())
    for path in sorted(module_dir.glob("*.tf")):
        digest.update(b"\0" + path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def initialized(workdir: Path, stamp: str) -> bool:
    """Whether an init that worked, for the same stamp, left its providers in place.

    `terraform init` verifies the provider's package (hundreds of MB) every time: about 1.5 s of CPU per
    command, twice per deploy, for nothing when neither the root module nor the CLI config changed.
    """
    done = workdir / INIT_STAMP
    if not done.is_file() or done.read_text().strip() != stamp or not (workdir / LOCK_FILE).is_file():
        return False
    providers = (workdir / ".terraform" / "providers").glob("*/*/*/*/*")  # host/namespace/name/version/platform
    return any(p.exists() for p in providers)  # exists() follows the plugin cache's links: a cleaned cache is gone


def ignore(_: str) -> None:
    """A progress callback that drops every line."""


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


@dataclass(frozen=True)
class _Result:
    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]]  # the `-json` lines of stdout, parsed


class TerraformRunner:
    """Runs terraform for one stack at a time: the one place a terraform command runs."""

    def __init__(self, settings: TerraformSettings, progress: Progress = ignore) -> None:
        self.settings = settings
        self.progress = progress

    # -- what callers use --------------------------------------------------------------------

    def apply(self, stack: Stack, inputs: Mapping[str, Any], *, replace: Iterable[str] = ()) -> dict[str, Any]:
        """Bring the stack to `inputs`, recreating the module resources in `replace`; returns the module's outputs."""
        previous = read_json(self.settings.workdir(stack) / INPUTS_FILE)
        workdir = self._prepare(stack, inputs)
        self.progress(f"terraform apply: {stack.label} ({workdir})")
        try:
            done = self._run(stack, workdir, "apply", apply_options(replace=replace))
        except TerraformError:
            # Keep inputs that passed before: a destroy must still be able to
            # evaluate the module after an apply with bad ones was refused.
            if previous is not None:
                write_json(workdir / INPUTS_FILE, previous)
            raise
        # The apply's own lines hold its outputs: a `terraform output` would cost another start of terraform.
        applied = applied_outputs(done.messages)
        values = self._outputs(stack, workdir) if applied is None else module_outputs(applied)
        return values or {}

    def destroy(self, stack: Stack) -> bool:
        """Destroy everything in the stack's state; False when there was nothing (never applied, or gone)."""
        workdir = self.settings.workdir(stack)
        inputs = read_json(workdir / INPUTS_FILE)
        if inputs is None or self._holds_nothing(workdir):
            # Decided before `init`: a stack whose first init failed (no provider to be
            # had) created nothing, and removing nothing must not need terraform to work.
            return False
        self._prepare(stack, inputs)
        # Local state was read above; only a remote one needs terraform to say what it holds.
        if self.settings.state_bucket and not self._managed(stack, workdir):
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
        inputs = read_json(workdir / INPUTS_FILE)
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
            inputs = read_json(workdir / INPUTS_FILE)
            if inputs is None:
                return None
            self._prepare(stack, inputs)
        return self._outputs(stack, workdir)

    def has_changes(self, stack: Stack, inputs: Mapping[str, Any] | None = None) -> bool:
        """Would an apply change anything? (`plan -detailed-exitcode`; the recorded inputs by default.)"""
        workdir = self.settings.workdir(stack)
        recorded = inputs if inputs is not None else read_json(workdir / INPUTS_FILE)
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
        module_dir = (self.settings.modules_root or resources.infra_dir(self.settings.state_dir)) / stack.module
        if not (module_dir / "main.tf").is_file():
            raise MissingToolError(
                f"the Terraform module {module_dir} is missing",
                where=stack.label,
                hint="reinstall bluegreen (pip install --force-reinstall bluegreen)",
            )
        workdir = self.settings.workdir(stack)
        workdir.mkdir(parents=True, exist_ok=True)
        backend = self.settings.backend(stack)
        previous = read_json(workdir / ROOT_FILE)
        moved = (
            previous is not None
            and previous.get("terraform", {}).get("backend") != backend
            and (workdir / ".terraform").is_dir()
        )
        root = root_module(module_source(module_dir, workdir), inputs, region=self.settings.region, backend=backend)
        write_json(workdir / ROOT_FILE, root)
        write_json(workdir / INPUTS_FILE, dict(inputs))
        if moved:
            self.progress(f"{stack.label}: the state backend changed; moving the state to {next(iter(backend))}")
        stamp = init_stamp(root, self.settings.cli_config_path.read_text(), module_dir)
        if moved or not initialized(workdir, stamp):
            self._run(stack, workdir, "init", init_options(migrate_state=moved))
            write_text(workdir / INIT_STAMP, stamp + "\n")
            self._remember_mirror()
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
            write_text(path, text)

    def _remember_mirror(self) -> None:
        """Remember the mirror an init has just worked with, for commands run without it (a plain shell).

        Only once it worked: a mirror that lacks the provider must not replace one that has it.
        """
        mirror = self.settings.provider_mirror
        if mirror and remembered_mirror(self.settings.state_dir) != mirror:
            write_text(mirror_file(self.settings.state_dir), mirror + "\n")

    def _holds_nothing(self, workdir: Path) -> bool:
        """Whether the stack's state is known, from its files alone, to hold no resource.

        Local state: the state file. Remote state is reached only through an
        init that succeeded in this directory (it leaves .terraform/terraform.tfstate):
        where none did, no apply ran from here.
        """
        local = workdir / LOCAL_STATE
        empty = not local.is_file() or not state_holds_resources(local.read_text(errors="replace"))
        if self.settings.state_bucket:
            return empty and not (workdir / ".terraform" / "terraform.tfstate").is_file()
        return empty

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
        return module_outputs(parse_outputs(self._run(stack, workdir, "output", output_options()).stdout))

    # -- one command --------------------------------------------------------------------------

    def _hint(self, output: str, workdir: Path) -> str:
        if any(sign in output for sign in PROVIDER_DOWNLOAD_FAILED):
            return (
                "Terraform could not download the hashicorp/aws provider: point "
                f"{MIRROR_ENV} (or aws.provider_mirror in bluegreen.yaml) at a filesystem mirror of it "
                "(scripts/find-provider-mirror looks for one), or let it reach registry.terraform.io; "
                "then run the command again"
            )
        return (
            "fix the cause Terraform names and run the command again; to look yourself: "
            f"TF_CLI_CONFIG_FILE={self.settings.cli_config_path} terraform -chdir={workdir} plan"
        )

    def _missing(self, stack: Stack) -> MissingToolError:
        return MissingToolError(
            f"{self.settings.binary} is not installed (or not on PATH)",
            where=stack.label,
            hint="install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install) and run this again",
        )

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
            raise self._missing(stack)
        tf = Terraform(working_dir=str(workdir), terraform_bin_path=self.settings.binary)
        argv = [str(a) for a in tf.generate_cmd_string(command, *args, **options)]
        try:
            proc = toolproc.start(
                argv, cwd=workdir, env=environ_with(self.settings.process_env(aws=self._needs_aws(command)))
            )
        except FileNotFoundError:
            raise self._missing(stack) from None
        toolproc.record_owner(workdir, proc)
        timed_out = False
        try:
            stdout, stderr = proc.communicate(timeout=self.settings.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            toolproc.interrupt(proc, INTERRUPT_GRACE_S)
            stdout, stderr = proc.communicate()
        except BaseException:
            toolproc.interrupt(proc, INTERRUPT_GRACE_S)
            raise
        finally:
            toolproc.clear_owner(workdir)
        returncode = proc.returncode
        messages = json_messages(stdout)
        for line in progress_lines(messages):
            self.progress(f"{stack.label}: {line}")
        if timed_out:
            tail = error_text(messages, stdout, stderr)
            raise TerraformError(
                stack,
                label or command,
                argv,
                returncode,
                f"timed out after {self.settings.timeout_s:g}s and was interrupted\n{tail}",
                where=f"{stack.label}: {workdir}",
                hint=f"find what hangs in the output above; a longer limit: {TIMEOUT_ENV}=SECONDS",
            )
        if returncode not in ok:
            raise TerraformError(
                stack,
                label or command,
                argv,
                returncode,
                error_text(messages, stdout, stderr),
                where=f"{stack.label}: {workdir}",
                hint=self._hint(stdout + stderr, workdir),
            )
        return _Result(returncode, stdout, stderr, messages)
