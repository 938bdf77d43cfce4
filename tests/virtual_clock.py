"""An asyncio event loop on a virtual clock: time moves only when the loop has nothing to do.

Whenever every task is waiting, the loop jumps to its next timer instead of sleeping, so a test
that rings a phone for 20 s and plays 60 s of music ends in milliseconds, and timing measured on
`loop.time()` is the same on an idle machine and on a loaded one: CPU time spent never moves
the clock. Sockets are real (the fake PBX and the link talk TCP on 127.0.0.1 inside the one
process): before jumping, the loop looks once more for bytes still on their way through the
kernel, with a short real wait, so an answer written but not yet readable is never overtaken by
a timer. Nor does it jump while a worker thread works (asyncio.to_thread, aiosqlite's
connection thread): a real database's answer takes no virtual time, as a socket's does not. Left
to jump, a loaded machine's slow write let hours pass on the clock, a write timed out in the
middle, and aiosqlite, cancelled there, never answered again.

    run(main())   # like asyncio.run, on the virtual clock
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# Real seconds the loop waits for in-flight bytes before it moves the clock. Loopback delivers
# a written chunk before send() returns; this only covers a kernel that defers it.
IN_FLIGHT_GRACE = 0.002
# Real seconds the clock stands still for threads' work at most: past that it is taken as
# stuck, and the clock goes on so the test's own timeout can say so.
THREAD_WORK_LIMIT = 60.0


class _VirtualSelector(selectors.DefaultSelector):  # type: ignore[misc, valid-type]
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.jumps = 0
        self.thread_work = 0  # pieces of work handed to threads and not yet answered
        self.held_since: float | None = None  # real time the clock has stood still since

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        ready = super().select(IN_FLIGHT_GRACE)
        if ready:
            return ready
        if self.thread_work > 0:  # its answer comes through the loop's self-pipe
            if self.held_since is None:
                self.held_since = time.monotonic()
            held = time.monotonic() - self.held_since
            if held < THREAD_WORK_LIMIT:
                ready = super().select(THREAD_WORK_LIMIT - held)
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

    def thread_work(self, future: asyncio.Future[Any]) -> None:
        """`future` is answered by a thread: the clock stands still until it is done."""
        self._virtual.thread_work += 1
        future.add_done_callback(self._thread_work_done)

    def _thread_work_done(self, _: asyncio.Future[Any]) -> None:
        self._virtual.thread_work -= 1
        if not self._virtual.thread_work:
            self._virtual.held_since = None

    def run_in_executor(self, executor: Any, func: Any, *args: Any) -> asyncio.Future[Any]:
        future = super().run_in_executor(executor, func, *args)
        self.thread_work(future)
        return future


def _hold_clock_for_aiosqlite() -> None:
    """aiosqlite runs each connection's calls on a thread of its own, answering a future it
    made with the running loop: each such future holds the clock."""
    try:
        from aiosqlite import core
    except ImportError:
        return
    if getattr(core.Connection, "_virtual_clock_held", False):
        return
    execute, connect = core.Connection._execute, core.Connection._connect

    async def held(call: Any, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        if not isinstance(loop, VirtualClockLoop):
            return await call(*args, **kwargs)
        marker = loop.create_future()
        loop.thread_work(marker)
        try:
            return await call(*args, **kwargs)
        finally:
            marker.set_result(None)

    async def _execute(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await held(execute, self, fn, *args, **kwargs)

    async def _connect(self: Any) -> Any:
        return await held(connect, self)

    core.Connection._execute = _execute
    core.Connection._connect = _connect
    core.Connection._virtual_clock_held = True


_hold_clock_for_aiosqlite()


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on a fresh virtual-clock loop."""
    with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        return runner.run(main)
