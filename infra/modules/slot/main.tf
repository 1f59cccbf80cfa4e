# One colour's capacity: a launch template and an Auto Scaling Group named
# {environment}-{colour}, attached to that colour's target group (ALB) or to
# the classic ELB. Each colour is applied from its own state, so applying one
# colour can never plan a change to the other, and retiring a colour is a
# `terraform destroy` of its state.

locals {
  name = "${var.environment}-${var.colour}"
  tags = merge(var.tags, {
    environment  = var.environment
    colour       = var.colour
    version      = var.version_label
    "managed-by" = "bluegreen"
  })

  # The instance's settings, as the cloud-config document the image expects
  # (packer/provision: the unit reads app.env, and resolves secrets.ref with
  # the instance role at start). Secrets appear here only by name: the values
  # are fetched at boot, so they are never in user data or Terraform state.
  # cloud-init runs write_files before runcmd, so the app starts only once
  # its settings are on disk; the unit is not enabled in the image.
  # https://cloudinit.readthedocs.io/en/latest/reference/modules.html#write-files
  app_env     = join("", [for k in sort(keys(var.app_settings)) : "${k}=${var.app_settings[k]}\n"])
  secrets_ref = join("", [for k in sort(keys(var.app_secrets)) : "${k}=${var.app_secrets[k]}\n"])
  cloud_config = {
    write_files = [
      { path = "/etc/bluegreen/app.env", permissions = "0600", content = local.app_env },
      { path = "/etc/bluegreen/secrets.ref", permissions = "0600", content = local.secrets_ref },
    ]
    runcmd = [["systemctl", "start", "--no-block", "bluegreen-app.service"]]
  }
  # A separate local: checkov's HCL parser cannot read an object literal inside a string template.
  user_data = "#cloud-config\n${yamlencode(local.cloud_config)}"
}

# What an instance boots from. A change replaces the launch template and the
# group (new instances) instead of adding a launch template version that the
# running instances would not pick up: a colour's instances always run the
# release it is tagged with.
resource "terraform_data" "release" {
  triggers_replace = [
    var.ami, var.instance_type, local.user_data, var.version_label, var.security_group_id, local.instance_profile_name,
  ]
}

resource "aws_launch_template" "this" {
  name                   = local.name
  image_id               = var.ami
  instance_type          = var.instance_type
  vpc_security_group_ids = [var.security_group_id]
  # EC2 wants launch template user data base64-encoded (RequestLaunchTemplateData.UserData).
  user_data = base64encode(local.user_data)

  iam_instance_profile {
    name = local.instance_profile_name
  }

  metadata_options {
    http_tokens = "required"
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = local.name })
  }

  # The instances' EBS volumes carry the same tags (cost allocation, clean-up by tag).
  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.tags, { Name = local.name })
  }

  # No tags of its own: the group and the instances carry them (moto reports a
  # launch template's own tags back as a tag specification, a perpetual diff).

  lifecycle {
    replace_triggered_by = [terraform_data.release]
  }
}

resource "aws_autoscaling_group" "this" {
  name                = local.name
  min_size            = var.min_size
  max_size            = var.max_size
  desired_capacity    = var.desired_capacity
  vpc_zone_identifier = var.subnet_ids

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  # The launch template names the instance profile without waiting for it (EC2 does not validate a launch
  # template's parameters when it is created, only when an instance launches from it:
  # https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/launch-template-restrictions.html), so the group,
  # whose instances launch at once, waits for the profile itself.
  depends_on = [aws_iam_instance_profile.this]

  # The load balancer's health check decides: an instance whose application
  # does not answer is replaced, not just one whose VM stopped.
  health_check_type         = "ELB"
  health_check_grace_period = var.health_check_grace_period
  wait_for_capacity_timeout = var.wait_for_capacity_timeout

  target_group_arns = var.target_group_arn == "" ? [] : [var.target_group_arn]
  load_balancers    = var.load_balancer_name == "" ? [] : [var.load_balancer_name]

  dynamic "tag" {
    for_each = merge(local.tags, { Name = local.name })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  # Deleting the group terminates its instances, each only after it left the
  # load balancer and drained (the deregistration delay): the provider's
  # default of 10 minutes would give up on a long delay.
  timeouts {
    delete = "${var.drain_seconds + 600}s"
  }

  lifecycle {
    replace_triggered_by = [terraform_data.release]
    # Membership of a classic ELB is bluegreen's at run time (traffic moves by
    # attaching and detaching groups); a later apply must not undo it.
    ignore_changes = [load_balancers]
  }
}
