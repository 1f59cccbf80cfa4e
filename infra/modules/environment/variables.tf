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
  description = "The production listener's port (HTTP)."
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
  description = "Who may reach the test listener (where bluegreen runs its smoke checks). Empty: the same as ingress_cidrs."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
