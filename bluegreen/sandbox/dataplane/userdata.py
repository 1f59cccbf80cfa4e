"""An instance's user data as the sandbox reads it: settings and secret references.

bluegreen's launch templates carry a `#cloud-config` document (rendered by
infra/modules/slot; the format is the settings contract):

    #cloud-config
    write_files:
      - path: /etc/bluegreen/app.env         NAME=VALUE lines: the app's settings
        content: |
          APP_GREETING=hello
      - path: /etc/bluegreen/secrets.ref     NAME=ssm:<parameter> or NAME=secretsmanager:<secret id or ARN>
        content: |
          APP_SECRET=ssm:/bluegreen/demo/app-secret
    runcmd:
      - [systemctl, start, --no-block, bluegreen-app.service]

On EC2, cloud-init writes the files and the runcmd starts the app unit; the
unit resolves secrets.ref at start. The sandbox does the same from this
parse. Pure: text in, values out; anything malformed raises UserDataError
with the reason.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import yaml

from bluegreen.sandbox.dataplane.imagestore import EnvFileError, parse_env

HEADER = "#cloud-config"
APP_ENV = "/etc/bluegreen/app.env"
SECRETS_REF = "/etc/bluegreen/secrets.ref"
APP_UNIT = "bluegreen-app.service"
SECRET_KINDS = ("ssm", "secretsmanager")


class UserDataError(ValueError):
    """User data that does not follow the contract; the message says where."""


@dataclass(frozen=True)
class SecretRef:
    kind: str  # "ssm" or "secretsmanager"
    name: str  # parameter name, or secret id / ARN

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class UserData:
    settings: dict[str, str]
    secrets: dict[str, SecretRef]
    starts_app: bool  # runcmd starts the app unit (nothing else does: it is not enabled in the image)


def decode(encoded: str) -> str:
    """The launch template's UserData (base64, as AWS requires) as text."""
    try:
        return base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as e:
        raise UserDataError(f"user data is not base64-encoded UTF-8 text: {e}") from None


def parse_secret_ref(name: str, ref: str) -> SecretRef:
    kind, sep, target = ref.partition(":")
    if not sep or kind not in SECRET_KINDS or not target:
        raise UserDataError(
            f"{SECRETS_REF}: {name}={ref!r} is not a secret reference "
            "(expected ssm:<parameter name> or secretsmanager:<secret id or ARN>)"
        )
    return SecretRef(kind=kind, name=target)


def parse(text: str) -> UserData:
    """Settings, secret references and whether the app is started, from `#cloud-config` user data."""
    if not text.startswith(HEADER):
        raise UserDataError(f"user data does not start with {HEADER!r} (the contract's cloud-config document)")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise UserDataError(f"user data is not valid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise UserDataError("user data: the cloud-config document is not a mapping")
    files = _files(doc.get("write_files"))
    missing = [p for p in (APP_ENV, SECRETS_REF) if p not in files]
    if missing:
        raise UserDataError(f"user data: write_files has no entry for {', '.join(missing)}")
    try:
        settings = parse_env(files[APP_ENV], where=APP_ENV)
        refs = parse_env(files[SECRETS_REF], where=SECRETS_REF)
    except EnvFileError as e:
        raise UserDataError(f"user data: {e}") from None
    secrets = {name: parse_secret_ref(name, ref) for name, ref in refs.items()}
    return UserData(settings=settings, secrets=secrets, starts_app=_starts_app(doc.get("runcmd")))


def _files(entries: Any) -> dict[str, str]:
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise UserDataError("user data: write_files is not a list")
    out: dict[str, str] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise UserDataError(f"user data: write_files[{index}] has no path")
        content = entry.get("content", "")
        if content is None:
            content = ""
        if not isinstance(content, str):
            raise UserDataError(f"user data: write_files[{index}] ({entry['path']}): content is not text")
        if entry.get("encoding") not in (None, "text/plain"):
            raise UserDataError(f"user data: write_files[{index}] ({entry['path']}): only plain content is supported")
        out[entry["path"]] = content
    return out


def _starts_app(runcmd: Any) -> bool:
    if not isinstance(runcmd, list):
        return False
    for command in runcmd:
        words = command.split() if isinstance(command, str) else command
        if isinstance(words, list) and "systemctl" in words and "start" in words and APP_UNIT in words:
            return True
    return False
