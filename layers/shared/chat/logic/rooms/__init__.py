"""Rooms: creating, listing and joining them, their members, join codes, and moderation by
the room's owner."""
