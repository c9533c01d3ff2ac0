"""Conversation features (shared/API.md, Conversation features): catch-up paging,
replies, edits and deletions, reactions, read state and unread counts, moderation.
One module per feature; each change is pushed to the room as a frame of `frames`."""
