"""What the sandbox data plane tests share: real HTTP apps as targets, an ALB in moto, and polling with a bound."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.sandbox.dataplane.alb import LoadBalancers

RECONCILE_EVERY_S = 0.25


class App:
    """A tiny app on loopback: `/health` answers `health_status` after `health_delay_s`; `/slow` takes `slow_s`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.health_status = 200
        self.health_delay_s = 0.0
        self.slow_s = 2.0
        self.served: Counter[str] = Counter()
        self.lock = threading.Lock()
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/health":
                    time.sleep(app.health_delay_s)
                    self._reply(app.health_status, b"ok\n")
                    return
                with app.lock:
                    app.served[self.path] += 1
                if self.path == "/slow":
                    time.sleep(app.slow_s)
                self._reply(200, app.name.encode())

            def _reply(self, status: int, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", int(self.server.server_address[1]))

    def requests(self, path: str = "/") -> int:
        with self.lock:
            return self.served[path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class World:
    """One ALB with a listener forwarding to two target groups (blue, green), and the data plane over it."""

    elbv2: Any
    ec2: Any
    cloudwatch: Any
    lb_arn: str
    listener_arn: str
    groups: dict[str, str]  # colour -> target group ARN
    dataplane: LoadBalancers
    addresses: dict[str, tuple[str, int]] = field(default_factory=dict)  # instance id -> app address
    apps: list[App] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # what reconcile raised, in the background loop
    stop_reconciling: threading.Event = field(default_factory=threading.Event)  # set: the background loop ends

    def instance(self, app: App | None, colour: str, *, register: bool = True) -> str:
        """A moto instance served by `app` (None: no process), registered with the colour's group."""
        instance_id = str(
            self.ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        )
        if app is not None:
            self.addresses[instance_id] = app.address
        if register:
            self.elbv2.register_targets(TargetGroupArn=self.groups[colour], Targets=[{"Id": instance_id, "Port": 80}])
        return instance_id

    def app(self, name: str) -> App:
        a = App(name)
        self.apps.append(a)
        return a

    def weights(self, blue: int, green: int) -> None:
        groups = [{"TargetGroupArn": self.groups["blue"], "Weight": blue}]
        groups.append({"TargetGroupArn": self.groups["green"], "Weight": green})
        self.elbv2.modify_listener(
            ListenerArn=self.listener_arn,
            DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}],
        )

    def why(self) -> str:
        return f": errors {self.errors[-3:]}, status {self.dataplane.status()}, blue {self.health('blue')}"

    def url(self) -> str:
        found = self.dataplane.status()
        return str(next(iter(found.values()))["production_url"])

    def health(self, colour: str) -> dict[str, tuple[str, str]]:
        return {
            d["Target"]["Id"]: (d["TargetHealth"]["State"], d["TargetHealth"].get("Reason", ""))
            for d in self.dataplane.target_health(self.groups[colour])
        }


def clients(target: AwsTarget) -> dict[str, Any]:
    # Health checks of 1-2 s are below AWS's minimum, which botocore checks before sending; moto takes them.
    config = Config(parameter_validation=False)
    return {
        name: boto3.client(name, region_name=target.region, endpoint_url=target.endpoint_url, config=config)
        for name in ("elbv2", "ec2", "cloudwatch")
    }


def wait_for(check: Callable[[], bool], timeout_s: float, what: str, detail: Callable[[], str] = str) -> float:
    """Poll until `check()` holds; the seconds it took. Fails the test after `timeout_s`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout_s}s: {what}{detail()}")


def plain(service: str, endpoint: str) -> Any:
    """Another AWS client than bluegreen's: plain boto3 at the sandbox's endpoint (its test credentials)."""
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(service, region_name="us-east-1", endpoint_url=endpoint, **keys)


def running_haproxies(config_dir: Path) -> list[int]:
    """PIDs of haproxy processes whose command line names a config under `config_dir` (read from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "haproxy" in cmdline and str(config_dir) in cmdline:
            found.append(int(entry))
    return found
