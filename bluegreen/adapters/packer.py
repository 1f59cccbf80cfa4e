"""The Baker port with Packer: bake the release's AMI, or reuse the one already baked from the same source.

    observe: hash the release's inputs (bluegreen/source_hash.py) and look for
             an AMI of ours tagged with that hash (boto3 EC2)
    decide:  reuse it, unless asked to bake anyway (force)
    act:     `packer build -machine-readable` of packer/app.pkr.hcl, progress
             streamed line by line
    report:  the AMI id from the manifest post-processor's JSON (the
             machine-readable `artifact,0,id` line if the manifest is missing)

The argv builder and every parser are pure and tested on recorded output
(tests/packer/recorded/); `run_packer` is the one place the binary runs.
The EC2 endpoint Packer talks to is the one the boto3 clients use
(`session.endpoint_url`): Packer 1.6 ignores AWS_ENDPOINT_URL, so it is
passed as the template's `ec2_endpoint`; the target's credentials go into
Packer's own environment. The composition root (bluegreen/factory.py)
builds the baker from the config.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bluegreen import source_hash as hashing
from bluegreen.adapters import toolproc
from bluegreen.adapters.aws.images import check_image, choose_reusable
from bluegreen.adapters.aws.session import AwsTarget, client, endpoint_url
from bluegreen.adapters.environ import environ_with
from bluegreen.adapters.packer_output import (
    ami_from_artifact_id,
    artifact_id_from_lines,
    artifact_id_from_manifest,
    error_text,
    readable,
)
from bluegreen.errors import AdapterError, ConfigError, MissingToolError, ToolError
from bluegreen.ports import BakeResult

TOOL = "packer"
MANAGED_BY = "bluegreen"
TIMEOUT_ENV = "BLUEGREEN_PACKER_TIMEOUT"
DEFAULT_TIMEOUT_S = 3600.0  # a real bake (launch, provision, snapshot) takes minutes, not hours
INTERRUPT_GRACE_S = 300.0  # after SIGINT Packer terminates its build instance; give it time

# Beside the template: the `packer { required_plugins }` block, on its own
# because Packer 1.6 rejects that block ("Blocks of type required_plugins are
# not expected here") while Packer 1.10+ has no amazon-ebs without it.
PLUGINS_FILE = "plugins.pkr.hcl"
FIRST_WITH_INIT = (1, 7, 0)  # `packer init` and required_plugins arrived in Packer 1.7.0
VERSION_TIMEOUT_S = 60.0
INIT_TIMEOUT_S = 600.0  # downloads the plugin on a cold cache

# Set by bluegreen itself; a `bake.variables` entry may not override them.
RESERVED_VARIABLES = frozenset({"version", "source_hash", "environment", "region", "ec2_endpoint", "manifest_path"})

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# -- pure: the command line -------------------------------------------------------


def build_argv(template: Path, variables: Mapping[str, str], *, packer: str = TOOL) -> list[str]:
    """`packer build -machine-readable -var k=v ... TEMPLATE`, variables in sorted order."""
    argv = [packer, "build", "-machine-readable"]
    for name, value in sorted(variables.items()):
        argv += ["-var", f"{name}={value}"]
    return [*argv, str(template)]


def parse_packer_version(text: str) -> tuple[int, int, int] | None:
    """(1, 6, 6) from `packer version` ("Packer v1.6.6", maybe followed by an out-of-date notice)."""
    m = re.search(r"Packer v(\d+)\.(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def init_argv(template: Path, version: tuple[int, int, int] | None, *, packer: str = TOOL) -> list[str] | None:
    """`packer init PLUGINS_FILE` where the installed Packer has `init` and the template has a plugins file.

    Packer 1.6 has the amazon builder built in and no `init`; from 1.7 on,
    `init` installs what the plugins file requires (into PACKER_PLUGIN_PATH,
    default ~/.config/packer/plugins) and `build` of the template finds it
    there: an installed plugin is loaded even by a template that does not
    require it. A version we cannot read is taken as a current one.
    """
    plugins = template.parent / PLUGINS_FILE
    if not plugins.is_file() or (version is not None and version < FIRST_WITH_INIT):
        return None
    return [packer, "init", str(plugins)]


def template_variables(
    *,
    version: str,
    source_hash: str,
    environment: str,
    region: str,
    ec2_endpoint: str,
    app_artifact: Path,
    manifest_path: Path,
    source_ami: str = "",
    instance_type: str = "",
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The -var values for packer/app.pkr.hcl; empty optional settings keep the template's defaults."""
    extra = dict(extra or {})
    clash = sorted(RESERVED_VARIABLES & extra.keys())
    if clash:
        raise ConfigError(
            f"bake.variables sets {', '.join(clash)}, which bluegreen sets itself",
            where="bake.variables",
            hint=f"remove {', '.join(clash)} from bake.variables",
        )
    check_bake_access(extra)
    out = {
        **extra,
        "version": version,
        "source_hash": source_hash,
        "environment": environment,
        "region": region,
        "ec2_endpoint": ec2_endpoint,
        "app_artifact": str(app_artifact),
        "manifest_path": str(manifest_path),
    }
    if source_ami:
        out["source_ami"] = source_ami
    if instance_type:
        out["instance_type"] = instance_type
    return out


def check_bake_access(variables: Mapping[str, str]) -> None:
    """Refuse an SSH bake whose temporary security group Packer would open to 0.0.0.0/0.

    Packer's amazon-ebs admits `temporary_security_group_source_cidrs`, or
    0.0.0.0/0 when that is empty; Session Manager needs no inbound rule.
    """
    if variables.get("communicator", "ssh") == "none" or variables.get("ssh_interface") == "session_manager":
        return
    cidrs = variables.get("ssh_source_cidrs", "").strip()
    if not cidrs or cidrs.replace(" ", "") in ("[]", '["0.0.0.0/0"]'):
        raise ConfigError(
            "the bake instance's SSH port would be open to the whole internet (0.0.0.0/0)",
            where="bake.variables.ssh_source_cidrs",
            hint="set bake.variables.ssh_source_cidrs to the builder's address, e.g. '[\"203.0.113.7/32\"]', "
            "or ssh_interface: session_manager (packer/README.md)",
        )


def packer_environment(environ: Mapping[str, str]) -> dict[str, str]:
    # No version check against checkpoint.hashicorp.com: bakes must not depend on it.
    return {**environ, "CHECKPOINT_DISABLE": "1"}


# -- pure: which AMI to reuse -----------------------------------------------------


def reuse_filters(environment: str, source_hash: str) -> list[dict[str, Any]]:
    return [
        {"Name": "tag:SourceHash", "Values": [source_hash]},
        {"Name": "tag:ManagedBy", "Values": [MANAGED_BY]},
        {"Name": "tag:Environment", "Values": [environment]},
    ]


# -- the runner ---------------------------------------------------------------------


class PackerError(ToolError):
    """`packer build` failed; `packer_message` is Packer's own explanation."""

    def __init__(self, argv: Sequence[str], returncode: int, packer_message: str, *, where: str, hint: str) -> None:
        self.packer_message = packer_message
        super().__init__(TOOL, argv, returncode, packer_message, where=where, hint=hint)


@dataclass(frozen=True)
class PackerRun:
    argv: tuple[str, ...]
    returncode: int
    lines: tuple[str, ...] = field(repr=False)


def missing_packer(packer: str) -> MissingToolError:
    return MissingToolError(
        f"{packer} is not installed (not found on PATH); it bakes the release's AMI",
        where=packer,
        hint="run `make setup` (installs Debian's packer)",
    )


def run_packer(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    progress: Progress = _quiet,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    hint: str = "",
) -> PackerRun:
    """Run Packer, stream its progress as text, raise PackerError unless it exits 0.

    Packer runs in its own process group, which dies with this process
    (adapters/toolproc.py). On timeout, or when the caller is interrupted, it gets SIGINT first (it then deletes its build instance,
    key pair and security group) and SIGKILL only after a grace period.
    """
    try:
        proc = toolproc.start(argv, cwd=cwd, env=env, stderr=subprocess.STDOUT)
    except FileNotFoundError:
        raise missing_packer(argv[0]) from None
    timed_out = threading.Event()

    def on_timeout() -> None:
        timed_out.set()
        toolproc.interrupt(proc, INTERRUPT_GRACE_S)

    watchdog = threading.Timer(timeout_s, on_timeout)
    watchdog.daemon = True
    watchdog.start()
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # ends when Packer exits (or is killed by the watchdog)
            lines.append(line.rstrip("\n"))
            for text in readable(line):
                progress(text)
        returncode = proc.wait()
    except BaseException:
        toolproc.interrupt(proc, INTERRUPT_GRACE_S)
        raise
    finally:
        watchdog.cancel()
        if proc.stdout:
            proc.stdout.close()
    where = str(argv[-1])
    if timed_out.is_set():
        message = f"timed out after {timeout_s:g}s and was interrupted\n{error_text(lines)}"
        raise PackerError(argv, returncode, message, where=where, hint=hint)
    if returncode != 0:
        raise PackerError(argv, returncode, error_text(lines), where=where, hint=hint)
    return PackerRun(tuple(argv), returncode, tuple(lines))


# -- the adapter ------------------------------------------------------------------


class PackerBaker:
    """Bakes (or reuses) the AMI of a release in the region and at the endpoint of `target`."""

    def __init__(
        self,
        target: AwsTarget,
        template: Path,
        artifact: Path,
        *,
        source_ami: str = "",
        instance_type: str = "",
        source_paths: Mapping[str, Path] | None = None,
        variables: Mapping[str, str] | None = None,
        host_variables: Mapping[str, str] | None = None,
        packer: str = TOOL,
        progress: Progress = _quiet,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.target = target
        self.template = template
        self.artifact = artifact
        self.source_ami = source_ami
        self.instance_type = instance_type
        self.source_paths = dict(source_paths or {})
        self.variables = dict(variables or {})
        # Where things go on this machine, not what the image is made of: passed to Packer, never hashed,
        # so the same release hashes the same everywhere.
        self.host_variables = dict(host_variables or {})
        self.packer = packer
        self.progress = progress
        self.timeout_s = timeout_s
        self._environ = environ

    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def hash_inputs(self) -> dict[str, Path]:
        """Everything the image is made from, by stable label."""
        inputs = {"template": self.template, "artifact": self.artifact, **self.source_paths}
        plugins = self.template.parent / PLUGINS_FILE
        if plugins.is_file():
            inputs["plugins"] = plugins
        provision = self.template.parent / "provision"
        if provision.is_dir():
            inputs["provision"] = provision
        return inputs

    def source_hash(self, version: str) -> str:
        # Settings that change what is in the image; instance type, subnet etc. do not, but are cheap to include.
        settings = {"source_ami": self.source_ami, **{f"var.{k}": v for k, v in self.variables.items()}}
        return hashing.source_hash(version, self.hash_inputs(), settings)

    def bake(self, environment: str, version: str, *, force: bool = False) -> BakeResult:
        digest = self.source_hash(version)
        short = digest[: hashing.SHORT]
        if not force:
            ami = self.find_reusable(environment, digest)
            if ami:
                self.progress(f"reusing {ami}: already baked for {environment} from source {short}")
                return BakeResult(ami=ami, source_hash=digest, reused=True)
        if shutil.which(self.packer) is None:
            raise missing_packer(self.packer)
        self.progress(f"baking {environment} {version} (source {short}) with {self.template}")
        ami = self._build(environment, version, digest)
        self.progress(f"baked {ami} for {environment} {version}")
        return BakeResult(ami=ami, source_hash=digest, reused=False)

    def check_image(self, image: str) -> None:
        check_image(client(self.target, "ec2"), image, f"ec2 describe-images in {self.target.region}")

    def find_reusable(self, environment: str, source_hash: str) -> str | None:
        """Our newest available AMI for `environment` tagged with `source_hash`."""
        ec2 = client(self.target, "ec2")
        try:
            pages = ec2.get_paginator("describe_images").paginate(
                Owners=["self"], Filters=reuse_filters(environment, source_hash)
            )
            images = [image for page in pages for image in page.get("Images", [])]
        except (ClientError, BotoCoreError) as e:
            raise AdapterError(
                f"could not look for an AMI already baked from source {source_hash[: hashing.SHORT]}: {e}",
                where=f"ec2 describe-images in {self.target.region} at {self._endpoint() or 'AWS'}",
                hint="check the AWS credentials and region (`aws sts get-caller-identity`), then run the deploy again",
            ) from None
        return choose_reusable(images)

    def _endpoint(self) -> str:
        return endpoint_url(self.target, self.environ, "ec2")

    def _init(self, hint: str) -> None:
        """Install the template's plugins where this Packer needs them (no-op on Packer 1.6)."""
        cwd, env = self.template.resolve().parent, packer_environment(self.environ)
        shown = run_packer([self.packer, "version"], cwd=cwd, env=env, timeout_s=VERSION_TIMEOUT_S, hint=hint)
        argv = init_argv(self.template.resolve(), parse_packer_version("\n".join(shown.lines)), packer=self.packer)
        if argv:
            run_packer(argv, cwd=cwd, env=env, progress=self.progress, timeout_s=INIT_TIMEOUT_S, hint=hint)

    def _build(self, environment: str, version: str, digest: str) -> str:
        hint = (
            f"fix what Packer reports (check the template with `packer validate` on {self.template}), "
            "then run the deploy again"
        )
        with tempfile.TemporaryDirectory(prefix="bluegreen-packer-") as tmp:
            manifest = Path(tmp) / "manifest.json"
            variables = template_variables(
                version=version,
                source_hash=digest,
                environment=environment,
                region=self.target.region,
                ec2_endpoint=self._endpoint(),
                app_artifact=self.artifact.resolve(),
                manifest_path=manifest,
                source_ami=self.source_ami,
                instance_type=self.instance_type,
                extra={**self.variables, **self.host_variables},
            )
            self._init(hint)
            argv = build_argv(self.template.resolve(), variables, packer=self.packer)
            run = run_packer(
                argv,
                cwd=self.template.resolve().parent,
                env=packer_environment(environ_with(self.target.process_env(), self.environ)),
                progress=self.progress,
                timeout_s=self.timeout_s,
                hint=hint,
            )
            text = manifest.read_text() if manifest.exists() else ""
        artifact_id = artifact_id_from_manifest(text) or artifact_id_from_lines(run.lines)
        ami = ami_from_artifact_id(artifact_id, self.target.region) if artifact_id else None
        if not ami:
            raise AdapterError(
                f"packer finished but reported no AMI in {self.target.region} (artifact: {artifact_id or 'none'})",
                where=str(self.template),
                hint="the template must build amazon-ebs in the configured region and keep its manifest post-processor",
            )
        return ami
