"""An asyncio event loop on a virtual clock: time moves only when the loop has nothing to do.

Whenever every task is waiting, the loop jumps to its next timer instead of sleeping, so a test
that rings a phone for 20 s and plays 60 s of music ends in milliseconds, and timing measured on
`loop.time()` is the same on an idle machine and on a loaded one: CPU time spent never moves
the clock. Sockets are real (the fake PBX and the link talk TCP on 127.0.0.1 inside the one
process): before jumping, the loop looks once more for bytes still on their way through the
kernel, with a short real wait, so an answer written but not yet readable is never overtaken by
a timer.

    run(main())   # like asyncio.run, on the virtual clock
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# Real seconds the loop waits for in-flight bytes before it moves the clock. Loopback delivers
# a written chunk before send() returns; this only covers a kernel that defers it.
IN_FLIGHT_GRACE = 0.002


class _VirtualSelector(selectors.DefaultSelector):  # type: ignore[misc, valid-type]
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.jumps = 0

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        ready = super().select(IN_FLIGHT_GRACE)
        if ready:
            return ready
        if timeout is None:  # no timer at all: only real I/O (a thread, a subprocess) can come
            return super().select(None)
        self.now += timeout
        self.jumps += 1
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._virtual = _VirtualSelector()
        super().__init__(self._virtual)

    def time(self) -> float:
        return self._virtual.now


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on a fresh virtual-clock loop."""
    with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        return runner.run(main)
