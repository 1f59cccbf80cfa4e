"""The sandbox end to end: the real `bluegreen` command in subprocesses, AWS read back with boto3.

`Sandbox` is one `bluegreen sandbox up` (a moto server, the network and the
example's ALB environment) shared by every test; each scenario writes its own
config file, derived from examples/sandbox/bluegreen.yaml, into the same state
directory, so all of them drive the same environment and the same records.

The read-backs ask the load balancer and Auto Scaling directly with plain
boto3 clients, never through bluegreen's adapters: they check what bluegreen
did, not what it believes it did.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import yaml

from tests.status_view import status_now

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "sandbox" / "bluegreen.yaml"
ENV = "demo"  # the example's environment
REGION = "us-east-1"
COLOURS = ("blue", "green")
BLUEGREEN = [sys.executable, "-m", "bluegreen"]
ACTOR = "tester"
PRODUCTION_PORT, TEST_PORT = 8080, 8081  # the example's listeners


def other(colour: str) -> str:
    return "green" if colour == "blue" else "blue"


def merged(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` laid over it, mappings merged key by key (lists are replaced, None removes a key)."""
    out = dict(base)
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def example_config(state_dir: Path) -> dict[str, Any]:
    """The sandbox example with its own state directory and its relative paths made absolute."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    data["state"]["path"] = str(state_dir)
    bake = data["environments"][ENV]["bake"]
    for key in ("template", "artifact"):
        bake[key] = str((EXAMPLE.parent / bake[key]).resolve())
    return data


# -- the command -------------------------------------------------------------------------


def command_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "BLUEGREEN_ACTOR": ACTOR, "CHECKPOINT_DISABLE": "1", **(extra or {})}


def run(
    cfg: Path, *args: str, timeout: float = 240, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BLUEGREEN, "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=command_env(env),
    )


@dataclass
class Started:
    """A `bluegreen` process running in the background, its output going to files (no pipe to fill)."""

    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    def running(self) -> bool:
        return self.proc.poll() is None

    def kill_9(self) -> None:
        """SIGKILL the bluegreen process alone: what it started (terraform, packer) runs on, orphaned."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def kill_9_group(self) -> None:
        """SIGKILL it with everything it started, as when its host is lost."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop_all(self) -> None:
        """Kill its whole process group (it leads one): the test leaves nothing behind."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


class Processes:
    """Every background `bluegreen` a test starts; `stop_all` ends them and their children."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[Started] = []

    def start(self, cfg: Path, *args: str, path_prefix: Path | None = None) -> Started:
        n = len(self.started)
        out, err = self.logs / f"bg{n}.out", self.logs / f"bg{n}.err"
        extra = {"PATH": f"{path_prefix}{os.pathsep}{os.environ.get('PATH', '')}"} if path_prefix else None
        with open(out, "wb") as o, open(err, "wb") as e:
            proc = subprocess.Popen(
                [*BLUEGREEN, "--config", str(cfg), *args],
                stdout=o,
                stderr=e,
                stdin=subprocess.DEVNULL,
                env=command_env(extra),
                start_new_session=True,  # its own process group, so cleanup reaches its children
            )
        started = Started(proc, out, err)
        self.started.append(started)
        return started

    def stop_all(self) -> None:
        for s in self.started:
            s.stop_all()


def status(cfg: Path) -> dict[str, Any]:
    res = run(cfg, "status", ENV, "--json", timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    return dict(json.loads(res.stdout))


def deployment_in_progress(cfg: Path) -> dict[str, Any] | None:
    """`status --json`'s "deployment", read in this process (tests/status_view.py says why)."""
    found = status_now(cfg, ENV)["deployment"]
    return dict(found) if found else None


def latest_record(cfg: Path) -> dict[str, Any]:
    res = run(cfg, "history", ENV, "--json", "--limit", "1", timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    records = json.loads(res.stdout)
    assert records, "no deployment recorded"
    return dict(records[0])


def wait_for(predicate: Callable[[], bool], *, timeout: float, what: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


# -- the sandbox and AWS read back ------------------------------------------------------------


@dataclass
class Sandbox:
    base: Path  # config files live here
    state_dir: Path
    endpoint: str = ""
    pid: int = 0
    _clients: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        """The example as it is (what `sandbox up` built the environment from)."""
        return self.write_config("bluegreen")

    def write_config(self, name: str, **env_overrides: Any) -> Path:
        """A config file for one scenario: the example's environment with `env_overrides` merged in."""
        data = example_config(self.state_dir)
        data["environments"][ENV] = merged(data["environments"][ENV], env_overrides)
        path = self.base / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def client(self, service: str) -> Any:
        # boto3 clients are thread-safe; one per service serves the test and its watcher.
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service,
                endpoint_url=self.endpoint,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return self._clients[service]

    # -- the load balancer --------------------------------------------------------------------
    def listener(self, port: int = PRODUCTION_PORT) -> dict[str, Any]:
        elbv2 = self.client("elbv2")
        lb = elbv2.describe_load_balancers(Names=[ENV])["LoadBalancers"][0]
        listeners = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        return dict(next(li for li in listeners if li["Port"] == port))

    def weights(self) -> dict[str, int]:
        """Each colour's weight in the production listener's forward, as the load balancer reports it."""
        action = next(a for a in self.listener()["DefaultActions"] if a["Type"] == "forward")
        groups = action.get("ForwardConfig", {}).get("TargetGroups") or [
            {"TargetGroupArn": action["TargetGroupArn"], "Weight": 100}
        ]
        out = dict.fromkeys(COLOURS, 0)
        for g in groups:
            out[colour_of_target_group(g["TargetGroupArn"])] += int(g.get("Weight", 1))
        return out

    def test_listener_colour(self) -> str:
        action = next(a for a in self.listener(TEST_PORT)["DefaultActions"] if a["Type"] == "forward")
        return colour_of_target_group(action["TargetGroupArn"])

    def sandbox_status(self) -> dict[str, Any]:
        res = run(self.config, "sandbox", "status", "--json", timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
        return dict(json.loads(res.stdout))

    def production_url(self) -> str:
        return str(self.sandbox_status()["load_balancers"][ENV]["production_url"])

    def test_url(self) -> str:
        return str(self.sandbox_status()["load_balancers"][ENV]["test_url"])

    def target_group_arn(self, colour: str) -> str:
        groups = self.client("elbv2").describe_target_groups(Names=[f"{ENV}-{colour}"])["TargetGroups"]
        return str(groups[0]["TargetGroupArn"])

    def published_sum(self, colour: str, metric: str, start: datetime, end: datetime) -> float:
        """The Sum of an ALB metric of `colour`'s target group that CloudWatch holds from `start` to `end`."""
        group = "targetgroup/" + self.target_group_arn(colour).split(":targetgroup/", 1)[1]
        arn = self.client("elbv2").describe_load_balancers(Names=[ENV])["LoadBalancers"][0]["LoadBalancerArn"]
        balancer = str(arn).split(":loadbalancer/", 1)[1]
        points = self.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/ApplicationELB",
            MetricName=metric,
            Dimensions=[{"Name": "TargetGroup", "Value": group}, {"Name": "LoadBalancer", "Value": balancer}],
            StartTime=start,
            EndTime=end,
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        return float(sum(p["Sum"] for p in points))

    def proxy_requests(self, colour: str) -> int:
        """Requests the proxy sent to `colour`'s target group (its backend's session total), counted at the proxy."""
        proxies = self.sandbox_status()["dataplane"]["proxies"]
        key = "targetgroup/" + self.target_group_arn(colour).split(":targetgroup/", 1)[1]
        counts = [p["target_groups"].get(key, {}).get("counters", {}).get("stot", "") for p in proxies.values()]
        return sum(int(c) for c in counts if c)

    # -- the colours' groups ---------------------------------------------------------------------
    def asg(self, colour: str) -> dict[str, Any] | None:
        groups = self.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[f"{ENV}-{colour}"])
        found = groups["AutoScalingGroups"]
        return dict(found[0]) if found else None

    def asgs(self) -> dict[str, dict[str, Any]]:
        groups = self.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
        return {g["AutoScalingGroupName"].removeprefix(f"{ENV}-"): g for g in groups}

    def launch_templates(self) -> list[str]:
        return sorted(
            t["LaunchTemplateName"] for t in self.client("ec2").describe_launch_templates()["LaunchTemplates"]
        )

    def image_of(self, colour: str) -> str:
        """The AMI the colour's instances boot from: its ASG's launch template version, read back."""
        group = self.asg(colour)
        assert group is not None, f"{colour} has no Auto Scaling group"
        spec = group["LaunchTemplate"]
        versions = self.client("ec2").describe_launch_template_versions(
            LaunchTemplateId=spec["LaunchTemplateId"], Versions=[str(spec["Version"])]
        )["LaunchTemplateVersions"]
        return str(versions[0]["LaunchTemplateData"]["ImageId"])

    def image_tags(self, ami: str) -> dict[str, str]:
        image = self.client("ec2").describe_images(ImageIds=[ami])["Images"][0]
        return {t["Key"]: t["Value"] for t in image.get("Tags", [])}

    def assert_serving(self, colour: str) -> None:
        """All traffic on `colour` (read back), its group at desired capacity, nothing of the other colour left."""
        assert self.weights() == {colour: 100, other(colour): 0}
        group = self.asg(colour)
        assert group is not None, f"{colour}'s Auto Scaling group is missing"
        desired = example_config(self.state_dir)["environments"][ENV]["capacity"]["desired"]
        assert group["DesiredCapacity"] == desired
        assert len(group["Instances"]) == desired
        assert self.asg(other(colour)) is None, f"{other(colour)}'s Auto Scaling group is still there"
        assert self.launch_templates() == [f"{ENV}-{colour}"]


def colour_of_target_group(arn: str) -> str:
    """`blue` from `...:targetgroup/demo-blue/73e2d6bc24d8a067` (the environment module's naming)."""
    name = arn.split(":targetgroup/")[1].split("/")[0]
    colour = name.rsplit("-", 1)[1]
    assert colour in COLOURS, arn
    return colour


# -- watching for a colour destroyed while it served ------------------------------------------


@dataclass(frozen=True)
class Sample:
    at: float
    weights: Mapping[str, int]
    groups: Mapping[str, int]  # colour -> instances in its ASG (absent: no ASG)


class Watcher:
    """Samples the listener, then the groups, every `every` seconds in a thread.

    The listener is read first: a colour that stopped serving a moment ago and
    was removed in between cannot look like one removed while it served.
    """

    def __init__(self, sandbox: Sandbox, every: float = 0.1) -> None:
        self.sandbox = sandbox
        self.every = every
        self.samples: list[Sample] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="e2e-watcher", daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                weights = self.sandbox.weights()
                groups = {c: len(g.get("Instances", [])) for c, g in self.sandbox.asgs().items() if c in COLOURS}
                self.samples.append(Sample(time.time(), weights, groups))
            except Exception as e:  # a read that failed proves nothing either way; kept for the report
                self.errors.append(f"{type(e).__name__}: {e}")
            self._stop.wait(self.every)

    def served_without_instances(self) -> list[Sample]:
        """Samples in which the listener sent traffic to a colour with no group or no instance."""
        return [s for s in self.samples if any(w > 0 and s.groups.get(c, 0) == 0 for c, w in s.weights.items())]


# -- keeping the shared environment usable ------------------------------------------------------


def live_colour(sandbox: Sandbox) -> str:
    """The colour serving now; deploys a first release when nothing is live (a test run on its own)."""
    colour = status(sandbox.config)["live_colour"]
    if colour is None:
        first = run(sandbox.config, "deploy", ENV, "--version", "base", "--strategy", "all-at-once")
        assert first.returncode == 0, first.stdout + first.stderr
        colour = status(sandbox.config)["live_colour"]
    assert colour in COLOURS
    return str(colour)


def settle(sandbox: Sandbox) -> list[str]:
    """Leave no deployment holding the environment (after a failed test): abort it, else break the lock."""
    done: list[str] = []
    if status(sandbox.config)["deployment"] is None:
        return done
    aborted = run(sandbox.config, "abort", ENV, "--reason", "left over by a failed test", timeout=180)
    done.append(f"abort exited {aborted.returncode}")
    if status(sandbox.config)["deployment"] is not None:
        run(sandbox.config, "unlock", ENV, "--force", "--reason", "left over by a failed test")
        done.append("lock broken")
    return done


def gone(pid: int) -> bool:
    """The process no longer runs (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"
