"""Adapters to AWS services other than DynamoDB: secrets, KMS, SQS, the WebSocket management API."""
