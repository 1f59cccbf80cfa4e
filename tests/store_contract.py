"""The Store contract: what every deployment store (SQLite, DynamoDB) must do, as tests.

Use it by subclassing `StoreContract` in a test module and giving it a
`make_store` fixture: a function returning a new store object on the same,
initially empty, storage each time it is called. Two calls are two writers
(two processes, two CI runners); the concurrency test calls it from threads.

    from tests.store_contract import StoreContract

    class TestSqliteStore(StoreContract):
        @pytest.fixture
        def make_store(self, tmp_path: Path) -> StoreFactory:
            return lambda: SqliteStore(tmp_path / "state.db")

The class name does not start with "Test", so pytest runs it only through
such subclasses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from bluegreen.errors import ConflictError, LockedError, NotFoundError
from bluegreen.model import Actor, Colour, Phase, Record, Release, Status, Step, StepKind, Weights, record_to_dict
from bluegreen.ports import LockInfo, Store
from bluegreen.release_record import EnvEntry, EnvState, ReleaseRecord, ReleaseStatus

StoreFactory = Callable[[], Store]

ENV = "web-prod"
T0 = 1_700_000_000.0
LEASE = 30.0


def new_record(deployment_id: str, *, environment: str = ENV, created_at: float = T0) -> Record:
    return Record(
        id=deployment_id,
        environment=environment,
        platform="aws",
        release=Release(version="v1.4.2", ami="ami-0a1b2c3d4e5f60718", source_hash="9f86d081884c7d65"),
        from_colour=Colour.BLUE,
        to_colour=Colour.GREEN,
        steps=(
            Step(StepKind.PROVISION),
            Step(StepKind.WAIT_HEALTHY, timeout_s=600, poll_s=15, threshold=2),
            Step(StepKind.SHIFT, weight=10, wait_s=60),
            Step(StepKind.SHIFT, weight=100),
            Step(StepKind.RETIRE, wait_s=300),
        ),
        started_by=Actor(user="ada", host="build-7", pid=4242, ci_job="deploy", ci_pipeline="1234"),
        created_at=created_at,
        updated_at=created_at,
    )


class StoreContract:
    """Subclass with a `make_store` fixture (see the module docstring)."""

    @pytest.fixture
    def make_store(self) -> StoreFactory:
        raise NotImplementedError("a subclass provides make_store")

    @pytest.fixture
    def store(self, make_store: StoreFactory) -> Store:
        return make_store()

    # -- records -------------------------------------------------------------------------------

    def test_create_then_load(self, store: Store) -> None:
        record = new_record("d-1")
        created = store.create(record)
        assert created.revision == 1
        assert created == record.replace(revision=1)
        assert store.load("d-1") == created

    def test_the_whole_record_survives(self, store: Store) -> None:
        record = new_record("d-1")
        created = store.create(record)
        changed = created.replace(
            phase=Phase.SHIFT,
            step_index=2,
            weights=Weights(blue=90, green=10),
            slots={"green": {"asg": "web-prod-green", "launch_template": "lt-0a1b"}},
            healthy_passed=True,
        ).with_event(T0 + 5, "step_started", "shift 10% to the new colour", weight=10)
        saved = store.save(changed)
        assert store.load("d-1") == saved
        assert saved == changed.replace(revision=2)

    def test_creating_the_same_id_twice_conflicts(self, store: Store) -> None:
        store.create(new_record("d-1"))
        with pytest.raises(ConflictError):
            store.create(new_record("d-1"))

    def test_loading_an_unknown_id(self, store: Store) -> None:
        with pytest.raises(NotFoundError):
            store.load("nope")

    def test_save_bumps_the_revision(self, store: Store) -> None:
        created = store.create(new_record("d-1"))
        saved = store.save(created.replace(phase=Phase.PROVISION))
        assert saved.revision == 2
        again = store.save(saved.replace(phase=Phase.WAIT_HEALTHY))
        assert again.revision == 3
        assert store.load("d-1").phase is Phase.WAIT_HEALTHY

    def test_a_stale_save_conflicts_and_the_winner_stays(self, make_store: StoreFactory) -> None:
        one, two = make_store(), make_store()
        created = one.create(new_record("d-1"))
        mine = one.load("d-1")
        theirs = two.load("d-1")
        winner = two.save(theirs.replace(status=Status.ROLLING_BACK))
        with pytest.raises(ConflictError):
            one.save(mine.replace(phase=Phase.SHIFT))
        assert one.load("d-1") == winner
        assert winner.revision == created.revision + 1

    def test_latest_and_history(self, store: Store) -> None:
        assert store.latest(ENV) is None
        assert store.history(ENV) == []
        for n in range(5):
            store.create(new_record(f"d-{n}", created_at=T0 + 100 * n))
        store.create(new_record("other", environment="api-prod", created_at=T0 + 1000))
        latest = store.latest(ENV)
        assert latest is not None and latest.id == "d-4"
        assert [r.id for r in store.history(ENV)] == ["d-4", "d-3", "d-2", "d-1", "d-0"]
        assert [r.id for r in store.history(ENV, limit=2)] == ["d-4", "d-3"]
        assert [r.id for r in store.history("api-prod")] == ["other"]

    def test_history_shows_saved_revisions(self, store: Store) -> None:
        created = store.create(new_record("d-1"))
        store.save(created.replace(status=Status.SUCCEEDED, phase=Phase.DONE))
        latest = store.latest(ENV)
        assert latest is not None and latest.status is Status.SUCCEEDED and latest.revision == 2

    def test_a_record_whose_events_outgrow_one_item_keeps_them_all(self, store: Store) -> None:
        # About 1 MB of events: more than DynamoDB's 400 KB item limit, in the order they happened.
        rec = store.create(new_record("d-1"))
        for batch in range(2):
            for i in range(1500):
                rec = rec.with_event(T0 + i, "health", f"batch {batch} poll {i}: " + "x" * 300)
            rec = store.save(rec)
        loaded = store.load("d-1")
        assert loaded == rec and len(loaded.events) == 3000
        assert loaded.events[0].message.startswith("batch 0 poll 0:")
        assert loaded.events[-1].message.startswith("batch 1 poll 1499:")
        again = store.save(loaded.with_event(T0, "note", "one more"))
        assert store.load("d-1") == again
        latest = store.latest(ENV)
        assert latest is not None and len(latest.events) == 3001

    # -- the lock ---------------------------------------------------------------------------------

    def test_acquire_a_free_environment(self, store: Store) -> None:
        assert store.lock_info(ENV) is None
        info = store.acquire(ENV, "d-1", "ada@build-7:4242", T0, LEASE)
        assert info == LockInfo(ENV, "d-1", "ada@build-7:4242", T0, T0 + LEASE)
        assert store.lock_info(ENV) == info
        assert info.live(T0 + 1)

    def test_a_second_deployment_is_refused_naming_the_holder(self, make_store: StoreFactory) -> None:
        one, two = make_store(), make_store()
        one.acquire(ENV, "d-1", "ada@build-7:4242", T0, LEASE)
        with pytest.raises(LockedError) as e:
            two.acquire(ENV, "d-2", "bob@build-9:77", T0 + 1, LEASE)
        assert "d-1" in str(e.value)
        assert "ada@build-7:4242" in str(e.value)
        assert "2023-11-14 22:13:20" in str(e.value)  # since when (T0, UTC)
        assert e.value.hint
        info = one.lock_info(ENV)
        assert info is not None and info.deployment_id == "d-1"

    def test_the_holder_may_acquire_again(self, store: Store) -> None:
        store.acquire(ENV, "d-1", "ada", T0, LEASE)
        again = store.acquire(ENV, "d-1", "ada", T0 + 10, LEASE)
        assert again.lease_until == T0 + 10 + LEASE
        assert again.acquired_at == T0

    def test_a_live_lease_is_not_taken_by_another_process(self, store: Store) -> None:
        store.acquire(ENV, "d-1", "ada", T0, LEASE)
        with pytest.raises(LockedError) as e:
            store.acquire(ENV, "d-1", "bob", T0 + 1, LEASE)
        assert "ada" in str(e.value)

    def test_an_expired_lease_is_resumed_by_the_same_deployment(self, store: Store) -> None:
        store.acquire(ENV, "d-1", "ada", T0, LEASE)
        resumed = store.acquire(ENV, "d-1", "bob", T0 + LEASE + 1, LEASE)
        assert (resumed.deployment_id, resumed.owner) == ("d-1", "bob")
        assert resumed.acquired_at == T0

    def test_an_expired_lease_does_not_free_the_environment(self, store: Store) -> None:
        store.acquire(ENV, "d-1", "ada", T0, LEASE)
        with pytest.raises(LockedError) as e:
            store.acquire(ENV, "d-2", "bob", T0 + 10 * LEASE, LEASE)
        assert "d-1" in str(e.value)

    def test_release_lease_keeps_the_environment(self, store: Store) -> None:
        store.acquire(ENV, "d-1", "ada", T0, LEASE)
        store.release_lease(ENV, "d-1", "ada")
        info = store.lock_info(ENV)
        assert info is not None
        assert (info.deployment_id, info.owner) == ("d-1", "")
        assert not info.live(T0 + 1)
        with pytest.raises(LockedError):
            store.acquire(ENV, "d-2", "bob", T0 + 2, LEASE)
        resumed = store.acquire(ENV, "d-1", "carol", T0 + 3, LEASE)  # e.g. `promote` from another machine
        assert resumed.owner == "carol"

    def test_release_lease_by_someone_else_changes_nothing(self, store: Store) -> None:
        held = store.acquire(ENV, "d-1", "ada", T0, LEASE)
        store.release_lease(ENV, "d-1", "bob")
        store.release_lease(ENV, "d-2", "ada")
        assert store.lock_info(ENV) == held

    def test_renew(self, store: Store) -> None:
        store.acquire(ENV, "d-1", "ada", T0, LEASE)
        store.renew(ENV, "d-1", "ada", T0 + 20, LEASE)
        info = store.lock_info(ENV)
        assert info is not None and info.lease_until == T0 + 20 + LEASE

    def test_renew_after_losing_the_lease(self, store: Store) -> None:
        store.acquire(ENV, "d-1", "ada", T0, LEASE)
        store.acquire(ENV, "d-1", "bob", T0 + LEASE + 1, LEASE)  # ada stalled; bob resumed
        with pytest.raises(LockedError) as e:
            store.renew(ENV, "d-1", "ada", T0 + LEASE + 2, LEASE)
        assert "bob" in str(e.value)

    def test_renew_after_the_lock_was_broken(self, store: Store) -> None:
        store.acquire(ENV, "d-1", "ada", T0, LEASE)
        store.break_lock(ENV)
        with pytest.raises(LockedError):
            store.renew(ENV, "d-1", "ada", T0 + 1, LEASE)

    def test_release_frees_the_environment(self, store: Store) -> None:
        store.acquire(ENV, "d-1", "ada", T0, LEASE)
        store.release(ENV, "d-1")
        assert store.lock_info(ENV) is None
        store.release(ENV, "d-1")  # twice is fine
        assert store.acquire(ENV, "d-2", "bob", T0 + 1, LEASE).deployment_id == "d-2"

    def test_release_by_another_deployment_changes_nothing(self, store: Store) -> None:
        held = store.acquire(ENV, "d-2", "bob", T0, LEASE)
        store.release(ENV, "d-1")  # d-1's lock was broken and d-2 took the environment since
        assert store.lock_info(ENV) == held

    def test_break_lock(self, store: Store) -> None:
        assert store.break_lock(ENV) is None
        held = store.acquire(ENV, "d-1", "ada", T0, LEASE)
        assert store.break_lock(ENV) == held
        assert store.lock_info(ENV) is None
        assert store.acquire(ENV, "d-2", "bob", T0 + 1, LEASE).owner == "bob"

    def test_environments_lock_independently(self, store: Store) -> None:
        store.acquire(ENV, "d-1", "ada", T0, LEASE)
        assert store.acquire("api-prod", "d-2", "bob", T0, LEASE).deployment_id == "d-2"

    def test_two_writers_racing_cannot_both_win(self, make_store: StoreFactory) -> None:
        environments = [f"race-{n}" for n in range(5)]
        outcomes: dict[tuple[str, str], str] = {}
        start = threading.Barrier(2)

        def contender(name: str) -> None:
            store = make_store()
            start.wait(timeout=30)
            for env in environments:
                try:
                    store.acquire(env, name, f"owner-{name}", T0, LEASE)
                    outcomes[(env, name)] = "won"
                except LockedError:
                    outcomes[(env, name)] = "refused"

        threads = [threading.Thread(target=contender, args=(name,)) for name in ("d-1", "d-2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        for env in environments:
            results = sorted(outcomes[(env, name)] for name in ("d-1", "d-2"))
            assert results == ["refused", "won"], env
            info = make_store().lock_info(env)
            assert info is not None and outcomes[(env, info.deployment_id)] == "won"

    # -- release records ------------------------------------------------------------
    def test_a_release_record_survives_whole(self, store: Store) -> None:
        rel = new_release("all-prod-v1-1").with_entry("staging", state=EnvState.RUNNING, deployment_id="d-9")
        rel = rel.with_event(T0 + 1, "release_started", "started").replace(promoted=(1,), abort_requested="why")
        created = store.create_release(rel)
        assert created.revision == 1
        assert store.load_release(rel.id) == created

    def test_a_release_id_is_created_once(self, store: Store) -> None:
        store.create_release(new_release("r-1"))
        with pytest.raises(ConflictError):
            store.create_release(new_release("r-1"))

    def test_an_unknown_release(self, store: Store) -> None:
        with pytest.raises(NotFoundError):
            store.load_release("nope")

    def test_release_saves_are_conditional(self, make_store: StoreFactory) -> None:
        a, b = make_store(), make_store()
        rel = a.create_release(new_release("r-1"))
        saved = a.save_release(rel.with_entry("staging", state=EnvState.SUCCEEDED))
        assert saved.revision == 2
        with pytest.raises(ConflictError):
            b.save_release(rel.replace(status=ReleaseStatus.ABORTED))
        assert b.load_release("r-1").entry("staging").state is EnvState.SUCCEEDED

    def test_releases_newest_first_by_name(self, store: Store) -> None:
        store.create_release(new_release("r-1"))
        store.create_release(new_release("r-2", created_at=T0 + 5))
        store.create_release(new_release("o-1", name="other"))
        assert [r.id for r in store.releases("all-prod")] == ["r-2", "r-1"]
        assert [r.id for r in store.releases("all-prod", limit=1)] == ["r-2"]
        assert store.releases("nothing") == []


def new_release(release_id: str, *, name: str = "all-prod", created_at: float = T0) -> ReleaseRecord:
    return ReleaseRecord(
        id=release_id,
        name=name,
        version="v1.4.2",
        waves=(("staging",), ("prod-us", "prod-eu")),
        parallelism=0,
        on_failure="rollback-wave",
        promotion="manual",
        started_by=Actor(user="ada", host="build-7", pid=4242),
        created_at=created_at,
        updated_at=created_at,
        envs={"prod-us": EnvEntry(state=EnvState.PENDING)},
    )


def written_before_the_rename(record: Record, revision: int) -> dict[str, Any]:
    """A record's JSON as bluegreen wrote it before `revision` and `force_bake`: the counter was `version`."""
    d = record_to_dict(record)
    del d["revision"], d["force_bake"]
    return {**d, "version": revision}
