output "policy_json" {
  description = "The policy document."
  value       = local.document
}

output "policy_arn" {
  description = "The policy's ARN (null with create_policy = false)."
  value       = var.create_policy ? aws_iam_policy.this[0].arn : null
}
