"""What `bluegreen status ENV --json` costs from a cold process, against the interpreter's own start.

One run, one machine: a temporary config with one environment and one
deployment in its record (`platform: simulated`, deployed once), then four
commands run in turn, again and again, each in a fresh process, so drifts
in the machine's load hit them all alike:

- `bluegreen status ENV --json` (the installed console script);
- `python -c pass` (the interpreter alone);
- `python -c "import boto3"` (what an AWS command pays on top);
- `python -c "import bluegreen.cli"` (the CLI's own imports).

The table (p50, p90, min, and each p50 as a multiple of `python -c pass`),
and whether `status` imported boto3 at all, is written into bench/README.md.

    .venv/bin/python bench/status_cold_start.py [--rounds 20] [--no-write]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import command_env, machine_line, percentile, write_section

ENV = "web"


def write_config(directory: Path) -> Path:
    body = {
        "platform": "simulated",
        "health_check": {"interval": "200ms", "timeout": "100ms", "healthy_threshold": 1, "deadline": "20s"},
        "traffic": {"check_every": "100ms"},
    }
    path = directory / "bluegreen.yaml"
    path.write_text(yaml.safe_dump({"state": {"path": str(directory / "state")}, "environments": {ENV: body}}))
    return path


def commands(cfg: Path) -> dict[str, list[str]]:
    python = sys.executable
    console_script = str(Path(python).parent / "bluegreen")
    return {
        f"bluegreen status {ENV} --json": [console_script, "--config", str(cfg), "status", ENV, "--json"],
        "python -c pass": [python, "-c", "pass"],
        'python -c "import boto3"': [python, "-c", "import boto3"],
        'python -c "import bluegreen.cli"': [python, "-c", "import bluegreen.cli"],
    }


def timed(argv: list[str]) -> float:
    began = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=command_env())
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return took


def status_imports_boto3(cfg: Path) -> bool:
    """Run `status` in a child that reports, at exit, whether boto3 was ever imported."""
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write('boto3 imported: %s\\n' % ('boto3' in sys.modules)))\n"
        "from bluegreen.cli import main\n"
        f"sys.argv = ['bluegreen', '--config', {str(cfg)!r}, 'status', {ENV!r}, '--json']\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=command_env())
    return "boto3 imported: True" in done.stderr


def table(samples: dict[str, list[float]], rounds: int, boto3_in_status: bool) -> str:
    base = percentile(samples["python -c pass"], 50)
    lines = [
        f"{machine_line()}; {rounds} rounds, the four commands in turn (rotated each round), each a fresh "
        f"process. `status` imported boto3: {'yes' if boto3_in_status else 'no'}.",
        "",
        "| command | p50 ms | p90 ms | min ms | p50 / `python -c pass` |",
        "|---|---|---|---|---|",
    ]
    for name, values in samples.items():
        p50 = percentile(values, 50)
        lines.append(
            f"| `{name}` | {1000 * p50:.0f} | {1000 * percentile(values, 90):.0f} | {1000 * min(values):.0f} "
            f"| {p50 / base:.1f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20, help="runs of each command")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bluegreen-bench-") as tmp:
        cfg = write_config(Path(tmp))
        deployed = subprocess.run(
            [sys.executable, "-m", "bluegreen", "--config", str(cfg), "deploy", ENV, "--version", "v1"],
            capture_output=True,
            text=True,
            env=command_env(),
            timeout=120,
        )
        if deployed.returncode != 0:
            raise SystemExit(f"deploy {ENV} v1 failed:\n{deployed.stdout}{deployed.stderr}")
        argvs = commands(cfg)
        names = list(argvs)
        for argv in argvs.values():
            timed(argv)  # warm the page cache and .pyc files: every measured run starts from the same place
        samples: dict[str, list[float]] = {name: [] for name in names}
        for i in range(args.rounds):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                samples[name].append(timed(argvs[name]))
        boto3_in_status = status_imports_boto3(cfg)
    section = table(samples, args.rounds, boto3_in_status)
    print(section)
    if not args.no_write:
        write_section("status_cold_start", section)


if __name__ == "__main__":
    main()
