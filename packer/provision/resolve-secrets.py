#!/usr/bin/env python3
"""Resolve the instance's secret references into an environment file for the app's unit.

Runs as root before the app starts (ExecStartPre=+ in bluegreen-app.service):

    resolve-secrets.py [REF_FILE [OUT_FILE]]
    (defaults /etc/bluegreen/secrets.ref and /run/bluegreen/secrets.env)

REF_FILE holds NAME=ssm:<parameter name or ARN> and
NAME=secretsmanager:<secret id or ARN> lines (the launch template's user
data writes it). Each value is fetched with the instance role's credentials:
SSM GetParameter WithDecryption, Secrets Manager GetSecretValue
(SecretString). OUT_FILE (0600, on tmpfs) gets NAME="value" lines that
systemd reads as EnvironmentFile. Any failure exits non-zero with the name
and the reference (never a value), so the app never starts half-configured.

botocore rather than the AWS CLI: the release's virtualenv carries it, so the
resolver works on any base image (the CLI is not on every distribution) and
fetches every secret in one process. The region comes from AWS_REGION /
AWS_DEFAULT_REGION, else from the instance metadata (IMDSv2), since botocore
does not look there by itself.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import botocore.session
from botocore.exceptions import BotoCoreError, ClientError
from botocore.utils import InstanceMetadataRegionFetcher

REF_FILE = "/etc/bluegreen/secrets.ref"
OUT_FILE = "/run/bluegreen/secrets.env"
NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


class ResolveError(Exception):
    pass


def read_refs(path: Path) -> list[tuple[str, str, str]]:
    """(NAME, source, identifier) per line; blank lines and # comments are skipped."""
    refs = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, ref = line.partition("=")
        source, colon, ident = ref.partition(":")
        if not sep or not NAME.match(name) or not colon or source not in ("ssm", "secretsmanager") or not ident:
            raise ResolveError(f"{path}:{number}: expected NAME=ssm:<name> or NAME=secretsmanager:<id>")
        refs.append((name, source, ident))
    return refs


def region() -> str:
    found = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not found:
        found = InstanceMetadataRegionFetcher(timeout=2, num_attempts=3).retrieve_region()
    if not found:
        raise ResolveError("no AWS region: set AWS_REGION, or run on EC2 with instance metadata reachable")
    return str(found)


def fetch(clients: dict[str, Any], source: str, ident: str) -> str:
    client = clients[source]
    if source == "ssm":
        return str(client.get_parameter(Name=ident, WithDecryption=True)["Parameter"]["Value"])
    answer = client.get_secret_value(SecretId=ident)
    if "SecretString" not in answer:
        raise ResolveError("is a binary secret; only SecretString can become an environment variable")
    return str(answer["SecretString"])


def env_line(name: str, value: str) -> str:
    # systemd EnvironmentFile: a double-quoted value keeps spaces, '#' and '=';
    # inside it a backslash escapes '"', '\\', '`' and '$' (the characters a
    # shell would also interpret). A line break cannot be carried safely.
    if "\n" in value or "\r" in value or "\0" in value:
        raise ResolveError("has a line break; the app's environment takes one-line values")
    escaped = re.sub(r'(["\\`$])', r"\\\1", value)
    return f'{name}="{escaped}"\n'


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secrets.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str]) -> int:
    ref_file = Path(argv[1] if len(argv) > 1 else REF_FILE)
    out_file = Path(argv[2] if len(argv) > 2 else OUT_FILE)
    try:
        refs = read_refs(ref_file) if ref_file.exists() else []
        lines = []
        if refs:
            session = botocore.session.get_session()
            where = region()
            clients = {s: session.create_client(s, region_name=where) for s in {source for _, source, _ in refs}}
            for name, source, ident in refs:
                try:
                    lines.append(env_line(name, fetch(clients, source, ident)))
                except (ClientError, BotoCoreError, ResolveError) as e:
                    raise ResolveError(f"{name} ({source}:{ident}): {e}") from None
        write_private(out_file, "".join(lines))
    except (ResolveError, OSError) as e:
        print(f"resolve-secrets: {e}", file=sys.stderr)
        return 1
    print(f"resolve-secrets: {len(lines)} secret(s) written to {out_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
