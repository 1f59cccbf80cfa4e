"""Which tests run which lines of a module: the unmutated run, traced once, picks each mutant's tests.

A mutant changes one line range; a test that never runs those lines cannot see
the change, so only the tests that do are run against it, quickest first.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Generator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from tests.mutation.mutants import Mutant


class LineRecorder:
    """A pytest plugin: the lines of one source file each test runs, and the CPU time each test takes."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.lines: dict[str, set[int]] = {}
        self.seconds: dict[str, float] = {}
        self._current: set[int] = set()

    def _lines(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            self._current.add(frame.f_lineno)
        return self._lines

    def _calls(self, frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename != self.filename:
            return None  # no line events for the rest of the code: the traced run stays quick
        self._current.add(frame.f_lineno)
        return self._lines

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        self._current = self.lines.setdefault(item.nodeid, set())
        started = time.process_time()  # CPU time: what a busy machine does not stretch
        sys.settrace(self._calls)
        try:
            return (yield)
        finally:
            sys.settrace(None)
            self.seconds[item.nodeid] = time.process_time() - started

    def save(self, path: Path) -> None:
        runs = {n: {"lines": sorted(self.lines[n]), "seconds": self.seconds.get(n, 0.0)} for n in self.lines}
        path.write_text(json.dumps(runs))


class TestLines:
    """What the traced run recorded: picks the tests that run a mutant's lines."""

    def __init__(self, path: Path) -> None:
        runs = json.loads(path.read_text())
        self.lines = {n: set(r["lines"]) for n, r in runs.items()}
        self.seconds: dict[str, float] = {n: r["seconds"] for n, r in runs.items()}

    def tests_for(self, m: Mutant) -> list[str]:
        """The tests that run the mutant's lines (every test for module-level code), quickest first."""
        if m.span is None:
            chosen = list(self.lines)
        else:
            first, last = m.span
            chosen = [n for n, lines in self.lines.items() if any(first <= line <= last for line in lines)]
        return sorted(chosen, key=lambda n: self.seconds[n])
