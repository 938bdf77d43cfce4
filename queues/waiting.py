"""A group's waiting list: priority first (higher first), then original arrival.

Each priority class is a SortedList keyed on (arrival, sequence), so adding, removing and finding a
caller's position all take O(log n), and the head of each class is at hand for matching. A caller
moved here from another group keeps the arrival time and sequence number given at first arrival,
and so keeps its place relative to everyone else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sortedcontainers import SortedList


@dataclass(slots=True)
class WaitingCall:
    call_id: str
    priority: int
    arrival: float  # first arrival at the contact centre; kept across moves and partner returns
    seq: int  # tie-breaker for equal arrival times, fixed at first arrival

    @property
    def key(self) -> tuple[float, int, str]:
        return (self.arrival, self.seq, self.call_id)


class WaitingList:
    def __init__(self) -> None:
        self._classes: dict[int, SortedList] = {}
        self._priorities: list[int] = []  # descending
        self._calls: dict[str, WaitingCall] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._calls

    def get(self, call_id: str) -> WaitingCall:
        return self._calls[call_id]

    def add(self, call: WaitingCall) -> None:
        if call.call_id in self._calls:
            raise ValueError(f"call {call.call_id!r} is already waiting")
        cls = self._classes.get(call.priority)
        if cls is None:
            cls = self._classes[call.priority] = SortedList()
            self._priorities = sorted(self._classes, reverse=True)
        cls.add(call.key)
        self._calls[call.call_id] = call

    def remove(self, call_id: str) -> WaitingCall:
        call = self._calls.pop(call_id)
        cls = self._classes[call.priority]
        cls.remove(call.key)
        if not cls:
            del self._classes[call.priority]
            self._priorities = sorted(self._classes, reverse=True)
        return call

    def position(self, call_id: str) -> int:
        """1 for the caller next in line."""
        call = self._calls[call_id]
        ahead = 0
        for priority in self._priorities:
            cls = self._classes[priority]
            if priority == call.priority:
                return ahead + int(cls.index(call.key)) + 1
            ahead += len(cls)
        raise AssertionError("unreachable: a waiting call is always in its class")

    def heads(self) -> Iterator[WaitingCall]:
        """The first caller of each priority class, highest priority first."""
        for priority in self._priorities:
            yield self._calls[self._classes[priority][0][2]]

    def __iter__(self) -> Iterator[WaitingCall]:
        """Every caller in line order."""
        for priority in self._priorities:
            for key in list(self._classes[priority]):
                yield self._calls[key[2]]
