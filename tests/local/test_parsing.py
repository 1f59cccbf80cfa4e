"""Pure pieces of the single-host platform, on recorded, real-shaped data: no process is started."""

from __future__ import annotations

from pathlib import Path

import pytest

from bluegreen.adapters.http_smoke import Answer
from bluegreen.adapters.local import health, nginx, procfs, restart, upgrade
from bluegreen.adapters.local.nginx import ProxyConfig, Server
from bluegreen.adapters.local.processes import summarise_log
from bluegreen.model import Colour
from bluegreen.ports import HealthState

DATA = Path(__file__).parent / "data"


def config(*servers: Server, generation: int = 7) -> ProxyConfig:
    return ProxyConfig(
        env="web", prefix=Path("/srv/bg/nginx"), listen="127.0.0.1:8800", generation=generation, servers=servers
    )


# -- nginx config ---------------------------------------------------------------------------


def test_rendered_weights_read_back_from_the_file() -> None:
    text = nginx.render(config(Server(Colour.BLUE, "127.0.0.1:4001", 90), Server(Colour.GREEN, "127.0.0.1:4002", 10)))
    assert "server 127.0.0.1:4001 weight=90;  # blue" in text
    assert "server 127.0.0.1:4002 weight=10;  # green" in text
    assert nginx.parse_config_weights(text) == {Colour.BLUE: 90, Colour.GREEN: 10}
    assert nginx.parse_generation(text) == 7
    assert 'return 200 "generation=7 blue=90 green=10 worker=$pid\\n";' in text


def test_a_colour_at_zero_is_marked_down_and_an_absent_one_reads_zero() -> None:
    text = nginx.render(config(Server(Colour.BLUE, "127.0.0.1:4001", 0), Server(Colour.GREEN, "127.0.0.1:4002", 100)))
    assert "server 127.0.0.1:4001 down;  # blue" in text
    assert nginx.parse_config_weights(text) == {Colour.BLUE: 0, Colour.GREEN: 100}
    only_green = nginx.render(config(Server(Colour.GREEN, "127.0.0.1:4002", 100)))
    assert nginx.parse_config_weights(only_green) == {Colour.BLUE: 0, Colour.GREEN: 100}


def test_an_upstream_with_no_traffic_anywhere_is_refused() -> None:
    with pytest.raises(ValueError, match="must carry traffic"):
        nginx.render(config(Server(Colour.BLUE, "127.0.0.1:4001", 0)))


def test_paths_are_quoted_and_nginx_variables_survive_the_template() -> None:
    text = nginx.render(
        ProxyConfig("web", Path("/srv/my state/nginx"), "127.0.0.1:8800", 1, (Server(Colour.BLUE, "127.0.0.1:1", 100),))
    )
    assert 'pid "/srv/my state/nginx/nginx.pid";' in text
    assert "proxy_set_header Host $host;" in text
    assert "@" not in text.replace("# bluegreen", "")


def test_a_file_bluegreen_did_not_render_has_no_generation() -> None:
    assert nginx.parse_generation("worker_processes 1;\n") is None


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
