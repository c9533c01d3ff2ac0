"""The bot: answering queued `@bot` commands by streaming Gemini into the room.

- `command`: load one command and its room, create the bot's reply (at most once);
- `answer`: stream one answer: frames, retries, the size cap, the terminal state, metrics;
- `reader`: read the model's stream on a thread, so buffered text goes out during stalls;
- `limits`: the time and size limits of one answer;
- `context`: what the model sees; `files`: the room's attachments the model gets as file
  parts; `coalesce`: pieces into chunks; `gemini`: the model (the only module that
  imports google-genai).
"""
