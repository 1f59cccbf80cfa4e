"""A sandbox world for the data plane tests: images, launch templates and groups made through boto3 at moto."""

from __future__ import annotations

import base64
import itertools
import os
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bluegreen.adapters.aws.session import AwsTarget, client

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_APP = REPO / "examples" / "app"
SECRET_PARAM = "/bluegreen/test/app-secret"
SECRET_REF = {"APP_SECRET": f"ssm:{SECRET_PARAM}"}
_names = itertools.count(1)


def cloud_config(settings: Mapping[str, str], secrets: Mapping[str, str], *, start: bool = True) -> str:
    """User data in the contract's shape (infra/modules/slot renders the same)."""

    def block(values: Mapping[str, str]) -> str:
        if not values:
            return '    content: ""\n'
        return "    content: |\n" + "".join(f"      {k}={v}\n" for k, v in values.items())

    text = (
        "#cloud-config\nwrite_files:\n"
        '  - path: /etc/bluegreen/app.env\n    permissions: "0600"\n'
        + block(settings)
        + '  - path: /etc/bluegreen/secrets.ref\n    permissions: "0600"\n'
        + block(secrets)
    )
    if start:
        text += "runcmd:\n  - [systemctl, start, --no-block, bluegreen-app.service]\n"
    return text


@dataclass
class World:
    target: AwsTarget
    _base: str = ""
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:  # a boto3 client takes a good part of a second to build
            self._clients[service] = client(self.target, service)
        return self._clients[service]

    def image(self, source_hash: str | None) -> str:
        """An AMI like a sandbox bake makes (tagged SourceHash), or an untagged one (None)."""
        ec2 = self.client("ec2")
        if not self._base:  # moto lists hundreds of Amazon images: look once
            self._base = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
        runner = ec2.run_instances(ImageId=self._base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        image = str(ec2.create_image(InstanceId=runner, Name=f"bluegreen-test-{next(_names)}")["ImageId"])
        ec2.terminate_instances(InstanceIds=[runner])
        if source_hash:
            ec2.create_tags(Resources=[image], Tags=[{"Key": "SourceHash", "Value": source_hash}])
        return image

    def group(self, image: str, user_data: str | None, *, desired: int = 1) -> str:
        """A launch template (with this user data) and an Auto Scaling group of `desired` instances."""
        ec2, asg = self.client("ec2"), self.client("autoscaling")
        name = f"grp-{next(_names)}"
        data: dict[str, Any] = {"ImageId": image, "InstanceType": "t3.micro"}
        if user_data is not None:
            data["UserData"] = base64.b64encode(user_data.encode()).decode()
        ec2.create_launch_template(LaunchTemplateName=f"lt-{name}", LaunchTemplateData=data)
        subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
        asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": f"lt-{name}", "Version": "$Latest"},
            MinSize=0,
            MaxSize=4,
            DesiredCapacity=desired,
            VPCZoneIdentifier=subnet,
        )
        return name

    def instances_of(self, group: str) -> list[str]:
        [found] = self.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])[
            "AutoScalingGroups"
        ]
        return sorted(i["InstanceId"] for i in found["Instances"])

    def scale(self, group: str, desired: int) -> None:
        self.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName=group, DesiredCapacity=desired)

    def delete(self, group: str) -> None:
        self.client("autoscaling").delete_auto_scaling_group(AutoScalingGroupName=group, ForceDelete=True)


def make_world(target: AwsTarget) -> World:
    """A world whose SSM holds the app's secret (SECRET_PARAM)."""
    world = World(target)
    world.client("ssm").put_parameter(Name=SECRET_PARAM, Value="s3cr3t", Type="SecureString")
    return world


def wait_for(reconcile: Callable[[], None], done: Callable[[], bool], *, timeout_s: float = 20.0) -> None:
    """Reconcile as the daemon does until `done`, or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reconcile()
        if done():
            return
        time.sleep(0.1)
    raise AssertionError(f"not done within {timeout_s:g}s")


def get(address: tuple[str, int], path: str) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://{address[0]}:{address[1]}{path}", timeout=5) as r:
        return int(r.status), r.read().decode()


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group, read from /proc."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                out.append(int(entry))
    return out
