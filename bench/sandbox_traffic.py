"""Traffic through the sandbox's ALB: steady state vs during a canary deploy, and how fast a weight change is followed.

One run, one machine: `bluegreen sandbox up` (a temporary state directory),
v1 deployed. A client pool (half keep-alive, half a fresh connection per
request, never resending) requests `/version` through the production
listener for a fixed time with nothing happening (steady), then for the
whole of a canary deploy of v2 (10% -> 50% -> 100%, retire): requests,
failures, p50/p99 latency and the ratios during/steady. Then, with a deploy
of v3 paused at the promotion gate (both colours healthy), the production
listener's weights are flipped between the colours with a plain boto3
ModifyListener, and a kept-alive client measures how long until every answer
comes from the colour the weights name (the data plane's propagation delay;
at most 1 s by design). The tables go into bench/README.md.

    .venv/bin/python bench/sandbox_traffic.py [--seconds 20] [--threads 4] [--flips 10]
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from common import ENV, machine_line, percentile, run_bluegreen, running_sandbox, sandbox_config, write_section

from bluegreen.adapters.local.loadgen import LoadGenerator, LoadReport

CANARY = {"strategy": "canary", "steps": [{"weight": 10, "wait": "5s"}, {"weight": 50, "wait": "5s"}]}
CONFIRM = 20  # consecutive answers from the expected colour that say a flip took effect


def sandbox_info(cfg: Path) -> dict[str, Any]:
    res = run_bluegreen(cfg, "sandbox", "status", "--json", timeout=60)
    info: dict[str, Any] = json.loads(res.stdout)
    return info


def deploy(cfg: Path, version: str, *extra: str) -> None:
    res = run_bluegreen(cfg, "deploy", ENV, "--version", version, *extra, timeout=600)
    if res.returncode != 0:
        sys.exit(f"deploy {version} failed:\n{res.stdout}{res.stderr}")


def row(name: str, r: LoadReport) -> str:
    return (
        f"| {name} | {r.duration_s:.1f} | {r.sent} | {r.failures} | {r.per_second:.0f} | "
        f"{r.percentile_ms(50):.1f} | {r.percentile_ms(99):.1f} |"
    )


def flip_delays(info: dict[str, Any], flips: int) -> list[float]:
    """Seconds from each ModifyListener (answered) until CONFIRM answers in a row come from the colour named."""
    elbv2 = boto3.client(
        "elbv2",
        endpoint_url=info["endpoint"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    lb = elbv2.describe_load_balancers(Names=[ENV])["LoadBalancers"][0]
    listener = next(
        x for x in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"] if x["Port"] == 8080
    )
    before = listener["DefaultActions"]
    groups = {g: elbv2.describe_target_groups(Names=[f"{ENV}-{g}"])["TargetGroups"][0] for g in ("blue", "green")}
    url = info["load_balancers"][ENV]["production_url"].removeprefix("http://")
    host, port = url.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    versions: dict[str, str] = {}
    for colour, other in (("blue", "green"), ("green", "blue")):  # which version each colour runs
        set_weights(elbv2, listener["ListenerArn"], groups[colour], groups[other])
        time.sleep(2)
        versions[colour] = get(conn)
    delays = []
    try:
        for n in range(flips):
            colour, other = ("blue", "green") if n % 2 else ("green", "blue")
            set_weights(elbv2, listener["ListenerArn"], groups[colour], groups[other])
            changed = time.monotonic()
            streak, seen_at = 0, changed
            deadline = changed + 30
            while streak < CONFIRM and time.monotonic() < deadline:
                if get(conn) == versions[colour]:
                    streak += 1
                    seen_at = seen_at if streak > 1 else time.monotonic()
                else:
                    streak = 0
            delays.append(seen_at - changed)
            time.sleep(0.5)
    finally:
        elbv2.modify_listener(ListenerArn=listener["ListenerArn"], DefaultActions=before)
        conn.close()
    return delays


def set_weights(elbv2: Any, listener_arn: str, on: dict[str, Any], off: dict[str, Any]) -> None:
    forward = [
        {"TargetGroupArn": on["TargetGroupArn"], "Weight": 100},
        {"TargetGroupArn": off["TargetGroupArn"], "Weight": 0},
    ]
    elbv2.modify_listener(
        ListenerArn=listener_arn, DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": forward}}]
    )


def get(conn: http.client.HTTPConnection) -> str:
    conn.request("GET", "/version")
    return conn.getresponse().read().decode().strip()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=20.0, help="steady-state measurement")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--flips", type=int, default=10)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-traffic-") as tmp:
        cfg = sandbox_config(Path(tmp), traffic=CANARY, bake_time="0s")
        with running_sandbox(cfg):
            deploy(cfg, "v1", "--strategy", "all-at-once")
            info = sandbox_info(cfg)
            address = info["load_balancers"][ENV]["production_url"].removeprefix("http://")
            print("steady state...", flush=True)
            with LoadGenerator(address, "/version", threads=args.threads, max_duration_s=args.seconds) as load:
                time.sleep(args.seconds)
            steady = load.report
            print("during a canary deploy of v2...", flush=True)
            with LoadGenerator(address, "/version", threads=args.threads, max_duration_s=900) as load:
                deploy(cfg, "v2")
            during = load.report
            print("weight flips with v3 paused at the gate...", flush=True)
            gated = sandbox_config(Path(tmp), "gated", traffic=CANARY, bake_time="0s", promotion="manual")
            deploy(gated, "v3", "--no-wait")
            delays = flip_delays(info, args.flips)
            run_bluegreen(gated, "abort", ENV, "--reason", "bench done", timeout=300)
    for name, r in (("steady", steady), ("canary deploy", during)):
        print(f"{name}: {r.summary()}")
    print(f"flip delays: {[round(d, 3) for d in delays]}")
    ratio = (
        f"| during/steady | | | | {during.per_second / steady.per_second:.2f} | "
        f"{during.percentile_ms(50) / steady.percentile_ms(50):.2f} | "
        f"{during.percentile_ms(99) / steady.percentile_ms(99):.2f} |"
    )
    body = "\n".join(
        [
            "Through the sandbox ALB's production listener (HAProxy, 2 gunicorn instances per colour), "
            f"{args.threads} clients (half keep-alive, half a connection per request, never resending):",
            "",
            "| phase | seconds | requests | failures | req/s | p50 ms | p99 ms |",
            "|---|---|---|---|---|---|---|",
            row("steady", steady),
            row("canary deploy", during),
            ratio,
            "",
            f"After a ModifyListener (plain boto3) flipping all weight to the other colour, until {CONFIRM} answers "
            f"in a row come from it ({len(delays)} flips): p50 {percentile(delays, 50) * 1000:.0f} ms, "
            f"max {max(delays) * 1000:.0f} ms.",
            "",
            machine_line() + ".",
        ]
    )
    write_section("sandbox_traffic", body)
    if steady.failures or during.failures:
        sys.exit(f"requests failed: steady {steady.failures}, during the deploy {during.failures}")


if __name__ == "__main__":
    main()
