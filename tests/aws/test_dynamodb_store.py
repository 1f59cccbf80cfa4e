"""DynamoStore against a moto server: the Store contract, plus what is DynamoDB's own."""

from __future__ import annotations

import itertools
import json

import pytest

from bluegreen.adapters.aws.dynamodb_store import DynamoStore, env_key, record_sort_key
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.errors import AdapterError
from tests.aws.lb_world import client
from tests.store_contract import ENV, StoreContract, StoreFactory, new_record, written_before_the_rename

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
