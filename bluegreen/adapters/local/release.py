"""The local "bake": an immutable copy of the app source per release.

`<releases>/<version>-<hash>` holds the app directory as it was at bake
time; processes run from it, so editing the source never changes a running
release. The hash is the project's source hash (the same kind an AMI is
tagged with), so baking the same version of the same source again reuses
the directory instead of copying.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from bluegreen import source_hash
from bluegreen.adapters.local.paths import safe_name
from bluegreen.errors import ConfigError
from bluegreen.ports import BakeResult


def release_name(version: str, digest: str) -> str:
    return f"{safe_name(version)}-{digest[: source_hash.SHORT]}"


def bake(app_dir: Path, releases: Path, version: str, *, wsgi: str, force: bool = False) -> BakeResult:
    """Copy `app_dir` into its release directory (or reuse it); `ami` is the directory's path."""
    if not app_dir.is_dir():
        raise ConfigError(
            f"the app directory {app_dir} does not exist",
            where="local.app",
            hint="set local.app in bluegreen.yaml to the directory holding the WSGI app (relative to the file)",
        )
    digest = source_hash.source_hash(version, {"app": app_dir}, {"wsgi": wsgi})
    target = releases / release_name(version, digest)
    if target.is_dir() and not force:
        return BakeResult(ami=str(target), source_hash=digest, reused=True)
    releases.mkdir(parents=True, exist_ok=True)
    staging = releases / f".{target.name}.{os.getpid()}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(app_dir, staging, ignore=_ignored)
    _make_read_only(staging)
    if target.is_dir():  # force: the fresh copy takes the name; the old one goes
        retired = releases / f".{target.name}.{os.getpid()}.retired"
        target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        try:
            staging.rename(target)
        except OSError:  # another bake of the same release won the race: same content, use it
            shutil.rmtree(staging, ignore_errors=True)
            return BakeResult(ami=str(target), source_hash=digest, reused=True)
    return BakeResult(ami=str(target), source_hash=digest, reused=False)


def _ignored(directory: str, names: list[str]) -> set[str]:
    # What the source hash leaves out is not part of the release either.
    return {n for n in names if n in source_hash.IGNORED_DIRS or n.endswith(source_hash.IGNORED_SUFFIXES)}


def _make_read_only(root: Path) -> None:
    """Files become read-only: a release is never edited in place. Directories stay writable for bytecode caches."""
    for path in root.rglob("*"):
        if path.is_file():
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
