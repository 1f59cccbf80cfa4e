"""bluegreen's own nginx, for real: checked configs, graceful reloads, read-back from the running workers."""

from __future__ import annotations

import urllib.request
from collections import Counter

import pytest

from bluegreen.adapters.local.nginx import Server
from bluegreen.errors import ToolError
from bluegreen.model import Colour, Weights
from tests.local.helpers import LocalEnv, PortDriver


def version_through_nginx(env: LocalEnv) -> str:
    with urllib.request.urlopen(f"http://{env.address}/version", timeout=10) as resp:
        assert resp.status == 200
        return str(resp.read().decode().strip())


def test_a_config_that_fails_nginx_t_leaves_the_old_release_serving(local_env: LocalEnv, driver: PortDriver) -> None:
    driver.deploy("v1")
    proxy = local_env.site.proxy
    live_before = proxy.conf.read_text()
    master = proxy.master_pid()

    with pytest.raises(ToolError) as rejected:
        proxy.apply([Server(Colour.BLUE, "127.0.0.1:99999", 100)])  # a corrupt registry entry, say
    error = rejected.value
    assert error.tool == "nginx" and error.returncode != 0 and "-t" in error.argv
    assert "[emerg] invalid port in upstream" in error.output_tail, "nginx's own words"
    assert "nginx still runs the previous config" in error.hint

    assert proxy.conf.read_text() == live_before
    assert proxy.master_pid() == master
    assert local_env.platform.traffic.read_weights() == Weights(blue=100, green=0)
    assert version_through_nginx(local_env) == "version v1"
    assert "127.0.0.1:99999" in (proxy.prefix / "nginx.conf.rejected").read_text()


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
    assert "down;  # blue" in local_env.site.proxy.conf.read_text()
    assert {version_through_nginx(local_env) for _ in range(100)} == {"version v2"}


def test_a_stopped_nginx_comes_back_on_its_live_config(local_env: LocalEnv, driver: PortDriver) -> None:
    driver.deploy("v1")
    proxy = local_env.site.proxy
    proxy.stop(5.0)
    assert proxy.master_pid() is None
    assert local_env.platform.traffic.read_weights() == Weights(blue=100, green=0)
    assert proxy.master_pid() is not None
    assert version_through_nginx(local_env) == "version v1"
