"""A release of 1, 4 and 8 environments in one wave on the single-host platform: does it take constant time?

One run, one machine. For each size N, a temporary config with N `platform:
local` environments (each its own nginx on its own loopback port, two colours
of the example app, canary 10% -> 50% -> 100%) and a release `all` of one
wave holding all N. A first release (v1) makes each environment's live
colour, untimed; then the timed release (v2) deploys the idle colour of every
environment at once, shifts and retires the old one. Afterwards every
process is stopped.

The table: the release's wall time and its ratio to one environment; the
deployments' mean and longest duration (from their records); the configured
waits each deployment must sit out whatever the load (healthy polls and the
canary holds); and the CPU time of the `bluegreen release` process itself
(its rusage as this script's child; nginx and gunicorn run detached and are
not in it).

    .venv/bin/python bench/release_waves.py [--sizes 1,4,8] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from common import REPO, machine_line, run_bluegreen, write_section

APP = REPO / "examples" / "app"
HOLD_S = 1.0
HEALTH = {"path": "/health", "interval": "500ms", "timeout": "400ms", "healthy_threshold": 2, "deadline": "60s"}


def free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def write_config(directory: Path, n: int) -> tuple[Path, list[str]]:
    names = [f"env-{i}" for i in range(n)]
    environments = {}
    for name, port in zip(names, free_ports(n), strict=True):
        environments[name] = {
            "platform": "local",
            "local": {
                "app": str(APP),
                "listen_port": port,
                "workers": 1,
                "start_timeout": "60s",
                "drain_timeout": "5s",
                "stop_timeout": "10s",
                "env": {"APP_SECRET": "bench"},
            },
            "health_check": HEALTH,
            "smoke": [{"path": "/version", "contains": "version "}],
            "traffic": {
                "strategy": "canary",
                "steps": [{"weight": 10, "wait": f"{HOLD_S}s"}, {"weight": 50, "wait": f"{HOLD_S}s"}],
            },
        }
    doc = {
        "state": {"path": str(directory / "state")},
        "environments": environments,
        "releases": {"all": {"waves": [names]}},
    }
    path = directory / "bluegreen.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path, names


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"release-waves-{n}-") as tmp:
        cfg, names = write_config(Path(tmp), n)
        try:
            first = run_bluegreen(cfg, "release", "all", "--version", "v1", timeout=600)
            if first.returncode != 0:
                raise SystemExit(f"the first release of {n} failed:\n{first.stdout}\n{first.stderr}")
            cpu0, began = children_cpu(), time.perf_counter()
            timed = run_bluegreen(cfg, "release", "all", "--version", "v2", timeout=600)
            wall = time.perf_counter() - began
            cpu = children_cpu() - cpu0
            if timed.returncode != 0:
                raise SystemExit(f"the release of {n} failed:\n{timed.stdout}\n{timed.stderr}")
            st = json.loads(run_bluegreen(cfg, "status", "all", "--json").stdout)
            spans = [e["deployment"]["updated_at"] - e["deployment"]["created_at"] for e in st["environments"]]
        finally:
            for name in names:
                run_bluegreen(cfg, "stop", name, timeout=120)
    return {"n": n, "wall": wall, "mean": sum(spans) / len(spans), "longest": max(spans), "cpu": cpu}


def table(rows: list[dict[str, Any]]) -> str:
    one = rows[0]["wall"]
    waits = 2 * 0.5 + 2 * HOLD_S  # two healthy polls 0.5 s apart, two canary holds
    lines = [
        f"{machine_line()}; one wave, canary 10% -> 50% -> 100% with {HOLD_S:g} s holds, "
        f"healthy = 2 polls 0.5 s apart, 1 gunicorn worker per colour, one nginx per environment.",
        "",
        "| environments | release wall s | ratio to 1 | deployment mean s | longest s | configured waits s | CPU s of bluegreen |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']} | {r['wall']:.1f} | {r['wall'] / one:.2f}x | {r['mean']:.1f} | {r['longest']:.1f} "
            f"| {waits:.1f} | {r['cpu']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,4,8")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    os.chdir(REPO)
    rows = [measure(int(n)) for n in args.sizes.split(",")]
    text = table(rows)
    print(text)
    if not args.no_write:
        write_section("release_waves", text)


if __name__ == "__main__":
    main()
