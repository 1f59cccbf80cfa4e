"""Responses in the shape AWS returns them (boto3's parsed form), for the pure decision functions.

moto reports targets healthy the moment they register; AWS walks them through
initial, unhealthy, draining and unused with reason codes. These files hold
those real shapes, every field AWS sends included, so the classification is
tested on what production will show.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

GREEN_TARGET_GROUP = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-prod-green/6d0ecf831eec9f09"
BLUE_TARGET_GROUP = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-prod-blue/0e4b6c3a2f1d9e87"
ASG_NAME = "web-prod-green"
CLASSIC_LB = "web-prod"
INSTANCE_A = "i-0c5e3f0a1b2d3e4f5"
INSTANCE_B = "i-0d6f4a1b2c3e4f506"
INSTANCE_C = "i-0e7a5b2c3d4f50617"


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((HERE / f"{name}.json").read_text())
    return data
