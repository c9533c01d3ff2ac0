from chat import observability
from chat.adapters.retry_visibility import backs_off_failed_records
from chat.config import require_settings
from chat.observability import logger, metrics
from chat.transport.sqs import handle_batch

require_settings(
    "idempotency_table", "attachments_bucket", "fanout_queue_url", "big_rooms_parameter"
)
tracer = observability.tracer()  # the only function with a Powertools tracer (chat.observability)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@backs_off_failed_records  # a failed command comes back after 2, 4, 8 … s, not 12 min
def lambda_handler(event, context):
    return handle_batch(event, context)
