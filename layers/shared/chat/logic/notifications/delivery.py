"""Web Push to a user's subscriptions. A subscription whose push service answers 404 or 410
is removed; one that fails for a reason worth retrying (429, 5xx, no answer) is sent again
from the queue after a growing delay (RETRY_DELAYS, or longer when the push service asks
for it), up to len(RETRY_DELAYS) more times; anything else is counted and dropped.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools.metrics import MetricUnit

from chat.adapters import notification_queue, web_push
from chat.adapters.notification_queue import NotificationJob
from chat.dal import notifications as notification_table
from chat.dal.items import PushSubscriptionItem
from chat.observability import logger, metrics

RETRY_DELAYS = (2, 10, 60, 300)  # seconds before each further attempt


def push_to(user_id: str, data: str, pool: ThreadPoolExecutor | None = None) -> int:
    """Push `data` to each of the user's subscriptions (in parallel on `pool`); how many
    took it."""
    subscriptions = notification_table.subscriptions_of(user_id)
    if pool is None or len(subscriptions) < 2:
        outcomes = [_send(subscription, data, 0) for subscription in subscriptions]
    else:
        outcomes = list(pool.map(lambda s: _send(s, data, 0), subscriptions))
    return sum(outcomes)


def push_again(job: NotificationJob) -> None:
    """A queued retry of one push: sent again unless the subscription is gone meanwhile."""
    subscription = notification_table.get_subscription(job.user_id, job.subscription_id)
    if subscription is None:
        return
    _send(subscription, job.payload, job.attempt)


def _send(subscription: PushSubscriptionItem, data: str, attempt: int) -> bool:
    result = web_push.send(
        subscription["endpoint"], subscription["p256dh"], subscription["auth"], data
    )
    user_id, subscription_id = subscription["user_id"], subscription["subscription_id"]
    if result.outcome == "sent":
        metrics.add_metric(name="PushesSent", unit=MetricUnit.Count, value=1)
        return True
    if result.outcome == "gone":
        notification_table.delete_subscription(user_id, subscription_id)
        metrics.add_metric(name="PushSubscriptionsRemoved", unit=MetricUnit.Count, value=1)
    elif result.outcome == "retry" and attempt < len(RETRY_DELAYS):
        _retry_later(subscription, data, attempt, result.retry_after)
    else:
        logger.warning(
            "push not delivered",
            extra={"status": result.status, "outcome": result.outcome, "attempt": attempt},
        )
        metrics.add_metric(name="PushesFailed", unit=MetricUnit.Count, value=1)
    return False


def _retry_later(
    subscription: PushSubscriptionItem, data: str, attempt: int, retry_after: int | None
) -> None:
    delay = max(RETRY_DELAYS[attempt], retry_after or 0)
    job = NotificationJob(
        kind="retry",
        room_id="",
        message_id="",
        user_id=subscription["user_id"],
        subscription_id=subscription["subscription_id"],
        payload=data,
        attempt=attempt + 1,
    )
    notification_queue.enqueue(job, delay_seconds=delay)
    metrics.add_metric(name="PushesRetried", unit=MetricUnit.Count, value=1)
