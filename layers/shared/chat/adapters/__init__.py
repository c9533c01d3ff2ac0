"""Adapters to AWS services other than DynamoDB: the JWT signing key (Secrets Manager), the
rooms' Gemini keys (KMS, Secrets Manager), the bot queue (SQS), pushes (the WebSocket
management API)."""
