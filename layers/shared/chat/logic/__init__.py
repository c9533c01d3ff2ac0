"""Business rules, one wing (sub-package) per domain; never imports a transport.

- `accounts`: registering, logging in, passwords, access tokens;
- `rooms`: rooms, their members, join codes, moderation by the owner;
- `conversation`: posting and reading messages, replies, edits, reactions, read state,
  attachments;
- `realtime`: who is online where (presence) and pushing frames to sockets (fan-out);
- `bot`: everything of the bot, from a room's bot settings to streaming an answer;
- `access` (who may touch a room) and `rate_limits` (the sliding-window limits): the rules
  every wing applies.

The wings are layered (pyproject.toml, import-linter): a wing imports only the wings below it.
"""
