"""AWS refusing an action to the credentials: name the action, whichever tool met the refusal.

AWS says it in the error message ("User: arn:... is not authorized to perform:
elasticloadbalancing:CreateTargetGroup on resource: ..."). Terraform's AWS SDK
sometimes keeps only the operation and the HTTP status ("operation error
Elastic Load Balancing v2: CreateTargetGroup, https response error
StatusCode: 403"), from which the IAM action is the service's prefix and the
operation's name.
https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
"""

from __future__ import annotations

import re

# The SDK's service names -> IAM's action prefixes, for the services bluegreen uses.
_PREFIX = {
    "Auto Scaling": "autoscaling",
    "CloudWatch": "cloudwatch",
    "DynamoDB": "dynamodb",
    "EC2": "ec2",
    "Elastic Load Balancing": "elasticloadbalancing",
    "Elastic Load Balancing v2": "elasticloadbalancing",
    "IAM": "iam",
    "S3": "s3",
    "SSM": "ssm",
    "STS": "sts",
    "WAFV2": "wafv2",
}
_PERFORM = re.compile(r"not authorized to perform:? ([a-z0-9-]+:[A-Za-z0-9]+)")
_SDK_403 = re.compile(r"operation error ([A-Za-z0-9 ]+?): (\w+), https response error StatusCode: 403\b")

POLICY_HINT = (
    "give the credentials the action (infra/modules/deployer-iam lists every action bluegreen needs), then run it again"
)


def denied_actions(text: str) -> list[str]:
    """The IAM actions `text` says AWS refused, in order, each once."""
    found = _PERFORM.findall(text)
    for service, operation in _SDK_403.findall(text):
        if service in _PREFIX:
            found.append(f"{_PREFIX[service]}:{operation}")
    return list(dict.fromkeys(found))


def explain(text: str) -> str:
    """One line naming what AWS refused, or "" when `text` is about something else."""
    actions = denied_actions(text)
    if not actions:
        return ""
    return f"AWS denied {', '.join(actions)} to these credentials"
