"""The files bluegreen runs besides its Python code: the Terraform modules and the default Packer template.

The repository's `infra/` and `packer/` are their one source. A wheel carries
a copy of both as package data (`bluegreen/_bundled/`, written by the build
step in setup.py); a source or editable install reads them where they are,
next to the bluegreen package.

Terraform calls a module by a relative path and Packer finds its provisioning
files beside its template, so an installed copy is materialized as a plain
directory tree in the state directory: `<state_dir>/resources/<digest>/`,
named by the hash of its content. Two bluegreen versions, or two processes
sharing a state directory, never write into a tree another one is reading.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from bluegreen import source_hash
from bluegreen.errors import MissingToolError

BUNDLE = "_bundled"  # under the bluegreen package, in a wheel
PARTS = ("infra", "packer")
PACKER_TEMPLATE = "app.pkr.hcl"
MATERIALIZED = "resources"  # under the state directory
# Written by terraform or packer when someone runs them in the source tree; never part of a module.
SKIPPED = frozenset({".terraform", "__pycache__"})
SKIPPED_SUFFIXES = (".tfstate", ".tfstate.backup", ".terraform.lock.hcl", ".pyc")


def source_tree() -> Path | None:
    """The repository holding the bluegreen package, when it is run from one (infra/ and packer/ beside it)."""
    root = Path(__file__).resolve().parents[1]
    return root if all((root / part).is_dir() for part in PARTS) else None


def bundle() -> Traversable | None:
    """The copy of infra/ and packer/ inside an installed wheel."""
    found = resources.files("bluegreen").joinpath(BUNDLE)
    return found if found.is_dir() else None


def resource_root(state_dir: Path) -> Path:
    """A directory holding infra/ and packer/: the wheel's copy materialized under `state_dir`, or the source tree."""
    packaged = bundle()
    return materialize(packaged, state_dir / MATERIALIZED) if packaged is not None else source_root()


def source_root() -> Path:
    tree = source_tree()
    if tree is None:
        raise MissingToolError(
            "bluegreen's Terraform modules and Packer template are missing from its installation",
            where=str(Path(__file__).resolve().parent),
            hint="reinstall bluegreen (pip install --force-reinstall bluegreen)",
        )
    return tree


def infra_dir(state_dir: Path) -> Path:
    """The Terraform modules: `modules/environment`, `modules/slot`, `sandbox`."""
    return resource_root(state_dir) / "infra"


def packer_template(state_dir: Path) -> Path:
    """The default Packer template, with its `provision/` files beside it."""
    return resource_root(state_dir) / "packer" / PACKER_TEMPLATE


def packer_files() -> list[tuple[str, bytes]]:
    """The default Packer template and its provisioning files, by path relative to packer/ (no README)."""
    return [
        (name, entry.read_bytes())
        for name, entry in files((bundle() or source_root()) / "packer")
        if name != "README.md"
    ]


# -- materializing a packaged tree -----------------------------------------------------


def files(root: Traversable, prefix: str = "") -> Iterator[tuple[str, Traversable]]:
    """Every file under `root` by POSIX path relative to it, in sorted order, without tool leftovers."""
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name in SKIPPED or entry.name.endswith(SKIPPED_SUFFIXES):
            continue
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            yield from files(entry, f"{name}/")
        else:
            yield name, entry


def materialize(root: Traversable, under: Path) -> Path:
    """Copy `root` to `under/<digest>` unless that copy exists; return it."""
    contents = [(name, entry.read_bytes()) for name, entry in files(root)]
    target = under / source_hash.digest("resources", contents)[:16]
    if target.is_dir():
        return target
    with staged(target) as staging:
        for name, content in contents:
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            if name.endswith(".sh"):
                path.chmod(0o755)  # package data loses its mode; Packer uploads the script and runs it
    return target


@contextmanager
def staged(target: Path) -> Iterator[Path]:
    """A new directory beside `target`, renamed to `target` when the block ends without an error.

    A reader never sees half a tree; when another process renamed its own
    copy into place first, that one stays (and this one is dropped).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    try:
        yield staging
        try:
            os.rename(staging, target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
