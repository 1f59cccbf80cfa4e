"""The AWS platform: boto3 adapters for the load balancer, ASGs, alarms and DynamoDB."""
