"""The REST routes, one Router per function: each route is one call into the logic."""
