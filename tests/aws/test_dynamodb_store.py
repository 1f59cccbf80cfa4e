"""DynamoStore against a moto server: the Store contract, plus what is DynamoDB's own."""

from __future__ import annotations

import itertools
import json

import pytest

from bluegreen.adapters.aws.dynamodb_store import DynamoStore, env_key, record_sort_key
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.errors import AdapterError
from tests.aws.lb_world import client
from tests.store_contract import ENV, T0, StoreContract, StoreFactory, new_record, written_before_the_rename

_tables = itertools.count(1)


@pytest.fixture(scope="module")
def aws_target(one_request_at_a_time: AwsTarget) -> AwsTarget:
    """DynamoDB's per-item ordering of conditional writes, which the racing writers rely on (see the fixture)."""
    return one_request_at_a_time


@pytest.fixture
def table(aws_target: AwsTarget) -> str:
    """A new, empty table for each test (creating one in moto is instant)."""
    name = f"bluegreen-deployments-{next(_tables)}"
    DynamoStore(client(aws_target, "dynamodb"), name).ensure_table()
    return name


class TestDynamoStore(StoreContract):
    @pytest.fixture
    def make_store(self, aws_target: AwsTarget, table: str) -> StoreFactory:
        # Each writer gets its own client, as two processes would.
        return lambda: DynamoStore.from_target(aws_target, table)


def test_ensure_table_is_idempotent_and_keeps_the_data(aws_target: AwsTarget, table: str) -> None:
    store = DynamoStore(client(aws_target, "dynamodb"), table)
    store.create(new_record("d-1"))
    store.ensure_table()
    assert store.load("d-1").id == "d-1"
    described = client(aws_target, "dynamodb").describe_table(TableName=table)["Table"]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"]: k["KeyType"] for k in described["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}


def test_layout_one_partition_per_environment(aws_target: AwsTarget, table: str) -> None:
    store = DynamoStore(client(aws_target, "dynamodb"), table)
    store.create(new_record("d-1"))
    store.acquire(ENV, "d-1", "ada", 1.0, 30.0)
    items = client(aws_target, "dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
    keys = sorted((i["pk"]["S"], i["sk"]["S"]) for i in items)
    assert keys == [
        ("deployment#d-1", "deployment"),
        (f"env#{ENV}", "deployment#0001700000000.000000#d-1"),  # zero-padded: string order is time order
        (f"env#{ENV}", "lock"),
    ]


def test_missing_table_says_what_to_run(aws_target: AwsTarget) -> None:
    store = DynamoStore(client(aws_target, "dynamodb"), "no-such-table")
    with pytest.raises(AdapterError) as e:
        store.latest(ENV)
    assert "ResourceNotFoundException" in e.value.what
    assert e.value.where == "DynamoDB table no-such-table"
    assert "describe-table --table-name no-such-table" in e.value.hint


def test_a_record_written_before_the_rename_still_loads(aws_target: AwsTarget, table: str) -> None:
    store = DynamoStore(client(aws_target, "dynamodb"), table)
    old = new_record("d-old")
    store.create(old)
    # The item as bluegreen wrote it before the counter was called `revision`.
    client(aws_target, "dynamodb").put_item(
        TableName=table,
        Item={
            "pk": {"S": env_key(ENV)},
            "sk": {"S": record_sort_key(old)},
            "id": {"S": old.id},
            "version": {"N": "3"},
            "created_at": {"N": str(old.created_at)},
            "status": {"S": old.status.value},
            "record": {"S": json.dumps(written_before_the_rename(old, 3), sort_keys=True)},
        },
    )
    loaded = store.load("d-old")
    assert loaded == old.replace(revision=3)
    assert store.save(loaded.replace(note="moved on")).revision == 4
    assert store.history(ENV)[0].note == "moved on"


def test_history_follows_last_evaluated_key(aws_target: AwsTarget, table: str) -> None:
    store = DynamoStore(client(aws_target, "dynamodb"), table, page_size=3)
    for i in range(10):
        store.create(new_record(f"d-{i}", created_at=T0 + i))
    assert [r.id for r in store.history(ENV, limit=8)] == [f"d-{i}" for i in range(9, 1, -1)]
    assert [r.id for r in store.history(ENV, limit=50)] == [f"d-{i}" for i in range(9, -1, -1)]


def test_old_events_move_to_items_of_their_own_below_the_item_limit(aws_target: AwsTarget, table: str) -> None:
    store = DynamoStore(client(aws_target, "dynamodb"), table)
    rec = store.create(new_record("d-1"))
    for i in range(3000):
        rec = rec.with_event(T0 + i, "health", f"poll {i}: " + "x" * 300)
    store.save(rec)
    pages = client(aws_target, "dynamodb").get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    items = [item for page in pages for item in page["Items"]]
    record_item = next(i for i in items if i["sk"]["S"] == record_sort_key(rec))
    chunks = [i for i in items if i["pk"]["S"] == "events#d-1"]
    assert chunks and int(record_item["archived"]["N"]) == sum(len(json.loads(c["events"]["S"])) for c in chunks)
    assert all(len(json.dumps(i)) < 400_000 for i in items)
    # A second store (another process) reads it whole.
    assert DynamoStore(client(aws_target, "dynamodb"), table).load("d-1") == rec.replace(revision=2)
