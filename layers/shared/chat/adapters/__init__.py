"""Adapters to services other than DynamoDB: the JWT signing key (Secrets Manager), the
rooms' Gemini keys (KMS, Secrets Manager), the bot queue (SQS), the WebSocket management API
(pushes to connections), the attachments bucket (S3), and the Gemini API (google-genai)."""
