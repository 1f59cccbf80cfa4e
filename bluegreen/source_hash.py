"""The source hash: one name for everything an image is made from.

An AMI is tagged with the hash of its inputs (the app artifact, the Packer
template, its provisioning files, any extra source paths, the version and
the settings that change the image). The same inputs give the same hash on
any machine, so a release whose hash already has an image is not baked again.

What makes it stable: each input has a label instead of its absolute path;
a directory is walked in sorted order and each file is named by its path
relative to the directory, in POSIX form; only names and contents count
(not timestamps, owners or modes); caches Python writes beside the source
are ignored. Every name and value is length-prefixed so no two different
inputs can produce the same byte stream.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

from bluegreen.errors import ConfigError

# Bump when the byte stream below changes: old images are then baked again.
FORMAT = b"bluegreen-source-hash v1\n"
SHORT = 12  # characters of the hash used in names (AMI name, messages)

# Written by tools beside the source, never part of it.
IGNORED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
IGNORED_SUFFIXES = (".pyc", ".pyo")


class _Updatable(Protocol):
    def update(self, data: bytes, /) -> None: ...


def digest(version: str, files: Iterable[tuple[str, bytes]], settings: Mapping[str, str] | None = None) -> str:
    """Hash a version, named file contents and settings; order of `files` and `settings` does not matter."""
    h = hashlib.sha256(FORMAT)
    _field(h, b"version", version.encode())
    for key, value in sorted((settings or {}).items()):
        _field(h, b"setting", key.encode())
        _field(h, b"value", value.encode())
    seen: set[str] = set()
    for name, content in sorted(files):
        if name in seen:
            raise ValueError(f"two source files are both named {name!r}")
        seen.add(name)
        _field(h, b"file", name.encode())
        _field(h, b"content", content)
    return h.hexdigest()


def _field(h: _Updatable, kind: bytes, value: bytes) -> None:
    h.update(b"%s %d:" % (kind, len(value)))
    h.update(value)
    h.update(b"\n")


def is_ignored(relative: Path) -> bool:
    return any(part in IGNORED_DIRS for part in relative.parts[:-1]) or relative.name.endswith(IGNORED_SUFFIXES)


def collect(inputs: Mapping[str, Path]) -> list[tuple[str, bytes]]:
    """Read every input: `label/<file name>` for a file, `label/<relative path>` for each file of a directory.

    Sorted by name. Raises ConfigError when an input is missing or unreadable.
    """
    out: list[tuple[str, bytes]] = []
    for label, path in sorted(inputs.items()):
        try:
            out.extend(_read_input(label, path))
        except OSError as e:
            raise ConfigError(
                f"cannot read {path} ({label}) to compute the source hash: {e.strerror or e}",
                where=str(path),
                hint="check the bake settings (template, artifact, source_paths) in bluegreen.yaml",
            ) from None
    return sorted(out)


def _read_input(label: str, path: Path) -> Iterable[tuple[str, bytes]]:
    if path.is_dir():
        for root, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS)  # prune in place: never walked
            for name in sorted(names):
                relative = Path(root, name).relative_to(path)
                if not is_ignored(relative):
                    yield f"{label}/{relative.as_posix()}", Path(root, name).read_bytes()
    else:
        yield f"{label}/{path.name}", path.read_bytes()  # FileNotFoundError when missing


def source_hash(version: str, inputs: Mapping[str, Path], settings: Mapping[str, str] | None = None) -> str:
    """The hash of a release: `inputs` maps a stable label to a file or directory."""
    return digest(version, collect(inputs), settings)
