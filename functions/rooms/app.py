from aws_lambda_powertools.logging import correlation_paths

from chat.config import require_settings
from chat.observability import logger, metrics
from chat.transport.rest import build_app
from chat.transport.routes import attachments, bot, conversation, rooms

require_settings(
    "cors_allow_origin",
    "gemini_keys_kms_key_id",
    "bot_queue_url",
    "attachments_table",
    "attachments_bucket",
    "client_ids_table",
)
app = build_app(rooms.router, conversation.router, bot.router, attachments.router)


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)
