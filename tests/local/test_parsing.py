"""Pure pieces of the single-host platform, on recorded, real-shaped data: no process is started."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bluegreen.adapters.http_smoke import Answer
from bluegreen.adapters.local import health, nginx, njs, procfs, restart, upgrade
from bluegreen.adapters.local.njs import Server
from bluegreen.adapters.local.processes import summarise_log
from bluegreen.model import Colour
from bluegreen.ports import HealthState

DATA = Path(__file__).parent / "data"


def routes(*servers: Server, generation: int = 7) -> njs.Routes:
    return njs.Routes(generation, servers, closing_workers=(4243,), changed_at=1700000000.5)


# -- nginx config and the routes file ----------------------------------------------------------


def test_routes_round_trip_through_the_file() -> None:
    original = routes(Server(Colour.BLUE, "127.0.0.1:4001", 90), Server(Colour.GREEN, "127.0.0.1:4002", 10))
    text = njs.render_routes(original)
    assert njs.parse_routes(text) == original
    assert original.weights() == {Colour.BLUE: 90, Colour.GREEN: 10}
    only_green = njs.parse_routes(njs.render_routes(routes(Server(Colour.GREEN, "127.0.0.1:4002", 100))))
    assert only_green.weights() == {Colour.BLUE: 0, Colour.GREEN: 100}
    assert only_green.same_traffic([Server(Colour.GREEN, "127.0.0.1:4002", 100)])
    assert not only_green.same_traffic([Server(Colour.GREEN, "127.0.0.1:4003", 100)])


def test_routes_with_no_traffic_anywhere_or_a_bad_address_are_refused() -> None:
    with pytest.raises(ValueError, match="must carry traffic"):
        njs.render_routes(routes(Server(Colour.BLUE, "127.0.0.1:4001", 0)))
    for address, words in [
        ("127.0.0.1:99999", "no valid port"),
        ("localhost:80", "not IPv4:port"),
        ("1.2.3.4", "not IPv4:port"),
    ]:
        with pytest.raises(ValueError, match=words):
            njs.render_routes(routes(Server(Colour.BLUE, address, 100)))
    with pytest.raises(ValueError, match="schema_version"):
        njs.parse_routes('{"schema_version": 99}')


def test_the_config_holds_no_traffic_and_the_script_reads_the_routes_file() -> None:
    cfg = nginx.ProxyConfig("web", Path("/srv/my state/nginx"), "127.0.0.1:8800", "/usr/lib/nginx/modules/js.so")
    text = nginx.render(cfg)
    assert 'pid "/srv/my state/nginx/nginx.pid";' in text
    assert 'load_module "/usr/lib/nginx/modules/js.so";' in text
    assert "proxy_pass http://$bluegreen_upstream;" in text and "proxy_set_header Host $host;" in text
    assert "error_page 418 = @bluegreen_last_answer;" in text and "keepalive_timeout 0;" in text
    assert "\nuser " not in text
    assert "user root root;" in nginx.render(dataclasses.replace(cfg, user="root root"))
    script = njs.render_script(Path("/srv/my state/nginx/routes.json"))
    assert 'var ROUTES = "/srv/my state/nginx/routes.json";' in script
    assert 'var COLOURS = ["blue", "green"];' in script


def test_control_answer_parses_and_rejects_anything_else() -> None:
    report = nginx.parse_control("generation=12 blue=0 green=100 worker=4242\n")
    assert report.generation == 12
    assert report.weights == {Colour.BLUE: 0, Colour.GREEN: 100}
    assert report.worker_pid == 4242
    with pytest.raises(ValueError, match="unexpected answer"):
        nginx.parse_control("<html>502 Bad Gateway</html>")


def test_argv_builders() -> None:
    prefix, conf = Path("/s/nginx"), Path("/s/nginx/nginx.conf.new")
    base = ["/usr/sbin/nginx", "-p", "/s/nginx/", "-c", str(conf), "-e", "/s/nginx/logs/error.log"]
    assert nginx.test_argv("/usr/sbin/nginx", prefix, conf) == [*base, "-t", "-q"]
    assert nginx.start_argv("/usr/sbin/nginx", prefix, conf) == base
    assert nginx.signal_argv("/usr/sbin/nginx", prefix, conf, "reload") == [*base, "-s", "reload"]
    with pytest.raises(ValueError):
        nginx.signal_argv("/usr/sbin/nginx", prefix, conf, "restart")


# -- /proc ------------------------------------------------------------------------------------


def test_stat_line_with_a_command_name_holding_spaces_and_parentheses() -> None:
    line = "4242 (gunicorn: (worker) x) S 4200 4199 4199 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 1 2 3"
    stat = procfs.parse_stat(line)
    assert (stat.pid, stat.comm, stat.state, stat.ppid, stat.pgrp, stat.start_ticks) == (
        4242,
        "gunicorn: (worker) x",
        "S",
        4200,
        4199,
        98765,
    )
    assert not stat.zombie
    assert procfs.parse_stat(line.replace(") S ", ") Z ")).zombie


def test_established_connections_count_the_local_port_only() -> None:
    table = (DATA / "proc-net-tcp.txt").read_text()
    assert procfs.count_established(table, 0x992B) == 1  # the server side; the LISTEN line does not count
    assert procfs.count_established(table, 0xBB5E) == 1  # the client side of the same connection
    assert procfs.count_established(table, 0xC53D) == 0  # TIME_WAIT only
    assert procfs.count_established(table, 8800) == 0
    server_side = procfs.established_inodes(table, 0x992B)
    assert server_side == {344223} and procfs.established_inodes(table, 0xBB5E) == {344222}
    assert procfs.established_inodes(table, 0xC53D) == set()


# -- logs, reports, health ------------------------------------------------------------------------


def test_log_summary_drops_traceback_frames_and_keeps_the_apps_own_words() -> None:
    summary = summarise_log((DATA / "gunicorn-boot-failure.log").read_text())
    assert "APP_SECRET is not set; refusing to start" in summary
    assert "Worker failed to boot" in summary
    assert "File " not in summary and "Traceback" not in summary
    assert len(summary.splitlines()) <= 15


def test_readiness_report_parses() -> None:
    assert restart.parse_report(b"4242 200 OK") == (4242, "200 OK")
    assert restart.parse_report(b"17 503 Service Unavailable\n") == (17, "503 Service Unavailable")
    with pytest.raises(ValueError):
        restart.parse_report(b"garbage")


RUNNING = health.ProcessView(pid=10, address="127.0.0.1:4001", running=True)


@pytest.mark.parametrize(
    ("process", "answer", "state", "words"),
    [
        (RUNNING, Answer(200, "ok v1"), HealthState.HEALTHY, "1/1 in service"),
        (RUNNING, Answer(503, "starting"), HealthState.PENDING, "GET /health answered 503: starting"),
        (RUNNING, Answer(None, error="no answer within 1s"), HealthState.PENDING, "no answer within 1s"),
        (
            health.ProcessView(10, "127.0.0.1:4001", running=False, exit_code=3, log_tail="Worker failed to boot."),
            None,
            HealthState.FAILED,
            "exited with code 3; its log ends:\nWorker failed to boot.",
        ),
        (
            health.ProcessView(10, "127.0.0.1:4001", running=False, exit_code=None, log_tail="(no log)"),
            None,
            HealthState.FAILED,
            "exited with an unrecorded code",
        ),
        (None, None, HealthState.FAILED, "has no app process"),
    ],
)
def test_health_classification(
    process: health.ProcessView | None, answer: Answer | None, state: HealthState, words: str
) -> None:
    snapshot = health.classify(Colour.GREEN, "/health", process, answer)
    assert snapshot.state is state
    assert words in snapshot.describe()


UPGRADE_LOG = """\
2026/11/24 06:56:55 [notice] 27277#27277: signal 12 (SIGUSR2) received from 27234, changing binary
2026/11/24 06:56:55 [notice] 27277#27277: changing binary
2026/11/24 06:56:55 [notice] 27277#27277: start new binary process 27280
2026/11/24 06:56:55 [notice] 27277#27277: signal 17 (SIGCHLD) received from 27280
2026/11/24 06:56:55 [notice] 27277#27277: new binary process 27280 exited with code 1
"""


def test_the_old_masters_log_says_what_became_of_the_new_binary() -> None:
    assert upgrade.parse_new_binary(UPGRADE_LOG) == upgrade.NewBinary(pid=27280, exit_code=1)
    running = "\n".join(UPGRADE_LOG.splitlines()[:3])
    assert upgrade.parse_new_binary(running) == upgrade.NewBinary(pid=27280, exit_code=None)
    assert upgrade.parse_new_binary("") == upgrade.NewBinary()
