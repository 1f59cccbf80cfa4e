"""`make demo`'s traffic: a deploy through the CLI while a bounded load client requests the production listener.

    python -m bluegreen.sandbox.demo --config FILE ENVIRONMENT --version V

Prints the deploy's own output and, as each step ends, how many requests
each release answered during it and how many failed (connection errors and
non-2xx alike), through the environment's `production_url` (what `sandbox
status` reports). The client never resends, half its connections are
kept alive, it paces itself so the deploy keeps the machine, and it stops
when the deploy ends or after `--max-s`. Exit code: the deploy's, or 1 if
any request failed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from bluegreen.adapters.local.loadgen import LoadGenerator, LoadReport

STEP = re.compile(r"\bstep (\d+/\d+): (.*)$")


def counts(report: LoadReport) -> tuple[dict[str, int], int]:
    """Answers per release (`version v1` -> v1) and failures."""
    by_release: dict[str, int] = {}
    for body, n in report.bodies.items():
        release = body.removeprefix("version ").strip() or "?"
        by_release[release] = by_release.get(release, 0) + n
    return by_release, report.failures


def line_for(step: str, before: LoadReport, now: LoadReport) -> str:
    then, failed_then = counts(before)
    current, failed_now = counts(now)
    answered = ", ".join(f"{r} {current[r] - then.get(r, 0)}" for r in sorted(current)) or "none"
    return f"    traffic during {step}: {answered}; failed {failed_now - failed_then}"


def production_url(config: Path, environment: str) -> str:
    from bluegreen.config import load
    from bluegreen.factory import sandbox_status

    info = sandbox_status(load(config))
    if info is None or environment not in info.load_balancers:
        raise SystemExit(f"the sandbox is not running or has no environment {environment}: run `bluegreen sandbox up`")
    return info.load_balancers[environment]["production_url"]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bluegreen.sandbox.demo", description=__doc__.split("\n")[0])
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("environment")
    p.add_argument("--version", required=True)
    p.add_argument("--max-s", type=float, default=600.0, help="the load client stops by itself after this")
    args = p.parse_args(argv)
    url = production_url(args.config, args.environment)
    parts = urlsplit(url)
    load = LoadGenerator(
        f"{parts.hostname}:{parts.port}", "/version", threads=2, max_duration_s=args.max_s, pause_s=0.02
    )
    print(f"  load client: 2 clients (1 keep-alive, 1 connection per request) on {url}/version, never resending")
    argv_deploy = [sys.executable, "-m", "bluegreen", "--config", str(args.config), "deploy", args.environment]
    argv_deploy += ["--version", args.version]
    load.start()
    step, before = "start", load.snapshot()
    with subprocess.Popen(argv_deploy, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            found = STEP.search(line.rstrip("\n"))
            if found:
                now = load.snapshot()
                print(line_for(step, before, now))
                step, before = f"step {found.group(1)} ({found.group(2)})", now
            print(line, end="", flush=True)
        code = proc.wait()
    report = load.stop()
    print(line_for(step, before, report))
    total, failed = counts(report)
    print(f"  in all: {report.sent} requests, " + ", ".join(f"{r} {n}" for r, n in sorted(total.items())))
    print(f"  failed: {failed} ({dict(report.non_2xx)} non-2xx, {dict(report.errors)} connection errors)")
    print(f"  try it: curl {url}/version")
    return code or (1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
