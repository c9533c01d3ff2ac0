"""Shared code of the collaborative chat backend, in layers (each imports only downward;
import-linter checks it, see pyproject.toml):

- `transport`: how events arrive (REST routes, WebSocket events, bot queue records) and
  the one place per transport where domain errors become responses or frames;
- `logic`: the rules: accounts, rooms, messages, presence, the bot;
- `dal` (DynamoDB tables) and `adapters` (other AWS services): the only boto3 users;
- `clients` (the boto3 clients), `config`, `models`, `frames`, `errors`, `ids`,
  `observability`, `text_rules` (the contract's string rules) and `redaction` (of every
  registered secret, on everything that leaves the process): the ground everything
  stands on.
"""

from chat import lazy_packages

# Powertools' resolver and event-class packages import every resolver and event source in
# their __init__; load only the parts used (a cold-start cut, see chat.lazy_packages). Here,
# so that it comes before any of them, whichever module of the package is imported first.
lazy_packages.defer_init("aws_lambda_powertools.event_handler")
lazy_packages.defer_init("aws_lambda_powertools.utilities.data_classes")
