"""A refusal by IAM names the action, from boto3 and from Terraform alike (real-shaped messages)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from bluegreen.adapters.aws import denied
from bluegreen.adapters.aws.session import api_errors
from bluegreen.adapters.terraform import parse
from bluegreen.errors import AdapterError

# AWS's wording (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html).
AWS_MESSAGE = (
    "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: elasticloadbalancing:ModifyListener "
    "on resource: arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web-prod/50dc6c495c0c9188/"
    "f2f7dc8efc522ab2 because no identity-based policy allows the elasticloadbalancing:ModifyListener action"
)
# Terraform's AWS provider (AWS SDK for Go v2) when the error body is not one it parses.
SDK_403 = (
    "Error: creating ELBv2 Target Group (web-prod-green): operation error Elastic Load Balancing v2: "
    "CreateTargetGroup, https response error StatusCode: 403, RequestID: 1a2b, api error UnknownError: UnknownError"
)


@pytest.mark.parametrize(
    ("text", "actions"),
    [
        (AWS_MESSAGE, ["elasticloadbalancing:ModifyListener"]),
        (SDK_403, ["elasticloadbalancing:CreateTargetGroup"]),
        (SDK_403.replace("Elastic Load Balancing v2: CreateTargetGroup", "Auto Scaling: CreateAutoScalingGroup"),
         ["autoscaling:CreateAutoScalingGroup"]),
        ("operation error EC2: DeleteLaunchTemplate, https response error StatusCode: 400, api error NotFound", []),
        ("Error: creating ELBv2 Target Group: ValidationError: name too long", []),
    ],
)  # fmt: skip
def test_the_refused_action_is_found(text: str, actions: list[str]) -> None:
    assert denied.denied_actions(text) == actions


def test_boto3_access_denied_names_the_action_and_the_policy() -> None:
    error = ClientError({"Error": {"Code": "AccessDenied", "Message": AWS_MESSAGE}}, "ModifyListener")
    with pytest.raises(AdapterError) as caught, api_errors("could not change the listener's weights", where="arn"):
        raise error
    assert "AWS denied elasticloadbalancing:ModifyListener to these credentials" in caught.value.what
    assert "infra/modules/deployer-iam" in caught.value.hint


def test_terraform_errors_name_the_action_first() -> None:
    messages = [{"type": "diagnostic", "diagnostic": {"severity": "error", "summary": SDK_403.removeprefix("Error: ")}}]
    text = parse.error_text(messages, "", "")
    assert text.startswith("AWS denied elasticloadbalancing:CreateTargetGroup to these credentials")
    assert SDK_403 in text


def test_other_terraform_errors_are_left_as_they_are() -> None:
    messages = [{"type": "diagnostic", "diagnostic": {"severity": "error", "summary": "Invalid value"}}]
    assert parse.error_text(messages, "", "") == "Error: Invalid value"
