"""Data access: the only modules that know the tables' keys and talk to DynamoDB.

One module per table (`users`, `rooms` with memberships, `messages`, `connections`,
`rate_limits`, `attachments`), plus `message_changes` (edits, tombstones, reactions on
message items), `read_state` (read pointers on memberships, unread counts) and `bots` (a
room's named bots: its room item's map, their memberships, their names' claims); `tables`
holds what they share. Every function makes a small, fixed number of DynamoDB calls (no
Scan anywhere).
"""
