from chat.config import require_settings
from chat.observability import logger, metrics
from chat.transport import websocket

require_settings("bot_queue_url", "attachments_table", "attachments_bucket", "client_ids_table")


@logger.inject_lambda_context(correlation_id_path=websocket.CORRELATION_ID_PATH, clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    return websocket.handle_frame_event(event)
