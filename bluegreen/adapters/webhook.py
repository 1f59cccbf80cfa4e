"""Notifications: a JSON POST to a webhook on start, each step, gate, done and rollback.

A notification that cannot be delivered is logged and dropped: telling the
world must never stop or fail a deployment.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

from bluegreen.model import Record, weights_json
from bluegreen.reporting import analysis_summary

log = logging.getLogger("bluegreen.webhook")


def payload(event: str, record: Record, message: str) -> dict[str, Any]:
    return {
        "event": event,
        "message": message,
        "deployment_id": record.id,
        "environment": record.environment,
        "release": {"version": record.release.version, "ami": record.release.ami},
        "from_colour": record.from_colour.value if record.from_colour else None,
        "to_colour": record.to_colour.value,
        "phase": record.phase.value,
        "status": record.status.value,
        "weights": weights_json(record.weights),
        "analysis": analysis_summary(record),  # the last canary analysis, or None
    }


class WebhookNotifier:
    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self.url = url
        self.timeout_s = timeout_s

    def notify(self, event: str, record: Record, message: str) -> None:
        body = json.dumps(payload(event, record, message)).encode()
        req = urllib.request.Request(self.url, data=body, method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                resp.read()
        except Exception as e:  # any failure to notify is logged, never fatal
            log.warning("webhook %s for %s failed: %s", event, record.id, e)
