# The instances' identity: an instance profile whose role may read exactly the
# secrets named in app_secrets (and nothing else), unless the caller brings
# its own profile (instance_profile_name).

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  create_profile = var.instance_profile_name == ""
  # Fixed names, not name_prefix: a role or profile that an apply created but never recorded (its terraform
  # killed, or a create the SDK resent after IAM made it) is found by this name and adopted by the next apply
  # (bluegreen/adapters/aws/provisioner.py says the same name). And the launch template can name the profile
  # before it exists, so the two are created side by side. IAM names are global to the account: the region
  # keeps one environment name in two regions apart.
  iam_name              = "${local.name}-${local.region}"
  instance_profile_name = local.create_profile ? local.iam_name : var.instance_profile_name

  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id

  ssm_names  = [for ref in values(var.app_secrets) : trimprefix(ref, "ssm:") if startswith(ref, "ssm:")]
  secret_ids = [for ref in values(var.app_secrets) : trimprefix(ref, "secretsmanager:") if startswith(ref, "secretsmanager:")]

  # A parameter's ARN has no slash after "parameter" for a name that starts
  # with one: arn:aws:ssm:REGION:ACCOUNT:parameter/a/b for "/a/b".
  # https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-access.html
  parameter_arns = sort(distinct([
    for n in local.ssm_names :
    startswith(n, "arn:") ? n : "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter/${trimprefix(n, "/")}"
  ]))
  # Secrets Manager appends six random characters to a secret's ARN; "-??????"
  # matches exactly those (AWS's recommended pattern for a secret by name).
  # https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_iam-policies.html
  secret_arns = sort(distinct([
    for id in local.secret_ids :
    startswith(id, "arn:") ? id : "arn:${local.partition}:secretsmanager:${local.region}:${local.account}:secret:${id}-??????"
  ]))

  secret_statements = concat(
    length(local.parameter_arns) == 0 ? [] : [{
      Sid      = "ReadAppParameters"
      Effect   = "Allow"
      Action   = ["ssm:GetParameter", "ssm:GetParameters"]
      Resource = local.parameter_arns
    }],
    length(local.secret_arns) == 0 ? [] : [{
      Sid      = "ReadAppSecrets"
      Effect   = "Allow"
      Action   = ["secretsmanager:GetSecretValue"]
      Resource = local.secret_arns
    }],
    # SecureString parameters and secrets encrypted with a customer managed
    # key need kms:Decrypt; allowed only when SSM or Secrets Manager asks for
    # it on the instance's behalf (kms:ViaService), never directly. The AWS
    # managed keys (aws/ssm, aws/secretsmanager) need no statement.
    # https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
    length(var.app_secrets) == 0 ? [] : [{
      Sid      = "DecryptThroughParameterStoreAndSecretsManager"
      Effect   = "Allow"
      Action   = ["kms:Decrypt"]
      Resource = "*"
      Condition = {
        StringEquals = {
          "kms:ViaService" = [
            "ssm.${local.region}.amazonaws.com",
            "secretsmanager.${local.region}.amazonaws.com",
          ]
        }
      }
    }],
  )
}

resource "aws_iam_role" "this" {
  count       = local.create_profile ? 1 : 0
  name        = local.iam_name
  description = "bluegreen ${local.name}: the app's instances"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "secrets" {
  count = local.create_profile && length(local.secret_statements) > 0 ? 1 : 0
  name  = "read-app-secrets"
  role  = aws_iam_role.this[0].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.secret_statements
  })
}

# Session Manager instead of SSH into the instances, when wanted.
resource "aws_iam_role_policy_attachment" "ssm_core" {
  count      = local.create_profile && var.ssm_managed_instance ? 1 : 0
  role       = aws_iam_role.this[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "this" {
  count = local.create_profile ? 1 : 0
  name  = local.iam_name
  role  = aws_iam_role.this[0].name
}
