"""What the sandbox's front costs an AWS call: the same calls straight to moto and through the front, side by side.

Every client of the sandbox (Terraform's provider, Packer, bluegreen, the
tests' boto3) calls the front, which relays to moto. One moto server and one
front (bluegreen.sandbox.dataplane.front.Front, its target health stubbed: no
load balancer here) on loopback; the calls alternate between the two
endpoints, so drifts in the machine's load hit both alike. Each is a kept-alive
boto3 client, as the SDKs keep theirs.

    .venv/bin/python bench/api_latency.py [--calls 200] [--no-write]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from common import machine_line, percentile, write_section

from bluegreen.sandbox import server as motoserver
from bluegreen.sandbox.dataplane.front import Front

KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def calls(endpoint: str) -> dict[str, Callable[[], Any]]:
    iam = boto3.client("iam", endpoint_url=endpoint, **KEYS)
    elbv2 = boto3.client("elbv2", endpoint_url=endpoint, **KEYS)
    return {"iam ListRoles": iam.list_roles, "elbv2 DescribeTargetGroups": elbv2.describe_target_groups}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    server = motoserver.start(Path(tempfile.mkdtemp(prefix="bench-api-")) / "moto.log")
    front = Front(server.endpoint, lambda arn: []).start()
    try:
        paths = {"moto directly": calls(server.endpoint), "through the front": calls(front.endpoint)}
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.calls + 5):  # the first 5 of each warm the connections up, and are dropped
            for path, named in paths.items():
                for name, call in named.items():
                    started = time.perf_counter()
                    call()
                    times.setdefault((path, name), []).append(time.perf_counter() - started)
    finally:
        front.stop()
        motoserver.stop(server.pid)
    rows = []
    for name in paths["moto directly"]:
        direct = [t * 1000 for t in times[("moto directly", name)][5:]]
        relayed = [t * 1000 for t in times[("through the front", name)][5:]]
        for path, values in (("moto directly", direct), ("through the front", relayed)):
            rows.append(
                f"| {name} | {path} | {len(values)} | {percentile(values, 50):.2f} | {percentile(values, 99):.2f} |"
                + (f" {percentile(relayed, 50) / percentile(direct, 50):.2f}x |" if values is relayed else " 1x |")
            )
    body = "\n".join(
        [
            f"{machine_line()}, {args.calls} calls per row, alternating.",
            "",
            "| call | endpoint | calls | p50 ms | p99 ms | p50 / direct |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(body)
    if not args.no_write:
        write_section("api_latency", body)


if __name__ == "__main__":
    main()
