"""Build the AWS side of an environment directly with boto3: what the Terraform modules make, in a second.

The adapters only see an `AwsEnvironment` (the environment module's outputs)
and the resources behind it, so the shape here follows the modules: one load
balancer, a production listener forwarding to blue, a test listener, one
target group per colour, and per colour a launch template plus an ASG named
`{env}-{colour}` with ELB health checks.
"""

from __future__ import annotations

import functools
from typing import Any

from bluegreen.adapters.aws import session
from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.session import AwsTarget
from bluegreen.model import Colour

REGION = "us-east-1"


@functools.cache
def client(target: AwsTarget, service: str) -> Any:
    """One client per service for the whole run: making one costs a tenth of a second."""
    return session.client(target, service)


def _network(ec2: Any) -> tuple[str, list[str]]:
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][:2]
    return subnets[0]["VpcId"], [s["SubnetId"] for s in subnets]


def _image(ec2: Any) -> str:
    images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["amzn2-ami-hvm-*"]}])
    return str(images["Images"][0]["ImageId"])


def create_asg(target: AwsTarget, name: str, subnets: list[str], desired: int, **attach: Any) -> None:
    ec2 = client(target, "ec2")
    ec2.create_launch_template(
        LaunchTemplateName=f"{name}-lt",
        LaunchTemplateData={"ImageId": _image(ec2), "InstanceType": "t3.micro"},
    )
    client(target, "autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": f"{name}-lt", "Version": "$Latest"},
        MinSize=0,
        MaxSize=max(desired, 1) * 2,
        DesiredCapacity=desired,
        VPCZoneIdentifier=",".join(subnets),
        HealthCheckType="ELB",
        HealthCheckGracePeriod=120,
        **attach,
    )


def build_alb_environment(target: AwsTarget, name: str, *, desired: int = 2, green: bool = True) -> AwsEnvironment:
    """Blue serves all traffic; green exists (unless `green=False`) and is idle."""
    ec2, elbv2 = client(target, "ec2"), client(target, "elbv2")
    vpc, subnets = _network(ec2)
    lb = elbv2.create_load_balancer(Name=name, Subnets=subnets, Type="application", Scheme="internal")
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    groups = {
        c.value: elbv2.create_target_group(
            Name=f"{name}-{c.value}",
            Protocol="HTTP",
            Port=80,
            VpcId=vpc,
            HealthCheckPath="/health",
            HealthCheckIntervalSeconds=15,
            HealthCheckTimeoutSeconds=5,
            HealthyThresholdCount=2,
            UnhealthyThresholdCount=10,
        )["TargetGroups"][0]["TargetGroupArn"]
        for c in Colour
    }
    listener = elbv2.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": groups["blue"]}],
    )["Listeners"][0]["ListenerArn"]
    test_listener = elbv2.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol="HTTP",
        Port=8080,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": groups["green"]}],
    )["Listeners"][0]["ListenerArn"]
    for colour in Colour if green else (Colour.BLUE,):
        create_asg(target, f"{name}-{colour.value}", subnets, desired, TargetGroupARNs=[groups[colour.value]])
    return AwsEnvironment.from_outputs(
        name,
        {
            "load_balancer_type": "alb",
            "dns_name": lb["LoadBalancers"][0]["DNSName"],
            "listener_arn": listener,
            "test_listener_arn": test_listener,
            "target_group_arns": groups,
            "subnet_ids": subnets,
        },
    )


def build_elb_environment(target: AwsTarget, name: str, *, desired: int = 2) -> AwsEnvironment:
    """A classic ELB with blue's ASG attached; green's ASG exists but is not attached."""
    ec2, elb = client(target, "ec2"), client(target, "elb")
    _, subnets = _network(ec2)
    created = elb.create_load_balancer(
        LoadBalancerName=name,
        Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 80}],
        Subnets=subnets,
    )
    create_asg(target, f"{name}-blue", subnets, desired, LoadBalancerNames=[name])
    create_asg(target, f"{name}-green", subnets, desired)
    return AwsEnvironment.from_outputs(
        name,
        {
            "load_balancer_type": "elb",
            "dns_name": created["DNSName"],
            "load_balancer_name": name,
            "subnet_ids": subnets,
        },
    )


def asg_instances(target: AwsTarget, asg_name: str) -> list[str]:
    groups = client(target, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[asg_name])
    return [i["InstanceId"] for i in groups["AutoScalingGroups"][0]["Instances"]]
