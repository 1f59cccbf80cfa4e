# bluegreen reads these (bluegreen/adapters/aws/environment.py,
# AwsEnvironment.from_outputs): keep the names stable.

output "load_balancer_type" {
  description = "\"alb\" or \"elb\"."
  value       = var.load_balancer_type
}

output "dns_name" {
  description = "The load balancer's DNS name: where users reach the environment."
  value       = local.alb ? aws_lb.this[0].dns_name : aws_elb.this[0].dns_name
}

output "listener_arn" {
  description = "alb: the production listener (weighted forward to both colours); null for elb."
  value       = local.alb ? aws_lb_listener.production[0].arn : null
}

output "test_listener_arn" {
  description = "alb: the test listener (forwards to the idle colour only); null for elb."
  value       = local.alb ? aws_lb_listener.test[0].arn : null
}

output "target_group_arns" {
  description = "alb: colour -> target group ARN; empty for elb."
  value       = { for colour, tg in aws_lb_target_group.colour : colour => tg.arn }
}

output "load_balancer_name" {
  description = "The load balancer's name (the classic ELB's handle)."
  value       = local.alb ? aws_lb.this[0].name : aws_elb.this[0].name
}

output "subnet_ids" {
  description = "The subnets the colours' Auto Scaling Groups use."
  value       = var.subnet_ids
}

output "security_group_id" {
  description = "The security group of both colours' instances (reachable from the load balancer only)."
  value       = aws_security_group.instances.id
}

output "listener_port" {
  description = "The production listener's port (https_port with a certificate)."
  value       = local.production_port
}

output "listener_protocol" {
  description = "The production and test listeners' protocol: \"HTTPS\" with a certificate, else \"HTTP\"."
  value       = local.production_protocol
}

output "test_listener_port" {
  description = "alb: the test listener's port; null for elb."
  value       = local.alb ? var.test_listener_port : null
}

output "drain_seconds" {
  description = "How long an instance leaving the load balancer keeps serving its open requests: the target groups' deregistration delay (alb) or the connection draining timeout (elb). The slots' delete timeout fits it."
  value       = local.alb ? var.deregistration_delay : var.connection_draining_timeout
}
