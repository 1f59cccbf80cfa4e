"""Where the single-host platform keeps its files, under the state directory.

<state_dir>/local/<env>/
    registry.json        the app processes: per colour, current and previous
    nginx/               bluegreen's own nginx: nginx.conf, pid file, logs, temp
    releases/<version>-<hash>/   immutable copies of the app source
    runs/<colour>-<version>-<stamp>/   one app process: log, access log, exit code
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from bluegreen.config import Config, Environment


@dataclass(frozen=True)
class LocalPaths:
    root: Path

    @classmethod
    def of(cls, config: Config, env: Environment) -> LocalPaths:
        return cls(config.resolve(config.state.path).absolute() / "local" / env.name)

    @property
    def registry(self) -> Path:
        return self.root / "registry.json"

    @property
    def nginx(self) -> Path:
        return self.root / "nginx"

    @property
    def releases(self) -> Path:
        return self.root / "releases"

    @property
    def runs(self) -> Path:
        return self.root / "runs"


def safe_name(text: str) -> str:
    """`text` usable in a file name (versions may hold slashes, e.g. feature/x)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def prune(directory: Path, *, keep: set[Path], newest: int) -> None:
    """Remove the entries of `directory` except those in `keep` and the `newest` most recent ones."""
    if not directory.is_dir():
        return
    entries = sorted(
        (e for e in directory.iterdir() if not e.name.startswith(".")), key=lambda e: e.stat().st_mtime, reverse=True
    )
    for entry in entries[newest:]:
        if entry not in keep:
            shutil.rmtree(entry, ignore_errors=True)
