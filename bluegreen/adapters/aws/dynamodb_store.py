"""The deployment records and the environment lock in one DynamoDB table.

Shared state for teams and CI runners on several machines: the same
semantics as the SQLite store (the Store contract in tests/aws/store_contract.py
runs against both), with every write a conditional write so two writers can
never both win.

Layout (partition key `pk`, sort key `sk`, both strings):
- `env#NAME` / `deployment#<created_at>#<id>`: one deployment record, as the
  JSON of `record_to_dict` in `record`, its optimistic-concurrency counter
  (`Record.revision`) in `version`, the attribute tables written before the
  rename already have. The sort key orders an environment's deployments by time, so
  `latest` and `history` are one strongly consistent query.
- `deployment#ID` / `deployment`: a pointer from the id to the record's key,
  written with it in one transaction and never changed, so `load(id)` needs
  no environment.
- `release#NAME` / ... and `releaseid#ID` / `release`: release records (dynamodb_releases.py).
- `env#NAME` / `lock`: the environment lock: the deployment that holds the
  environment until it finishes, and the process (`owner`) executing it with
  a lease that it renews.
- `events#ID` / `<first event index>#<write token>`: a record's oldest events,
  moved out of its item before it would outgrow DynamoDB's 400 KB item limit
  (the record item lists them in `chunks`; `archived` counts them). Never
  changed once written; the record item says which ones count.

Writes that succeed twice: botocore resends a call that timed out or got a
5xx, and the first attempt may have committed. Each write carries a token of
its own (`write_token`); when a conditional write then fails, the item is
read back and a match on our token and revision is our own write, accepted.
`create` also passes the token as TransactWriteItems' ClientRequestToken,
with which DynamoDB answers a repeated transaction (for 10 minutes) with
success instead of applying it again
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from botocore.exceptions import ClientError

from bluegreen.adapters.aws.dynamodb_items import (
    body_bytes,
    chunks_of,
    env_key,
    events_key,
    is_ours,
    lock_from_item,
    n,
    pointer_key,
    record_from_item,
    record_sort_key,
    s,
)
from bluegreen.adapters.aws.dynamodb_releases import ReleaseItems
from bluegreen.adapters.aws.session import AwsTarget, api_errors, client, error_code
from bluegreen.errors import AdapterError, ConflictError, LockedError, NotFoundError
from bluegreen.model import Record, record_to_dict
from bluegreen.ports import LockInfo

LOCK_SK = "lock"
POINTER_SK = "deployment"
CONDITION_FAILED = "ConditionalCheckFailedException"
ACQUIRE_ATTEMPTS = 3  # the holder may release between our failed write and our read
# DynamoDB's item limit is 400 KB, names and values together: the record's JSON stays well below it.
MAX_RECORD_BYTES = 300_000
KEEP_EVENTS = 20  # the newest events always stay in the record item
HISTORY_PAGE = 100


class DynamoStore(ReleaseItems):
    """The `Store` port on one DynamoDB table."""

    def __init__(self, dynamodb: Any, table: str, *, page_size: int = HISTORY_PAGE) -> None:
        self._db = dynamodb
        self._table = table
        self._page_size = page_size
        # deployment id -> (archived events, chunk keys) as last written or read by this store
        self._archives: dict[str, tuple[int, list[str]]] = {}

    @classmethod
    def from_target(cls, target: AwsTarget, table: str) -> DynamoStore:
        return cls(client(target, "dynamodb"), table)

    def _errors(self, what: str) -> AbstractContextManager[None]:
        return api_errors(
            what,
            where=f"DynamoDB table {self._table}",
            hint=f"check the table exists and is reachable (`aws dynamodb describe-table --table-name {self._table}`)",
        )

    # -- the table -------------------------------------------------------------------------
    def ensure_table(self, *, wait_s: float = 120.0) -> None:
        """Create the table (on-demand capacity) if it does not exist, and wait until it is usable."""
        with self._errors("could not create the state table"):
            try:
                self._db.describe_table(TableName=self._table)
            except ClientError as e:
                if error_code(e) != "ResourceNotFoundException":
                    raise
                try:
                    self._db.create_table(
                        TableName=self._table,
                        AttributeDefinitions=[
                            {"AttributeName": "pk", "AttributeType": "S"},
                            {"AttributeName": "sk", "AttributeType": "S"},
                        ],
                        KeySchema=[
                            {"AttributeName": "pk", "KeyType": "HASH"},
                            {"AttributeName": "sk", "KeyType": "RANGE"},
                        ],
                        BillingMode="PAY_PER_REQUEST",
                    )
                except ClientError as race:
                    if error_code(race) != "ResourceInUseException":  # somebody else created it just now
                        raise
            attempts = max(1, int(wait_s))
            self._db.get_waiter("table_exists").wait(
                TableName=self._table, WaiterConfig={"Delay": 1, "MaxAttempts": attempts}
            )

    # -- records ---------------------------------------------------------------------------
    def create(self, record: Record) -> Record:
        stored = record.replace(revision=1)
        token = uuid.uuid4().hex
        body, archived, chunks = self._split(stored, 0, [], token)
        item = {
            "pk": s(env_key(record.environment)),
            "sk": s(record_sort_key(record)),
            "id": s(record.id),
            "version": n(1),
            "created_at": n(record.created_at),
            "status": s(record.status.value),
            "record": s(body),
            "write_token": s(token),
            "archived": n(archived),
            "chunks": {"L": [s(c) for c in chunks]},
        }
        pointer = {
            "pk": s(pointer_key(record.id)),
            "sk": s(POINTER_SK),
            "environment": s(record.environment),
            "record_sk": s(record_sort_key(record)),
        }
        absent = {"ConditionExpression": "attribute_not_exists(pk)"}
        with self._errors(f"could not create deployment {record.id}"):
            try:
                self._db.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": self._table, "Item": pointer, **absent}},
                        {"Put": {"TableName": self._table, "Item": item, **absent}},
                    ],
                    ClientRequestToken=token,
                )
            except ClientError as e:
                if error_code(e) != "TransactionCanceledException" or not _condition_failed(e):
                    raise
                if is_ours(self._get(env_key(record.environment), record_sort_key(record)), token, 1):
                    self._archives[record.id] = (archived, chunks)
                    return stored  # a resent call whose first attempt committed
                raise ConflictError(
                    f"deployment {record.id} already exists",
                    where=f"DynamoDB table {self._table}",
                    hint="use a new deployment id",
                ) from None
        self._archives[record.id] = (archived, chunks)
        return stored

    def load(self, deployment_id: str) -> Record:
        with self._errors(f"could not read deployment {deployment_id}"):
            pointer = self._get(pointer_key(deployment_id), POINTER_SK)
            item = None
            if pointer is not None:
                item = self._get(env_key(pointer["environment"]["S"]), pointer["record_sk"]["S"])
        if item is None:
            raise NotFoundError(
                f"no deployment {deployment_id}",
                where=f"DynamoDB table {self._table}",
                hint="list the deployments with `bluegreen history ENV`",
            )
        return self._record(item)

    def save(self, record: Record) -> Record:
        stored = record.replace(revision=record.revision + 1)
        key = {"pk": s(env_key(record.environment)), "sk": s(record_sort_key(record))}
        token = uuid.uuid4().hex
        with self._errors(f"could not save deployment {record.id}"):
            archived, chunks = self._archive_of(record.id, key)
            body, archived, chunks = self._split(stored, archived, chunks, token)
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression=(
                        "SET #record = :record, #version = :new, #status = :status, #token = :token, "
                        "#archived = :archived, #chunks = :chunks"
                    ),
                    ConditionExpression="#version = :expected",
                    ExpressionAttributeNames={
                        "#record": "record",
                        "#version": "version",
                        "#status": "status",
                        "#token": "write_token",
                        "#archived": "archived",
                        "#chunks": "chunks",
                    },
                    ExpressionAttributeValues={
                        ":record": s(body),
                        ":new": n(stored.revision),
                        ":expected": n(record.revision),
                        ":status": s(record.status.value),
                        ":token": s(token),
                        ":archived": n(archived),
                        ":chunks": {"L": [s(c) for c in chunks]},
                    },
                )
            except ClientError as e:
                if error_code(e) != CONDITION_FAILED:
                    raise
                current = self._get(key["pk"]["S"], key["sk"]["S"])
                if current is None:
                    raise NotFoundError(
                        f"no deployment {record.id} to save", where=f"DynamoDB table {self._table}"
                    ) from None
                if not is_ours(current, token, stored.revision):
                    raise ConflictError(
                        f"deployment {record.id} was changed by another writer (stored revision "
                        f"{current['version']['N']}, this write was based on revision {record.revision})",
                        where=f"DynamoDB table {self._table}",
                        hint=f"reload it (`bluegreen status {record.environment}`) and run the command again",
                    ) from None
                # A resent call whose first attempt committed: the stored item is our own write.
        self._archives[record.id] = (archived, chunks)
        return stored

    def latest(self, environment: str) -> Record | None:
        records = self.history(environment, limit=1)
        return records[0] if records else None

    def history(self, environment: str, limit: int = 20) -> list[Record]:
        """The environment's deployments, newest first."""
        if limit <= 0:
            return []
        items: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        with self._errors(f"could not list the deployments of {environment}"):
            # A query page ends at `Limit` items or 1 MB, whichever comes first: follow LastEvaluatedKey.
            while len(items) < limit:
                page = self._db.query(
                    TableName=self._table,
                    KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                    ExpressionAttributeValues={":pk": s(env_key(environment)), ":prefix": s("deployment#")},
                    ScanIndexForward=False,
                    ConsistentRead=True,
                    Limit=min(limit - len(items), self._page_size),
                    **({"ExclusiveStartKey": start} if start else {}),
                )
                items.extend(page.get("Items", []))
                start = page.get("LastEvaluatedKey")
                if not start:
                    break
            return [self._record(item) for item in items[:limit]]

    # -- the lock ----------------------------------------------------------------------------
    def acquire(self, environment: str, deployment_id: str, owner: str, now: float, lease_s: float) -> LockInfo:
        for _ in range(ACQUIRE_ATTEMPTS):
            with self._errors(f"could not lock environment {environment}"):
                try:
                    response = self._db.update_item(
                        TableName=self._table,
                        Key=self._lock_key(environment),
                        # acquired_at is when the deployment took the environment; a resume keeps it.
                        UpdateExpression=(
                            "SET #env = :env, #dep = :dep, #owner = :owner, #until = :until, "
                            "#since = if_not_exists(#since, :now)"
                        ),
                        # Free, or held by this deployment with no live executor other than us.
                        ConditionExpression=(
                            "attribute_not_exists(pk) OR "
                            "(#dep = :dep AND (#owner = :owner OR #owner = :nobody OR #until <= :now))"
                        ),
                        ExpressionAttributeNames=self._lock_names(),
                        ExpressionAttributeValues={
                            ":env": s(environment),
                            ":dep": s(deployment_id),
                            ":owner": s(owner),
                            ":nobody": s(""),
                            ":until": n(now + lease_s),
                            ":now": n(now),
                        },
                        ReturnValues="ALL_NEW",
                    )
                    return lock_from_item(response["Attributes"])
                except ClientError as e:
                    if error_code(e) != CONDITION_FAILED:
                        raise
            holder = self.lock_info(environment)
            if holder is not None:
                raise holder.refusal(now)
            # The holder released between our write and our read: try again.
        raise AdapterError(
            f"could not lock environment {environment}: the lock changed hands {ACQUIRE_ATTEMPTS} times in a row",
            where=f"DynamoDB table {self._table}",
            hint="run the command again",
        )

    def renew(self, environment: str, deployment_id: str, owner: str, now: float, lease_s: float) -> None:
        with self._errors(f"could not renew the lease on environment {environment}"):
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key=self._lock_key(environment),
                    UpdateExpression="SET #until = :until",
                    ConditionExpression="#dep = :dep AND #owner = :owner",
                    ExpressionAttributeNames={"#until": "lease_until", "#dep": "deployment_id", "#owner": "owner"},
                    ExpressionAttributeValues={
                        ":until": n(now + lease_s),
                        ":dep": s(deployment_id),
                        ":owner": s(owner),
                    },
                )
                return
            except ClientError as e:
                if error_code(e) != CONDITION_FAILED:
                    raise
        holder = self.lock_info(environment)
        why = "the lock was broken" if holder is None else holder.refusal(now).what
        raise LockedError(
            f"lost the lease on environment {environment}: {why}",
            where=f"environment {environment}",
            hint=f"stop here and see who holds it: `bluegreen status {environment}`",
        )

    def release_lease(self, environment: str, deployment_id: str, owner: str) -> None:
        """Stop executing, keep the environment; a no-op when the lease is not ours any more."""
        self._conditional(
            f"could not release the lease on environment {environment}",
            self._db.update_item,
            Key=self._lock_key(environment),
            UpdateExpression="SET #owner = :nobody, #until = :zero",
            ConditionExpression="#dep = :dep AND #owner = :owner",
            ExpressionAttributeNames={"#owner": "owner", "#until": "lease_until", "#dep": "deployment_id"},
            ExpressionAttributeValues={":nobody": s(""), ":zero": n(0), ":dep": s(deployment_id), ":owner": s(owner)},
        )

    def release(self, environment: str, deployment_id: str) -> None:
        """Free the environment; a no-op when another deployment holds it (ours was broken and taken)."""
        self._conditional(
            f"could not unlock environment {environment}",
            self._db.delete_item,
            Key=self._lock_key(environment),
            ConditionExpression="#dep = :dep",
            ExpressionAttributeNames={"#dep": "deployment_id"},
            ExpressionAttributeValues={":dep": s(deployment_id)},
        )

    def lock_info(self, environment: str) -> LockInfo | None:
        with self._errors(f"could not read the lock of environment {environment}"):
            item = self._get(env_key(environment), LOCK_SK)
        return lock_from_item(item) if item else None

    def break_lock(self, environment: str) -> LockInfo | None:
        with self._errors(f"could not break the lock of environment {environment}"):
            try:
                response = self._db.delete_item(
                    TableName=self._table,
                    Key=self._lock_key(environment),
                    ConditionExpression="attribute_exists(pk)",
                    ReturnValues="ALL_OLD",
                )
            except ClientError as e:
                if error_code(e) != CONDITION_FAILED:
                    raise
                return None
        return lock_from_item(response["Attributes"])

    # -- helpers -------------------------------------------------------------------------------
    def _archive_of(self, deployment_id: str, key: Mapping[str, Any]) -> tuple[int, list[str]]:
        known = self._archives.get(deployment_id)
        if known is not None:
            return known[0], list(known[1])
        item = self._get(key["pk"]["S"], key["sk"]["S"])
        return chunks_of(item) if item else (0, [])

    def _split(self, stored: Record, archived: int, chunks: list[str], token: str) -> tuple[str, int, list[str]]:
        """The record item's JSON, moving its oldest events into chunk items until it fits the item limit."""
        chunks = list(chunks)
        while True:
            body = body_bytes(stored.replace(events=stored.events[archived:]))
            kept = len(stored.events) - archived
            if len(body.encode()) <= MAX_RECORD_BYTES or kept <= KEEP_EVENTS:
                return body, archived, chunks
            take = kept - KEEP_EVENTS
            moved = record_to_dict(stored.replace(events=stored.events[archived : archived + take]))["events"]
            while take > 1 and len(json.dumps(moved).encode()) > MAX_RECORD_BYTES:
                take //= 2
                moved = moved[:take]
            sort_key = f"{archived:010d}#{token}"
            self._db.put_item(
                TableName=self._table,
                Item={"pk": s(events_key(stored.id)), "sk": s(sort_key), "events": s(json.dumps(moved))},
            )
            chunks.append(sort_key)
            archived += take

    def _record(self, item: Mapping[str, Any]) -> Record:
        """The record of an item, its archived events read back from their chunk items."""
        archived, chunks = chunks_of(item)
        events: list[Mapping[str, Any]] = []
        deployment_id = item["id"]["S"]
        for chunk in chunks:
            stored = self._get(events_key(deployment_id), chunk)
            if stored is None:
                raise NotFoundError(
                    f"deployment {deployment_id} lists events chunk {chunk}, which the table does not have",
                    where=f"DynamoDB table {self._table}",
                    hint="the record's oldest events are lost; `bluegreen history` still shows the rest",
                )
            events.extend(json.loads(stored["events"]["S"]))
        self._archives[deployment_id] = (archived, chunks)
        return record_from_item(item, events)

    def _lock_key(self, environment: str) -> dict[str, Any]:
        return {"pk": s(env_key(environment)), "sk": s(LOCK_SK)}

    @staticmethod
    def _lock_names() -> dict[str, str]:
        return {
            "#env": "environment",
            "#dep": "deployment_id",
            "#owner": "owner",
            "#until": "lease_until",
            "#since": "acquired_at",
        }

    def _conditional(self, what: str, call: Any, **kwargs: Any) -> None:
        """A write whose losing condition means "nothing to do"."""
        with self._errors(what):
            try:
                call(TableName=self._table, **kwargs)
            except ClientError as e:
                if error_code(e) != CONDITION_FAILED:
                    raise

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._db.get_item(TableName=self._table, Key={"pk": s(pk), "sk": s(sk)}, ConsistentRead=True)
        item = response.get("Item")
        return dict(item) if item else None


def _condition_failed(e: ClientError) -> bool:
    reasons = e.response.get("CancellationReasons", [])
    return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)
