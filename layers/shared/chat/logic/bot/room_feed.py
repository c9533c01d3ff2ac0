"""What one answer sends its room: its frames, pushed best effort (the stored message is the
truth: a failed push must not end the answer), the bot's typing state, and the counts the
answer's metrics report."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit

from chat.frames import ServerFrame, TypingFrame
from chat.logic.bot.transcript import Transcript
from chat.logic.realtime import presence
from chat.observability import logger, metrics


@dataclass
class RoomFeed:
    transcript: Transcript
    started: float  # monotonic clock: when the worker took the command
    frames: int = 0  # frames delivered, to every socket
    chunks: int = 0  # bot_stream chunks sent
    typing: bool = False

    def push(self, frame: ServerFrame) -> None:
        try:
            self.frames += presence.send_to_room(
                self.transcript.room_id, frame, only_username=self.transcript.visible_to
            ).delivered
        except Exception as exc:
            log_unexpected("bot frame push failed", exc)
            metrics.add_metric(name="BotPushFailures", unit=MetricUnit.Count, value=1)

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
