"""The DynamoDB store's items: keys, attribute values, and records read from items (pure)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bluegreen.model import Record, record_from_dict, record_to_dict
from bluegreen.ports import LockInfo


def env_key(environment: str) -> str:
    return f"env#{environment}"


def record_sort_key(record: Record) -> str:
    # Zero-padded so that string order is time order (epoch seconds have 10 digits until 2286).
    return f"deployment#{record.created_at:020.6f}#{record.id}"


def pointer_key(deployment_id: str) -> str:
    return f"deployment#{deployment_id}"


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: float) -> dict[str, str]:
    return {"N": repr(float(value)) if not isinstance(value, int) else str(value)}


def lock_from_item(item: Mapping[str, Any]) -> LockInfo:
    return LockInfo(
        environment=item["environment"]["S"],
        deployment_id=item["deployment_id"]["S"],
        owner=item.get("owner", {}).get("S", ""),
        acquired_at=float(item["acquired_at"]["N"]),
        lease_until=float(item["lease_until"]["N"]),
    )


def record_from_item(item: Mapping[str, Any], archived_events: Sequence[Mapping[str, Any]] = ()) -> Record:
    d = json.loads(item["record"]["S"])
    if archived_events:
        d["events"] = [*archived_events, *d.get("events", [])]
    return record_from_dict(d)


def events_key(deployment_id: str) -> str:
    return f"events#{deployment_id}"


def chunks_of(item: Mapping[str, Any]) -> tuple[int, list[str]]:
    """(how many of the oldest events live in chunk items, their sort keys) of a record item."""
    return int(item.get("archived", {}).get("N", "0")), [c["S"] for c in item.get("chunks", {}).get("L", [])]


def is_ours(item: Mapping[str, Any] | None, token: str, revision: int) -> bool:
    """Whether the stored item is the write that carried `token` (at `revision`)."""
    return (
        item is not None
        and item.get("write_token", {}).get("S") == token
        and int(item.get("version", {}).get("N", "0")) == revision
    )


def body_bytes(record: Record) -> str:
    return json.dumps(record_to_dict(record), sort_keys=True)
