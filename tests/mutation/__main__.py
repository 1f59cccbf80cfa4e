"""`python -m tests.mutation`: the mutation run of the state machine (tests/README.md)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests.…` and `bluegreen` from this checkout

from tests.mutation.run import main

raise SystemExit(main())
