"""The bot: everything of it, from a room's bot settings to streaming an answer.

In the API functions (never loading the Gemini SDK):
- `roster`: a room's bots (the default one and the named ones) in one shape, and which bot
  a message addresses;
- `room_settings`: each bot's settings (model, system prompt, key, tools, budget, replies),
  adding and removing named bots;
- `command_limits`: the rate limits a command counts against;
- `control`: stopping an answer and regenerating one;
- `reply`: a new bot reply (the worker's, or a stop request's for a queued command).

In the worker, for one queued command (chat.queued_command):
- `command`: load the command and its room, create the reply (at most once), or end the
  reply of a run that died;
- `context` (what the model sees), `files` (the attachments it gets as file parts) and
  `summary` (what it sees for a summary, in stages when long);
- `answer`: the answer's checkpoints and retries around its parts: `transcript` (the text
  sent, seq, offset, the size cap; pure), `room_feed` (pushes, typing), `reader` (the
  model's stream through the `coalesce`r into the room, and the ticker) and `ending` (the
  one way an answer ends; `failures`: who must act on a failed one);
- `budget`: the time and size budget of one answer.

The model itself is chat.adapters.gemini, the only module that imports google-genai.
"""
