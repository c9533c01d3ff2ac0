"""Data access: the only modules that know the tables' keys and talk to DynamoDB.

One module per table (`users`, `rooms` with memberships, `messages`, `connections`,
`rate_limits`, `attachments`); `tables` holds what they share. Every function makes a
small, fixed number of DynamoDB calls (no Scan anywhere).
"""
