output "asg_name" {
  description = "The Auto Scaling Group's name ({environment}-{colour})."
  value       = aws_autoscaling_group.this.name
}

output "asg_arn" {
  value = aws_autoscaling_group.this.arn
}

output "launch_template_id" {
  value = aws_launch_template.this.id
}

output "launch_template_version" {
  value = aws_launch_template.this.latest_version
}

output "ami" {
  value = var.ami
}

output "version_label" {
  value = var.version_label
}

output "instance_profile_name" {
  description = "The instances' instance profile (created here, or the one given)."
  value       = local.instance_profile_name
}

output "user_data" {
  description = "The cloud-config document the instances boot with (secrets by name only)."
  value       = local.user_data
}
