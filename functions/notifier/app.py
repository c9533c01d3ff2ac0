from chat.config import require_settings
from chat.observability import logger, metrics
from chat.transport.notification_jobs import handle_batch

require_settings("notifications_table", "notifications_queue_url", "vapid_secret_arn")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    return handle_batch(event, context)
