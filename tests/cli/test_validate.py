"""Bad input: one clear message (what, where, next), exit 2, nothing changed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import click
import pytest

from tests.cli.helpers import BLUEGREEN, run


def write(tmp: Path, text: str) -> Path:
    p = tmp / "bluegreen.yaml"
    p.write_text(text)
    return p


GOOD = """\
environments:
  web:
    platform: simulated
    health_check:
      path: /health
"""


def test_valid_config(tmp_path: Path) -> None:
    res = run(write(tmp_path, GOOD), "validate")
    assert res.returncode == 0 and "valid (1 environment: web)" in res.stdout


@pytest.mark.parametrize(
    ("text", "key", "line", "fix"),
    [
        (GOOD.replace("path: /health", "pth: /health"), "environments.web.health_check.pth", 5, "did you mean 'path'"),
        (GOOD + "    promotion: sometimes\n", "environments.web.promotion", 6, "use one of: auto, manual"),
        (GOOD.replace("path: /health", "healthy_threshold: lots"), "environments.web.health_check.healthy_threshold",
         5, "write a number"),
        (GOOD + "    bake_time: soon\n", "environments.web.bake_time", 6, "write seconds"),
        (GOOD.replace("platform: simulated", "platform: azure"), "environments.web.platform", 3, "aws, local, simulated"),
        (GOOD + "    traffic: {strategy: canary}\n", "environments.web.traffic.steps", None, "steps:"),
        (GOOD + "    load_balancer: {type: elb}\n    traffic: {strategy: linear, step: 10}\n",
         "environments.web.traffic.strategy", 7, "all-at-once"),
        (GOOD + "    smoke:\n      - {path: /about/, status: 200, contians: x}\n", "environments.web.smoke[0].contians",
         None, "did you mean 'contains'"),
        (GOOD + "    app:\n      settings: {app-greeting: hi}\n", "environments.web.app.settings.app-greeting", 7,
         "use A-Z, 0-9 and _"),
        (GOOD + "    app:\n      secrets:\n        APP_SECRET: hunter2\n", "environments.web.app.secrets.APP_SECRET", 8,
         "the name, never the value"),
        (GOOD + "    app:\n      secrets: {APP_SECRET: 'vault:x'}\n", "environments.web.app.secrets.APP_SECRET", 7,
         "ssm:<parameter name>"),
        (GOOD + "    app:\n      setings: {A: b}\n", "environments.web.app.setings", 7, "did you mean 'settings'"),
    ],
)  # fmt: skip
def test_bad_config_names_key_and_line_and_exits_2(
    tmp_path: Path, text: str, key: str, line: int | None, fix: str
) -> None:
    cfg = write(tmp_path, text)
    res = run(cfg, "validate")
    assert res.returncode == 2, res.stdout + res.stderr
    assert key in res.stderr
    if line:
        assert f"bluegreen.yaml:{line}" in res.stderr
    assert fix in res.stderr
    assert res.stderr.count("error:") == 1


def test_missing_variable_is_an_error_not_empty(tmp_path: Path) -> None:
    cfg = write(tmp_path, GOOD + "    smoke:\n      - {path: /, contains: '${RELEASE_TEXT}'}\n")
    res = run(cfg, "validate")
    assert res.returncode == 2 and "environment variable RELEASE_TEXT is not set" in res.stderr


def test_variable_with_explicit_default(tmp_path: Path) -> None:
    cfg = write(tmp_path, GOOD + "    smoke:\n      - {path: /, contains: '${RELEASE_TEXT:-ok}'}\n")
    assert run(cfg, "validate").returncode == 0


def test_missing_config_file(tmp_path: Path) -> None:
    res = run(tmp_path / "nope.yaml", "status", "web")
    assert res.returncode == 2 and "does not exist" in res.stderr and "--config" in res.stderr


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    res = run(write(tmp_path, "environments:\n  web: [\n"), "validate")
    assert res.returncode == 2 and "not valid YAML" in res.stderr


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (GOOD.replace("platform: simulated", "platform simulated"), 3),  # a key without its colon
        (GOOD.replace("path: /health", 'path: "/health'), 5),  # a quote never closed
        (GOOD.replace("web:\n", "web: {platform: simulated\n"), 2),  # a bracket never closed
        (GOOD.replace("    health_check:", "   health_check:"), 4),  # indented one space short
    ],
)
def test_yaml_syntax_error_is_reported_on_its_own_line(tmp_path: Path, text: str, line: int) -> None:
    res = run(write(tmp_path, text), "validate")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "not valid YAML" in res.stderr and f"bluegreen.yaml:{line}\n" in res.stderr, res.stderr


def test_every_mistake_in_the_file_is_reported_in_one_run(tmp_path: Path) -> None:
    text = GOOD.replace("path: /health", "pth: /health") + "    promotion: sometimes\n    bake_time: soon\n"
    res = run(write(tmp_path, text), "validate")
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.count("error:") == 3, res.stderr
    for key, line in [
        ("environments.web.health_check.pth", 5),
        ("environments.web.promotion", 6),
        ("environments.web.bake_time", 7),
    ]:
        assert f"bluegreen.yaml:{line} (key {key})" in res.stderr, res.stderr


def test_unknown_environment(tmp_path: Path) -> None:
    res = run(write(tmp_path, GOOD), "deploy", "wbe", "--version", "v1")
    assert res.returncode == 2 and "did you mean 'web'" in res.stderr
    assert not (tmp_path / ".bluegreen").exists() or not any((tmp_path / ".bluegreen").rglob("*.json"))


def test_bad_argument_exits_2(tmp_path: Path) -> None:
    res = run(write(tmp_path, GOOD), "deploy", "web", "--version", "v1", "--strategy", "yolo")
    assert res.returncode == 2 and "yolo" in res.stderr


def test_missing_tool_exits_2_before_anything_is_written(tmp_path: Path) -> None:
    import os
    import sqlite3
    import subprocess
    import sys

    cfg = write(
        tmp_path,
        "aws: {endpoint_url: sandbox}\nenvironments:\n  demo:\n    platform: aws\n"
        "    load_balancer: {test_cidrs: [127.0.0.1/32]}\n",
    )
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # terraform lives elsewhere on the machines we run on
    res = subprocess.run(
        [sys.executable, "-m", "bluegreen", "--config", str(cfg), "deploy", "demo", "--version", "v1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert res.returncode == 2, res.stderr
    assert "needs terraform" in res.stderr and "make setup" in res.stderr
    db = tmp_path / ".bluegreen" / "bluegreen.db"
    if db.exists():
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM deployments").fetchone() == (0,)
            assert conn.execute("SELECT count(*) FROM locks").fetchone() == (0,)


def test_config_is_accepted_after_the_command_too(tmp_path: Path) -> None:
    """`bluegreen CMD ... --config FILE` means what `bluegreen --config FILE CMD ...` means, for every command."""
    from bluegreen.cli import cli

    def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
        found = []
        for name, command in group.commands.items():
            found.append((prefix + name, command))
            if isinstance(command, click.Group):
                found += commands(command, f"{prefix}{name} ")
        return found

    lacking = [name for name, c in commands(cli) if not any("--config" in p.opts for p in c.params)]
    assert not lacking, lacking

    cfg = write(tmp_path, GOOD)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    after = subprocess.run(
        [*BLUEGREEN, "status", "web", "--config", str(cfg)], capture_output=True, text=True, cwd=elsewhere, timeout=60
    )
    assert after.returncode == 0, after.stderr
    assert after.stdout == run(cfg, "status", "web").stdout
    wrong = subprocess.run(
        [*BLUEGREEN, "--config", str(cfg), "validate", "--config", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 2 and "nope.yaml does not exist" in wrong.stderr  # the one after the command wins


def test_app_settings_and_secret_names_are_read_as_strings(tmp_path: Path) -> None:
    from bluegreen import config

    cfg = write(
        tmp_path,
        GOOD + "    app:\n      settings: {APP_GREETING: hello, WORKERS: 3, DEBUG: false}\n"
        "      secrets: {APP_SECRET: 'ssm:/bluegreen/demo/app-secret', TOKEN: 'secretsmanager:demo/token'}\n",
    )
    app = config.load(cfg, env={}).environment("web").app
    assert app.settings == {"APP_GREETING": "hello", "WORKERS": "3", "DEBUG": "false"}
    assert app.secrets == {"APP_SECRET": "ssm:/bluegreen/demo/app-secret", "TOKEN": "secretsmanager:demo/token"}
    assert app.instance_profile == ""


AWS = GOOD.replace("platform: simulated", "platform: aws")


@pytest.mark.parametrize(
    ("health_check", "key", "says"),
    [
        ("healthy_threshold: 1", "healthy_threshold", "1 is outside what AWS allows for a alb health check (2-10)"),
        ("unhealthy_threshold: 1", "unhealthy_threshold", "(2-10)"),
        ("interval: 4s, timeout: 2s", "interval", "(5-300s)"),
        ("interval: 10m", "interval", "(5-300s)"),
        ("timeout: 1s, interval: 5s", "timeout", "(2-120s)"),
        ("timeout: 4.6s, interval: 5.4s", "timeout", "timeout 5s must be less than interval 5s once rounded"),
    ],
)
def test_aws_refuses_health_checks_aws_would_refuse(tmp_path: Path, health_check: str, key: str, says: str) -> None:
    text = AWS.replace(
        "    health_check:\n      path: /health\n", f"    health_check: {{path: /health, {health_check}}}\n"
    )
    res = run(write(tmp_path, text), "validate")
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"environments.web.health_check.{key}" in res.stderr and "bluegreen.yaml:4" in res.stderr
    assert says in res.stderr


def test_the_same_health_check_is_fine_off_aws(tmp_path: Path) -> None:
    res = run(write(tmp_path, GOOD.replace("path: /health", "healthy_threshold: 1")), "validate")
    assert res.returncode == 0, res.stderr


ANALYSIS = GOOD + "    analysis:\n      metrics:\n        - {name: p99, metric: TargetResponseTime, statistic: p99}\n"


@pytest.mark.parametrize(
    ("text", "key", "line", "fix"),
    [
        (ANALYSIS + "      confidence: 1.5\n", "environments.web.analysis.confidence", 9, "use a value in 0.5..0.9999"),
        (ANALYSIS + "      min_samples: few\n", "environments.web.analysis.min_samples", 9, "write a number"),
        (ANALYSIS + "      on_marginal: shrug\n", "environments.web.analysis.on_marginal", 9, "pause, rollback"),
        (ANALYSIS + "      on_inconclusive: wait\n", "environments.web.analysis.on_inconclusive", 9, "continue"),
        (ANALYSIS + "      inconclusive_limit: later\n", "environments.web.analysis.inconclusive_limit", 9,
         "write seconds"),
        (ANALYSIS + "      interval: 45s\n", "environments.web.analysis.interval", 9, "multiple of 60s"),
        (ANALYSIS + "      marginal_score: 99\n", "environments.web.analysis.marginal_score", 9, "at or below"),
        (ANALYSIS + "      treshold: 3\n", "environments.web.analysis.treshold", 9, "allowed keys"),
        (ANALYSIS.replace("statistic: p99", "statistic: p99, direction: up"),
         "environments.web.analysis.metrics[0].direction", 8, "higher, lower, either"),
        (ANALYSIS.replace("statistic: p99", "statistic: p99, weight: heavy"),
         "environments.web.analysis.metrics[0].weight", 8, "write a number"),
        (ANALYSIS.replace("statistic: p99", "statistic: p99, critical: yes-please"),
         "environments.web.analysis.metrics[0].critical", 8, "true or false"),
        (ANALYSIS.replace("metric: TargetResponseTime, ", ""), "environments.web.analysis.metrics[0].metric", 8,
         "exactly one of"),
        (ANALYSIS.replace("name: p99, ", ""), "environments.web.analysis.metrics[0].name", 8, "name the metric"),
        (ANALYSIS + "        - {name: p99, metric: TargetResponseTime}\n",
         "environments.web.analysis.metrics[1].name", 9, "its own name"),
        (ANALYSIS + "        - {name: errs, kind: count}\n", "environments.web.analysis.metrics[1].errors", 9,
         "errors: NAME"),
        (ANALYSIS + "        - {name: errs, kind: tally, errors: E}\n", "environments.web.analysis.metrics[1].kind", 9,
         "latency, count"),
        (GOOD + "    analysis: {metrics: []}\n", "environments.web.analysis.metrics", 6, "a list of metrics"),
    ],
)  # fmt: skip
def test_bad_analysis_names_key_and_line_and_exits_2(
    tmp_path: Path, text: str, key: str, line: int | None, fix: str
) -> None:
    res = run(write(tmp_path, text), "validate")
    assert res.returncode == 2, res.stdout + res.stderr
    assert key in res.stderr and f"bluegreen.yaml:{line} " in res.stderr and fix in res.stderr, res.stderr
    assert res.stderr.count("error:") == 1, res.stderr


def test_analysis_with_defaults_and_metric_math_is_valid(tmp_path: Path) -> None:
    text = GOOD + (
        "    analysis:\n"
        "      metrics:\n"
        "        - {name: slow_share, expression: 'm1 / m2', direction: either, weight: 2}\n"
        "        - {name: errs, kind: count, errors: HTTPCode_Target_5XX_Count, critical: true}\n"
        "  api:\n    platform: simulated\n    analysis:\n"
    )
    res = run(write(tmp_path, text), "validate")
    assert res.returncode == 0, res.stdout + res.stderr
