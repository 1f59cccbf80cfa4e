"""`bluegreen status ENV --json`, read in the test's own process: for loops that look several times a second.

A `bluegreen` process per look costs a CPU-second on a loaded machine (Python, boto3, the config), and the
waits that look every 50-200 ms ran such processes back to back for minutes, a whole core of the suite's
two. The same engine call in-process costs about a millisecond once the engine is built. The CLI's own
`status --json` keeps its tests (tests/cli); this is only how the other tests watch.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any


def status_now(cfg: Path, environment: str) -> dict[str, Any]:
    """What `status ENVIRONMENT --json` prints, as the CLI's printer encodes it."""
    return dict(json.loads(json.dumps(_engine(cfg).status(environment), sort_keys=True, default=str)))


@functools.cache
def _engine(cfg: Path) -> Any:
    """One per config file: building it costs a third of a second (the platform's imports)."""
    from bluegreen import config, factory

    return factory.build_engine(config.load(cfg), on_event=lambda *_: None, on_wait=lambda *_: None)
