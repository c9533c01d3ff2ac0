"""How events arrive and leave: the REST resolver and routes, WebSocket events, the bot queue records."""
