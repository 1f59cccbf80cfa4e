"""Where a sandbox deploy's time goes: Terraform, Packer, configured waits, and the engine itself.

One run, one machine: `bluegreen sandbox up` in a temporary state directory
(not measured), then two deploys of the sandbox example
(examples/sandbox/bluegreen.yaml) driven in this process by bluegreen's own
Engine, built as the CLI builds it: v1 (the first deploy: bake, provision,
health, 100%, bake time) and v2 (bake, provision, health, headroom, canary
10% -> 50% -> 100% with holds, bake time, scale-down delay, retire blue).

The platform's ports, the store and the clock are wrapped with timers
(nothing in bluegreen changes for it):

- terraform: the slot provisioner (`terraform apply`/`destroy` of a colour)
  and reading the environment's outputs (`terraform output`) to build the
  platform;
- packer: the `packer build` inside the bake (from the baker's own "baking"
  and "baked" progress lines);
- configured waits: every `Clock.sleep` (holds, bake time, scale-down delay,
  the pause between health polls), as the runner sleeps them in poll slices;
- the rest is the engine's own overhead: store reads and writes, the AWS API
  calls of the health, traffic, alarm and smoke ports (boto3 against moto),
  the image lookup and source hash before a bake, building the adapters,
  and the decisions themselves.

The table, with the engine's share of the wall time, is written into
bench/README.md. The module also holds what the other benches share: the
README section writer, percentiles and the sandbox they run against.

    .venv/bin/python bench/engine_overhead.py [--no-write]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from common import ENV, command_env, machine_line, running_sandbox, sandbox_config, write_section

from bluegreen import config as config_mod
from bluegreen.adapters.aws.platform import ProvisionThenPreview
from bluegreen.adapters.host import SystemClock
from bluegreen.config import Config, Environment
from bluegreen.engine import Engine
from bluegreen.factory import aws_platform, aws_target, build_engine, environment_outputs
from bluegreen.model import Record, Status
from bluegreen.ports import Platform, Store

# -- timing the ports ---------------------------------------------------------------------------


@dataclasses.dataclass
class Stopwatch:
    seconds: dict[str, float] = dataclasses.field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = dataclasses.field(default_factory=lambda: defaultdict(int))

    @contextmanager
    def timing(self, bucket: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[bucket] += time.perf_counter() - began
            self.calls[bucket] += 1


class Timed:
    """Stands in for `inner`: every method call is timed into `bucket`."""

    def __init__(self, inner: Any, bucket: str, watch: Stopwatch) -> None:
        self._inner, self._bucket, self._watch = inner, bucket, watch

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._watch.timing(self._bucket):
                return attr(*args, **kwargs)

        return call


class TimedClock(SystemClock):
    def __init__(self, watch: Stopwatch) -> None:
        self._watch = watch

    def sleep(self, seconds: float) -> None:
        with self._watch.timing("waits"):
            time.sleep(seconds)


class PackerSpan:
    """Times `packer build` from the baker's progress lines ("baking ..." before, "baked ..." after)."""

    def __init__(self, watch: Stopwatch) -> None:
        self._watch = watch
        self._began: float | None = None

    def __call__(self, line: str) -> None:
        if line.startswith("baking "):
            self._began = time.perf_counter()
        elif line.startswith("baked ") and self._began is not None:
            self._watch.seconds["packer"] += time.perf_counter() - self._began
            self._watch.calls["packer"] += 1
            self._began = None


def timed_platform(config: Config, env: Environment, watch: Stopwatch) -> Platform:
    """build_aws_platform's two steps, timed apart, with every port wrapped."""
    with watch.timing("terraform"):
        outputs = environment_outputs(config, env)
    assert outputs is not None, "the sandbox has no demo environment"
    with watch.timing("setup"):
        p = aws_platform(config, env, aws_target(config), outputs, PackerSpan(watch))

    def api(port: Any) -> Any:
        return Timed(port, "aws api", watch)

    traffic = api(p.traffic)
    provisioner: Any = p.provisioner
    if isinstance(provisioner, ProvisionThenPreview):
        provisioner = ProvisionThenPreview(cast(Any, Timed(provisioner.provisioner, "terraform", watch)), traffic)
    else:
        provisioner = Timed(provisioner, "terraform", watch)
    return Platform(
        name=p.name,
        baker=cast(Any, Timed(p.baker, "bake", watch)),
        provisioner=provisioner,
        health=api(p.health),
        traffic=traffic,
        verifier=api(p.verifier),
        alarms=api(p.alarms),
    )


def timed_engine(config: Config, watch: Stopwatch) -> Engine:
    engine = build_engine(config, on_event=lambda rec, ev: None, on_wait=lambda rec, until: None)
    return dataclasses.replace(
        engine,
        store=cast(Store, Timed(engine.store, "store", watch)),
        clock=TimedClock(watch),
        platform_for=lambda env: timed_platform(config, env, watch),
    )


# -- the measurement -----------------------------------------------------------------------------


@dataclasses.dataclass
class Split:
    label: str
    total: float
    watch: Stopwatch
    configured_wait: float

    def part(self, bucket: str) -> float:
        return self.watch.seconds.get(bucket, 0.0)

    @property
    def packer(self) -> float:
        return self.part("packer")

    @property
    def terraform(self) -> float:
        return self.part("terraform")

    @property
    def waits(self) -> float:
        return self.part("waits")

    @property
    def engine(self) -> float:
        return self.total - self.terraform - self.packer - self.waits

    @property
    def image_lookup(self) -> float:
        return self.part("bake") - self.packer  # source hash + EC2 describe_images around the build

    @property
    def decisions(self) -> float:
        return self.engine - self.part("store") - self.part("aws api") - self.image_lookup - self.part("setup")


def configured_wait(rec: Record) -> float:
    """What the plan asks to wait: every hold, the bake time and the scale-down delay."""
    return sum(s.wait_s for s in rec.steps)


def measure(config: Config, label: str, version: str) -> Split:
    watch = Stopwatch()
    engine = timed_engine(config, watch)
    began = time.perf_counter()
    rec = engine.deploy(ENV, version)
    total = time.perf_counter() - began
    if rec.status is not Status.SUCCEEDED:
        sys.exit(f"deploy {version} ended {rec.status.value}: {rec.failure or rec.note}")
    return Split(label, total, watch, configured_wait(rec))


def share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "n/a"


def table(splits: list[Split]) -> str:
    both = Split("both deploys", sum(s.total for s in splits), Stopwatch(), sum(s.configured_wait for s in splits))
    for s in splits:
        for k, v in s.watch.seconds.items():
            both.watch.seconds[k] += v
        for k, n in s.watch.calls.items():
            both.watch.calls[k] += n
    rows = [*splits, both]
    lines = [
        f"{machine_line()}; the sandbox example (moto server, ALB, 2 instances per colour); "
        "seconds of wall time, share of the deploy in brackets.",
        "",
        "| deploy | total s | terraform | packer | configured waits (plan asks) | engine's own | engine share |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in rows:
        lines.append(
            f"| {s.label} | {s.total:.1f} | {s.terraform:.1f} ({share(s.terraform, s.total)}) "
            f"| {s.packer:.1f} ({share(s.packer, s.total)}) "
            f"| {s.waits:.1f} ({share(s.waits, s.total)}; {s.configured_wait:g}) "
            f"| {s.engine:.2f} ({share(s.engine, s.total)}) | {s.engine / s.total:.3f} |"
        )
    lines += [
        "",
        "The engine's own time, split:",
        "",
        "| deploy | store (calls) | AWS API via the ports (calls) | image lookup + source hash "
        "| building the adapters | decisions and the rest |",
        "|---|---|---|---|---|---|",
    ]
    for s in rows:
        lines.append(
            f"| {s.label} | {s.part('store'):.2f} ({s.watch.calls.get('store', 0)}) "
            f"| {s.part('aws api'):.2f} ({s.watch.calls.get('aws api', 0)}) | {s.image_lookup:.2f} "
            f"| {s.part('setup'):.2f} | {s.decisions:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()

    os.environ.update({k: v for k, v in command_env().items() if k.startswith(("BLUEGREEN_TF", "CHECKPOINT"))})
    with tempfile.TemporaryDirectory(prefix="bluegreen-bench-") as tmp:
        cfg = sandbox_config(Path(tmp))
        with running_sandbox(cfg):
            config = config_mod.load(cfg)
            splits = []
            for label, version in (("v1 (first deploy)", "v1"), ("v2 (canary, retire)", "v2")):
                print(f"deploy {version}...", flush=True)
                splits.append(measure(config, label, version))
    section = table(splits)
    print(section)
    if not args.no_write:
        write_section("engine_overhead", section)


if __name__ == "__main__":
    main()
