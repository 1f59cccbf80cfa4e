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

variable "user_data" {
  description = "Plain-text user data for the instances (encoded by the module). Empty: none."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Extra tags for every resource (and the instances)."
  type        = map(string)
  default     = {}
}
