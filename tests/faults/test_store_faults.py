"""The DynamoDB store through an endpoint that applies a write and never answers it.

botocore sends the call again; the first attempt had committed, so the resent
conditional write fails its condition. The store must recognise its own
write (its token, its revision) instead of reporting another writer.
"""

from __future__ import annotations

import itertools

import pytest

from bluegreen.adapters.aws.dynamodb_store import DynamoStore
from bluegreen.adapters.aws.session import AwsTarget, client
from bluegreen.errors import ConflictError
from bluegreen.model import Phase, Status
from tests.aws.lb_world import REGION
from tests.faults.conftest import READ_TIMEOUT_S
from tests.faults.proxy import DROP, FaultProxy
from tests.store_contract import new_record

_tables = itertools.count(1)


@pytest.fixture
def stores(moto_target: AwsTarget, proxy: FaultProxy) -> tuple[DynamoStore, DynamoStore]:
    """(a store through the proxy, a store straight to moto) on one new table."""
    table = f"bluegreen-faults-{next(_tables)}"
    direct = DynamoStore(client(moto_target, "dynamodb"), table)
    direct.ensure_table()
    through = AwsTarget(region=REGION, endpoint_url=proxy.endpoint, read_timeout_s=READ_TIMEOUT_S)
    return DynamoStore(client(through, "dynamodb"), table), direct


def test_a_save_whose_answer_is_lost_is_our_own_write(
    stores: tuple[DynamoStore, DynamoStore], proxy: FaultProxy
) -> None:
    store, direct = stores
    created = store.create(new_record("d-1"))
    proxy.schedule.add("UpdateItem", [DROP])
    saved = store.save(created.replace(status=Status.SUCCEEDED, phase=Phase.DONE))
    assert saved.revision == 2
    attempts = proxy.schedule.seen("UpdateItem")
    assert [s.status for s in attempts] == [None, 400], "committed, answer dropped; resent, its condition failed"
    assert direct.load("d-1") == saved
    # Another writer's change is still a conflict.
    direct.save(saved.replace(note="somebody else"))
    with pytest.raises(ConflictError, match="changed by another writer"):
        store.save(saved.replace(note="ours, too late"))


def test_a_create_whose_answer_is_lost_is_our_own_write(
    stores: tuple[DynamoStore, DynamoStore], proxy: FaultProxy
) -> None:
    store, direct = stores
    proxy.schedule.add("TransactWriteItems", [DROP])
    created = store.create(new_record("d-1"))
    assert created.revision == 1
    assert len(proxy.schedule.seen("TransactWriteItems")) == 2
    assert direct.load("d-1") == created
    with pytest.raises(ConflictError, match="already exists"):
        store.create(new_record("d-1"))  # a second create of the same id is not ours
