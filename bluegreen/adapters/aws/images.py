"""Which images can run: `deploy --ami`'s image checked before anything changes (no record, no Terraform run),
and the image a bake may reuse.

AWS refuses a malformed image id only when the launch template is used, and an
image that does not exist (or is still `pending`, or `failed`) only when the
Auto Scaling group tries to launch it: by then the deployment has started.
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImages.html
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html (State)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bluegreen.errors import AdapterError, UsageError

# `ami-` and 8 (older) or 17 hexadecimal digits.
AMI_ID = re.compile(r"^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
NOT_FOUND = frozenset({"InvalidAMIID.NotFound", "InvalidAMIID.Unavailable", "InvalidAMIID.Malformed"})


def check_format(ami: str) -> None:
    if not AMI_ID.match(ami):
        raise UsageError(
            f"--ami {ami!r} is not an image id (ami- and 8 or 17 hexadecimal digits)",
            where="--ami",
            hint="give the id of an available AMI (`aws ec2 describe-images --owners self`), or leave out --ami to bake",
        )


def state_problem(ami: str, images: list[dict[str, Any]], where: str) -> UsageError | None:
    """Why `images` (DescribeImages of `ami`) is no image to deploy; None when it is available."""
    if not images:
        return UsageError(
            f"image {ami} does not exist (or is not shared with this account)",
            where=where,
            hint="give the id of an available AMI, or leave out --ami to bake the release",
        )
    state = str(images[0].get("State", ""))
    if state != "available":
        reason = images[0].get("StateReason", {}).get("Message", "")
        return UsageError(
            f"image {ami} is {state or 'in no state'}, not available{f': {reason}' if reason else ''}",
            where=where,
            hint="wait until it is available (`aws ec2 wait image-available --image-ids "
            f"{ami}`), then run the deploy again",
        )
    return None


def check_image(ec2: Any, ami: str, where: str) -> None:
    """The image exists and is available, or a UsageError (exit 2) saying which and what to run."""
    check_format(ami)
    try:
        images = ec2.describe_images(ImageIds=[ami])["Images"]
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") not in NOT_FOUND:
            raise AdapterError(f"could not look up image {ami}: {e}", where=where, hint="run the deploy again") from e
        images = []
    except BotoCoreError as e:
        raise AdapterError(f"could not look up image {ami}: {e}", where=where, hint="run the deploy again") from e
    problem = state_problem(ami, images, where)
    if problem is not None:
        raise problem


def choose_reusable(images: Iterable[Mapping[str, Any]]) -> str | None:
    """The newest image that is `available`.

    A `pending` image is still being created (or its bake died); waiting on it
    could hang, baking again cannot, so only finished images are reused.
    """
    ready = [i for i in images if i.get("State") == "available" and i.get("ImageId")]
    if not ready:
        return None
    # ISO-8601 UTC strings sort in time order.
    return str(max(ready, key=lambda i: str(i.get("CreationDate", "")))["ImageId"])
