"""What a sandbox bake put into an image, found again from the AMI.

moto makes an AMI out of nothing: it holds the image's id and tags, not its
disk. So when bluegreen bakes in the sandbox, the Packer template's
`shell-local` provisioner (packer/app.pkr.hcl, variable `image_store`) writes
what a real bake installs into the image to a directory on this machine,
keyed by the image's `SourceHash` tag:

    <store>/<source hash>/app/         the app artifact (a directory's contents, or a .tar.gz unpacked)
    <store>/<source hash>/release.env  APP_VERSION=<the baked version>  (/opt/bluegreen/release.env on AWS)
    <store>/<source hash>/image.env    WSGI_APP=<module:callable>, SOURCE_HASH=<hash>

An entry appears whole (the provisioner writes a temporary directory and
renames it), so a reader never sees half of one. An AMI whose hash has no
entry was never baked here: its instances cannot run anything.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
HASH = re.compile(r"^[A-Za-z0-9._-]+$")
RELEASE_ENV = "release.env"
IMAGE_ENV = "image.env"
APP_DIR = "app"
DEFAULT_WSGI_APP = "app:application"


class EnvFileError(ValueError):
    """A NAME=VALUE file that does not follow the format."""


def parse_env(text: str, *, where: str) -> dict[str, str]:
    """NAME=VALUE lines as systemd's EnvironmentFile reads them here: no quoting, blank lines and # comments skipped."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not NAME.match(name):
            raise EnvFileError(f"{where} line {number}: expected NAME=VALUE with NAME matching {NAME.pattern}")
        out[name] = value
    return out


def store_dir(state_dir: Path) -> Path:
    """Where the sandbox's bakes record their images: beside the sandbox's other files."""
    return state_dir / "sandbox" / "images"


@dataclass(frozen=True)
class ImageEntry:
    source_hash: str
    app_dir: Path
    release_env: dict[str, str]
    wsgi_app: str

    @property
    def version(self) -> str:
        return self.release_env.get("APP_VERSION", "")


class ImageStoreError(RuntimeError):
    """An entry exists but cannot be read; the reason says which file and why."""


def lookup(store: Path, source_hash: str) -> ImageEntry | None:
    """The entry baked from `source_hash`, or None if no bake here recorded one."""
    if not HASH.match(source_hash):
        return None
    entry = store / source_hash
    if not entry.is_dir():
        return None
    try:
        release = parse_env((entry / RELEASE_ENV).read_text(), where=str(entry / RELEASE_ENV))
        image_path = entry / IMAGE_ENV
        image = parse_env(image_path.read_text(), where=str(image_path)) if image_path.exists() else {}
    except (OSError, EnvFileError) as e:
        raise ImageStoreError(f"image store entry {entry} is unreadable: {e}") from None
    if not (entry / APP_DIR).is_dir():
        raise ImageStoreError(f"image store entry {entry} has no {APP_DIR}/ directory")
    return ImageEntry(
        source_hash=source_hash,
        app_dir=entry / APP_DIR,
        release_env=release,
        wsgi_app=image.get("WSGI_APP") or DEFAULT_WSGI_APP,
    )


def _extract(tar: tarfile.TarFile, into: Path) -> None:
    """Unpack a release tarball, refusing what would land outside `into` (as tarfile's "data" filter does).

    Python 3.11.4 added extraction filters; Debian 12's Python 3.11.2 has none, so there the members are checked here.
    """
    if hasattr(tarfile, "data_filter"):
        tar.extractall(into, filter="data")
        return
    root = into.resolve()
    for member in tar.getmembers():
        target = (root / member.name).resolve()
        link = ((target.parent if member.issym() else root) / member.linkname).resolve()
        inside = target.is_relative_to(root) and (not (member.issym() or member.islnk()) or link.is_relative_to(root))
        if not inside or not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
            raise tarfile.TarError(f"{member.name}: not a plain file or directory inside the release")
    tar.extractall(into)  # every member checked above


def record(
    store: Path, source_hash: str, artifact: Path, version: str, *, wsgi_app: str = DEFAULT_WSGI_APP
) -> ImageEntry:
    """Write an entry as the template's provisioner does (for images made without Packer, and the tests)."""
    if not HASH.match(source_hash):
        raise ValueError(f"not a source hash: {source_hash!r}")
    store.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{source_hash}.", dir=store))
    app = tmp / APP_DIR
    if artifact.is_dir():
        shutil.copytree(artifact, app, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    elif artifact.name.endswith((".tar.gz", ".tgz")):
        app.mkdir()
        with tarfile.open(artifact) as tar:
            _extract(tar, app)
    else:
        app.mkdir()
        shutil.copy2(artifact, app)
    (tmp / RELEASE_ENV).write_text(f"APP_VERSION={version}\n")
    (tmp / IMAGE_ENV).write_text(f"WSGI_APP={wsgi_app}\nSOURCE_HASH={source_hash}\n")
    final = store / source_hash
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    entry = lookup(store, source_hash)
    assert entry is not None
    return entry
