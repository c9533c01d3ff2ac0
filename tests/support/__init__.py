"""Shared test helpers: event builders, the REST client, the recorded WebSocket pushes."""
