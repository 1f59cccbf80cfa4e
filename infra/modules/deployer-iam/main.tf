# The IAM policy for whoever runs bluegreen (CI or an operator): the actions
# its Terraform modules, Packer template and boto3 calls need (actions.json,
# grouped by purpose), each group limited to bluegreen's resources where AWS
# can scope that action. README.md says which groups cannot be scoped, and why.

locals {
  groups = { for k, v in jsondecode(file("${path.module}/actions.json")) : k => v if k != "_comment" }
  p      = var.partition
  a      = var.account_id
  r      = var.region
  n      = var.name_prefix

  tables = compact([var.records_table, var.terraform_lock_table])

  # group -> the resources its actions are limited to (["*"]: not scopable, see README).
  scoped = {
    read = ["*"]
    load_balancer = [
      "arn:${local.p}:elasticloadbalancing:${local.r}:${local.a}:loadbalancer/app/${local.n}*/*",
      "arn:${local.p}:elasticloadbalancing:${local.r}:${local.a}:loadbalancer/${local.n}*",
      "arn:${local.p}:elasticloadbalancing:${local.r}:${local.a}:targetgroup/${local.n}*/*",
      "arn:${local.p}:elasticloadbalancing:${local.r}:${local.a}:listener/app/${local.n}*/*/*",
    ]
    waf = ["*"]
    capacity = [
      "arn:${local.p}:autoscaling:${local.r}:${local.a}:autoScalingGroup:*:autoScalingGroupName/${local.n}*",
      "arn:${local.p}:ec2:${local.r}:${local.a}:launch-template/*",
    ]
    network   = ["*"]
    instances = ["*"]
    instance_role = [
      "arn:${local.p}:iam::${local.a}:role/${local.n}*",
      "arn:${local.p}:iam::${local.a}:instance-profile/${local.n}*",
    ]
    records = length(local.tables) > 0 ? [for t in local.tables : "arn:${local.p}:dynamodb:${local.r}:${local.a}:table/${t}"] : []
    terraform_state = var.terraform_state_bucket != "" ? [
      "arn:${local.p}:s3:::${var.terraform_state_bucket}",
      "arn:${local.p}:s3:::${var.terraform_state_bucket}/bluegreen/*",
    ] : []
  }

  statements = [
    for k, g in local.groups : {
      Sid      = replace(title(replace(k, "_", " ")), " ", "")
      Effect   = "Allow"
      Action   = sort(g.actions)
      Resource = var.scope_resources ? local.scoped[k] : ["*"]
    } if !var.scope_resources || length(local.scoped[k]) > 0
  ]

  # Launch templates are named by ID in their ARN: only ones bluegreen tagged may change.
  launch_template_condition = {
    Sid       = "OnlyBluegreensLaunchTemplates"
    Effect    = "Deny"
    Action    = ["ec2:DeleteLaunchTemplate", "ec2:ModifyLaunchTemplate", "ec2:CreateLaunchTemplateVersion"]
    Resource  = ["arn:${local.p}:ec2:${local.r}:${local.a}:launch-template/*"]
    Condition = { StringNotEquals = { "aws:ResourceTag/managed-by" = "bluegreen" } }
  }
  # The instance role goes to EC2 only.
  pass_role_condition = {
    Sid       = "PassTheInstanceRoleToEc2Only"
    Effect    = "Deny"
    Action    = ["iam:PassRole"]
    Resource  = ["*"]
    Condition = { StringNotEquals = { "iam:PassedToService" = "ec2.amazonaws.com" } }
  }

  document = jsonencode({
    Version   = "2012-10-17"
    Statement = concat(local.statements, var.scope_resources ? [local.launch_template_condition, local.pass_role_condition] : [])
  })
}

resource "aws_iam_policy" "this" {
  count = var.create_policy ? 1 : 0

  name        = var.name
  description = "bluegreen: deploy, promote and roll back environments named ${var.name_prefix}*"
  policy      = local.document
  tags        = merge(var.tags, { "managed-by" = "bluegreen" })
}
