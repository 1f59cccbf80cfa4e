"""Classic ELB smoke checks on the new colour's instances: addresses from EC2 on moto, real HTTP servers there.

The VPC is 127.1.0.0/16, so the private IPs moto gives the group's instances
are loopback addresses (all of 127.0.0.0/8 is on Linux): a real HTTP server
listens at each instance's address and the ELB listener's instance port,
standing in for the instance.
"""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.instance_smoke import InstanceSmoke, instance_port
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.config import SmokeCheck
from bluegreen.model import Colour
from tests.aws.lb_world import asg_instances, client, create_asg

GREEN, BLUE = Colour.GREEN, Colour.BLUE
CHECKS = (SmokeCheck(path="/version", contains="v2", timeout_s=2.0),)
_names = itertools.count(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(address: str, port: int, body: str, status: int = 200) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((address, port), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture
def servers() -> Iterator[list[ThreadingHTTPServer]]:
    started: list[ThreadingHTTPServer] = []
    yield started
    for server in started:
        server.shutdown()
        server.server_close()


def classic_world(target: AwsTarget, port: int) -> tuple[AwsEnvironment, dict[str, str]]:
    """A classic ELB (listener 80 -> `port`) with blue attached, green not; green's instance -> private IP."""
    name = f"smoke{next(_names)}"
    ec2 = client(target, "ec2")
    vpc = ec2.create_vpc(CidrBlock="127.1.0.0/16")["Vpc"]["VpcId"]
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"127.1.{next(_names)}.0/24", AvailabilityZone=zone)
    subnets = [subnet["Subnet"]["SubnetId"]]
    client(target, "elb").create_load_balancer(
        LoadBalancerName=name,
        Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": port}],
        Subnets=subnets,
    )
    create_asg(target, f"{name}-blue", subnets, 1, LoadBalancerNames=[name])
    create_asg(target, f"{name}-green", subnets, 2)
    ids = asg_instances(target, f"{name}-green")
    reservations = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    ips = {i["InstanceId"]: i["PrivateIpAddress"] for r in reservations for i in r["Instances"]}
    env = AwsEnvironment.from_outputs(name, {"load_balancer_type": "elb", "load_balancer_name": name})
    return env, ips


def smoke(env: AwsEnvironment, target: AwsTarget) -> InstanceSmoke:
    return InstanceSmoke.from_target(env, target, CHECKS)


def test_checks_run_on_every_instance_of_the_new_colour(
    aws_target: AwsTarget, servers: list[ThreadingHTTPServer]
) -> None:
    port = free_port()
    env, ips = classic_world(aws_target, port)
    assert all(ip.startswith("127.1.") for ip in ips.values())
    assert smoke(env, aws_target).addresses(GREEN) == {i: f"{ip}:{port}" for i, ip in ips.items()}
    servers.extend(serve(ip, port, "v2\n") for ip in ips.values())
    result = smoke(env, aws_target).smoke(GREEN)
    assert result.ok, result.detail
    assert all(f"{i} ({ip}:{port})" in result.detail for i, ip in ips.items())


def test_one_bad_instance_fails_the_colour_naming_it(aws_target: AwsTarget, servers: list[ThreadingHTTPServer]) -> None:
    port = free_port()
    env, ips = classic_world(aws_target, port)
    (_, good_ip), (bad, bad_ip) = sorted(ips.items())
    servers.append(serve(good_ip, port, "v2\n"))
    servers.append(serve(bad_ip, port, "v1\n"))  # the old release: what the ELB's own address would answer
    result = smoke(env, aws_target).smoke(GREEN)
    assert not result.ok
    assert result.detail.startswith("1 of 2 instances failed: ")
    assert f"{bad} ({bad_ip}:{port})" in result.detail and "lacks 'v2'" in result.detail
    stopped = servers.pop()
    stopped.shutdown()
    stopped.server_close()
    unreachable = smoke(env, aws_target).smoke(GREEN)
    assert not unreachable.ok and f"GET http://{bad_ip}:{port}/version: connection refused" in unreachable.detail


def test_a_colour_without_instances_fails(aws_target: AwsTarget) -> None:
    env, _ = classic_world(aws_target, free_port())
    client(aws_target, "autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=env.asg_name(GREEN), MinSize=0, DesiredCapacity=0
    )
    result = smoke(env, aws_target).smoke(GREEN)
    assert not result.ok and "has no InService instance to smoke" in result.detail


def test_instance_port_of_the_listener() -> None:
    described = {
        "LoadBalancerDescriptions": [
            {
                "ListenerDescriptions": [
                    {"Listener": {"Protocol": "HTTPS", "LoadBalancerPort": 443, "InstancePort": 8443}},
                    {"Listener": {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 8080}},
                ]
            }
        ]
    }
    assert instance_port(described, 80) == 8080
    with pytest.raises(KeyError):
        instance_port(described, 81)
