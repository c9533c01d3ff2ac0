"""Business rules: accounts, rooms, messages, presence, the bot. Never imports the transports."""
