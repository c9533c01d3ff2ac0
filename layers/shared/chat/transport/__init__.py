"""How events arrive and leave: the REST resolver and routes, WebSocket events, the bot queue records."""

from chat import lazy_packages

# Powertools' resolver and event-class packages import every resolver and event source in
# their __init__; load only the parts used (a cold-start cut, see chat.lazy_packages).
lazy_packages.defer_init("aws_lambda_powertools.event_handler")
lazy_packages.defer_init("aws_lambda_powertools.utilities.data_classes")
