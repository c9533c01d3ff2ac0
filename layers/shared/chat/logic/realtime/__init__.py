"""Real time: who is online where (`presence`) and pushing frames to sockets (`fanout`)."""
