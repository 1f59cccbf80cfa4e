"""The embedded store: deployment records and environment locks in SQLite.

One file in the state directory, shared by every bluegreen process on the
machine. Writes are conditional (the record's `revision`, kept in the
`version` column that stores written before the rename have), and every
check-then-write runs inside one `BEGIN IMMEDIATE` transaction, so two
processes can never both win.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bluegreen.errors import AdapterError, ConflictError, LockedError, NotFoundError
from bluegreen.model import Record, record_from_dict, record_to_dict
from bluegreen.ports import LockInfo
from bluegreen.release_record import ReleaseRecord, release_from_dict, release_to_dict

SCHEMA = """
CREATE TABLE IF NOT EXISTS deployments (
    id TEXT PRIMARY KEY,
    environment TEXT NOT NULL,
    created_at REAL NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deployments_env ON deployments (environment, created_at);
CREATE TABLE IF NOT EXISTS locks (
    environment TEXT PRIMARY KEY,
    deployment_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    acquired_at REAL NOT NULL,
    lease_until REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS releases (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at REAL NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS releases_name ON releases (name, created_at);
"""


class SqliteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._tx() as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as e:
            raise AdapterError(f"cannot open the state database: {e}", where=str(self.path)) from None
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # a recorded step survives a power cut
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    # -- records ---------------------------------------------------------------
    def create(self, record: Record) -> Record:
        stored = record.replace(revision=1)
        with self._tx() as db:
            try:
                db.execute(
                    "INSERT INTO deployments (id, environment, created_at, version, body) VALUES (?, ?, ?, 1, ?)",
                    (record.id, record.environment, record.created_at, _dump(stored)),
                )
            except sqlite3.IntegrityError:
                raise ConflictError(f"deployment {record.id} already exists", where=str(self.path)) from None
        return stored

    def load(self, deployment_id: str) -> Record:
        with self._tx() as db:
            row = db.execute("SELECT version, body FROM deployments WHERE id = ?", (deployment_id,)).fetchone()
        if row is None:
            raise NotFoundError(
                f"no deployment {deployment_id}", where=str(self.path), hint="list them: bluegreen history ENV"
            )
        return _load(row[1]).replace(revision=row[0])

    def save(self, record: Record) -> Record:
        stored = record.replace(revision=record.revision + 1)
        with self._tx() as db:
            cur = db.execute(
                "UPDATE deployments SET version = ?, body = ? WHERE id = ? AND version = ?",
                (stored.revision, _dump(stored), record.id, record.revision),
            )
            if cur.rowcount != 1:
                row = db.execute("SELECT version FROM deployments WHERE id = ?", (record.id,)).fetchone()
                raise ConflictError(
                    f"deployment {record.id} was changed by another process "
                    f"(revision {row[0] if row else 'missing'}, expected {record.revision})",
                    where=str(self.path),
                )
        return stored

    def latest(self, environment: str) -> Record | None:
        found = self.history(environment, limit=1)
        return found[0] if found else None

    def history(self, environment: str, limit: int = 20) -> list[Record]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT version, body FROM deployments WHERE environment = ? ORDER BY created_at DESC, id DESC LIMIT ?",
                (environment, limit),
            ).fetchall()
        return [_load(body).replace(revision=v) for v, body in rows]

    # -- release records ----------------------------------------------------------
    def create_release(self, release: ReleaseRecord) -> ReleaseRecord:
        stored = release.replace(revision=1)
        with self._tx() as db:
            try:
                db.execute(
                    "INSERT INTO releases (id, name, created_at, version, body) VALUES (?, ?, ?, 1, ?)",
                    (release.id, release.name, release.created_at, _dump_release(stored)),
                )
            except sqlite3.IntegrityError:
                raise ConflictError(f"release {release.id} already exists", where=str(self.path)) from None
        return stored

    def load_release(self, release_id: str) -> ReleaseRecord:
        with self._tx() as db:
            row = db.execute("SELECT version, body FROM releases WHERE id = ?", (release_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no release {release_id}", where=str(self.path), hint="see: bluegreen status NAME")
        return release_from_dict(json.loads(row[1])).replace(revision=row[0])

    def save_release(self, release: ReleaseRecord) -> ReleaseRecord:
        stored = release.replace(revision=release.revision + 1)
        with self._tx() as db:
            cur = db.execute(
                "UPDATE releases SET version = ?, body = ? WHERE id = ? AND version = ?",
                (stored.revision, _dump_release(stored), release.id, release.revision),
            )
            if cur.rowcount != 1:
                raise ConflictError(
                    f"release {release.id} was changed by another process (expected revision {release.revision})",
                    where=str(self.path),
                )
        return stored

    def releases(self, name: str, limit: int = 20) -> list[ReleaseRecord]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT version, body FROM releases WHERE name = ? ORDER BY created_at DESC, id DESC LIMIT ?",
                (name, limit),
            ).fetchall()
        return [release_from_dict(json.loads(body)).replace(revision=v) for v, body in rows]

    # -- the lock -----------------------------------------------------------------
    def acquire(self, environment: str, deployment_id: str, owner: str, now: float, lease_s: float) -> LockInfo:
        with self._tx() as db:
            held = _lock_row(db, environment)
            if held is not None and held.deployment_id:
                if held.deployment_id != deployment_id:
                    raise held.refusal(now)
                if held.live(now) and held.owner != owner:
                    raise held.refusal(now)
            acquired_at = held.acquired_at if held and held.deployment_id == deployment_id else now
            info = LockInfo(environment, deployment_id, owner, acquired_at, now + lease_s)
            db.execute(
                "INSERT OR REPLACE INTO locks (environment, deployment_id, owner, acquired_at, lease_until)"
                " VALUES (?, ?, ?, ?, ?)",
                (environment, deployment_id, owner, info.acquired_at, info.lease_until),
            )
        return info

    def renew(self, environment: str, deployment_id: str, owner: str, now: float, lease_s: float) -> None:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE locks SET lease_until = ? WHERE environment = ? AND deployment_id = ? AND owner = ?",
                (now + lease_s, environment, deployment_id, owner),
            )
            if cur.rowcount != 1:
                held = _lock_row(db, environment)
                raise LockedError(
                    f"lost the lock on {environment}" + (f" to {held.owner or 'nobody'}" if held else ""),
                    where=str(self.path),
                    hint=f"see who holds it: bluegreen status {environment}",
                )

    def release_lease(self, environment: str, deployment_id: str, owner: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE locks SET owner = '', lease_until = 0 WHERE environment = ? AND deployment_id = ? AND owner = ?",
                (environment, deployment_id, owner),
            )

    def release(self, environment: str, deployment_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM locks WHERE environment = ? AND deployment_id = ?", (environment, deployment_id))

    def lock_info(self, environment: str) -> LockInfo | None:
        with self._tx() as db:
            return _lock_row(db, environment)

    def break_lock(self, environment: str) -> LockInfo | None:
        with self._tx() as db:
            held = _lock_row(db, environment)
            db.execute("DELETE FROM locks WHERE environment = ?", (environment,))
        return held


def _lock_row(db: sqlite3.Connection, environment: str) -> LockInfo | None:
    row = db.execute(
        "SELECT deployment_id, owner, acquired_at, lease_until FROM locks WHERE environment = ?", (environment,)
    ).fetchone()
    return LockInfo(environment, row[0], row[1], row[2], row[3]) if row else None


def _dump(record: Record) -> str:
    return json.dumps(record_to_dict(record), sort_keys=True)


def _dump_release(release: ReleaseRecord) -> str:
    return json.dumps(release_to_dict(release), sort_keys=True)


def _load(body: str) -> Record:
    return record_from_dict(json.loads(body))
