"""What the benches share: running bluegreen as operators do, the sandbox, percentiles, and their README sections."""

from __future__ import annotations

import functools
import os
import platform as host
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
README = Path(__file__).resolve().parent / "README.md"
EXAMPLE = REPO / "examples" / "sandbox" / "bluegreen.yaml"
ENV = "demo"  # the sandbox example's environment
BLUEGREEN = [sys.executable, "-m", "bluegreen"]


def write_section(name: str, body: str) -> None:
    """Replace the text between `<!-- name:begin -->` and `<!-- name:end -->` in bench/README.md."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = README.read_text() if README.exists() else ""
    block = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + f"\n\n## {name}.py\n\n{block}\n"
    README.write_text(text)
    print(f"written to {README}")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def machine_line() -> str:
    return f"Run on {time.strftime('%Y-%m-%d')}: {os.cpu_count()} CPUs, Python {host.python_version()}"


@functools.cache
def command_env() -> dict[str, str]:
    """What `make` exports for the tools: no Terraform checkpoint calls, the provider mirror if there is one.

    Looked up once: a bench must not time the lookup with the command.
    """
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "BLUEGREEN_ACTOR": "bench"}
    if not env.get("BLUEGREEN_TF_PROVIDER_MIRROR"):
        found = subprocess.run([str(REPO / "scripts" / "find-provider-mirror")], capture_output=True, text=True)
        if found.stdout.strip():
            env["BLUEGREEN_TF_PROVIDER_MIRROR"] = found.stdout.strip()
    return env


def run_bluegreen(cfg: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BLUEGREEN, "--config", str(cfg), *args], capture_output=True, text=True, timeout=timeout, env=command_env()
    )


def sandbox_config(directory: Path, name: str = "bluegreen", **env_overrides: Any) -> Path:
    """The sandbox example with its state in `directory`, its paths made absolute, `env_overrides` laid over."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    data["state"]["path"] = str(directory / "state")
    env = data["environments"][ENV]
    for key in ("template", "artifact"):
        env["bake"][key] = str((EXAMPLE.parent / env["bake"][key]).resolve())
    env.update(env_overrides)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@contextmanager
def running_sandbox(cfg: Path) -> Iterator[None]:
    """`bluegreen sandbox up` for the duration, `sandbox down` afterwards whatever happened."""
    print("sandbox up (moto server, network, the demo ALB: about a minute)...", flush=True)
    try:
        up = run_bluegreen(cfg, "sandbox", "up", timeout=600)
        if up.returncode != 0:
            sys.exit(f"sandbox up failed:\n{up.stdout}{up.stderr}")
        yield
    finally:
        run_bluegreen(cfg, "sandbox", "down", timeout=60)
