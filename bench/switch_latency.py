"""What a traffic switch costs the clients: requests, failures and latency during switches vs steady state.

One run, one machine, one client pool: two releases of the example app run
side by side behind bluegreen's nginx (examples/local/bluegreen.yaml, on a
free port and a temporary state directory). The pool (half keep-alive, half
a fresh connection per request, never resending: a request lost on a closed
keep-alive connection is a failure) sends GET /version through nginx for the
same duration twice: once with nothing happening (steady), once while
traffic is switched from one colour to the other and back, again and again,
each switch a new routes file read back from nginx's workers, no reload
(switching). The table, with the ratios switching/steady, is written into
bench/README.md.

    .venv/bin/python bench/switch_latency.py [--seconds 10] [--threads 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from common import machine_line, write_section

from bluegreen import config as config_mod
from bluegreen.adapters.local import platform as local
from bluegreen.adapters.local.loadgen import LoadGenerator, LoadReport
from bluegreen.model import Colour, Release, Weights
from bluegreen.ports import HealthState, Platform
from bluegreen.sandbox.server import free_port

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "local" / "bluegreen.yaml"


def start_colour(p: Platform, env_name: str, colour: Colour, version: str) -> None:
    baked = p.baker.bake(env_name, version)
    p.provisioner.provision(colour, Release(version, baked.ami, baked.source_hash))
    deadline = time.monotonic() + 30
    while p.health.check(colour).state is not HealthState.HEALTHY:
        if time.monotonic() > deadline:
            sys.exit(f"{colour} did not turn healthy: {p.health.check(colour).describe()}")
        time.sleep(0.1)


def window(address: str, seconds: float, threads: int, action: Callable[[threading.Event], None] | None) -> LoadReport:
    """Run the client pool for `seconds`; `action`, if any, runs beside it until told to stop."""
    stop = threading.Event()
    beside = threading.Thread(target=action, args=(stop,)) if action else None
    load = LoadGenerator(address, "/version", threads=threads, max_duration_s=seconds + 30, resend_stale=False).start()
    if beside:
        beside.start()
    time.sleep(seconds)
    stop.set()
    report = load.stop()
    if beside:
        beside.join()
    return report


def switching(p: Platform, stop: threading.Event, durations: list[float]) -> None:
    live = Colour.BLUE
    while not stop.is_set():
        live = live.other
        weights = Weights.all_on(live)
        began = time.perf_counter()
        p.traffic.set_weights(weights)
        if p.traffic.read_weights() != weights:
            raise SystemExit(f"read-back differs after switching to {live}")
        durations.append(time.perf_counter() - began)


def row(name: str, r: LoadReport, extra: str) -> str:
    return (
        f"| {name} | {r.sent} | {r.ok} | {r.per_second:.0f} | {r.failures + r.stale_retries} | {r.reused_errors} | "
        f"{r.percentile_ms(50):.2f} | {r.percentile_ms(99):.2f} | {extra} |"
    )


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def table(steady: LoadReport, switched: LoadReport, durations: list[float], seconds: float, threads: int) -> str:
    mean_switch_ms = 1000 * sum(durations) / len(durations) if durations else 0.0
    return "\n".join(
        [
            f"{machine_line()}, "
            f"{threads} client threads ({threads // 2} keep-alive), {seconds:g} s per window, 2 gunicorn sync "
            "workers per colour.",
            "",
            "| window | requests sent | 2xx served | req/s | failures (resends counted) | of them on reused keep-alive "
            "| p50 ms | p99 ms | switches |",
            "|---|---|---|---|---|---|---|---|---|",
            row("steady state", steady, "0"),
            row("switching", switched, f"{len(durations)} (mean {mean_switch_ms:.0f} ms each, with read-back)"),
            f"| switching / steady | {ratio(switched.sent, steady.sent)} | {ratio(switched.ok, steady.ok)} "
            f"| {ratio(switched.per_second, steady.per_second)} "
            f"| {switched.failures + switched.stale_retries} vs {steady.failures + steady.stale_retries} "
            f"| {switched.reused_errors} vs {steady.reused_errors} "
            f"| {ratio(switched.percentile_ms(50), steady.percentile_ms(50))} "
            f"| {ratio(switched.percentile_ms(99), steady.percentile_ms(99))} | |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each window")
    parser.add_argument("--threads", type=int, default=4, help="client threads (half keep-alive)")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()

    config = config_mod.load(EXAMPLE)
    with tempfile.TemporaryDirectory(prefix="bluegreen-bench-") as state:
        config = dataclasses.replace(config, state=dataclasses.replace(config.state, path=Path(state)))
        env = config.environment("local-demo")
        env = dataclasses.replace(env, local=dataclasses.replace(env.local, listen_port=free_port()))
        p = local.build_local_platform(config, env)
        address = f"127.0.0.1:{env.local.listen_port}"
        try:
            start_colour(p, env.name, Colour.BLUE, "v1")
            start_colour(p, env.name, Colour.GREEN, "v2")
            p.traffic.set_weights(Weights.all_on(Colour.BLUE))

            steady = window(address, args.seconds, args.threads, None)
            durations: list[float] = []
            switched = window(address, args.seconds, args.threads, lambda stop: switching(p, stop, durations))
        finally:
            local.stop_all(config, env)
    section = table(steady, switched, durations, args.seconds, args.threads)
    print(section)
    if not args.no_write:
        write_section("switch_latency", section)


if __name__ == "__main__":
    main()
