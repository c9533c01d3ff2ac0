"""What one answer sends its room: its frames, pushed best effort (the stored message is the
truth: a failed push must not end the answer), the bot's typing state, and the counts the
answer's metrics report.

In a big room the frames keep to the answer's pace (chat.logic.bot.pacing): a frame waits
for its turn (at most the spacing, 1 s, or 4 s while API Gateway throttles), except one
that must go at once (``urgent``: the last frame of a stopped answer, the contract's 2 s).
Connections API Gateway throttled are pushed the frame again after the (longer) spacing, up
to ``THROTTLE_RETRIES`` times, before the next frame: the answer slows down and coalesces
more rather than leave a gap in anyone's stream. (The fan-out queue retries its own shards'
throttled pushes.) In a room big enough for the fan-out queue, a frame's pushes are spread
over the time to the next frame (chat.logic.realtime.broadcast), not sent in one burst: the
first frame's too, its spacing sized from the room's recipients as the broadcast finds them.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field

from aws_lambda_powertools.metrics import MetricUnit

from chat.adapters import big_rooms_settings
from chat.frames import ServerFrame, TypingFrame
from chat.logic.bot import budget
from chat.logic.bot.pacing import SendPacer
from chat.logic.bot.transcript import Transcript
from chat.logic.realtime import presence
from chat.logic.realtime.broadcast import Spread
from chat.observability import logger, metrics

THROTTLE_RETRIES = 3


def answer_pacer() -> SendPacer:
    """The pace of a new answer: its share of the send budget, the coalescer's window."""
    rooms = big_rooms_settings.current()
    return SendPacer(
        share=rooms.answer_share,
        base_window=budget.BUDGET.coalesce_window,
        budget=rooms.send_budget_per_second,
    )


@dataclass
class RoomFeed:
    transcript: Transcript
    started: float  # monotonic clock: when the worker took the command
    frames: int = 0  # frames delivered (or handed to the fan-out queue), to every socket
    chunks: int = 0  # bot_stream chunks sent
    typing: bool = False
    pacer: SendPacer = field(default_factory=answer_pacer)
    paced: bool = False  # the answer's room turned out big (counted once)

    def push(self, frame: ServerFrame, *, urgent: bool = False) -> None:
        if not urgent:
            time.sleep(self.pacer.wait())
        began = self.pacer.clock()
        # over the time to the next frame, sized from the recipients (known once queried)
        spread: Spread = 0.0 if urgent else self.pacer.spacing
        try:
            result = presence.send_to_room(
                self.transcript.room_id,
                frame,
                spread=spread,
                only_username=self.transcript.visible_to,
            )
        except Exception as exc:
            log_unexpected("bot frame push failed", exc)
            metrics.add_metric(name="BotPushFailures", unit=MetricUnit.Count, value=1)
            return
        self.frames += result.delivered + result.queued
        self._paced_sent(result.recipients, result.throttled, began)
        if result.throttled:
            self._push_again(frame, result.throttled)

    def _push_again(self, frame: ServerFrame, throttled: list[str]) -> None:
        """Push a frame again to the connections throttled, after the pacer's back-off."""
        for _ in range(THROTTLE_RETRIES):
            time.sleep(self.pacer.wait())
            try:
                again = presence.send_to_connections(throttled, frame)
            except Exception as exc:
                log_unexpected("bot frame push failed", exc)
                return
            self.frames += again.delivered
            self._paced_sent(self.pacer.recipients, again.throttled, None)
            throttled = again.throttled
            if not throttled:
                return
        logger.warning("bot frame not pushed: throttled", extra={"connections": len(throttled)})
        metrics.add_metric(name="BotPushFailures", unit=MetricUnit.Count, value=1)

    def _paced_sent(self, recipients: int, throttled: list[str], began: float | None) -> None:
        if self.pacer.sent(recipients, len(throttled), at=began):
            metrics.add_metric(name="BotThrottleBackoffs", unit=MetricUnit.Count, value=1)
        if self.pacer.paced and not self.paced:
            self.paced = True
            metrics.add_metric(name="BotPacedAnswers", unit=MetricUnit.Count, value=1)
            if self.pacer.over_share:
                metrics.add_metric(name="BotSendShareExceeded", unit=MetricUnit.Count, value=1)

    def send(self, chunks: list[str]) -> None:
        """Each chunk as the answer's next ``bot_stream`` frame."""
        for chunk in chunks:
            if self.chunks == 0:
                ms_metric("BotTimeToFirstChunk", self.started)
            self.chunks += 1
            self.push(self.transcript.frame(chunk))

    def set_typing(self, is_typing: bool) -> None:
        self.typing = is_typing
        room_id, bot = self.transcript.room_id, self.transcript.username
        self.push(TypingFrame(room_id=room_id, username=bot, is_typing=is_typing))


def ms_metric(name: str, since: float) -> None:
    metrics.add_metric(
        name=name, unit=MetricUnit.Milliseconds, value=(time.monotonic() - since) * 1000
    )


def log_unexpected(message: str, exc: BaseException) -> None:
    """Log an exception by type and where it was raised: its text may hold secrets."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else None
    logger.error(message, extra={"error_type": type(exc).__name__, "raised_at": where})
