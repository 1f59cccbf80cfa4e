"""Run-time routing for bluegreen's nginx: the routes file and the script nginx's workers run to read it.

Why not weights in nginx.conf: a change of nginx.conf needs a reload, and a
reload retires the workers, which close their idle keep-alive connections
at once. A client whose request is already on its way on such a connection
gets a reset or an empty answer; browsers resend a GET, a POST or a client
that never resends fails. So nginx.conf never changes for a traffic shift:
for every request, nginx's JavaScript module (njs, Debian's
libnginx-mod-http-js) reads `routes.json` and picks a colour by weight, and
`proxy_pass http://$bluegreen_upstream` sends the request to that colour's
`IP:port` (a literal address: no resolver, and a new release's new port
needs no reload either). bluegreen replaces the file atomically
(`os.replace`), so a worker reads the old routes or the new ones, never half.
No connection is closed by a shift.

Why njs and not HAProxy's runtime API: both can change addresses and weights
without a restart, but nginx is already the proxy the platform starts,
checks, reads back and hot-upgrades; njs adds one Debian module and keeps
one proxy to reason about. The read-back stays the proxy's own word: the
control location runs the same script in a running worker, which answers
with the routes it would use for the next request.

The same file retires keep-alive connections without a race. nginx closes
the idle keep-alive connections of workers it retires (a reload, a binary
upgrade), racing requests already sent on them. Workers listed in
`closing_workers` answer every request with `Connection: close` (a named
location with `keepalive_timeout 0`), so their connections end after an
answer the client has read, by the client's own choice; once the connections
they held are gone, retiring them closes nothing a client still uses.
"""

from __future__ import annotations

import ipaddress
import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bluegreen.model import Colour

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Server:
    """One colour's route."""

    colour: Colour
    address: str  # IP:port
    weight: int  # percent; 0: nginx sends it nothing


@dataclass(frozen=True)
class Routes:
    generation: int  # counts traffic changes: the read-back says which one the workers use
    servers: tuple[Server, ...]
    closing_workers: tuple[int, ...] = field(default=())  # nginx worker pids that close after each answer
    changed_at: float = 0.0  # wall-clock time of the last traffic change

    def weights(self) -> dict[Colour, int]:
        by_colour = {s.colour: s.weight for s in self.servers}
        return {c: by_colour.get(c, 0) for c in Colour}

    def same_traffic(self, servers: Sequence[Server]) -> bool:
        return sorted(self.servers, key=_by_colour) == sorted(servers, key=_by_colour)


def _by_colour(s: Server) -> str:
    return s.colour.value


def check_address(address: str) -> str:
    """'' when `address` is an `IPv4:port` nginx can connect to without a resolver; else what is wrong."""
    host, _, port = address.rpartition(":")
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return f"{address!r} is not IPv4:port"
    if not port.isdigit() or not 0 < int(port) < 65536:
        return f"{address!r} has no valid port (1..65535)"
    return ""


def render_routes(routes: Routes) -> str:
    if not any(s.weight > 0 for s in routes.servers):
        raise ValueError("at least one colour must carry traffic")
    for s in routes.servers:
        if why := check_address(s.address):
            raise ValueError(f"{s.colour}: {why}")
    data = {
        "schema_version": SCHEMA_VERSION,
        "generation": routes.generation,
        "changed_at": routes.changed_at,
        "closing_workers": list(routes.closing_workers),
        "colours": {s.colour.value: {"address": s.address, "weight": s.weight} for s in routes.servers},
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def parse_routes(text: str) -> Routes:
    data: Mapping[str, Any] = json.loads(text)
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"routes schema_version {data.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    servers = tuple(
        Server(Colour(name), str(entry["address"]), int(entry["weight"]))
        for name, entry in sorted(data["colours"].items())
    )
    return Routes(
        generation=int(data["generation"]),
        servers=servers,
        closing_workers=tuple(int(p) for p in data.get("closing_workers", [])),
        changed_at=float(data.get("changed_at", 0.0)),
    )


class _Template(string.Template):
    delimiter = "@"


# njs 0.7 (Debian 12): ES5 syntax plus a few additions; no for-of. Each request runs in a fresh VM,
# so the file is read per request: a few microseconds, and a change is seen by the very next request.
SCRIPT = _Template(
    """\
// bluegreen's run-time routing: rendered by bluegreen, replaced with nginx.conf.
var fs = require('fs');
var ROUTES = @routes_path;
var COLOURS = @colours;

function routes() {
    return JSON.parse(fs.readFileSync(ROUTES, 'utf8'));
}

// The address of the colour this request goes to, chosen by weight ('' fails the request: no route at all).
function upstream(r) {
    var t = routes();
    var pick = Math.random() * 100;
    var last = '';
    for (var i = 0; i < COLOURS.length; i++) {
        var s = t.colours[COLOURS[i]];
        if (s && s.weight > 0) {
            if (pick < s.weight) {
                return s.address;
            }
            pick -= s.weight;
            last = s.address;
        }
    }
    return last;
}

// '1' when this worker is being retired: its answers close their connection.
function closing(r) {
    return routes().closing_workers.indexOf(process.pid) >= 0 ? '1' : '';
}

// The read-back: the routes this worker uses for its next request.
function control(r) {
    var t = routes();
    var line = 'generation=' + t.generation;
    for (var i = 0; i < COLOURS.length; i++) {
        var s = t.colours[COLOURS[i]];
        line += ' ' + COLOURS[i] + '=' + (s ? s.weight : 0);
    }
    r.return(200, line + ' worker=' + process.pid + '\\n');
}

export default {upstream: upstream, closing: closing, control: control};
"""
)


def render_script(routes_path: Path) -> str:
    return SCRIPT.substitute(routes_path=json.dumps(str(routes_path)), colours=json.dumps([c.value for c in Colour]))
