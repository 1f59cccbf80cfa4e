"""The data plane's process: keeps instances and load balancers in step with the sandbox's API.

    python -m bluegreen.sandbox.dataplane --state-dir DIR --moto ENDPOINT [options]

Every tick (0.5 s): reconcile the instances (an app process per instance
an Auto Scaling group holds), then the load balancers (a proxy per
listener), from the API's state as last read: it is read again after a
change made through the front, and every 2 s (a change made around it,
straight at the API); every second: publish the metrics whose period has closed (by
the timing in <state-dir>/sandbox/dataplane.timing.json when `sandbox up`
wrote one: its config's, so a later `up` changes it live). After
each tick the status (instances, load balancers, the front endpoint, the
last error) is written atomically to <state-dir>/sandbox/dataplane.json,
where `sandbox status` reads it. The front (the endpoint in front of moto
that answers DescribeTargetHealth from the proxies' health checks) binds a
free loopback port; its address is `front_endpoint` in that file.

SIGTERM or SIGINT: everything is closed (app processes, proxies, the front),
bounded, and the process exits 0. If the API stays unreachable for
--exit-after-api-lost-s (the sandbox was taken down under it), it does the
same by itself. Exit 2: bad arguments, or the load balancer half missing
without --instances-only.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from bluegreen.adapters.aws.session import error_code
from bluegreen.sandbox.dataplane.instances import Instances

# Between two reconciles when no call changed anything: a change made through the front (ModifyListener,
# RegisterTargets, an Auto Scaling group created...) wakes the loop at once; what no call says (an app's
# process died, a target drained, a health check's result) is seen at the next tick.
TICK_S = 0.5
MIN_TICK_S = 0.1
# The API's state is read again after a change made through the front, else this often: an idle sandbox's
# reads (a dozen calls each) cost moto and this process a core's tenth, every second, in every sandbox.
API_READ_EVERY_S = 2.0
METRICS_EVERY_S = 1.0
API_LOST_S = 30.0
# moto takes any credentials; these say plainly that they are not real ones.
TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def status_path(state_dir: Path) -> Path:
    return state_dir / "sandbox" / "dataplane.json"


def timing_path(state_dir: Path) -> Path:
    """Where `sandbox up` writes how the metrics are published now: {"metric_period_s", "metric_lag_s"}."""
    return state_dir / "sandbox" / "dataplane.timing.json"


def read_timing(state_dir: Path) -> tuple[int, float] | None:
    try:
        found = json.loads(timing_path(state_dir).read_text())
        return int(found["metric_period_s"]), float(found["metric_lag_s"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def read_status(state_dir: Path) -> dict[str, Any] | None:
    """The last status the daemon wrote, or None if it never ran here."""
    try:
        loaded: dict[str, Any] = json.loads(status_path(state_dir).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return loaded


def write_status(state_dir: Path, status: dict[str, Any]) -> None:
    path = status_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(status, indent=1, sort_keys=True))
    tmp.replace(path)  # atomic: a reader sees the last status or the one before, whole


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bluegreen.sandbox.dataplane", description=__doc__.split("\n")[0])
    p.add_argument("--state-dir", type=Path, required=True, help="bluegreen's state directory (state.path)")
    p.add_argument("--moto", required=True, help="the sandbox's API endpoint (the moto server)")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--instances-only", action="store_true", help="run the instances, no load balancers nor front")
    p.add_argument("--propagation-s", type=float, default=1.0, help="longest delay until an API change is followed")
    p.add_argument("--metric-period-s", type=int, default=60, help="CloudWatch period of the ALB metrics")
    p.add_argument("--metric-lag-s", type=float, default=60.0, help="how late a closed period is published")
    p.add_argument("--tick-s", type=float, default=TICK_S)
    p.add_argument("--api-read-every-s", type=float, default=API_READ_EVERY_S, help="read the API at least this often")
    p.add_argument("--exit-after-api-lost-s", type=float, default=API_LOST_S)
    args = p.parse_args(argv)
    if min(args.tick_s, args.api_read_every_s, args.exit_after_api_lost_s) <= 0:
        p.error("--tick-s, --api-read-every-s and --exit-after-api-lost-s must be positive")
    return args


def clients(endpoint: str, region: str) -> dict[str, Any]:
    for name, value in TEST_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    # Few, quick retries: the loop comes round again in a quarter of a second anyway.
    cfg = BotoConfig(
        region_name=region, retries={"mode": "standard", "max_attempts": 2}, connect_timeout=2, read_timeout=10
    )
    session = boto3.session.Session()
    services = ("autoscaling", "ec2", "ssm", "secretsmanager", "elbv2", "cloudwatch", "iam")
    return {s: session.client(s, endpoint_url=endpoint, config=cfg) for s in services}


class Daemon:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.state_dir: Path = args.state_dir.resolve()
        self.stopping = threading.Event()
        self.wake = threading.Event()  # set by the front after a call that may have changed something, and by stop()
        self._changes = 0  # calls through the front that may have changed something; the API is read when it grows
        self._changes_lock = threading.Lock()
        self.api = clients(args.moto, args.region)
        self.instances = Instances(
            state_dir=self.state_dir,
            autoscaling=self.api["autoscaling"],
            ec2=self.api["ec2"],
            ssm=self.api["ssm"],
            secretsmanager=self.api["secretsmanager"],
        )
        self.load_balancers: Any = None
        self.front: Any = None
        self.error = ""
        self.api_ok_at = time.monotonic()
        self.api_reads = 0  # the API's state read whole (status: how often an idle or a busy sandbox reads it)

    def start_load_balancers(self) -> None:
        # Imported here, by name: the instance half runs (and is tested) without the load balancer half.
        alb = importlib.import_module("bluegreen.sandbox.dataplane.alb")
        front = importlib.import_module("bluegreen.sandbox.dataplane.front")
        settings_module = importlib.import_module("bluegreen.sandbox.dataplane.settings")

        settings = settings_module.DataPlaneSettings(
            propagation_s=self.args.propagation_s,
            metric_period_s=self.args.metric_period_s,
            metric_lag_s=self.args.metric_lag_s,
        )
        self.load_balancers = alb.LoadBalancers(
            state_dir=self.state_dir / "sandbox" / "alb",
            elbv2=self.api["elbv2"],
            cloudwatch=self.api["cloudwatch"],
            address_of=self.instances.address_of,
            settings=settings,
        )
        self.front = front.Front(
            self.args.moto, self.load_balancers.target_health, self.group_exists, self.profile_roles, self.changed
        ).start()

    def changed(self) -> None:
        with self._changes_lock:
            self._changes += 1
        self.wake.set()

    def run(self) -> int:
        next_metrics = next_read = 0.0
        read_changes = -1
        while not self.stopping.is_set():
            started = time.monotonic()
            with self._changes_lock:
                changes = self._changes
            # Without the front (--instances-only) no call says what changed: the API is read every tick.
            read = self.front is None or changes != read_changes or started >= next_read
            if self.tick(publish=started >= next_metrics, read=read) and read:
                read_changes, next_read = changes, started + self.args.api_read_every_s
            if started >= next_metrics:
                next_metrics = started + METRICS_EVERY_S
            if time.monotonic() - self.api_ok_at > self.args.exit_after_api_lost_s:
                print(f"dataplane: the API at {self.args.moto} is gone ({self.error}); stopping", file=sys.stderr)
                break
            self.wake.wait(max(0.0, self.args.tick_s - (time.monotonic() - started)))
            # A burst of changes (a terraform apply makes dozens of calls) gets one tick per MIN_TICK_S at most.
            self.stopping.wait(max(0.0, MIN_TICK_S - (time.monotonic() - started)))
            self.wake.clear()  # before the tick: a change made during it wakes the next one
        return 0

    def tick(self, *, publish: bool, read: bool = True) -> bool:
        """One reconcile, from the API's state read again when `read`; True when every step worked."""
        errors = []
        reachable = True
        steps: list[tuple[str, Any]] = [("instances", lambda: self.instances.reconcile(read=read))]
        if self.load_balancers is not None:
            if read:
                steps.append(("terminated targets", self.deregister_terminated))
            steps.append(("load balancers", lambda: self.load_balancers.reconcile(read=read)))
            if publish:
                steps.append(("metrics", self.publish_metrics))
        for name, step in steps:
            try:
                step()
            except (ClientError, BotoCoreError) as e:
                reachable = reachable and not isinstance(e, EndpointConnectionError)
                errors.append(f"{name}: {e}")
            except Exception as e:  # one bad tick must not take every process down with the daemon
                errors.append(f"{name}: {type(e).__name__}: {e}")
                traceback.print_exc()
        if reachable and read:
            self.api_ok_at = time.monotonic()
        self.error = "; ".join(errors)
        self.api_reads += read and not errors
        write_status(self.state_dir, self.status(running=True))
        return not errors

    def group_exists(self, name: str) -> bool:
        found = self.api["autoscaling"].describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        return bool(found["AutoScalingGroups"])

    def profile_roles(self, name: str) -> list[str] | None:
        try:
            profile = self.api["iam"].get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        except ClientError as e:
            if error_code(e) == "NoSuchEntity":
                return None
            raise
        return [r["RoleName"] for r in profile.get("Roles", [])]

    def publish_metrics(self) -> None:
        """Publish what is due, by the timing `sandbox up` last wrote (a later `up` may change it)."""
        timing = read_timing(self.state_dir)
        if timing is not None and timing != (self.args.metric_period_s, self.args.metric_lag_s):
            self.args.metric_period_s, self.args.metric_lag_s = timing
            self.load_balancers.periods.period_s, self.load_balancers.periods.lag_s = timing
        self.load_balancers.publish_metrics(time.time())

    def deregister_terminated(self) -> None:
        """Deregister instances that no longer run from their target groups, as AWS does when an instance
        terminates (they drain, then go); moto keeps them registered after their Auto Scaling group is deleted.
        https://docs.aws.amazon.com/autoscaling/ec2/userguide/attach-load-balancer-asg.html"""
        elbv2, ec2 = self.api["elbv2"], self.api["ec2"]
        for page in elbv2.get_paginator("describe_target_groups").paginate():
            for tg in page["TargetGroups"]:
                if tg.get("TargetType", "instance") != "instance":
                    continue
                arn = tg["TargetGroupArn"]
                targets = [
                    d["Target"] for d in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
                ]
                ids = sorted({t["Id"] for t in targets})
                if not ids:
                    continue
                reservations = ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": ids}])["Reservations"]
                running = {
                    i["InstanceId"]
                    for r in reservations
                    for i in r["Instances"]
                    if i.get("State", {}).get("Name") not in ("shutting-down", "terminated")
                }
                gone = [t for t in targets if t["Id"] not in running]
                if gone:
                    elbv2.deregister_targets(TargetGroupArn=arn, Targets=gone)

    def status(self, *, running: bool) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "running": running,
            "updated_at": time.time(),
            "api_endpoint": self.args.moto,
            "front_endpoint": self.front.endpoint if self.front is not None else "",
            "api_reads": self.api_reads,
            "metric_period_s": self.args.metric_period_s,
            "metric_lag_s": self.args.metric_lag_s,
            "instances": self.instances.status(),
            "load_balancers": self.load_balancers.status() if self.load_balancers is not None else {},
            "error": self.error,
        }

    def close(self) -> None:
        for name, close in (
            ("front", lambda: self.front and self.front.stop()),
            ("load balancers", lambda: self.load_balancers and self.load_balancers.close()),
            ("instances", self.instances.close),
        ):
            try:
                close()
            except Exception:
                print(f"dataplane: closing the {name} failed", file=sys.stderr)
                traceback.print_exc()
        write_status(self.state_dir, self.status(running=False))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    daemon = Daemon(args)

    def stop(signum: int, _frame: Any) -> None:
        daemon.stopping.set()
        daemon.wake.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        if not args.instances_only:
            try:
                daemon.start_load_balancers()
            except ImportError as e:
                print(
                    f"dataplane: the load balancer half is not installed ({e}); run with --instances-only",
                    file=sys.stderr,
                )
                return 2
        return daemon.run()
    finally:
        daemon.close()
