"""The registry: which app process serves each colour, and which served it before.

Like the etcd keys `.../current` and `.../previous` of a service registry,
kept in one JSON file. A process is published here only once it listens, so
nothing ever routes to an address that does not answer. Every change is a
read-modify-write under an exclusive file lock, written atomically, so two
bluegreen processes never lose each other's writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bluegreen.errors import AdapterError
from bluegreen.model import Colour

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class AppProcess:
    """One running release of the app: a gunicorn master and its workers."""

    colour: str
    version: str
    release_dir: str
    pid: int  # the gunicorn master: the target of stop and restart signals
    start_ticks: int  # with `pid`, identifies the process even after PID reuse
    group: int  # the process group, killed as a last resort
    address: str  # host:port it listens on
    run_dir: str
    started_at: float

    @property
    def host(self) -> str:
        return self.address.rpartition(":")[0]

    @property
    def port(self) -> int:
        return int(self.address.rpartition(":")[2])

    @property
    def base_url(self) -> str:
        return f"http://{self.address}"

    @property
    def log(self) -> Path:
        return Path(self.run_dir) / "gunicorn.log"

    @property
    def access_log(self) -> Path:
        return Path(self.run_dir) / "access.log"

    @property
    def exit_file(self) -> Path:
        return Path(self.run_dir) / "exit-code"

    def details(self) -> dict[str, Any]:
        """What the deployment record keeps about this colour."""
        return {
            "pid": self.pid,
            "address": self.address,
            "url": self.base_url,
            "version": self.version,
            "release_dir": self.release_dir,
            "log": str(self.log),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AppProcess:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


class Registry:
    def __init__(self, path: Path) -> None:
        self.path = path

    def current(self, colour: Colour) -> AppProcess | None:
        return self._entry(self._read(), colour, "current")

    def previous(self, colour: Colour) -> AppProcess | None:
        return self._entry(self._read(), colour, "previous")

    def publish(self, proc: AppProcess) -> None:
        """Make `proc` its colour's current process; the one it replaces becomes previous."""
        with self._update() as data:
            slot = data["colours"].setdefault(proc.colour, {"current": None, "previous": None})
            if slot.get("current"):
                slot["previous"] = slot["current"]
            slot["current"] = asdict(proc)

    def retire(self, colour: Colour) -> None:
        """The colour's process is stopped: keep it as previous, clear current."""
        with self._update() as data:
            slot = data["colours"].setdefault(colour.value, {"current": None, "previous": None})
            if slot.get("current"):
                slot["previous"] = slot["current"]
            slot["current"] = None

    def everything(self) -> list[AppProcess]:
        """Every process the registry knows, current and previous (for cleaning up)."""
        data = self._read()
        out = []
        for colour in Colour:
            for key in ("current", "previous"):
                entry = self._entry(data, colour, key)
                if entry is not None:
                    out.append(entry)
        return out

    # -- file -----------------------------------------------------------------------------

    @staticmethod
    def _entry(data: Mapping[str, Any], colour: Colour, key: str) -> AppProcess | None:
        raw = data["colours"].get(colour.value, {}).get(key)
        return AppProcess.from_dict(raw) if raw else None

    def _read(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"schema_version": SCHEMA_VERSION, "colours": {}}
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise AdapterError(
                f"the process registry {self.path} is not valid JSON: {e}",
                where=str(self.path),
                hint="stop the environment's processes (`bluegreen stop ENV`) and remove the file",
            ) from None
        if data.get("schema_version") != SCHEMA_VERSION:
            raise AdapterError(
                f"the process registry {self.path} has schema_version {data.get('schema_version')}, "
                f"this bluegreen reads {SCHEMA_VERSION}",
                where=str(self.path),
                hint="use the bluegreen version that wrote it, or `bluegreen stop ENV` and remove the file",
            )
        return data

    @contextlib.contextmanager
    def _update(self) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self._read()
            yield data
            tmp = self.path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
            tmp.replace(self.path)
