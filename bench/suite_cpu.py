"""Where the test suite's CPU goes: every process's CPU time by kind, and the machine's busy and idle time.

Runs a command (by default `scripts/test-suite`, the pytest groups of
`make test`) while it samples every process in /proc every --every seconds,
keeping each one's last user+system time; at the end it sums them by kind of
process (terraform itself, the AWS provider, moto, the sandbox's data plane,
bluegreen commands, pytest, the apps' gunicorn, HAProxy, ...) and prints them
beside /proc/stat's busy and idle CPU-seconds over the same run. A process
that lives less than one sampling interval is missed, so the kinds add up to
a little less than the busy time.

The suite is CPU-bound on a 2-core machine when busy time / 2 is close to
its wall time: then only less CPU makes it faster, and the table says where.

    python3 bench/suite_cpu.py [--every 0.2] [--no-write] [-- COMMAND...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from common import REPO, machine_line, write_section

TICKS = os.sysconf("SC_CLK_TCK")
# (kind, what its argv holds), first match wins: python processes are told apart by their module or script.
PYTHON_KINDS = (
    ("moto", "moto.server"),
    ("sandbox data plane", "bluegreen.sandbox.dataplane"),
    ("app instances (gunicorn)", "gunicorn"),
    ("pytest (with its load clients)", "pytest"),
    ("bluegreen commands", "bluegreen"),
    ("pip", "pip"),
    ("mypy", "mypy"),
    ("checkov", "checkov"),
)


@dataclass
class Seen:
    argv: list[str]
    first_ticks: int  # CPU time when first seen: a process already running at the start counts from there
    last_ticks: int


def kind(argv: Sequence[str]) -> str:
    exe = os.path.basename(argv[0]) if argv else ""
    if exe == "terraform":
        return "terraform"
    if exe.startswith("terraform-provider"):
        return "terraform's AWS provider"
    if exe.startswith("python") or exe in ("pytest", "bluegreen"):
        # What runs is the module (-m) or the script's name; paths elsewhere may say anything (pytest-of-root/...).
        if exe in ("pytest", "bluegreen"):
            what = exe
        elif len(argv) > 2 and argv[1] == "-m":
            what = argv[2]
        else:
            what = os.path.basename(argv[1]) if len(argv) > 1 else ""
        return next((name for name, mark in PYTHON_KINDS if mark in what), "other python")
    if exe in ("haproxy", "nginx", "packer", "ruff"):
        return exe
    if exe.startswith("nginx:"):
        return "nginx"
    return "other"


def cpu_ticks(stat: str) -> int:
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def sample(seen: dict[tuple[int, str], Seen], *, first: bool) -> None:
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            ticks = cpu_ticks(stat)
            key = (int(entry.name), stat[stat.rfind(")") + 2 :].split()[19])  # pid and start time: pids get reused
            if key in seen:
                seen[key].last_ticks = ticks
                continue
            raw = Path(entry.path, "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        argv = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
        seen[key] = Seen(argv, ticks if first else 0, ticks)


def machine_ticks() -> tuple[int, int]:
    """(busy, idle) CPU ticks of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, idle


def measure(command: Sequence[str], every: float) -> tuple[int, float, dict[str, float], float, float]:
    seen: dict[tuple[int, str], Seen] = {}
    sample(seen, first=True)
    busy0, idle0 = machine_ticks()
    started = time.monotonic()
    done = threading.Event()

    def watch() -> None:
        while not done.wait(every):
            sample(seen, first=False)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        code = subprocess.run(command, cwd=REPO, check=False).returncode
    finally:
        done.set()
        watcher.join()
    sample(seen, first=False)
    wall = time.monotonic() - started
    busy1, idle1 = machine_ticks()
    by_kind: dict[str, float] = {}
    for s in seen.values():
        spent = (s.last_ticks - s.first_ticks) / TICKS
        if spent > 0:
            by_kind[kind(s.argv)] = by_kind.get(kind(s.argv), 0.0) + spent
    return code, wall, by_kind, (busy1 - busy0) / TICKS, (idle1 - idle0) / TICKS


def table(command: Sequence[str], code: int, wall: float, by_kind: dict[str, float], busy: float, idle: float) -> str:
    counted = sum(by_kind.values())
    lines = [
        f"{machine_line()}; `{' '.join(command)}` exited {code} after {wall / 60:.1f} min.",
        "",
        f"Machine: **{busy:.0f} CPU-s busy, {idle:.0f} idle** ({busy / (busy + idle):.0%} busy); "
        f"busy / cores = {busy / (os.cpu_count() or 1) / 60:.1f} min, the least wall time this much CPU allows.",
        "",
        "| kind of process | CPU-s | share of counted |",
        "|---|---|---|",
    ]
    for name, spent in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        if spent >= 1.0:
            lines.append(f"| {name} | {spent:.0f} | {spent / counted:.1%} |")
    lines.append(f"| all counted | {counted:.0f} | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--every", type=float, default=0.2, help="seconds between two samples of /proc")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument("command", nargs="*", default=["scripts/test-suite"])
    args = parser.parse_args()
    code, wall, by_kind, busy, idle = measure(args.command, args.every)
    body = table(args.command, code, wall, by_kind, busy, idle)
    print(body)
    if not args.no_write:
        write_section("suite_cpu", body)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
