"""Release records in the deployments' DynamoDB table (the `Store` port's release methods).

Layout, beside the deployments' (see dynamodb_store.py):
- `release#NAME` / `release#<created_at>#<id>`: one release record, the JSON of
  `release_to_dict` in `record`, its revision in `version`; the sort key orders
  a release's runs by time, so `releases(NAME)` is one strongly consistent query.
- `releaseid#ID` / `release`: a pointer from the id to that key, written with it
  in one transaction, so `load_release(id)` needs no name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from botocore.exceptions import ClientError

from bluegreen.adapters.aws.session import error_code
from bluegreen.errors import ConflictError, NotFoundError
from bluegreen.release_record import ReleaseRecord, release_from_dict, release_to_dict

POINTER_SK = "release"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _key(release: ReleaseRecord) -> dict[str, dict[str, str]]:
    return {"pk": _s(f"release#{release.name}"), "sk": _s(f"release#{release.created_at:020.6f}#{release.id}")}


def _from_item(item: Mapping[str, Any]) -> ReleaseRecord:
    return release_from_dict(json.loads(item["record"]["S"])).replace(revision=int(item["version"]["N"]))


class ReleaseItems:
    """Mixed into DynamoStore, which provides the client, the table and the reads."""

    _db: Any
    _table: str

    def _errors(self, what: str) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def create_release(self, release: ReleaseRecord) -> ReleaseRecord:
        stored = release.replace(revision=1)
        key = _key(release)
        item = {**key, "id": _s(release.id), "version": {"N": "1"}, "record": _s(_dump(stored))}
        pointer = {
            "pk": _s(f"releaseid#{release.id}"),
            "sk": _s(POINTER_SK),
            **{f"record_{k}": v for k, v in key.items()},
        }
        absent = {"ConditionExpression": "attribute_not_exists(pk)"}
        with self._errors(f"could not create release {release.id}"):
            try:
                self._db.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": self._table, "Item": pointer, **absent}},
                        {"Put": {"TableName": self._table, "Item": item, **absent}},
                    ]
                )
            except ClientError as e:
                if error_code(e) != "TransactionCanceledException":
                    raise
                raise ConflictError(
                    f"release {release.id} already exists", where=f"DynamoDB table {self._table}"
                ) from None
        return stored

    def load_release(self, release_id: str) -> ReleaseRecord:
        with self._errors(f"could not read release {release_id}"):
            pointer = self._get(f"releaseid#{release_id}", POINTER_SK)
            item = self._get(pointer["record_pk"]["S"], pointer["record_sk"]["S"]) if pointer else None
        if item is None:
            raise NotFoundError(
                f"no release {release_id}", where=f"DynamoDB table {self._table}", hint="see: bluegreen status NAME"
            )
        return _from_item(item)

    def save_release(self, release: ReleaseRecord) -> ReleaseRecord:
        stored = release.replace(revision=release.revision + 1)
        with self._errors(f"could not save release {release.id}"):
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key=_key(release),
                    UpdateExpression="SET #record = :record, #version = :new",
                    ConditionExpression="#version = :expected",
                    ExpressionAttributeNames={"#record": "record", "#version": "version"},
                    ExpressionAttributeValues={
                        ":record": _s(_dump(stored)),
                        ":new": {"N": str(stored.revision)},
                        ":expected": {"N": str(release.revision)},
                    },
                )
            except ClientError as e:
                if error_code(e) != "ConditionalCheckFailedException":
                    raise
                raise ConflictError(
                    f"release {release.id} was changed by another writer (expected revision {release.revision})",
                    where=f"DynamoDB table {self._table}",
                ) from None
        return stored

    def releases(self, name: str, limit: int = 20) -> list[ReleaseRecord]:
        if limit <= 0:
            return []
        with self._errors(f"could not list the releases of {name}"):
            response = self._db.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={":pk": _s(f"release#{name}"), ":prefix": _s("release#")},
                ScanIndexForward=False,
                ConsistentRead=True,
                Limit=limit,
            )
        return [_from_item(item) for item in response.get("Items", [])]


def _dump(release: ReleaseRecord) -> str:
    return json.dumps(release_to_dict(release), sort_keys=True)
