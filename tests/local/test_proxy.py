"""bluegreen's own nginx, for real: run-time routes (no reload), read-back from the running workers, gentle reloads."""

from __future__ import annotations

import http.client
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from bluegreen.adapters.local import nginx
from bluegreen.adapters.local.loadgen import LoadGenerator
from bluegreen.adapters.local.njs import Server
from bluegreen.adapters.local.proxy import accepting_workers
from bluegreen.errors import AdapterError, ToolError
from bluegreen.model import Colour, Weights
from tests.local.helpers import LocalEnv, PortDriver


def version_through_nginx(env: LocalEnv) -> str:
    with urllib.request.urlopen(f"http://{env.address}/version", timeout=10) as resp:
        assert resp.status == 200
        return str(resp.read().decode().strip())


def test_a_bad_address_is_refused_and_the_old_release_serves_on(local_env: LocalEnv, driver: PortDriver) -> None:
    driver.deploy("v1")
    proxy = local_env.site.proxy
    routes_before = proxy.routes_file.read_text()
    with pytest.raises(AdapterError, match="refusing to route") as refused:
        proxy.apply([Server(Colour.BLUE, "127.0.0.1:99999", 100)])  # a corrupt registry entry, say
    assert "no valid port" in refused.value.what and "nginx still routes as before" in refused.value.hint
    assert proxy.routes_file.read_text() == routes_before
    assert local_env.platform.traffic.read_weights() == Weights(blue=100, green=0)
    assert version_through_nginx(local_env) == "version v1"


def test_a_config_that_fails_nginx_t_leaves_nginx_running_the_old_one(
    local_env: LocalEnv, driver: PortDriver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    driver.deploy("v1")
    proxy = local_env.site.proxy
    live_before, master = proxy.conf.read_text(), proxy.master_pid()
    proxy.conf.write_text(live_before + "# changed by hand\n")  # so bluegreen renders and checks its own again
    not_a_module = tmp_path / "ngx_http_js_module.so"
    not_a_module.write_text("not a shared object\n")
    monkeypatch.setenv(nginx.JS_MODULE_ENV, str(not_a_module))
    with pytest.raises(ToolError) as rejected:
        proxy.apply([Server(Colour.BLUE, local_env.site.base_url(Colour.BLUE).removeprefix("http://"), 50)])
    error = rejected.value
    assert error.tool == "nginx" and error.returncode != 0 and "-t" in error.argv
    assert "[emerg]" in error.output_tail, "nginx's own words"
    assert "nginx still runs the previous config" in error.hint
    assert str(not_a_module) in (proxy.prefix / "nginx.conf.rejected").read_text()
    assert proxy.master_pid() == master
    assert local_env.platform.traffic.read_weights() == Weights(blue=100, green=0)
    assert version_through_nginx(local_env) == "version v1"


def test_a_shift_reloads_nothing_and_keeps_a_keep_alive_connection_working(
    local_env: LocalEnv, driver: PortDriver
) -> None:
    driver.deploy("v1")
    proxy = local_env.site.proxy
    master = proxy.master_pid()
    assert master is not None
    workers = accepting_workers(master)
    conn = http.client.HTTPConnection(local_env.address, timeout=10)
    try:
        seen = []
        for version in ("v2", "v3"):
            conn.request("GET", "/version")
            seen.append(conn.getresponse().read().decode().strip())
            driver.deploy(version)  # canary 10% -> 50% -> 100%, retire the old colour
        conn.request("GET", "/version")  # the same connection, never reopened: no resend anywhere
        response = conn.getresponse()
        seen.append(response.read().decode().strip())
        assert not response.will_close
    finally:
        conn.close()
    assert seen == ["version v1", "version v2", "version v3"]
    assert proxy.master_pid() == master and accepting_workers(master) == workers, "no worker was retired"


def test_setting_the_same_weights_twice_does_not_reload(local_env: LocalEnv, driver: PortDriver) -> None:
    driver.deploy("v1")
    proxy = local_env.site.proxy
    generation = proxy.control().generation
    local_env.platform.traffic.set_weights(Weights(blue=100, green=0))
    local_env.platform.traffic.set_weights(Weights(blue=100, green=0))
    assert proxy.control().generation == generation


def test_canary_weights_split_the_traffic_and_zero_means_none(local_env: LocalEnv, driver: PortDriver) -> None:
    driver.deploy("v1")
    new = driver.start("v2")
    driver.shift({new.colour: 50, Colour.BLUE: 50})
    seen = Counter(version_through_nginx(local_env) for _ in range(200))
    assert set(seen) == {"version v1", "version v2"}
    assert 50 < seen["version v2"] < 150, seen
    driver.shift({new.colour: 100, Colour.BLUE: 0})
    routes = local_env.site.proxy.routes()
    assert routes is not None and routes.weights() == {Colour.BLUE: 0, new.colour: 100}
    assert {version_through_nginx(local_env) for _ in range(100)} == {"version v2"}


def test_a_stopped_nginx_comes_back_on_its_live_config(local_env: LocalEnv, driver: PortDriver) -> None:
    driver.deploy("v1")
    proxy = local_env.site.proxy
    proxy.stop(5.0)
    assert proxy.master_pid() is None
    assert local_env.platform.traffic.read_weights() == Weights(blue=100, green=0)
    assert proxy.master_pid() is not None
    assert version_through_nginx(local_env) == "version v1"


def test_a_config_change_reloads_without_cutting_a_keep_alive_request(local_env: LocalEnv, driver: PortDriver) -> None:
    """A reload retires workers; they first end their keep-alive connections after an answer, so nothing is cut."""
    driver.deploy("v1")
    proxy = local_env.site.proxy
    master = proxy.master_pid()
    assert master is not None
    old_workers = accepting_workers(master)
    blue = local_env.site.base_url(Colour.BLUE).removeprefix("http://")
    with LoadGenerator(local_env.address, "/version", threads=4, max_duration_s=60, resend_stale=False) as load:
        for n in range(3):
            time.sleep(0.3)
            proxy.conf.write_text(proxy.conf.read_text() + f"# changed by hand {n}\n")  # bluegreen puts its own back
            proxy.apply([Server(Colour.BLUE, blue, 100 - n), *([Server(Colour.GREEN, blue, n)] if n else [])])
        time.sleep(0.3)
    assert proxy.master_pid() == master and not accepting_workers(master) & old_workers, "the workers were replaced"
    assert "changed by hand" not in proxy.conf.read_text()
    routes = proxy.routes()
    assert routes is not None and routes.closing_workers == ()
    report = load.report
    assert report.failures == 0 and report.sent == report.ok, report.summary()
    assert report.keepalive_requests > 100, report.summary()
