"""Headless Chromium (Debian's `chromium`) as the tests drive it: render a file, dump its DOM, take a PNG.

Each run has its own profile directory, no name resolution (every host maps
to NOTFOUND), a network log, and a bounded time: on timeout the whole
process group is killed, so no browser outlives the test. What the page did
is read from the network log: a request made on behalf of the page carries
the page's network isolation key (`file://`), the browser's own background
traffic (updates, accounts) does not.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

TIMEOUT_S = 60
NETWORK_SCHEMES = ("http:", "https:", "ws:", "wss:", "ftp:")
CONSOLE = re.compile(r":CONSOLE[:(]")


@dataclass(frozen=True)
class Run:
    stdout: str
    console: list[str]  # console messages the page logged (errors included)
    fetched: list[str]  # network URLs the page asked for


def chromium() -> str:
    path = shutil.which("chromium")
    assert path, "chromium is not installed: run scripts/install-system-packages (it installs Debian's chromium)"
    return path


def run(page: Path, work: Path, *mode: str, window: str = "1280,1400") -> Run:
    """Load `page` once in headless Chromium with `mode` (--dump-dom or --screenshot=FILE)."""
    work.mkdir(parents=True, exist_ok=True)
    profile = work / f"profile-{len(list(work.iterdir()))}"
    netlog = profile.with_suffix(".netlog.json")
    argv = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        f"--window-size={window}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--enable-logging=stderr",
        "--v=0",
        f"--log-net-log={netlog}",
        *mode,
        page.resolve().as_uri(),
    ]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=work
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"chromium did not finish within {TIMEOUT_S}s: {' '.join(argv)}") from None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # helpers (zygote, GPU) that outlived the browser
    assert proc.returncode == 0, f"chromium exited {proc.returncode}:\n{err[-2000:]}"
    console = [line for line in err.splitlines() if CONSOLE.search(line)]
    return Run(out, console, page_requests(netlog))


def page_requests(netlog: Path) -> list[str]:
    """The network URLs requested on behalf of a page loaded from a file."""
    text = netlog.read_text()
    if not text.rstrip().endswith("}"):
        text = text.rstrip().rstrip(",") + "]}"  # a log cut short by the browser's exit
    log = json.loads(text)
    found = []
    for ev in log.get("events", []):
        params = ev.get("params") or {}
        url = str(params.get("url", ""))
        if url.startswith(NETWORK_SCHEMES) and "file://" in str(params.get("network_isolation_key", "")):
            found.append(url)
    return found


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def png_colours(path: Path, rows: int) -> set[tuple[int, int, int]]:
    """The colours in the top `rows` rows of an 8-bit RGB(A) PNG (enough to see what was drawn)."""
    data = path.read_bytes()
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, _height, depth, colour_type = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour_type in (2, 6), f"unexpected PNG format {depth}/{colour_type}"
    bpp = 3 if colour_type == 2 else 4
    stride = width * bpp
    raw = zlib.decompressobj().decompress(idat, (stride + 1) * rows)
    prev = bytearray(stride)
    colours: set[tuple[int, int, int]] = set()
    for r in range(min(rows, len(raw) // (stride + 1))):
        kind = raw[r * (stride + 1)]
        line = bytearray(raw[r * (stride + 1) + 1 : (r + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        colours.update(zip(line[0::bpp], line[1::bpp], line[2::bpp], strict=True))
        prev = line
    return colours
