from chat.config import require_settings
from chat.observability import logger, metrics
from chat.transport.message_stream import handle_batch

require_settings("search_index_table")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    return handle_batch(event, context)
