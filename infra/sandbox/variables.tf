variable "name" {
  description = "Names the network's resources."
  type        = string
  default     = "bluegreen-sandbox"
}

variable "cidr_block" {
  description = "The VPC's address range; the subnets are its first two /24s."
  type        = string
  default     = "10.42.0.0/16"
}

variable "availability_zones" {
  description = "Two availability zones for the two subnets (load balancers need two)."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) == 2
    error_message = "availability_zones must name exactly two zones."
  }
}

variable "tags" {
  type    = map(string)
  default = {}
}
