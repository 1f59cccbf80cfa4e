"""nginx as a tool: the config renderer, the argv builders and the one runner.

All pure except `run` and `find_binary`. The rendered config routes every
request on the listen port to one upstream holding a server per colour with
its weight (a colour at 0 is marked `down`: nginx sends it nothing), and a
control server on the same port answers, from nginx's own running workers,
which generation and weights they run: the read-back.
"""

from __future__ import annotations

import os
import re
import shutil
import string
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bluegreen.errors import AdapterError, MissingToolError, ToolError
from bluegreen.model import Colour

TOOL = "nginx"
BINARY_ENV = "BLUEGREEN_NGINX"  # an nginx binary to use instead of the one on PATH
# Debian and most distributions install nginx in an sbin directory that is not on every user's PATH.
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
CONTROL_HOST = "bluegreen-control.invalid"  # a name no client uses by accident (RFC 2606)
CONTROL_PATH = "/weights"
TAIL_LINES = 20


class _Template(string.Template):
    delimiter = "@"  # nginx's own variables start with $


TEMPLATE = _Template(
    """\
# bluegreen generation @generation for environment @env: rendered by bluegreen, the next change overwrites it.
worker_processes 2;
pid "@prefix/nginx.pid";
error_log "@prefix/logs/error.log" notice;

events {
    worker_connections 1024;
}

http {
    log_format bluegreen '$remote_addr [$time_local] "$request" $status $body_bytes_sent '
                         '$request_time upstream=$upstream_addr upstream_status=$upstream_status';
    access_log "@prefix/logs/access.log" bluegreen;
    client_body_temp_path "@prefix/temp/body";
    proxy_temp_path "@prefix/temp/proxy";
    fastcgi_temp_path "@prefix/temp/fastcgi";
    uwsgi_temp_path "@prefix/temp/uwsgi";
    scgi_temp_path "@prefix/temp/scgi";

    upstream bluegreen_app {
@servers
    }

    server {
        listen @listen default_server;
        location / {
            proxy_pass http://bluegreen_app;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
    }

    # The read-back: nginx's running workers say which generation and weights they serve.
    server {
        listen @listen;
        server_name @control_host;
        access_log off;
        location = @control_path {
            default_type text/plain;
            return 200 "generation=@generation @weights worker=$pid\\n";
        }
    }
}
"""
)

TEMP_DIRS = ("body", "proxy", "fastcgi", "uwsgi", "scgi")


@dataclass(frozen=True)
class Server:
    """One colour's line in the upstream."""

    colour: Colour
    address: str  # host:port
    weight: int  # percent; 0 renders `down`


@dataclass(frozen=True)
class ProxyConfig:
    env: str
    prefix: Path
    listen: str  # host:port nginx listens on
    generation: int
    servers: tuple[Server, ...]

    def weights(self) -> dict[Colour, int]:
        by_colour = {s.colour: s.weight for s in self.servers}
        return {c: by_colour.get(c, 0) for c in Colour}


@dataclass(frozen=True)
class ControlReport:
    """What nginx answered on the control server."""

    generation: int
    weights: dict[Colour, int]
    worker_pid: int


def render(cfg: ProxyConfig) -> str:
    if not any(s.weight > 0 for s in cfg.servers):
        # nginx accepts an upstream whose servers are all down, and then answers 502 to everyone.
        raise ValueError("at least one colour must carry traffic")
    lines = [
        f"        server {s.address} {'down' if s.weight == 0 else f'weight={s.weight}'};  # {s.colour.value}"
        for s in sorted(cfg.servers, key=lambda s: s.colour.value)
    ]
    return TEMPLATE.substitute(
        generation=cfg.generation,
        env=cfg.env,
        prefix=str(cfg.prefix),
        servers="\n".join(lines),
        listen=cfg.listen,
        control_host=CONTROL_HOST,
        control_path=CONTROL_PATH,
        weights=format_weights(cfg.weights()),
    )


def format_weights(weights: Mapping[Colour, int]) -> str:
    return " ".join(f"{c.value}={weights.get(c, 0)}" for c in Colour)


_GENERATION = re.compile(r"^# bluegreen generation (\d+) ")
_CONTROL = re.compile(r"^generation=(\d+) blue=(\d+) green=(\d+) worker=(\d+)\s*$")


def parse_generation(config_text: str) -> int | None:
    """The generation a rendered config carries in its first line; None for a file bluegreen did not render."""
    m = _GENERATION.match(config_text)
    return int(m.group(1)) if m else None


_SERVER = re.compile(r"^\s*server\s+(\S+)\s+(?:weight=(\d+)|down);\s+#\s+(\w+)\s*$")


def parse_config_weights(config_text: str) -> dict[Colour, int]:
    """The weights a rendered config gives each colour (0 for `down` or absent)."""
    weights = {c: 0 for c in Colour}
    for line in config_text.splitlines():
        m = _SERVER.match(line)
        if m and m.group(3) in {c.value for c in Colour}:
            weights[Colour(m.group(3))] = int(m.group(2) or 0)
    return weights


def parse_control(text: str) -> ControlReport:
    m = _CONTROL.match(text)
    if not m:
        raise ValueError(f"unexpected answer from the nginx control server: {text[:200]!r}")
    return ControlReport(
        generation=int(m.group(1)),
        weights={Colour.BLUE: int(m.group(2)), Colour.GREEN: int(m.group(3))},
        worker_pid=int(m.group(4)),
    )


# -- argv builders -------------------------------------------------------------------


def base_argv(binary: str, prefix: Path, conf: Path) -> list[str]:
    # -e: nginx writes start-up errors here instead of its compiled-in error log path.
    return [binary, "-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "logs" / "error.log")]


def test_argv(binary: str, prefix: Path, conf: Path) -> list[str]:
    return [*base_argv(binary, prefix, conf), "-t", "-q"]


def start_argv(binary: str, prefix: Path, conf: Path) -> list[str]:
    return base_argv(binary, prefix, conf)


def signal_argv(binary: str, prefix: Path, conf: Path, signal: str) -> list[str]:
    if signal not in ("stop", "quit", "reopen", "reload"):
        raise ValueError(f"nginx -s takes stop, quit, reopen or reload, not {signal!r}")
    return [*base_argv(binary, prefix, conf), "-s", signal]


# -- the runner ------------------------------------------------------------------------


def find_binary() -> str:
    """The nginx binary as an absolute path: nginx re-executes its own argv[0] on a hot upgrade."""
    override = os.environ.get(BINARY_ENV)
    if override:
        return str(Path(override).absolute())
    found = shutil.which(TOOL) or shutil.which(TOOL, path=os.pathsep.join(SBIN_DIRS))
    if not found:
        raise MissingToolError(
            "nginx is not installed (not on PATH nor in " + ", ".join(SBIN_DIRS) + ")",
            where="PATH",
            hint=f"install it (`apt-get install nginx-light`, or `make setup`), or set {BINARY_ENV}=/path/to/nginx",
        )
    return str(Path(found).absolute())


def run(argv: Sequence[str], *, hint: str, timeout_s: float = 30.0) -> str:
    """Run nginx; return its output, or raise ToolError carrying nginx's own words."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise MissingToolError(
            f"cannot run {argv[0]}", where=argv[0], hint="install nginx, or fix " + BINARY_ENV
        ) from None
    except subprocess.TimeoutExpired:
        raise AdapterError(f"{' '.join(argv)} did not finish within {timeout_s:g}s", where=argv[0], hint=hint) from None
    output = (done.stderr or "") + (done.stdout or "")
    if done.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-TAIL_LINES:])
        raise ToolError(TOOL, argv, done.returncode, tail, where=" ".join(argv), hint=hint)
    return output
