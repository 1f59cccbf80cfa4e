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
The EC2 endpoint Packer talks to is the one the boto3 clients use (the
AwsTarget, else AWS_ENDPOINT_URL as botocore reads it): Packer 1.6 ignores
AWS_ENDPOINT_URL, so it is passed as the template's `ec2_endpoint`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bluegreen import resources
from bluegreen import source_hash as hashing
from bluegreen.adapters.aws.session import AwsTarget, client
from bluegreen.config import Config, Environment
from bluegreen.errors import AdapterError, ConfigError, MissingToolError, ToolError
from bluegreen.ports import BakeResult

TOOL = "packer"
MANAGED_BY = "bluegreen"
DEFAULT_TIMEOUT_S = 3600.0  # a real bake (launch, provision, snapshot) takes minutes, not hours
INTERRUPT_GRACE_S = 300.0  # after SIGINT Packer terminates its build instance; give it time
TAIL_LINES = 20

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


def ec2_endpoint(target: AwsTarget, environ: Mapping[str, str]) -> str:
    """The EC2 endpoint boto3 uses for `target`: its own, else the one botocore takes from the environment."""
    if target.endpoint_url:
        return target.endpoint_url
    if environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return ""
    return environ.get("AWS_ENDPOINT_URL_EC2") or environ.get("AWS_ENDPOINT_URL") or ""


def packer_environment(environ: Mapping[str, str]) -> dict[str, str]:
    # No version check against checkpoint.hashicorp.com: bakes must not depend on it.
    return {**environ, "CHECKPOINT_DISABLE": "1"}


# -- pure: Packer's output ----------------------------------------------------------


@dataclass(frozen=True)
class MachineLine:
    """One `-machine-readable` line: timestamp,target,type,data..., fields already unescaped."""

    timestamp: str
    target: str
    kind: str
    data: tuple[str, ...]


def unescape(value: str) -> str:
    """Undo Packer's machine-readable escaping of commas and line breaks."""
    return value.replace("%!(PACKER_COMMA)", ",").replace("\\n", "\n").replace("\\r", "\r")


def parse_line(line: str) -> MachineLine | None:
    """None for anything that is not a machine-readable line (e.g. a crash on stderr)."""
    fields = line.rstrip("\r\n").split(",")
    if len(fields) < 3 or not fields[0].isdigit():
        return None
    return MachineLine(fields[0], fields[1], fields[2], tuple(unescape(f) for f in fields[3:]))


def readable(line: str) -> list[str]:
    """What an operator should see of one output line: the `ui` text, or the raw line."""
    parsed = parse_line(line)
    if parsed is None:
        text = line.rstrip()
        return [text] if text else []
    if parsed.kind != "ui" or len(parsed.data) < 2:
        return []  # artifact, error-count, ...: data for parsers, the ui lines say the same in words
    return [t.rstrip() for t in parsed.data[1].split("\n") if t.strip()]


def artifact_id_from_lines(lines: Iterable[str]) -> str | None:
    """The id of the first artifact (`<ts>,<build>,artifact,0,id,<id>`)."""
    for line in lines:
        parsed = parse_line(line)
        if parsed and parsed.kind == "artifact" and parsed.data[:2] == ("0", "id") and len(parsed.data) > 2:
            return parsed.data[2]
    return None


def artifact_id_from_manifest(text: str) -> str | None:
    """The artifact id of the last build of the last run in a manifest post-processor's JSON."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return None
    builds = doc.get("builds") if isinstance(doc, dict) else None
    if not isinstance(builds, list):
        return None
    run = doc.get("last_run_uuid")
    mine = [b for b in builds if isinstance(b, dict) and (not run or b.get("packer_run_uuid") == run)]
    ids = [str(b["artifact_id"]) for b in mine if b.get("artifact_id")]
    return ids[-1] if ids else None


def ami_from_artifact_id(artifact_id: str, region: str) -> str | None:
    """`us-east-1:ami-1,eu-west-1:ami-2` -> the AMI in `region` (a bare `ami-...` is taken as is)."""
    amis = {}
    for part in artifact_id.split(","):
        where, _, ami = part.strip().rpartition(":")
        amis[where] = ami
    if region in amis:
        return amis[region]
    if list(amis) == [""]:
        return amis[""]
    return None


def error_text(lines: Sequence[str]) -> str:
    """Packer's own words for why it failed.

    A build's errors (`<build>,error,<text>`) are the most precise; before any
    build starts (a template that does not parse) only `ui,error` lines say
    it; a crash writes plain text. Without any of them: the last lines.
    """
    build_errors: list[str] = []
    ui_errors: list[str] = []
    plain: list[str] = []
    for line in lines:
        parsed = parse_line(line)
        if parsed is None:
            if line.strip():
                plain.append(line.rstrip())
        elif parsed.kind == "error" and parsed.data:
            build_errors.append(f"{parsed.target}: {parsed.data[0].strip()}" if parsed.target else parsed.data[0])
        elif parsed.kind == "ui" and parsed.data[:1] == ("error",) and len(parsed.data) > 1:
            ui_errors.append(parsed.data[1].strip())
    chosen = build_errors or [e for e in ui_errors if e and not e.startswith("==> Some builds")] or plain
    if not chosen:
        chosen = [t for line in lines[-TAIL_LINES:] for t in readable(line)]
    return "\n".join(dict.fromkeys(chosen))  # once each, in order


# -- pure: which AMI to reuse -----------------------------------------------------


def reuse_filters(environment: str, source_hash: str) -> list[dict[str, Any]]:
    return [
        {"Name": "tag:SourceHash", "Values": [source_hash]},
        {"Name": "tag:ManagedBy", "Values": [MANAGED_BY]},
        {"Name": "tag:Environment", "Values": [environment]},
    ]


def choose_reusable(images: Iterable[Mapping[str, Any]]) -> str | None:
    """The newest image that is `available`.

    A `pending` image is still being created (or its bake died); waiting on it
    could hang, baking again cannot, so only finished images are reused.
    """
    ready = [i for i in images if i.get("State") == "available" and i.get("ImageId")]
    if not ready:
        return None
    # ISO-8601 UTC strings sort in time order.
    return str(max(ready, key=lambda i: str(i.get("CreationDate", "")))["ImageId"])


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

    Packer runs in its own process group. On timeout, or when the caller is
    interrupted, it gets SIGINT first (it then deletes its build instance,
    key pair and security group) and SIGKILL only after a grace period.
    """
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise missing_packer(argv[0]) from None
    timed_out = threading.Event()

    def on_timeout() -> None:
        timed_out.set()
        _interrupt(proc)

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
        _interrupt(proc)
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


def _interrupt(proc: subprocess.Popen[str]) -> None:
    """SIGINT the process group, then SIGKILL it if it outlives the grace period."""
    for sig, wait_s in ((signal.SIGINT, INTERRUPT_GRACE_S), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


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
        self.packer = packer
        self.progress = progress
        self.timeout_s = timeout_s
        self._environ = environ

    @classmethod
    def from_config(
        cls, config: Config, environment: Environment, target: AwsTarget, *, progress: Progress = _quiet
    ) -> PackerBaker:
        """Reads `environment.bake`: template (empty: bluegreen's own), artifact (empty: `local.app`), source_ami,
        source_paths, instance_type, variables. Paths are relative to the config file."""
        bake = environment.bake
        return cls(
            target,
            config.resolve(bake.template) if bake.template else resources.packer_template(config.state.path),
            config.resolve(bake.artifact or environment.local.app),
            source_ami=bake.source_ami,
            instance_type=bake.instance_type,
            source_paths={f"source_paths/{p}": config.resolve(p) for p in bake.source_paths},
            variables=bake.variables,
            progress=progress,
        )

    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def hash_inputs(self) -> dict[str, Path]:
        """Everything the image is made from, by stable label."""
        inputs = {"template": self.template, "artifact": self.artifact, **self.source_paths}
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
        return ec2_endpoint(self.target, self.environ)

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
                extra=self.variables,
            )
            argv = build_argv(self.template.resolve(), variables, packer=self.packer)
            run = run_packer(
                argv,
                cwd=self.template.resolve().parent,
                env=packer_environment(self.environ),
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
