"""The nginx binary hot upgrade, when the new binary is broken: the old master serves on, under traffic.

The upgrade that succeeds runs in the zero-downtime proof. Here nginx is
started from a link we control, the link is then pointed at a broken
"new binary", and the upgrade must roll back to the old master.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bluegreen.adapters.local import nginx, procfs
from bluegreen.adapters.local import platform as local
from bluegreen.adapters.local.loadgen import LoadGenerator
from bluegreen.errors import AdapterError
from bluegreen.model import Weights
from tests.local.helpers import LocalEnv, PortDriver

BROKEN_BINARIES = {  # kind -> (the "new binary", what the error says)
    "exits at once": ("#!/bin/sh\nexit 1\n", "exited with code 1"),
    "hangs without serving": ("#!/bin/sh\nexec sleep 30\n", "wrote no pid file within 3s"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_BINARIES))
def test_a_broken_new_binary_rolls_back_to_the_old_master(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = nginx.find_binary()
    link = tmp_path / "bin" / "nginx"
    link.parent.mkdir()
    link.symlink_to(real)
    monkeypatch.setenv(nginx.BINARY_ENV, str(link))
    env = LocalEnv(tmp_path / "env", start_timeout="3s")
    try:
        PortDriver(env.platform, env.env).deploy("v1")
        proxy = env.site.proxy
        old_master = proxy.master_pid()
        assert old_master is not None and str(link) in procfs.cmdline(old_master)

        broken = tmp_path / "broken-nginx"
        script, words = BROKEN_BINARIES[kind]
        broken.write_text(script)
        broken.chmod(0o755)
        link.unlink()
        link.symlink_to(broken)
        progress: list[str] = []
        with LoadGenerator(env.address, "/version", threads=2, max_duration_s=60) as load:
            with pytest.raises(AdapterError, match="the old master serves again") as failed:
                local.proxy_upgrade(env.config, env.env, progress.append)
            assert "did not come up" in failed.value.what and words in failed.value.what
            assert proxy.master_pid() == old_master
            assert proxy.old_master_pid() is None and not proxy.oldbin_pid_file.exists()
            assert env.platform.traffic.read_weights() == Weights(blue=100, green=0)

            link.unlink()
            link.symlink_to(real)  # the fixed binary: now the upgrade goes through
            local.proxy_upgrade(env.config, env.env, progress.append)
        new_master = proxy.master_pid()
        assert new_master not in (None, old_master) and not procfs.is_running(old_master)
        assert load.report.failures == 0, load.report.summary()
        assert load.report.ok > 50
    finally:
        env.stop()
