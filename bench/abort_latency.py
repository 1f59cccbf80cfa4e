"""How long an abort takes to put all traffic back on the old colour, on AWS (the sandbox) and simulated.

One run, one machine: `bluegreen sandbox up` in a temporary state directory,
one config with two environments that differ only in platform: `demo` (the
sandbox example: the AWS adapters against a moto server, Terraform slots)
and `sim` (`platform: simulated`, its load balancer a JSON file). Both
canary with a 10-minute hold at 10%, so a deploy waits there until aborted.

Each run, alternating the two platforms: `bluegreen deploy ENV` starts in
one process (AWS: with the AMI baked by the first deploy, so no bake);
once the record shows 10% read back and holding, and after a random pause
(so the abort lands anywhere in the runner's poll cycle), `bluegreen abort
ENV` runs from another process and is timed until it returns. From the
record of each run:

- noticed: the `abort_requested` event -> `rollback_started` (the running
  deploy saw the request);
- traffic back: `abort_requested` -> the `traffic` event "(read back)"
  with 100% on the old colour (the listener changed and read back);
- removed: `abort_requested` -> `rolled_back` (the new colour destroyed).

`bluegreen abort` returns when the deployment is rolled back, so its wall
time includes removing the new colour (a `terraform destroy` on AWS). The
table, with p50/max and the ratio to the runner's poll interval, is written
into bench/README.md.

    .venv/bin/python bench/abort_latency.py [--runs 5] [--no-write]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from common import (
    BLUEGREEN,
    ENV,
    command_env,
    machine_line,
    percentile,
    run_bluegreen,
    running_sandbox,
    sandbox_config,
    write_section,
)

from bluegreen import config as config_mod
from bluegreen.factory import build_engine, make_store
from bluegreen.model import Record, Status
from bluegreen.ports import Store

SIM = "sim"
HOLD = {
    "strategy": "canary",
    "steps": [{"weight": 10, "wait": "10m"}, {"weight": 50, "wait": "2s"}],
    "check_every": "1s",
}


def write_config(directory: Path) -> Path:
    """The sandbox example held at 10%, plus `sim`: the same environment on the simulated platform."""
    path = sandbox_config(directory, traffic=HOLD)
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    demo = data["environments"][ENV]
    data["environments"][SIM] = {k: v for k, v in demo.items() if k not in ("bake", "load_balancer", "capacity")}
    data["environments"][SIM]["platform"] = "simulated"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@dataclasses.dataclass(frozen=True)
class Run:
    noticed: float
    traffic_back: float
    removed: float
    command: float


def poll_for(get: Callable[[], Record | None], timeout: float, what: str) -> Record:
    deadline = time.monotonic() + timeout
    while (found := get()) is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)
    return found


def holding_at_first_step(store: Store, env: str, after: float) -> Record | None:
    rec = store.latest(env)
    if rec is None or rec.created_at < after or rec.status is not Status.RUNNING or rec.wait_until is None:
        return None
    read_back = [e for e in rec.events if e.kind == "traffic" and "(read back)" in e.message]
    return rec if read_back and f"{rec.to_colour} 10%" in read_back[-1].message else None


def first_event_after(rec: Record, kind: str, after: float, contains: str = "") -> float:
    for e in rec.events:
        if e.kind == kind and e.at >= after and contains in e.message:
            return e.at
    raise SystemExit(f"deployment {rec.id} has no {kind} event after the abort: {rec.status.value} {rec.note}")


def abort_once(cfg: Path, store: Store, env: str, version: str, extra: list[str], logs: Path) -> Run:
    began = time.time()
    with open(logs / f"{env}-{version}.log", "wb") as out:
        deploy = subprocess.Popen(
            [*BLUEGREEN, "--config", str(cfg), "deploy", env, "--version", version, *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=command_env(),
            start_new_session=True,
        )
    try:
        held = poll_for(lambda: holding_at_first_step(store, env, began), 180, f"{env} {version} to hold at 10%")
        time.sleep(random.uniform(0.3, 1.3))
        t0 = time.perf_counter()
        aborted = run_bluegreen(cfg, "abort", env, "--reason", "bench", timeout=300)
        command = time.perf_counter() - t0
        if aborted.returncode != 0:
            raise SystemExit(f"bluegreen abort {env} exited {aborted.returncode}:\n{aborted.stdout}{aborted.stderr}")
        deploy.wait(timeout=120)
    finally:
        if deploy.poll() is None:
            os.killpg(deploy.pid, signal.SIGKILL)
            deploy.wait(timeout=10)
    rec = store.load(held.id)
    if rec.status is not Status.ROLLED_BACK:
        raise SystemExit(f"{env} {version} ended {rec.status.value}, not rolled back: {rec.note}")
    assert rec.from_colour is not None
    requested = first_event_after(rec, "abort_requested", 0)
    return Run(
        noticed=first_event_after(rec, "rollback_started", requested) - requested,
        traffic_back=first_event_after(rec, "traffic", requested, f"{rec.from_colour} 100%") - requested,
        removed=first_event_after(rec, "rolled_back", requested) - requested,
        command=command,
    )


def cell(values: list[float], poll_s: float | None = None) -> str:
    p50, top = percentile(values, 50), max(values)
    text = f"{p50:.2f} / {top:.2f}"
    return text + (f" ({p50 / poll_s:.1f}x poll)" if poll_s else "")


def table(results: dict[str, list[Run]], poll_s: float, runs: int) -> str:
    labels = {ENV: "aws adapters, moto server (sandbox)", SIM: "simulated (JSON file)"}
    lines = [
        f"{machine_line()}; {runs} aborts per platform, alternating; the runner polls the record every "
        f"{poll_s:g} s (SQLite). Seconds, p50 / max.",
        "",
        "| platform | noticed (requested -> rollback started) | traffic back (-> old colour 100%, read back) "
        "| new colour removed (-> rolled back) | `bluegreen abort` wall time |",
        "|---|---|---|---|---|",
    ]
    for env, rs in results.items():
        lines.append(
            f"| {labels[env]} | {cell([r.noticed for r in rs], poll_s)} "
            f"| {cell([r.traffic_back for r in rs], poll_s)} | {cell([r.removed for r in rs])} "
            f"| {cell([r.command for r in rs])} |"
        )

    def ratio(pick: Callable[[Run], float]) -> str:
        a, s = percentile([pick(r) for r in results[ENV]], 50), percentile([pick(r) for r in results[SIM]], 50)
        return f"{a / s:.1f}x" if s else "n/a"

    lines.append(
        f"| aws / simulated (p50) | {ratio(lambda r: r.noticed)} | {ratio(lambda r: r.traffic_back)} "
        f"| {ratio(lambda r: r.removed)} | {ratio(lambda r: r.command)} |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="aborts per platform")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    random.seed(20261124)

    with tempfile.TemporaryDirectory(prefix="bluegreen-bench-") as tmp:
        cfg = write_config(Path(tmp))
        logs = Path(tmp) / "logs"
        logs.mkdir()
        config = config_mod.load(cfg)
        poll_s = build_engine(config, on_event=lambda rec, ev: None, on_wait=lambda rec, until: None).poll_s
        with running_sandbox(cfg):
            store = make_store(config)  # where the CLI keeps this config's records
            for env in (ENV, SIM):
                print(f"deploy {env} v1 (the live colour)...", flush=True)
                first = run_bluegreen(cfg, "deploy", env, "--version", "v1", timeout=300)
                if first.returncode != 0:
                    raise SystemExit(f"deploy {env} v1 failed:\n{first.stdout}{first.stderr}")
            live = store.latest(ENV)
            assert live is not None and live.release.ami
            extra = {ENV: ["--ami", live.release.ami], SIM: []}
            results: dict[str, list[Run]] = {ENV: [], SIM: []}
            for i in range(args.runs):
                for env in (ENV, SIM):
                    run = abort_once(cfg, store, env, f"v{i + 2}", extra[env], logs)
                    print(f"{env} run {i + 1}: {run}", flush=True)
                    results[env].append(run)
    section = table(results, poll_s, args.runs)
    print(section)
    if not args.no_write:
        write_section("abort_latency", section)


if __name__ == "__main__":
    main()
