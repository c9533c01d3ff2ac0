"""The terminal chat client (`make chat`): a client of docs/API.md that reads lines and
prints what arrives, against the local stack or a deployed one.

    api.py           the REST calls, errors in the contract's shape
    screen.py        printing above the line being typed; streaming a line as it grows
    session.py       who is signed in, the open room, the WebSocket frames sent
    answers.py       the bot's answers as they stream, resumed after a reconnect by offset
    conversation.py  replies, edits, deletions, reactions, read state, moderation
    client.py        the socket's frames, rooms and commands, put together
    __main__.py      sign in, then the loop
"""
