"""Shared code of the collaborative chat backend: models, data access, auth, broadcast, bot."""
