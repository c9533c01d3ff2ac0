from chat.config import require_settings
from chat.observability import logger, metrics
from chat.transport import websocket_frames

require_settings(
    "bot_queue_url",
    "attachments_table",
    "attachments_bucket",
    "client_ids_table",
    "fanout_queue_url",
)


@logger.inject_lambda_context(
    correlation_id_path=websocket_frames.CORRELATION_ID_PATH, clear_state=True
)
@metrics.log_metrics
def lambda_handler(event, context):
    return websocket_frames.handle_frame_event(event)
