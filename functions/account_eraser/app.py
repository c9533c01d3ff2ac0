from chat.config import require_settings
from chat.observability import logger, metrics
from chat.transport.erasure import handle_batch

require_settings("account_erasure_queue_url", "attachments_table", "attachments_bucket")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    return handle_batch(event, context)
