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
            words = shlex.split(line, comments=True)
            for i, w in enumerate(words):
                if w.endswith("/bluegreen") or w == "bluegreen":
                    args = words[i + 1 :]
                    # The shell's, not bluegreen's: a redirection or the next command.
                    ends = [j for j, a in enumerate(args) if a in (">", "|", "||", "&&", ";")]
                    found.append(args[: ends[0]] if ends else args)
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
    steps = job_steps(CONFIG["jobs"][job]["steps"])
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
    install = "\n".join(
        s["run"]["command"]
        for s in job_steps(CONFIG["commands"]["install"]["steps"])
        if isinstance(s, dict) and "run" in s
    )
    assert "pip install dist/bluegreen-" in install
    for name in ("deploy", "promote", "rollback"):
        steps = CONFIG["jobs"][name]["steps"]
        assert "install" in steps and "setup" not in steps, name
        commands = [s["run"]["command"] for s in steps if isinstance(s, dict) and "run" in s]
        assert not any(".venv" in c for c in commands), name


# -- every tool a job calls is installed by that job ---------------------------------------------------

# What each command needs on PATH besides the virtualenv. `make setup` stops without terraform
# (scripts/install-system-packages); `make test` runs terraform and packer (make check-infra, the tests);
# bluegreen drives terraform for every change to AWS, and packer to bake.
NEEDS: dict[str, set[str]] = {
    "make setup": {"terraform"},
    "make test": {"terraform", "packer"},
    "packer ": {"packer"},
    "terraform ": {"terraform"},
    "bluegreen deploy": {"terraform", "packer"},
    "bluegreen plan": set(),
    "bluegreen promote": {"terraform"},
    "bluegreen abort": {"terraform"},
    "bluegreen resume": {"terraform", "packer"},
}


def job_steps(steps: list[Any]) -> list[Any]:
    """A job's steps with the `commands:` it uses expanded in place."""
    out: list[Any] = []
    for step in steps:
        name = step if isinstance(step, str) else next(iter(step))
        if name in CONFIG.get("commands", {}):
            out += job_steps(CONFIG["commands"][name]["steps"])
        else:
            out.append(step)
    return out


def job_commands(job: str) -> list[str]:
    runs = [s["run"] for s in job_steps(CONFIG["jobs"][job]["steps"]) if isinstance(s, dict) and "run" in s]
    return [r["command"] if isinstance(r, dict) else r for r in runs]


def installed_by(job: str) -> dict[str, str]:
    """tool -> the pinned version the job installs (apt-get install "NAME=${VERSION}-*")."""
    env = CONFIG["executors"]["python"]["environment"]
    out = {}
    for command in job_commands(job):
        if "apt-get install" in command:
            for name, var in re.findall(r'"(\w+)=\$\{(\w+)\}-\*"', command):
                out[name] = str(env[var])
    return out


def called_by(job: str) -> set[str]:
    text = "\n".join(job_commands(job)).replace(".venv/bin/bluegreen", "bluegreen")
    return {tool for pattern, tools in NEEDS.items() if pattern in text for tool in tools}


@pytest.mark.parametrize("job", sorted(CONFIG["jobs"]))
def test_every_tool_a_job_calls_is_installed_by_that_job(job: str) -> None:
    called, installed = called_by(job), installed_by(job)
    assert called, f"{job} calls no tool this test knows: extend NEEDS"
    assert called <= set(installed), f"{job} calls {sorted(called - set(installed))} without installing them"
    for tool, version in installed.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{tool} is not pinned to one version: {version!r}"


def test_the_tool_check_sees_a_missing_install() -> None:
    """The check above can fail: a job without the install step calls tools it lacks."""
    CONFIG["jobs"]["bare"] = {"steps": ["checkout", {"run": {"command": "make test"}}]}
    try:
        assert called_by("bare") == {"terraform", "packer"} and installed_by("bare") == {}
    finally:
        del CONFIG["jobs"]["bare"]


def test_the_tools_come_from_a_repository_whose_key_is_checked() -> None:
    [install] = [c for c in job_commands("test") if "apt-get install" in c]
    env = CONFIG["executors"]["python"]["environment"]
    assert re.fullmatch(r"[0-9A-F]{40}", env["HASHICORP_KEY_FINGERPRINT"])
    assert '"$got" != "$HASHICORP_KEY_FINGERPRINT"' in install and "exit 1" in install
    assert "signed-by=/usr/share/keyrings/hashicorp.gpg" in install


def test_the_jobs_that_touch_aws_keep_status_and_events_as_artifacts() -> None:
    for job in ("deploy", "promote", "rollback"):
        steps = job_steps(CONFIG["jobs"][job]["steps"])
        commands = "\n".join(job_commands(job))
        assert "--json > artifacts/status.json" in commands
        assert "--events --json > artifacts/deployment.json" in commands
        assert {"store_artifacts": {"path": "artifacts"}} in steps


def test_the_virtualenv_and_the_plugins_are_cached() -> None:
    steps = job_steps(CONFIG["jobs"]["test"]["steps"])
    saved = [s["save_cache"]["paths"] for s in steps if isinstance(s, dict) and "save_cache" in s]
    assert [".venv", ".venv-checkov"] in saved
    assert ["/home/circleci/.terraform.d/plugin-cache", "/home/circleci/.packer-plugins"] in saved
