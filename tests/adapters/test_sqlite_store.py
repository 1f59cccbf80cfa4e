"""The embedded store meets the same contract as the DynamoDB one, on a real SQLite file."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from bluegreen.adapters.sqlite_store import SqliteStore
from bluegreen.errors import ConflictError
from tests.store_contract import StoreContract, StoreFactory, new_record, written_before_the_rename


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> StoreFactory:
        return lambda: SqliteStore(tmp_path / "state.db")


def _bump(path: str, deployment_id: str, wins: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    store = SqliteStore(Path(path))
    rec = store.load(deployment_id)
    try:
        store.save(rec.replace(note="mine"))
        wins.put(1)
    except ConflictError:
        wins.put(0)


def test_two_processes_saving_the_same_version_only_one_wins(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = SqliteStore(db)
    store.create(new_record("d-1"))
    wins: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    procs = [multiprocessing.Process(target=_bump, args=(str(db), "d-1", wins)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    results = [wins.get(timeout=5) for _ in procs]
    assert sum(results) >= 1
    assert store.load("d-1").revision == 1 + sum(results)
    # Each winner saw the version before it: the versions form one chain, no lost update.
    assert sum(results) <= len(procs)


def test_a_record_written_before_the_rename_still_loads(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    old = new_record("d-old")
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute(
            "INSERT INTO deployments (id, environment, created_at, version, body) VALUES (?, ?, ?, 3, ?)",
            (old.id, old.environment, old.created_at, json.dumps(written_before_the_rename(old, 3))),
        )
    loaded = store.load("d-old")
    assert loaded == old.replace(revision=3)
    assert store.save(loaded.replace(note="moved on")).revision == 4
    assert store.history(old.environment)[0].note == "moved on"
