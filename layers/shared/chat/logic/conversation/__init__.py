"""The conversation of a room: posting messages, reading history, replies, edits and
deletions, reactions, read state, attachments."""
