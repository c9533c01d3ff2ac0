from aws_lambda_powertools.logging import correlation_paths

from chat.config import require_settings
from chat.observability import logger, metrics
from chat.transport.rest import build_app
from chat.transport.routes import notifications

require_settings(
    "cors_allow_origin", "notifications_table", "vapid_secret_arn", "attachments_bucket"
)
app = build_app(notifications.router)


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)
