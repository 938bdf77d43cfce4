"""A group's ready agents, ordered the way the group's strategy offers them calls.

Agents sit in one SortedList per skill level, keyed so that the first entry is the one the strategy
prefers; finding the best agent for a call admitting levels <= L looks at no more than L list heads
(one bisect each for round robin), so it costs O(log n) whatever the number of agents. Keys are
fixed while an agent is ready: everything they depend on (ready since, calls answered) changes only
while the agent is not.
"""

from __future__ import annotations

from sortedcontainers import SortedList

from queues.group import Strategy

MAX_LEVEL = 9


class ReadyAgents:
    def __init__(self, strategy: Strategy, ring: dict[str, int]) -> None:
        self._strategy = strategy
        self._ring = ring  # member order in the group, for round robin and stable tie-breaks
        self._levels: dict[int, SortedList] = {}
        self._entries: dict[str, tuple[int, tuple[object, ...]]] = {}
        self._last_offered = -1  # round robin memory: ring index of the last agent offered a call

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._entries

    def add(self, agent_id: str, level: int, ready_since: float, answered: int) -> None:
        ring = self._ring[agent_id]
        key: tuple[object, ...]
        match self._strategy:
            case Strategy.ROUND_ROBIN:
                key = (ring, agent_id)
            case Strategy.FEWEST_CALLS:
                key = (answered, ready_since, ring, agent_id)
            case Strategy.LONGEST_IDLE | Strategy.SKILL_WIDENING:
                key = (ready_since, ring, agent_id)
        lst = self._levels.get(level)
        if lst is None:
            lst = self._levels[level] = SortedList()
        lst.add(key)
        self._entries[agent_id] = (level, key)

    def discard(self, agent_id: str) -> None:
        entry = self._entries.pop(agent_id, None)
        if entry is not None:
            level, key = entry
            self._levels[level].remove(key)

    def best(self, max_level: int) -> str | None:
        """The agent this group offers its next call to, among levels <= max_level."""
        if not self._entries:
            return None
        levels = [self._levels[lv] for lv in range(1, max_level + 1) if self._levels.get(lv)]
        if not levels:
            return None
        if self._strategy is Strategy.SKILL_WIDENING:
            return str(levels[0][0][-1])  # most skilled level first, longest idle within it
        if self._strategy is Strategy.ROUND_ROBIN:
            after = [lst[i] for lst in levels if (i := lst.bisect_left((self._last_offered + 1,)))
                     < len(lst)]
            return str(min(after or [lst[0] for lst in levels])[-1])
        return str(min(lst[0] for lst in levels)[-1])

    def offered(self, agent_id: str) -> None:
        """Remembers who was offered a call last (round robin resumes after them)."""
        self._last_offered = self._ring[agent_id]
