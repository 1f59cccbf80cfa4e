"""The processes of the tools bluegreen runs (terraform, packer): they die with us, time out, leave nothing.

Each tool runs in a session of its own (it and the plugins it starts share
one process group), and on Linux the kernel sends it SIGTERM when the
process that started it dies, even by kill -9 (PR_SET_PDEATHSIG). A tool
that outlived its starter anyway (no such signal elsewhere, or one that
ignored it) is found by the owner file written in its working directory and
stopped by `clean_leftovers`: only process groups whose starter is dead and
whose members all work under the given directory, so nothing else is touched.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bluegreen.adapters.files import read_json, write_text

OWNER_FILE = ".bluegreen-tool.json"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
STOP_GRACE_S = 10.0

_libc: Any = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError):
        _libc = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: a child only calls prctl


def parent_death_signal(sig: int) -> None:
    """Run in the child before exec: the kernel sends it `sig` when the thread that started it dies.

    Linux's PR_SET_PDEATHSIG; elsewhere nothing happens. Start such children
    from a thread that lives as long as they should.
    """
    if _libc is not None:
        with contextlib.suppress(AttributeError):
            _libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


def die_with_parent() -> None:
    """A tool's `preexec_fn`: SIGTERM when its parent dies, so it can still clean up.

    SIGINT goes back to its default too: a shell starts background jobs with
    SIGINT ignored, exec keeps it ignored, and `interrupt` relies on it (a
    CI runner's `cmd &` made every timed-out tool run out its whole grace).
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    parent_death_signal(signal.SIGTERM)


def killed_with_parent() -> None:
    """`preexec_fn` of a process that must not outlive its parent at all (the sandbox's apps and proxies)."""
    parent_death_signal(signal.SIGKILL)


def start(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdout: int = subprocess.PIPE,
    stderr: int = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """Start a tool in its own session, tied to this process's life; FileNotFoundError if it is not installed."""
    return subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        text=True,
        errors="replace",
        bufsize=1,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )


def interrupt(proc: subprocess.Popen[str], grace_s: float) -> None:
    """SIGINT the tool's process group (it cleans up), then SIGKILL it if it outlives the grace period."""
    for sig, wait_s in ((signal.SIGINT, grace_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def record_owner(workdir: Path, proc: subprocess.Popen[str]) -> None:
    write_text(workdir / OWNER_FILE, json.dumps({"pid": proc.pid, "owner": os.getpid()}))


def clear_owner(workdir: Path) -> None:
    (workdir / OWNER_FILE).unlink(missing_ok=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_members(pgid: int) -> list[int]:
    """The running processes of one process group (Linux /proc; elsewhere none are found)."""
    members = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # a zombie runs nothing; its parent reaps it
            members.append(int(entry.name))
    return members


def works_under(pid: int, root: Path) -> bool:
    try:
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return False
    return cwd == root or root in cwd.parents


def clean_leftovers(
    root: Path, progress: Callable[[str], None] = lambda s: None, *, grace_s: float = STOP_GRACE_S
) -> list[int]:
    """Stop the tools a killed bluegreen left running under `root`; returns the PIDs stopped."""
    stopped: list[int] = []
    resolved = root.resolve()
    for owner_file in sorted(root.rglob(OWNER_FILE)) if root.is_dir() else []:
        record = read_json(owner_file) or {}
        pid, owner = int(record.get("pid", 0)), int(record.get("owner", 0))
        if not pid or (owner and alive(owner)):
            continue  # its bluegreen is still at work (or the record is unreadable)
        members = group_members(pid)
        if members and all(works_under(m, resolved) for m in members):
            progress(f"stopping terraform left running by a killed bluegreen (process group {pid}: {members})")
            _stop_group(pid, grace_s)
            stopped.extend(members)
        owner_file.unlink(missing_ok=True)
    return stopped


def _stop_group(pgid: int, grace_s: float) -> None:
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not group_members(pgid):
                return
            time.sleep(0.1)
