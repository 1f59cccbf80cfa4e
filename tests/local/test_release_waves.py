"""A release of two single-host environments in one wave: real nginx (one per environment), real gunicorn.

Both environments deploy at once through `bluegreen release`; each answers
on its own nginx port with the release's version, and each keeps its own
deployment record.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import yaml

from bluegreen import config as config_mod
from bluegreen.adapters.local import platform as local
from bluegreen.sandbox.server import free_port
from tests.local.helpers import ENV_NAME, REPO, local_yaml

NAMES = ("local-a", "local-b")


def bluegreen(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bluegreen", "--config", str(cfg), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def version_at(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=5) as response:
        return str(response.read().decode())


def test_a_release_of_two_environments_in_one_wave(tmp_path: Path) -> None:
    ports = {name: free_port() for name in NAMES}
    doc = local_yaml(tmp_path / ".bluegreen", 0, hold="500ms")
    body = doc["environments"].pop(ENV_NAME)
    doc["environments"] = {n: {**body, "local": {**body["local"], "listen_port": ports[n]}} for n in NAMES}
    doc["releases"] = {"both": {"waves": [list(NAMES)]}}
    cfg = tmp_path / "bluegreen.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    try:
        for version in ("v1", "v2"):
            res = bluegreen(cfg, "release", "both", "--version", version)
            assert res.returncode == 0, res.stdout + res.stderr
            for name in NAMES:
                assert version in version_at(ports[name])
        st = json.loads(bluegreen(cfg, "status", "both", "--json").stdout)
        deployments = [e["deployment"] for e in st["environments"]]
        assert st["release"]["status"] == "succeeded" and len({d["id"] for d in deployments}) == 2
        assert all(d["status"] == "succeeded" and d["release"]["version"] == "v2" for d in deployments)
        first, second = sorted(deployments, key=lambda d: d["created_at"])
        assert second["created_at"] < first["updated_at"]  # the two ran at once
    finally:
        loaded = config_mod.load(cfg)
        for name in NAMES:
            local.stop_all(loaded, loaded.environment(name))
