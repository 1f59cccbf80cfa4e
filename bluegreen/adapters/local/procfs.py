"""What Linux's /proc says about processes and sockets: pure parsers, one reader.

The single-host platform runs on Linux; /proc answers questions signals
cannot: whether a PID is still the process we started (PIDs are reused), who
its parent is, and whether anyone still holds a TCP connection to an app's
port (the evidence for retiring it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TCP_ESTABLISHED = "01"


@dataclass(frozen=True)
class ProcStat:
    pid: int
    comm: str
    state: str  # R, S, D, Z (zombie), T, ...
    ppid: int
    pgrp: int
    start_ticks: int  # since boot: with the PID, names one process for ever

    @property
    def zombie(self) -> bool:
        return self.state in ("Z", "X")


def parse_stat(text: str) -> ProcStat:
    """Parse /proc/<pid>/stat. The command name may hold spaces and parentheses: split at the last ')'."""
    head, _, rest = text.rpartition(")")
    pid_text, _, comm = head.partition(" (")
    fields = rest.split()
    # fields[0] is field 3 (state); start time is field 22.
    return ProcStat(
        pid=int(pid_text),
        comm=comm,
        state=fields[0],
        ppid=int(fields[1]),
        pgrp=int(fields[2]),
        start_ticks=int(fields[19]),
    )


def read_stat(pid: int) -> ProcStat | None:
    try:
        return parse_stat((PROC / str(pid) / "stat").read_text())
    except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
        return None


def is_running(pid: int, start_ticks: int | None = None) -> bool:
    """True while `pid` is alive, not a zombie, and (when given) still the process that started at `start_ticks`."""
    stat = read_stat(pid)
    if stat is None or stat.zombie:
        return False
    return start_ticks is None or stat.start_ticks == start_ticks


def children(pid: int) -> list[ProcStat]:
    """Live children of `pid`, oldest first."""
    out = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = read_stat(int(entry.name))
            if stat is not None and stat.ppid == pid and not stat.zombie:
                out.append(stat)
    return sorted(out, key=lambda s: (s.start_ticks, s.pid))


def cmdline(pid: int) -> str:
    """The process's command line (or title, for nginx), words joined by spaces; '' when gone."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def count_established(net_tcp: str, port: int) -> int:
    """Established TCP connections whose local port is `port`, from the text of /proc/net/tcp.

    Each line after the header: `sl local_address rem_address st ...`, with
    addresses as hex `IP:PORT` (the port in big-endian hex).
    """
    count = 0
    needle = f":{port:04X} "  # cheap filter first: under load the table holds tens of thousands of lines
    for line in net_tcp.splitlines()[1:]:
        if needle not in line:
            continue
        fields = line.split()
        if len(fields) < 4:
            continue
        _, _, local_port = fields[1].rpartition(":")
        if fields[3] == TCP_ESTABLISHED and int(local_port, 16) == port:
            count += 1
    return count


def established_connections(port: int) -> int:
    """Established connections to a local TCP port, IPv4 and IPv6."""
    total = 0
    for name in ("tcp", "tcp6"):
        try:
            total += count_established((PROC / "net" / name).read_text(), port)
        except FileNotFoundError:
            continue
    return total


def established_inodes(net_tcp: str, port: int) -> set[int]:
    """The socket inodes of established TCP connections whose local port is `port` (field 10 of /proc/net/tcp)."""
    inodes = set()
    needle = f":{port:04X} "
    for line in net_tcp.splitlines()[1:]:
        if needle not in line:
            continue
        fields = line.split()
        if len(fields) < 10:
            continue
        _, _, local_port = fields[1].rpartition(":")
        if fields[3] == TCP_ESTABLISHED and int(local_port, 16) == port:
            inodes.add(int(fields[9]))
    return inodes


_SOCKET = re.compile(r"^socket:\[(\d+)\]$")


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets `pid` holds open (empty when it is gone)."""
    fd_dir = PROC / str(pid) / "fd"
    inodes = set()
    try:
        names = os.listdir(fd_dir)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return set()
    for name in names:
        try:
            m = _SOCKET.match(os.readlink(fd_dir / name))
        except OSError:  # closed meanwhile
            continue
        if m:
            inodes.add(int(m.group(1)))
    return inodes


def connections_held(pids: Iterable[int], port: int) -> set[int]:
    """Established connections to local `port` that the processes `pids` hold (their socket inodes)."""
    established: set[int] = set()
    for name in ("tcp", "tcp6"):
        try:
            established |= established_inodes((PROC / "net" / name).read_text(), port)
        except FileNotFoundError:
            continue
    held: set[int] = set()
    for pid in pids:
        held |= socket_inodes(pid)
    return held & established
