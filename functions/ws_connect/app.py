from chat.observability import logger, metrics, tracer
from chat.transport import websocket as ws


@logger.inject_lambda_context(correlation_id_path=ws.CORRELATION_ID_PATH, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event, context):
    return ws.handle_connection_event(event)
