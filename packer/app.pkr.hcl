# The application image: one release of the app on a base AMI, tagged with
# the source hash it was baked from so bluegreen can reuse it (packer/README.md).
#
# The same template bakes on AWS and in the sandbox: only `ec2_endpoint`
# (empty = AWS) and `communicator` ("none" skips provisioning: nothing to
# SSH into) differ. Every default below is the right one for real AWS.

variable "version" {
  type        = string
  description = "The release being baked (git sha or tag); tag Version."
}

variable "source_hash" {
  type        = string
  description = "Hash of everything the image is made from (bluegreen/source_hash.py); tag SourceHash."
}

variable "environment" {
  type        = string
  description = "The bluegreen environment the image is for; tag Environment."
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "ec2_endpoint" {
  type        = string
  default     = ""
  description = "EC2 API endpoint; empty means AWS's own. Packer 1.6 ignores AWS_ENDPOINT_URL."
}

variable "source_ami" {
  type        = string
  default     = ""
  description = "An explicit base AMI id; empty: the newest AMI matching source_ami_name/owners."
}

variable "source_ami_name" {
  type        = string
  default     = "al2023-ami-2023.*-x86_64"
  description = "Name pattern of the base AMI when source_ami is empty: Amazon Linux 2023 (python3.9, IMDSv2-only AMIs)."
}

variable "source_ami_owners" {
  type    = list(string)
  default = ["amazon"]
}

variable "instance_type" {
  type    = string
  default = "t3.micro"
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "Where the bake instance runs; empty: the default VPC."
}

variable "communicator" {
  type        = string
  default     = "ssh"
  description = "\"ssh\" installs the release; \"none\" bakes the base image untouched (no provisioning)."
}

variable "ssh_username" {
  type    = string
  default = "ec2-user"
}

variable "ssh_source_cidrs" {
  type        = list(string)
  default     = []
  description = "Who may reach the bake instance's SSH port (the builder's address, e.g. [\"203.0.113.7/32\"]). bluegreen refuses an ssh bake without it (Packer would open 0.0.0.0/0) unless ssh_interface is session_manager."
}

variable "ssh_interface" {
  type        = string
  default     = ""
  description = "\"\" (public IP) or session_manager (no inbound SSH; needs iam_instance_profile with AmazonSSMManagedInstanceCore and the session-manager-plugin locally)."
}

variable "root_device_name" {
  type        = string
  default     = "/dev/xvda"
  description = "The base AMI's root device (/dev/xvda on Amazon Linux, /dev/sda1 on Ubuntu)."
}

variable "root_volume_size" {
  type        = number
  default     = 8
  description = "GiB; at least the base AMI's snapshot (8 for Amazon Linux 2023)."
}

variable "iam_instance_profile" {
  type    = string
  default = ""
}

variable "app_artifact" {
  type        = string
  description = "The app to install: a directory, a .tar.gz or a .whl (uploaded with the file provisioner)."
}

variable "wsgi_app" {
  type    = string
  default = "app:application"
}

variable "app_port" {
  type    = number
  default = 80
}

variable "image_store" {
  type        = string
  default     = ""
  description = "Empty on AWS. The sandbox's image store directory: the release is recorded there too, by source hash."
}

variable "manifest_path" {
  type        = string
  default     = "packer-manifest.json"
  description = "Where the manifest post-processor writes the AMI id (bluegreen reads it)."
}

locals {
  # AMI names allow only [A-Za-z0-9()[]./'@_ -] and must be unique per
  # account and region: the timestamp and a random suffix make two bakes of
  # the same source (force) never collide.
  name_version              = substr(regex_replace(var.version, "[^A-Za-z0-9._-]", "-"), 0, 40)
  stamp                     = formatdate("YYYYMMDDhhmmss", timestamp())
  ami_name                  = "bluegreen-${var.environment}-${local.name_version}-${substr(var.source_hash, 0, 12)}-${local.stamp}-${substr(uuidv4(), 0, 8)}"
  provision                 = var.communicator != "none"
  skip_without_communicator = local.provision ? [] : ["amazon-ebs.app"]
  skip_without_image_store  = var.image_store != "" ? [] : ["amazon-ebs.app"]

  tags = {
    Name        = "bluegreen ${var.environment} ${var.version}"
    Version     = var.version
    SourceHash  = var.source_hash
    Environment = var.environment
    ManagedBy   = "bluegreen"
  }
}

source "amazon-ebs" "app" {
  region              = var.region
  custom_endpoint_ec2 = var.ec2_endpoint
  instance_type       = var.instance_type
  subnet_id           = var.subnet_id
  communicator        = var.communicator
  ssh_username        = var.ssh_username
  ssh_interface       = var.ssh_interface

  iam_instance_profile = var.iam_instance_profile
  # The temporary security group admits only these addresses; Packer's own
  # default would be 0.0.0.0/0. (temporary_security_group_source_public_ip
  # and metadata_options exist only in the amazon plugin, not in Packer 1.6's
  # built-in builder, which rejects them; the AL2023 base AMIs are registered
  # with ImdsSupport v2.0, so the bake instance requires IMDSv2 by default.)
  # https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-IMDS-new-instances.html
  temporary_security_group_source_cidrs = var.ssh_source_cidrs

  # The root volume, and so the AMI's snapshot: gp3, encrypted (the account's
  # default EBS key).
  launch_block_device_mappings {
    device_name           = var.root_device_name
    volume_size           = var.root_volume_size
    volume_type           = "gp3"
    throughput            = 125 # gp3's baseline (MiB/s); Packer 1.6 requires it to be set
    iops                  = 3000
    encrypted             = true
    delete_on_termination = true
  }

  source_ami = var.source_ami
  dynamic "source_ami_filter" {
    # An explicit id wins; otherwise look the base image up by name and owner.
    for_each = var.source_ami == "" ? [var.source_ami_name] : []
    content {
      filters = {
        name                = source_ami_filter.value
        root-device-type    = "ebs"
        virtualization-type = "hvm"
      }
      owners      = var.source_ami_owners
      most_recent = true
    }
  }

  ami_name        = local.ami_name
  ami_description = "bluegreen ${var.environment} release ${var.version} (source ${var.source_hash})"
  tags            = local.tags
  snapshot_tags   = local.tags
  run_tags        = merge(local.tags, { Name = "bluegreen bake ${var.environment} ${var.version}" })
}

build {
  sources = ["source.amazon-ebs.app"]

  provisioner "shell" {
    except = local.skip_without_communicator
    inline = ["mkdir -p /tmp/bluegreen-upload /tmp/bluegreen-provision"]
  }

  provisioner "file" {
    except      = local.skip_without_communicator
    source      = var.app_artifact
    destination = "/tmp/bluegreen-upload/"
  }

  provisioner "file" {
    except      = local.skip_without_communicator
    source      = "${path.root}/provision/bluegreen-app.service"
    destination = "/tmp/bluegreen-provision/bluegreen-app.service"
  }

  provisioner "file" {
    except      = local.skip_without_communicator
    source      = "${path.root}/provision/resolve-secrets.py"
    destination = "/tmp/bluegreen-provision/resolve-secrets.py"
  }

  provisioner "shell" {
    except = local.skip_without_communicator
    script = "${path.root}/provision/install-release.sh"
    environment_vars = [
      "VERSION=${var.version}",
      "SOURCE_HASH=${var.source_hash}",
      "WSGI_APP=${var.wsgi_app}",
      "APP_PORT=${var.app_port}",
    ]
    execute_command = "chmod +x {{ .Path }}; sudo env {{ .Vars }} {{ .Path }}"
  }

  # Runs on the machine running Packer, needs no communicator: moto keeps no
  # disks, so the sandbox's data plane finds the release of an AMI here.
  provisioner "shell-local" {
    except          = local.skip_without_image_store
    script          = "${path.root}/provision/record-image.sh"
    execute_command = ["/bin/sh", "-c", "{{.Vars}} /bin/sh {{.Script}}"]
    environment_vars = [
      "IMAGE_STORE=${var.image_store}",
      "SOURCE_HASH=${var.source_hash}",
      "APP_VERSION=${var.version}",
      "APP_ARTIFACT=${var.app_artifact}",
      "WSGI_APP=${var.wsgi_app}",
    ]
  }

  post-processor "manifest" {
    output     = var.manifest_path
    strip_path = true
  }
}
