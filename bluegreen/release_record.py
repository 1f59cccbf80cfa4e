"""The release record: one version through waves of environments, durable like a deployment record.

It names, for each environment, the deployment that carries the release there
and where that stands; each deployment keeps its own record, lock and
rollback. The store writes it conditionally on `revision`, like a deployment,
so the threads of one process and the CI jobs of many can all update it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bluegreen.model import Actor, Event

SCHEMA_VERSION = 1


class ReleaseStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # at the gate between two waves: `bluegreen promote NAME`
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # an environment failed; the release stopped
    ABORTED = "aborted"

    @property
    def terminal(self) -> bool:
        return self in (ReleaseStatus.SUCCEEDED, ReleaseStatus.FAILED, ReleaseStatus.ABORTED)


class EnvState(StrEnum):
    PENDING = "pending"  # its wave has not reached it
    RUNNING = "running"  # a deployment carries the release there (or is about to)
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # rolled back, refused (locked), or needs an operator: `note` says
    ABORTED = "aborted"  # rolled back because the release stopped
    SKIPPED = "skipped"  # never started: the release stopped before its turn

    @property
    def finished(self) -> bool:
        return self not in (EnvState.PENDING, EnvState.RUNNING)


@dataclass(frozen=True)
class EnvEntry:
    state: EnvState = EnvState.PENDING
    deployment_id: str = ""
    deployment_status: str = ""  # the deployment's last status; "locked": refused by another's lock
    note: str = ""
    started_at: float = 0.0
    finished_at: float = 0.0


@dataclass(frozen=True)
class ReleaseRecord:
    id: str
    name: str
    version: str
    waves: tuple[tuple[str, ...], ...]
    parallelism: int  # 0: the whole wave at once
    on_failure: str
    promotion: str
    started_by: Actor
    created_at: float
    updated_at: float
    status: ReleaseStatus = ReleaseStatus.RUNNING
    envs: Mapping[str, EnvEntry] = field(default_factory=dict)
    promoted: tuple[int, ...] = ()  # the waves whose gate was passed by `promote`
    abort_requested: str = ""  # the reason, once someone asked
    events: tuple[Event, ...] = ()
    # True when CI runs one job per environment (`release --only`): each job starts its own environment
    # when `decide` says so, and no process drives the whole release.
    split: bool = False
    revision: int = 0

    def replace(self, **changes: Any) -> ReleaseRecord:
        return dataclasses.replace(self, **changes)

    def entry(self, environment: str) -> EnvEntry:
        return self.envs.get(environment, EnvEntry())

    def with_entry(self, environment: str, **changes: Any) -> ReleaseRecord:
        envs = dict(self.envs)
        envs[environment] = dataclasses.replace(self.entry(environment), **changes)
        return self.replace(envs=envs)

    def with_event(self, at: float, kind: str, message: str) -> ReleaseRecord:
        return self.replace(events=(*self.events, Event(at, kind, message)), updated_at=at)

    @property
    def environments(self) -> tuple[str, ...]:
        return tuple(e for wave in self.waves for e in wave)


def release_to_dict(r: ReleaseRecord) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "id": r.id,
        "name": r.name,
        "version": r.version,
        "waves": [list(w) for w in r.waves],
        "parallelism": r.parallelism,
        "on_failure": r.on_failure,
        "promotion": r.promotion,
        "started_by": dataclasses.asdict(r.started_by),
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "status": r.status.value,
        "envs": {name: {**dataclasses.asdict(e), "state": e.state.value} for name, e in r.envs.items()},
        "promoted": list(r.promoted),
        "abort_requested": r.abort_requested,
        "events": [dataclasses.asdict(ev) for ev in r.events],
        "split": r.split,
        "revision": r.revision,
    }


def release_from_dict(d: Mapping[str, Any]) -> ReleaseRecord:
    return ReleaseRecord(
        id=d["id"],
        name=d["name"],
        version=d["version"],
        waves=tuple(tuple(w) for w in d["waves"]),
        parallelism=int(d["parallelism"]),
        on_failure=d["on_failure"],
        promotion=d["promotion"],
        started_by=Actor(**d["started_by"]),
        created_at=float(d["created_at"]),
        updated_at=float(d["updated_at"]),
        status=ReleaseStatus(d["status"]),
        envs={n: EnvEntry(**{**e, "state": EnvState(e["state"])}) for n, e in d.get("envs", {}).items()},
        promoted=tuple(d.get("promoted", ())),
        abort_requested=d.get("abort_requested", ""),
        events=tuple(Event(**ev) for ev in d.get("events", ())),
        split=bool(d.get("split", False)),
        revision=int(d.get("revision", 0)),
    )
