from chat.adapters.retry_visibility import backs_off_failed_records
from chat.config import require_settings
from chat.observability import logger, metrics
from chat.transport.fanout_sqs import handle_batch

require_settings("fanout_queue_url")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@backs_off_failed_records  # a failed shard comes back after 2, 4, 8 … s
def lambda_handler(event, context):
    return handle_batch(event, context)
