"""The controller's log, written off the event loop: a record is put on a queue where it is
made, and a thread writes it, so a slow terminal, pipe or disk never stalls the calls (Asterisk
drops an AMI client that stops reading for 100 ms)."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import queue
import sys
from collections.abc import Iterator
from typing import TextIO

FORMAT = "%(asctime)s %(name)s %(message)s"


@contextlib.contextmanager
def logging_off_the_loop(level: int = logging.INFO, stream: TextIO | None = None
                         ) -> Iterator[None]:
    """Routes the root logger through a queue to a writer thread for the duration."""
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    writer = logging.StreamHandler(stream or sys.stderr)
    writer.setFormatter(logging.Formatter(FORMAT))
    listener = logging.handlers.QueueListener(records, writer)
    root = logging.getLogger()
    handler = logging.handlers.QueueHandler(records)
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    listener.start()
    try:
        yield
    finally:
        listener.stop()  # writes what is still queued
        root.removeHandler(handler)
        root.setLevel(old_level)
