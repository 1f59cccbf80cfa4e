variable "name" {
  description = "The policy's name."
  type        = string
  default     = "bluegreen-deployer"
}

variable "name_prefix" {
  description = "What the names of bluegreen's environments start with (e.g. \"web-\"): load balancers, target groups, Auto Scaling Groups and instance roles are named after them."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,27}$", var.name_prefix))
    error_message = "name_prefix must be the start of an environment name: lowercase letters, digits and '-'."
  }
}

variable "account_id" {
  description = "The AWS account the resources are in (\"*\": any)."
  type        = string
  default     = "*"
}

variable "region" {
  description = "The region the resources are in (\"*\": any)."
  type        = string
  default     = "*"
}

variable "partition" {
  description = "The ARN partition (aws, aws-cn, aws-us-gov)."
  type        = string
  default     = "aws"
}

variable "records_table" {
  description = "bluegreen's DynamoDB table (state.table) when state.backend is dynamodb; empty: none."
  type        = string
  default     = ""
}

variable "terraform_state_bucket" {
  description = "Terraform's S3 state bucket (aws.terraform_state_bucket); empty: none."
  type        = string
  default     = ""
}

variable "terraform_lock_table" {
  description = "Terraform's DynamoDB lock table (aws.terraform_lock_table); empty: none (use_lockfile)."
  type        = string
  default     = ""
}

variable "scope_resources" {
  description = "true: each group of actions is limited to bluegreen's resources as described in the README. false: the same actions on any resource (for a test endpoint that cannot match resource ARNs)."
  type        = bool
  default     = true
}

variable "create_policy" {
  description = "true: create the IAM policy; false: only output its document (to attach it your own way)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Extra tags for the policy."
  type        = map(string)
  default     = {}
}
