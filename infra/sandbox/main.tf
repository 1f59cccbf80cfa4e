# The network the sandbox's environments live in: a VPC, an internet gateway
# and two public subnets in two availability zones. On real AWS the network is
# the operator's: bluegreen.yaml names it (aws.vpc_id, aws.subnet_ids).
#
# DNS hostnames and public IPs on launch stay at their defaults (off): the
# sandbox's instances need neither, and setting either costs a fixed wait of
# about 10 s per resource in the provider.

locals {
  tags = merge(var.tags, { "managed-by" = "bluegreen" })
}

resource "aws_vpc" "this" {
  # checkov:skip=CKV2_AWS_11: the sandbox's VPC exists only in a loopback moto server: no traffic flows to log
  # checkov:skip=CKV2_AWS_12: the sandbox's VPC exists only in a loopback moto server; nothing uses its default security group
  cidr_block         = var.cidr_block
  enable_dns_support = true
  tags               = merge(local.tags, { Name = var.name })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = var.name })
}

resource "aws_subnet" "public" {
  count = 2

  vpc_id            = aws_vpc.this.id
  availability_zone = var.availability_zones[count.index]
  cidr_block        = cidrsubnet(var.cidr_block, 8, count.index)
  tags              = merge(local.tags, { Name = "${var.name}-${var.availability_zones[count.index]}" })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = var.name })

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }
}

resource "aws_route_table_association" "public" {
  count = 2

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# The example app's required secret, fetched by each sandbox instance at boot
# (the example's app.secrets), as an EC2 instance fetches it with its role.
# A placeholder: nothing real is ever stored in the sandbox.
resource "aws_ssm_parameter" "app_secret" {
  # checkov:skip=CKV_AWS_337: a placeholder in a loopback moto server, no real secret: no customer-managed KMS key to guard it
  name  = "/bluegreen/sandbox/app-secret"
  type  = "SecureString"
  value = "sandbox-placeholder-not-a-secret"
  tags  = local.tags
}
