variable "name" {
  description = "The environment's name (e.g. web-prod). Names the load balancer, target groups and security groups."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,27}$", var.name))
    error_message = "name must be lowercase letters, digits and '-', start with a letter, at most 28 characters."
  }
}

variable "vpc_id" {
  description = "The VPC the load balancer and the instances live in."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets for the load balancer and the Auto Scaling Groups (at least two, in different availability zones)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids needs at least two subnets in different availability zones."
  }
}

variable "load_balancer_type" {
  description = "\"alb\": an Application Load Balancer with a weighted listener (canary, linear, all-at-once). \"elb\": a classic ELB (all-at-once by attaching and detaching Auto Scaling Groups)."
  type        = string
  default     = "alb"

  validation {
    condition     = contains(["alb", "elb"], var.load_balancer_type)
    error_message = "load_balancer_type must be \"alb\" or \"elb\"."
  }
}

variable "listener_port" {
  description = "The HTTP port: the production listener without a certificate, a redirect to https_port with one."
  type        = number
  default     = 80
}

variable "test_listener_port" {
  description = "The test listener's port (alb only): it forwards to the idle colour only, for smoke checks."
  type        = number
  default     = 8080
}

variable "instance_port" {
  description = "The port the application listens on in each instance."
  type        = number
  default     = 80
}

variable "live_colour" {
  description = "The colour the production listener forwards to when it is first created. Afterwards bluegreen owns the weights: later applies never change them."
  type        = string
  default     = "blue"

  validation {
    condition     = contains(["blue", "green"], var.live_colour)
    error_message = "live_colour must be \"blue\" or \"green\"."
  }
}

variable "health_check_path" {
  description = "The path the load balancer requests on each instance; only HTTP 200 counts as healthy."
  type        = string
  default     = "/health"
}

variable "health_check_interval" {
  description = "Seconds between two health checks of one instance."
  type        = number
  default     = 15
}

variable "health_check_timeout" {
  description = "Seconds a health check may take before it counts as failed."
  type        = number
  default     = 5
}

variable "healthy_threshold" {
  description = "Consecutive successful checks before an instance is healthy."
  type        = number
  default     = 2
}

variable "unhealthy_threshold" {
  description = "Consecutive failed checks before an instance is unhealthy."
  type        = number
  default     = 10
}

variable "deregistration_delay" {
  description = "alb: seconds a deregistered target keeps serving its open requests (connection draining)."
  type        = number
  default     = 30
}

variable "connection_draining_timeout" {
  description = "elb: seconds an instance leaving the classic ELB keeps serving its open requests. AWS's default (300): the sandbox's classic ELB keeps no other value."
  type        = number
  default     = 300
}

variable "internal" {
  description = "true: the load balancer has private addresses only."
  type        = bool
  default     = false
}

variable "ingress_cidrs" {
  description = "Who may reach the production listener."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "test_ingress_cidrs" {
  description = "Who may reach the test listener (where bluegreen runs its smoke checks). Empty: nobody (no rule); never the public."
  type        = list(string)
  default     = []

  validation {
    condition     = !contains(var.test_ingress_cidrs, "0.0.0.0/0") && !contains(var.test_ingress_cidrs, "::/0")
    error_message = "test_ingress_cidrs must not open the test listener to everyone: it serves the unreleased colour."
  }
}

variable "certificate_arn" {
  description = "An ACM certificate's ARN. Given: production is HTTPS on https_port (and the test listener HTTPS), listener_port redirects to it. Empty: HTTP only."
  type        = string
  default     = ""
}

variable "https_port" {
  description = "The production listener's port when certificate_arn is given."
  type        = number
  default     = 443
}

variable "ssl_policy" {
  description = "The TLS policy of the HTTPS listeners (alb): TLS 1.3 and 1.2 only."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "deletion_protection" {
  description = "alb: refuse to delete the load balancer until this is turned off (the sandbox turns it off)."
  type        = bool
  default     = true
}

variable "access_logs_bucket" {
  description = "An S3 bucket for the load balancer's access logs (its policy must let Elastic Load Balancing write). Empty: no access logs."
  type        = string
  default     = ""
}

variable "access_logs_prefix" {
  description = "The key prefix of the access logs in access_logs_bucket. Empty: the environment's name."
  type        = string
  default     = ""
}

variable "waf_acl_arn" {
  description = "alb: a WAFv2 web ACL to associate with the load balancer. Empty: none."
  type        = string
  default     = ""
}

variable "instance_egress" {
  description = "What the instances may reach. The default: HTTPS anywhere, for the AWS APIs the instance calls (SSM, Secrets Manager, CloudWatch) and the OS's package repositories. Add a rule per dependency (database, cache), each with its own description."
  type = list(object({
    description = string
    protocol    = string
    port        = number
    cidr_blocks = list(string)
  }))
  default = [
    { description = "HTTPS: AWS APIs (SSM, Secrets Manager) and package repositories", protocol = "tcp", port = 443, cidr_blocks = ["0.0.0.0/0"] },
  ]

  validation {
    condition     = length(distinct([for r in var.instance_egress : r.description])) == length(var.instance_egress) && alltrue([for r in var.instance_egress : r.protocol != "-1"])
    error_message = "instance_egress: each rule needs its own description and one protocol and port (no \"-1\": all traffic)."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
