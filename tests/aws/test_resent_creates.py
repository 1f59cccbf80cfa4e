"""A create the AWS SDK resent after IAM made it: the leftover the apply generated is removed, nothing else.

The AWS provider names the slot's role and instance profile `<env>-<colour>-<26 digits>`. When the
first answer to CreateRole or CreateInstanceProfile is lost and the SDK resends it, IAM answers
EntityAlreadyExists for the name this apply just made (seen against moto under load; the message
below is the provider's, copied from such a run).
"""

from __future__ import annotations

import json

from bluegreen.adapters.aws.provisioner import remove_resent_creates
from bluegreen.adapters.aws.session import AwsTarget, client

TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
})  # fmt: skip
ROLE = "web-app-blue-20261129050107519100000001"
PROFILE = "web-app-blue-20261129050107519100000002"


def said(kind: str, name: str) -> str:
    what = "Role with name" if kind == "Role" else "Instance Profile"
    call = "CreateRole" if kind == "Role" else "CreateInstanceProfile"
    return (
        f"Error: creating IAM {kind} ({name}): operation error IAM: {call}, https response error StatusCode: 409, "
        f"RequestID: uj4GILaXqBC6dpqfn5XN6iqIGjONg26UTajPgBnMd7QwNR5WDbhG, EntityAlreadyExists: {what} {name} already "
        f"exists. (aws_iam_role.this[0])"
    )


def test_the_empty_role_and_profile_the_apply_just_made_are_removed(aws_target: AwsTarget) -> None:
    iam = client(aws_target, "iam")
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=TRUST)
    iam.create_instance_profile(InstanceProfileName=PROFILE)

    gone = remove_resent_creates(aws_target, said("Role", ROLE) + "\n" + said("Instance Profile", PROFILE),
                                 prefix="web-app-blue-")  # fmt: skip

    assert gone == [ROLE, PROFILE]
    assert ROLE not in {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert PROFILE not in {p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]}


def test_what_is_not_this_slots_leftover_is_kept(aws_target: AwsTarget) -> None:
    iam = client(aws_target, "iam")
    other_slot = "web-app-green-20261129050107519100000001"
    hand_made = "web-app-blue-admin"
    in_use = "web-app-blue-20261129050107519100000003"
    for name in (other_slot, hand_made, in_use):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
    iam.put_role_policy(RoleName=in_use, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }))  # fmt: skip
    try:
        text = "\n".join(said("Role", n) for n in (other_slot, hand_made, in_use))
        assert remove_resent_creates(aws_target, text, prefix="web-app-blue-") == []
        assert remove_resent_creates(aws_target, "Error: some other failure", prefix="web-app-blue-") == []
        left = {r["RoleName"] for r in iam.list_roles()["Roles"]}
        assert {other_slot, hand_made, in_use} <= left
    finally:
        iam.delete_role_policy(RoleName=in_use, PolicyName="p")
        for name in (other_slot, hand_made, in_use):
            iam.delete_role(RoleName=name)
