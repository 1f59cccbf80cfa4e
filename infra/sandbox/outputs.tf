output "vpc_id" {
  value = aws_vpc.this.id
}

output "subnet_ids" {
  description = "Two subnets in two availability zones: what the environment module's subnet_ids needs."
  value       = aws_subnet.public[*].id
}
