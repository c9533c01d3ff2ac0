"""Developer tools that are not deployed (kept out of the Lambda layer)."""
