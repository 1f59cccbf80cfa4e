"""The data plane's child processes die with it: an app or a proxy must not outlive a data plane killed with -9.

`preexec_fn=die_with_parent` makes the kernel send the child SIGKILL when the
thread that started it dies (PR_SET_PDEATHSIG, Linux; elsewhere it does
nothing): start children from a thread that lives as long as they should.
"""

from __future__ import annotations

import ctypes
import signal
import sys
from typing import Any

_PR_SET_PDEATHSIG = 1
_libc: Any = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: the child only calls prctl
    except OSError:
        _libc = None


def die_with_parent() -> None:
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
