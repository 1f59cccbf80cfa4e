"""nginx as a tool: the config renderer, the argv builders and the one runner.

All pure except `run` and the `find_*` functions. The rendered config does
not hold the traffic split: it loads nginx's JavaScript module, which reads
the routes file for every request (njs.py says why), so a traffic shift
changes no config and needs no reload. A control server on the same port
answers, from nginx's own running workers, which routes generation and
weights they use: the read-back.
"""

from __future__ import annotations

import os
import re
import shutil
import string
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bluegreen.errors import AdapterError, MissingToolError, ToolError
from bluegreen.model import Colour

TOOL = "nginx"
BINARY_ENV = "BLUEGREEN_NGINX"  # an nginx binary to use instead of the one on PATH
JS_MODULE_ENV = "BLUEGREEN_NGINX_JS_MODULE"  # the njs module (ngx_http_js_module.so) to load instead of Debian's
# Debian and most distributions install nginx in an sbin directory that is not on every user's PATH.
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
# Where Debian's libnginx-mod-http-js (and nginx.org's nginx-module-njs) put the module.
JS_MODULE_PATHS = (
    "/usr/lib/nginx/modules/ngx_http_js_module.so",
    "/usr/share/nginx/modules/ngx_http_js_module.so",
    "/usr/lib64/nginx/modules/ngx_http_js_module.so",
)
CONTROL_HOST = "bluegreen-control.invalid"  # a name no client uses by accident (RFC 2606)
CONTROL_PATH = "/weights"
SCRIPT_NAME = "bluegreen.js"
TAIL_LINES = 20


class _Template(string.Template):
    delimiter = "@"  # nginx's own variables start with $


TEMPLATE = _Template(
    """\
# bluegreen config for environment @env: rendered by bluegreen. Traffic is in routes.json, read per request.
load_module "@js_module";
@user
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

    js_path "@prefix";
    js_import bluegreen from @script;
    js_set $bluegreen_upstream bluegreen.upstream;
    js_set $bluegreen_closing bluegreen.closing;

    server {
        listen @listen default_server;
        # A worker being retired answers through @@bluegreen_last_answer: "Connection: close", so the
        # client ends the connection after reading the answer instead of nginx closing it under a request.
        error_page 418 = @@bluegreen_last_answer;
        location / {
            if ($bluegreen_closing) {
                return 418;
            }
            proxy_pass http://$bluegreen_upstream;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
        location @@bluegreen_last_answer {
            keepalive_timeout 0;
            proxy_pass http://$bluegreen_upstream;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
    }

    # The read-back: nginx's running workers say which routes generation and weights they use.
    server {
        listen @listen;
        server_name @control_host;
        access_log off;
        location = @control_path {
            js_content bluegreen.control;
        }
    }
}
"""
)

TEMP_DIRS = ("body", "proxy", "fastcgi", "uwsgi", "scgi")


@dataclass(frozen=True)
class ProxyConfig:
    env: str
    prefix: Path
    listen: str  # host:port nginx listens on
    js_module: str  # path of ngx_http_js_module.so
    user: str = ""  # "name group" the workers run as when the master runs as root; '' leaves nginx's default


@dataclass(frozen=True)
class ControlReport:
    """What nginx answered on the control server."""

    generation: int
    weights: dict[Colour, int]
    worker_pid: int


def render(cfg: ProxyConfig) -> str:
    return TEMPLATE.substitute(
        env=cfg.env,
        prefix=str(cfg.prefix),
        js_module=cfg.js_module,
        # The workers read routes.json in the state directory: as root, nginx's default (nobody) cannot.
        user=f"user {cfg.user};" if cfg.user else "# workers run as the user running bluegreen",
        script=SCRIPT_NAME,
        listen=cfg.listen,
        control_host=CONTROL_HOST,
        control_path=CONTROL_PATH,
    )


_CONTROL = re.compile(r"^generation=(\d+) blue=(\d+) green=(\d+) worker=(\d+)\s*$")


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


def find_js_module() -> str:
    """nginx's JavaScript module: the routing needs it (njs.py)."""
    override = os.environ.get(JS_MODULE_ENV)
    candidates = (override,) if override else JS_MODULE_PATHS
    for path in candidates:
        if path and Path(path).is_file():
            return str(Path(path).absolute())
    raise MissingToolError(
        "nginx's JavaScript module (ngx_http_js_module.so) is not installed (looked in "
        + ", ".join(c or "" for c in candidates)
        + ")",
        where=JS_MODULE_ENV if override else "/usr/lib/nginx/modules",
        hint=f"install it (`apt-get install libnginx-mod-http-js`, or `make setup`), or set {JS_MODULE_ENV}",
    )


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
