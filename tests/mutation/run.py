"""Run `tests/core` against every mutant of the state machine's modules and count the mutants it kills.

The source tree is never written: one parent process imports pytest, hypothesis
and the parts of bluegreen the mutated modules do not bring in, then forks a
child per mutant. The child compiles the mutant from the parsed source, puts it
in `sys.modules` under the real module's name and runs pytest in-process, so an
interrupted run (Ctrl-C, SIGTERM, a timeout) has nothing to restore. Children
die with the parent (PR_SET_PDEATHSIG).

First the unmutated module runs under tests/core once, traced: it must pass,
and each test's lines of the module are recorded (lines.py). Each mutant then
runs only the tests that run its lines, quickest first, stopping at the first
failure. A mutant is killed when a test fails, errors or the run outlives its
timeout; it survives when every test passes (or no test runs its lines).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib
import os
import signal
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.mutation.lines import LineRecorder, TestLines
from tests.mutation.mutants import Mutant, mutants, mutate

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "tests" / "core"
TARGETS = ("bluegreen/machine.py", "bluegreen/planner.py")
# Imported once in the parent, before any fork. Nothing here may import a mutated module (checked).
PRELOAD = (
    "pytest",
    "hypothesis",
    "numpy",
    "scipy.stats",
    "bluegreen.config",
    "bluegreen.adapters.simulated",
    "bluegreen.analysis_policy",
    "bluegreen.step_rules",
    "bluegreen.metric_lag",
    "bluegreen.release_machine",
)
PR_SET_PDEATHSIG = 1
HYPOTHESIS_SEED = "20240518"  # fixed: the same examples, so the same mutants die, on every run
PYTEST_OPTIONS = [
    "-p",
    "no:cacheprovider",
    f"--hypothesis-seed={HYPOTHESIS_SEED}",
    "--rootdir",
    str(ROOT),
    "-o",
    "addopts=--import-mode=importlib",
    "-o",
    "timeout=0",  # the parent times each run out; pytest-timeout's thread does not belong in a fork
]


@dataclass
class Outcome:
    mutant: Mutant
    how: str  # "failed", "timeout", "survived", "not run" (no test runs its lines)
    seconds: float

    @property
    def killed(self) -> bool:
        return self.how in ("failed", "timeout")


def preload(targets: Sequence[str]) -> None:
    import hypothesis

    # No example database: what one mutant's run found must not help or hinder the next one. No shrinking:
    # the first failing example kills the mutant, a smaller one would only cost time.
    phases = [hypothesis.Phase.explicit, hypothesis.Phase.reuse, hypothesis.Phase.generate]
    hypothesis.settings.register_profile("mutation", database=None, phases=phases)
    hypothesis.settings.load_profile("mutation")
    for name in PRELOAD:
        importlib.import_module(name)
    loaded = [module_name(t) for t in targets if module_name(t) in sys.modules]
    if loaded:
        raise SystemExit(f"preloading imported {loaded}: a mutant would not replace it; trim PRELOAD")


def module_name(target: str) -> str:
    return target.removesuffix(".py").replace("/", ".")


def install(target: str, code: types.CodeType) -> None:
    """Make `code` the module `target` names, before any test imports it."""
    name = module_name(target)
    module = types.ModuleType(name)
    module.__file__ = str(ROOT / target)
    package, _, attr = name.rpartition(".")
    module.__package__ = package
    sys.modules[name] = module
    exec(code, module.__dict__)
    setattr(sys.modules[package], attr, module)


def fork(target: str, code: types.CodeType, args: list[str], *, log: str = os.devnull, plugin: Any = None,
         then: Callable[[], None] = lambda: None) -> int:  # fmt: skip
    """A child that installs `code` as `target`, runs pytest with `args`, calls `then` and exits with pytest's code."""
    pid = os.fork()
    if pid:
        return pid
    status = 3
    try:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        install(target, code)
        import pytest

        status = int(pytest.main([*args, *PYTEST_OPTIONS], plugins=[plugin] if plugin else []))
        then()
    finally:
        sys.stdout.flush()
        os._exit(status)


def trace_tests(target: str, source: str, workdir: Path) -> TestLines:
    """Run tests/core once on the unmutated module, recording each test's lines of it; it must pass."""
    recorder = LineRecorder(str(ROOT / target))
    saved = workdir / "lines.json"
    log = workdir / "traced.log"
    code = compile(source, str(ROOT / target), "exec")
    pid = fork(target, code, [str(CORE), "-q"], log=str(log), plugin=recorder, then=lambda: recorder.save(saved))
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"tests/core fails with {target} unmutated: fix that first\n{log.read_text()[-3000:]}")
    return TestLines(saved)


@dataclass
class Running:
    mutant: Mutant
    pid: int
    started: float
    timeout: float


class Pool:
    """At most `jobs` children at a time; each killed once it outlives its timeout."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.running: dict[int, Running] = {}

    def run(self, target: str, source: str, todo: Sequence[Mutant], tests: TestLines) -> Iterator[Outcome]:
        queue = list(todo)
        while queue or self.running:
            while queue and len(self.running) < self.jobs:
                m = queue.pop(0)
                chosen = tests.tests_for(m)
                if not chosen:
                    yield Outcome(m, "not run", 0.0)
                    continue
                code = compile(mutate(source, m.index), str(ROOT / target), "exec")
                pid = fork(target, code, [*chosen, "-x", "-q", "--tb=no"])
                # In CPU seconds, so a busy machine does not turn slow runs into kills; the traced run
                # already took longer than a plain one.
                timeout = 5.0 + 3 * sum(tests.seconds[n] for n in chosen)
                self.running[pid] = Running(m, pid, time.monotonic(), timeout)
            yield from self._reap()

    def _reap(self) -> Iterator[Outcome]:
        time.sleep(0.01)
        for pid, r in list(self.running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            took = time.monotonic() - r.started
            if done:
                del self.running[pid]
                yield Outcome(r.mutant, "survived" if os.waitstatus_to_exitcode(status) == 0 else "failed", took)
            elif cpu_seconds(pid) > r.timeout:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                del self.running[pid]
                yield Outcome(r.mutant, "timeout", took)

    def stop(self) -> None:
        for pid in list(self.running):
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        self.running.clear()


def cpu_seconds(pid: int) -> float:
    """The CPU time a running child has used (/proc/PID/stat: utime and stime, in clock ticks)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_target(pool: Pool, target: str, workdir: Path) -> str:
    source = (ROOT / target).read_text()
    todo = mutants(source)
    started = time.monotonic()
    tests = trace_tests(target, source, workdir)
    print(f"{target}: {len(todo)} mutants; {len(tests.lines)} tests traced in {time.monotonic() - started:.0f}s")
    survivors: list[Outcome] = []
    killed = 0
    for done, outcome in enumerate(pool.run(target, source, todo, tests), 1):
        m = outcome.mutant
        killed += outcome.killed
        if not outcome.killed:
            survivors.append(outcome)
        if outcome.how != "failed":
            print(f"  {outcome.how:8} {target}:{m.line}: #{m.index} {m.description}", flush=True)
        if done % 100 == 0:
            print(f"  ... {done}/{len(todo)} in {time.monotonic() - started:.0f}s", flush=True)
    pct = 100.0 * killed / len(todo) if todo else 100.0
    line = f"{target}: killed {killed} of {len(todo)} ({pct:.1f}%)"
    print(line)
    for o in sorted(survivors, key=lambda o: o.mutant.index):
        suffix = " (no test runs it)" if o.how == "not run" else ""
        print(f"  survivor {target}:{o.mutant.line}: #{o.mutant.index} {o.mutant.description}{suffix}")
    return line


def show(target: str, index: int, workdir: Path) -> int:
    """One mutant with its tests' output on the terminal: to see what a survivor gets away with."""
    source = (ROOT / target).read_text()
    m = mutants(source)[index]
    tests = trace_tests(target, source, workdir)
    print(f"{target}:{m.line}: #{m.index} {m.description}", flush=True)
    chosen = tests.tests_for(m)
    code = compile(mutate(source, index), str(ROOT / target), "exec")
    _, status = os.waitpid(fork(target, code, [*chosen, "-x", "-v", "--tb=short"], log="/dev/stdout"), 0)
    return os.waitstatus_to_exitcode(status)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("targets", nargs="*", default=list(TARGETS), help="modules to mutate (default: both)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--show", type=int, metavar="INDEX", help="run one mutant of the first target, verbosely")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    if args.list:
        for target in args.targets:
            for m in mutants((ROOT / target).read_text()):
                print(f"{target}:{m.line}: #{m.index} {m.description}")
        return 0
    preload(args.targets)
    pool = Pool(args.jobs)

    def stop(signum: int, frame: Any) -> None:
        pool.stop()
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bluegreen-mutation-") as tmp:
        if args.show is not None:
            return show(args.targets[0], args.show, Path(tmp))
        summary = [run_target(pool, target, Path(tmp)) for target in args.targets]
    print()
    print("\n".join(summary))
    print(f"wall time {time.monotonic() - started:.0f}s")
    return 0
