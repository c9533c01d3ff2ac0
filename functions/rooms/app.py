from aws_lambda_powertools.logging import correlation_paths

from chat.api.conversation import router as conversation_router
from chat.api.rooms import router
from chat.observability import logger, metrics, tracer
from chat.rest import build_app

app = build_app(router, conversation_router)


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)
