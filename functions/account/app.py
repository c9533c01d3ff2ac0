from aws_lambda_powertools.logging import correlation_paths

from chat.config import require_settings
from chat.observability import logger, metrics
from chat.transport.rest import build_app
from chat.transport.routes.account import router

require_settings("token_ttl_seconds", "cors_allow_origin", "account_erasure_queue_url")
app = build_app(router)


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)
