"""The gateway's log output (gateway/http/accesslog.py): lines of one event-loop turn
written together and in order, lines from other threads at once, nothing left behind,
and the text format unchanged by the cached time of day."""

from __future__ import annotations

import asyncio
import io
import logging
import threading

from gateway.http.accesslog import TEXT_FORMAT, TextFormatter, TurnBatchingHandler


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def _logger(stream: CountingStream) -> tuple[logging.Logger, TurnBatchingHandler]:
    handler = TurnBatchingHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(f"hubgraph.test.batching.{id(stream)}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger, handler


async def test_lines_of_one_turn_are_written_together_in_order() -> None:
    stream = CountingStream()
    logger, _ = _logger(stream)
    for index in range(50):
        logger.info("line %d", index)
    assert stream.getvalue() == ""  # not yet: at the end of this turn
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert stream.getvalue() == "".join(f"line {i}\n" for i in range(50))
    assert stream.writes == 1


async def test_a_line_from_another_thread_is_written_at_once_after_what_is_pending() -> None:
    stream = CountingStream()
    logger, _ = _logger(stream)
    logger.info("from the loop")
    thread = threading.Thread(target=lambda: logger.info("from a thread"))
    thread.start()
    thread.join()
    assert stream.getvalue() == "from the loop\nfrom a thread\n"


async def test_flush_writes_what_is_pending() -> None:
    stream = CountingStream()
    logger, handler = _logger(stream)
    logger.info("last words")
    handler.flush()  # as logging.shutdown() does at exit
    assert stream.getvalue() == "last words\n"


def test_without_a_running_loop_lines_are_written_at_once() -> None:
    stream = CountingStream()
    logger, _ = _logger(stream)
    logger.info("starting")
    assert stream.getvalue() == "starting\n"


def test_the_text_format_is_the_standard_one() -> None:
    mine, standard = TextFormatter(), logging.Formatter(TEXT_FORMAT)
    for created in (1_700_000_000.0, 1_700_000_000.25, 1_700_000_000.999, 1_700_000_001.5):
        record = logging.LogRecord(
            "hubgraph.x", logging.INFO, "f.py", 1, "hello %s", ("you",), None
        )
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert mine.format(record) == standard.format(record)
