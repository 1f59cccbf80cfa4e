"""`bluegreen init`: the files a service's repository needs to deploy with bluegreen.

    bluegreen.yaml           one environment of the service: AWS, AWS in the sandbox, or this host
    packer/app.pkr.hcl       (AWS) bluegreen's own template and its provision/ files, the repository's
                             to change; or none, and the config names none (the built-in one is used)
    .circleci/config.yml     (AWS) validate -> deploy -> hold -> promote, and a rollback workflow,
                             with the released tool installed from the package index

`render` is pure: options in, files out (paths relative to the repository's
root). `write_files` refuses, before writing anything, to overwrite a file
unless forced, so a half-initialised repository never happens.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path, PurePosixPath

from bluegreen import resources as bundled
from bluegreen.errors import UsageError
from bluegreen.settings import ENV_NAME

PLATFORMS = ("aws", "local")
PACKER_CHOICES = ("write", "builtin")
PACKER_DIR = PurePosixPath("packer")
CI_FILE = PurePosixPath(".circleci/config.yml")
_PLACEHOLDER = re.compile(r"@([A-Z]+)@")


@dataclass(frozen=True)
class InitOptions:
    platform: str = "aws"
    environment: str = "web-prod"
    health_path: str = "/health"
    app: str = "app"  # the app's directory, relative to the config file
    wsgi: str = "app:application"
    region: str = "us-east-1"
    sandbox: bool = False  # AWS at the sandbox's endpoint: no account, no CI
    packer: str = "write"  # write bluegreen's template into the repository, or use the built-in one
    ci: bool = True
    config: str = "bluegreen.yaml"  # POSIX path relative to the repository's root


@dataclass(frozen=True)
class File:
    path: PurePosixPath  # relative to the repository's root
    content: bytes
    executable: bool = False


def check(options: InitOptions) -> None:
    """Refuse options that would write a config `bluegreen validate` rejects."""
    if options.platform not in PLATFORMS:
        raise UsageError(f"unknown platform {options.platform!r}", where="--platform", hint="use aws or local")
    if not ENV_NAME.match(options.environment):
        raise UsageError(
            f"environment name {options.environment!r} is not valid",
            where="--environment",
            hint="use lowercase letters, digits and dashes, starting with a letter (at most 28)",
        )
    if not options.health_path.startswith("/") or any(c.isspace() for c in options.health_path):
        raise UsageError(
            f"health path {options.health_path!r} is not a URL path",
            where="--health-path",
            hint="give a path such as /health",
        )
    if options.sandbox and options.platform != "aws":
        raise UsageError("--sandbox is AWS at another endpoint", where="--sandbox", hint="add --platform aws")


def render(options: InitOptions, *, version: str | None = None) -> list[File]:
    """Every file `bluegreen init` writes for `options`."""
    check(options)
    version = version or tool_version()
    values = {
        "SERVICE": options.environment,
        "ENV": options.environment,
        "HEALTH": options.health_path,
        "APP": options.app,
        "WSGI": options.wsgi,
        "REGION": options.region,
        "CONFIG": options.config,
        "VERSION": version,
    }
    config_path = PurePosixPath(options.config)
    config_dir = config_path.parent
    writes_packer = options.platform == "aws" and options.packer == "write"
    if writes_packer:
        values["TEMPLATE"] = f"      template: {PACKER_DIR / bundled.PACKER_TEMPLATE}   # the repository's copy"
    else:
        values["TEMPLATE"] = "      # template: packer/app.pkr.hcl   # unset: the template bluegreen ships"
    name = "local" if options.platform == "local" else "sandbox" if options.sandbox else "aws"
    out = [File(config_path, fill(template_text(f"bluegreen-{name}.yaml"), values).encode())]
    if writes_packer:
        header = f"# Written by `bluegreen init` from bluegreen {version}'s template: this repository's to change.\n"
        for rel, content in bundled.packer_files():
            if rel == bundled.PACKER_TEMPLATE:
                content = header.encode() + content
            out.append(File(config_dir / PACKER_DIR / rel, content, executable=rel.endswith(".sh")))
    if options.platform == "aws" and not options.sandbox and options.ci:
        out.append(File(CI_FILE, fill(template_text("circleci.yml"), values).encode()))
    return out


def fill(text: str, values: Mapping[str, str]) -> str:
    """Replace each @NAME@; a name without a value is a bug in a template."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def template_text(name: str) -> str:
    return resources.files("bluegreen").joinpath("templates", name).read_text(encoding="utf-8")


def tool_version() -> str:
    try:
        return metadata.version("bluegreen")
    except metadata.PackageNotFoundError:  # imported from a tree that was never installed
        return "0+unknown"


# -- I/O ----------------------------------------------------------------------------------


def write_files(root: Path, files: Sequence[File], *, force: bool = False) -> list[Path]:
    """Write `files` under `root`; without `force`, refuse (writing nothing) if any of them exists."""
    existing = [str(f.path) for f in files if (root / f.path).exists()]
    if existing and not force:
        raise UsageError(
            f"{', '.join(existing)} already exist{'s' * (len(existing) == 1)}; nothing was written",
            where=str(root / existing[0]),
            hint="run `bluegreen init` again with --force to overwrite, or move the file away",
        )
    written = []
    for f in files:
        path = root / f.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f.content)
        if f.executable:
            os.chmod(path, 0o755)
        written.append(path)
    return written
