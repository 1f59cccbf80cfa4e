"""Canary analysis through the CLI over the simulated platform: exit codes, messages, status and history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tests.cli.helpers import run, set_faults, status, write_config

STEPS = {"strategy": "canary", "steps": [{"weight": 10, "wait": "300ms"}, {"weight": 50, "wait": "300ms"}],
         "check_every": "100ms"}  # fmt: skip


def release(seed: int, *, slower: float = 1.0, tail: float = 1.0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)

    def lat(scale: float) -> list[float]:
        return [float(v) for v in scale * np.exp(rng.normal(0, 0.25, 60))]

    return {
        "5xx_ratio": {"errors": 0, "requests": 5000},
        "response_time": {"values": lat(0.2 * slower)},
        "response_time_p99": {"values": lat(0.6 * slower * tail)},
    }


def configured(tmp: Path, **analysis: Any) -> Path:
    cfg = write_config(tmp, traffic=STEPS, analysis=analysis)
    set_faults(cfg, analysis_samples={"v1": release(1), "v2": release(2, slower=1.3), "v3": release(3),
                                      "v4": release(4, tail=1.5)})  # fmt: skip
    assert run(cfg, "deploy", "web", "--version", "v1").returncode == 0
    return cfg


def test_a_slower_release_is_rolled_back_by_analysis_then_the_same_code_passes_with_a_score(tmp_path: Path) -> None:
    cfg = configured(tmp_path)
    slow = run(cfg, "deploy", "web", "--version", "v2")
    assert slow.returncode == 1, slow.stdout + slow.stderr
    out = slow.stdout + slow.stderr
    assert "canary analysis failed" in out and "response_time slower by" in out, out
    assert "green (new)" in out and "blue (old)" in out, out
    last = status(cfg)["last_deployment"]
    assert last["status"] == "rolled_back" and last["analysis"]["verdict"] == "fail"
    figures = {m["name"]: m for m in last["analysis"]["metrics"]}
    rt = figures["response_time"]
    assert rt["classification"] == "fail" and rt["new"] > rt["old"] > 0 and rt["p_value"] < 0.02 and rt["effect"] > 0.1
    history = run(cfg, "history", "web", "--events")
    assert "analysis" in history.stdout and "response_time: fail  new" in history.stdout, history.stdout

    same = run(cfg, "deploy", "web", "--version", "v3")
    assert same.returncode == 0, same.stdout + same.stderr
    last = status(cfg)["last_deployment"]
    assert last["status"] == "succeeded" and last["analysis"]["verdict"] == "pass"
    assert last["analysis"]["score"] == 100.0
    assert {m["classification"] for m in last["analysis"]["metrics"]} == {"pass"}


def test_a_marginal_release_pauses_for_a_person_then_promote_goes_on(tmp_path: Path) -> None:
    metrics = [
        {"name": "response_time", "metric": "TargetResponseTime", "weight": 9},
        {"name": "response_time_p99", "metric": "TargetResponseTime", "statistic": "p99", "weight": 1},
    ]
    cfg = configured(tmp_path, metrics=metrics)
    paused = run(cfg, "deploy", "web", "--version", "v4", "--no-wait")
    assert paused.returncode == 0, paused.stdout + paused.stderr
    dep = status(cfg)["deployment"]
    assert dep["status"] == "paused" and dep["analysis"]["verdict"] == "marginal" and dep["analysis"]["score"] == 90
    assert "bluegreen promote web" in dep["note"]
    text = run(cfg, "status", "web").stdout
    assert "analysis:    marginal (score 90) after step" in text and "response_time_p99: fail" in text, text
    # Each canary step is judged again: the first promote stops at the next step's pause, the second goes on.
    res = run(cfg, "promote", "web", "--no-wait")
    assert res.returncode == 0, res.stdout + res.stderr
    assert status(cfg)["deployment"]["analysis"]["step"] > dep["analysis"]["step"]
    res = run(cfg, "promote", "web")
    assert res.returncode == 0, res.stdout + res.stderr
    assert status(cfg)["last_deployment"]["status"] == "succeeded"
