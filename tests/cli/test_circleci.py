"""The CircleCI pipeline: every job it names exists, and every bluegreen command it runs is a real one."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from bluegreen.cli import cli

REPO = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((REPO / ".circleci" / "config.yml").read_text())


def run_commands(config: dict[str, Any]) -> list[str]:
    out = []
    for job in config["jobs"].values():
        for step in job["steps"]:
            if isinstance(step, dict) and "run" in step:
                run = step["run"]
                out.append(run["command"] if isinstance(run, dict) else run)
    for cmd in config.get("commands", {}).values():
        for step in cmd["steps"]:
            if isinstance(step, dict) and "run" in step:
                out.append(step["run"]["command"])
    return out


def bluegreen_invocations(config: dict[str, Any] = CONFIG) -> list[list[str]]:
    """The arguments of every `bluegreen` a CircleCI config runs, with pipeline parameters at their defaults."""
    found = []
    for command in run_commands(config):
        text = command.replace("\\\n", " ")
        text = re.sub(
            r"<< pipeline\.parameters\.(\w+) >>", lambda m: str(config["parameters"][m.group(1)]["default"]), text
        )
        text = re.sub(r"<< pipeline\.number >>", "42", text)
        for line in text.splitlines():
            words = shlex.split(line)
            for i, w in enumerate(words):
                if w.endswith("/bluegreen") or w == "bluegreen":
                    found.append(words[i + 1 :])
    return found


def test_every_job_in_a_workflow_exists() -> None:
    jobs = set(CONFIG["jobs"])
    for name, wf in CONFIG["workflows"].items():
        for entry in wf["jobs"]:
            job, settings = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
            if settings.get("type") == "approval":
                continue
            assert job in jobs, f"workflow {name} names job {job} that does not exist"
            for req in settings.get("requires", []):
                names = {e if isinstance(e, str) else next(iter(e)) for e in wf["jobs"]}
                assert req in names, f"{job} requires {req}, not in workflow {name}"


def test_the_release_workflow_deploys_holds_then_promotes() -> None:
    jobs = CONFIG["workflows"]["release"]["jobs"]
    order = [e if isinstance(e, str) else next(iter(e)) for e in jobs]
    assert order == ["test", "deploy", "hold", "promote"]
    hold = next(e["hold"] for e in jobs if isinstance(e, dict) and "hold" in e)
    assert hold["type"] == "approval" and hold["requires"] == ["deploy"]


def invocations_ids() -> list[str]:
    return [" ".join(args[:2]) for args in bluegreen_invocations()]


@pytest.mark.parametrize("args", bluegreen_invocations(), ids=invocations_ids())
def test_every_bluegreen_command_parses(args: list[str]) -> None:
    assert_parses(args)


def assert_parses(args: list[str]) -> None:
    """Parse (not run) a command with the real CLI: a renamed option or command fails here."""
    sub, rest = args[0], args[1:]  # the pipeline passes the config by BLUEGREEN_CONFIG, not options
    command: Any = cli.commands.get(sub)
    assert command is not None, f"no command {sub}"
    try:
        command.make_context(sub, list(rest))
    except click.UsageError as e:  # pragma: no cover - the failure message is the point
        pytest.fail(f"`bluegreen {' '.join(args)}` does not parse: {e}")


def test_the_pipeline_uses_deploy_promote_and_abort() -> None:
    verbs = {args[0] for args in bluegreen_invocations()}
    assert {"deploy", "promote", "abort", "status", "plan"} <= verbs


@pytest.mark.parametrize("job", ["deploy", "promote", "rollback"])
def test_each_deployment_job_keeps_the_report_as_an_artifact(job: str) -> None:
    steps = CONFIG["jobs"][job]["steps"]
    runs = [s["run"] for s in steps if isinstance(s, dict) and "run" in s]
    report = next(r for r in runs if "bluegreen report" in r["command"])
    assert report.get("when") == "always"  # a failed deployment is the one most worth a picture
    written = re.search(r"--html (\S+)", report["command"])
    assert written is not None
    kept = [s["store_artifacts"]["path"] for s in steps if isinstance(s, dict) and "store_artifacts" in s]
    assert any(written.group(1).startswith(path.rstrip("/") + "/") for path in kept), kept


def test_the_config_it_names_is_valid() -> None:
    from bluegreen import config

    path = REPO / CONFIG["executors"]["python"]["environment"]["BLUEGREEN_CONFIG"]
    cfg = config.load(path, env={"BLUEGREEN_TF_STATE_BUCKET": "bucket", "CIRCLE_SHA1": "abc"})
    assert cfg.state.backend == "dynamodb" and "web-prod" in cfg.environments


def test_the_deploying_jobs_run_the_installed_release_not_the_development_tree() -> None:
    install = "\n".join(s["run"]["command"] for s in CONFIG["commands"]["install"]["steps"])
    assert "pip install dist/bluegreen-" in install
    for name in ("deploy", "promote", "rollback"):
        steps = CONFIG["jobs"][name]["steps"]
        assert "install" in steps and "setup" not in steps, name
        commands = [s["run"]["command"] for s in steps if isinstance(s, dict) and "run" in s]
        assert not any(".venv" in c for c in commands), name
