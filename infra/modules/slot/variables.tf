variable "environment" {
  description = "The environment's name (e.g. web-prod)."
  type        = string
}

variable "colour" {
  description = "Which slot this is: \"blue\" or \"green\". The Auto Scaling Group is named {environment}-{colour}."
  type        = string

  validation {
    condition     = contains(["blue", "green"], var.colour)
    error_message = "colour must be \"blue\" or \"green\"."
  }
}

variable "version_label" {
  description = "The release this slot runs (git sha or tag); tagged on the group and its instances."
  type        = string
}

variable "ami" {
  description = "The image the instances boot (baked by Packer)."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-z]+$", var.ami))
    error_message = "ami must be an image id such as ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  description = "The instances' EC2 type."
  type        = string
  default     = "t3.micro"
}

variable "min_size" {
  type    = number
  default = 1
}

variable "max_size" {
  type    = number
  default = 2
}

variable "desired_capacity" {
  type    = number
  default = 1
}

variable "subnet_ids" {
  description = "Where the instances run (the environment module's subnet_ids output)."
  type        = list(string)
}

variable "security_group_id" {
  description = "The instances' security group (the environment module's security_group_id output)."
  type        = string
}

variable "target_group_arn" {
  description = "alb: this colour's target group (the environment module's target_group_arns[colour]). Empty for a classic ELB."
  type        = string
  default     = ""
}

variable "load_balancer_name" {
  description = "elb: the classic ELB to attach to. Empty for an ALB."
  type        = string
  default     = ""
}

variable "health_check_grace_period" {
  description = "Seconds after launch before the load balancer's health check can mark an instance unhealthy."
  type        = number
  default     = 300
}

variable "wait_for_capacity_timeout" {
  description = "How long Terraform waits for the instances to be in service. \"0\": do not wait (bluegreen polls health itself, with the configured thresholds and deadline)."
  type        = string
  default     = "0"
}

variable "app_settings" {
  description = "Plain settings for the app (NAME = value), written to /etc/bluegreen/app.env by the user data."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.app_settings) : can(regex("^[A-Z_][A-Z0-9_]*$", k))])
    error_message = "app_settings names must match ^[A-Z_][A-Z0-9_]*$."
  }
  validation {
    condition     = alltrue([for v in values(var.app_settings) : !can(regex("[\\r\\n]", v))])
    error_message = "app_settings values must be one line each."
  }
}

variable "app_secrets" {
  description = "Secrets by reference (NAME = \"ssm:<parameter>\" or \"secretsmanager:<secret id or ARN>\"). Only the references reach user data and state; the instance fetches the values at boot with its role."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.app_secrets) : can(regex("^[A-Z_][A-Z0-9_]*$", k))])
    error_message = "app_secrets names must match ^[A-Z_][A-Z0-9_]*$."
  }
  validation {
    condition     = alltrue([for v in values(var.app_secrets) : can(regex("^(ssm|secretsmanager):[^\\s]+$", v))])
    error_message = "app_secrets values must be \"ssm:<parameter name>\" or \"secretsmanager:<secret id or ARN>\"."
  }
}

variable "instance_profile_name" {
  description = "An existing instance profile for the instances. Empty: the module creates one allowed to read exactly the secrets in app_secrets."
  type        = string
  default     = ""
}

variable "ssm_managed_instance" {
  description = "Attach AmazonSSMManagedInstanceCore to the role the module creates (Session Manager access to the instances)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Extra tags for every resource (and the instances)."
  type        = map(string)
  default     = {}
}

variable "drain_seconds" {
  description = "How long an instance leaving the load balancer drains (the environment's deregistration delay or connection draining timeout): the group's delete timeout is this plus 10 minutes for termination."
  type        = number
  default     = 300
}
