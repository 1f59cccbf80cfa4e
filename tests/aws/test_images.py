"""`deploy --ami`: the image is checked before anything changes, against a moto server and a recorded pending image.

AWS answers DescribeImages with `State: pending` while an image is being
created (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html);
moto makes every image `available` at once, so that state is tested on the
recorded, real-shaped response.
"""

from __future__ import annotations

import pytest

from bluegreen.adapters.aws.images import check_format, check_image, state_problem
from bluegreen.adapters.aws.session import AwsTarget, client
from bluegreen.errors import UsageError
from tests.aws.recorded import recorded


@pytest.mark.parametrize("ami", ["not-an-ami", "ami-", "ami-123", "ami-0123456789ABCDEF0", "ami-0123456789abcdef", ""])
def test_a_malformed_image_id_is_bad_input(ami: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_format(ami)
    assert caught.value.exit_code == 2 and caught.value.where == "--ami" and caught.value.hint


@pytest.mark.parametrize("ami", ["ami-12345678", "ami-0123456789abcdef0"])
def test_well_formed_image_ids_pass_the_format_check(ami: str) -> None:
    check_format(ami)


def test_an_image_that_does_not_exist_is_refused(aws_target: AwsTarget) -> None:
    with pytest.raises(UsageError) as caught:
        check_image(client(aws_target, "ec2"), "ami-00000000", "here")
    assert "does not exist" in caught.value.what and caught.value.exit_code == 2


def test_an_available_image_passes(aws_target: AwsTarget) -> None:
    ec2 = client(aws_target, "ec2")
    base = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ami = ec2.create_image(InstanceId=instance, Name="images-test")["ImageId"]
    check_image(ec2, ami, "here")


def test_a_pending_image_is_refused_with_what_to_wait_for() -> None:
    images = recorded("describe_images_pending")["Images"]
    problem = state_problem("ami-0a1b2c3d4e5f60718", images, "here")
    assert problem is not None and "is pending, not available" in problem.what
    assert "aws ec2 wait image-available" in problem.hint
    available = [dict(images[0], State="available")]
    assert state_problem("ami-0a1b2c3d4e5f60718", available, "here") is None
