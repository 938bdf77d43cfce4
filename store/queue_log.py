"""The call log as Asterisk's queue_log, so the queue reporting tools a municipality already has can
read vaxel's history (`vaxel export queue-log`).

The format is app_queue's as Asterisk 22 writes it (tests/fixtures/queue_log/, recorded with
`log_membername_as_agent = yes`): `epoch|callid|queue|agent|EVENT|data...`. vaxel's call id is
the callid, a response group the queue, the agent's id the agent. How vaxel's events map:

| vaxel event | queue_log line |
|---|---|
| Queued, and a move to another group | `ENTERQUEUE||<caller>|<position>` |
| Connected | `CONNECT|<hold s>|<agent leg id>|<ring s>` |
| CallEnded after Connected | `COMPLETEAGENT` or `COMPLETECALLER|<hold s>|<talk s>|<position>` |
| OfferFailed (a miss) | `RINGNOANSWER|<ring ms>` |
| Abandoned | `ABANDON|<position>|<original position>|<wait s>` |
| Overflowed (partner, group) | `EXITWITHTIMEOUT|<position>|<original position>|<wait s>` |
| LeftLine | `EXITWITHKEY|<key>|<position>|<original position>|<wait s>` |
| AgentChanged: login, logout | `ADDMEMBER|`, `REMOVEMEMBER|` (callid MANAGER), in each group |
| AgentChanged: paused, ready again | `PAUSE|<reason>` (`Auto-Pause`) / `UNPAUSE|` (callid NONE) |

A full or closed line writes nothing, as app_queue writes nothing for FULL or JOINEMPTY. Hold is
counted from entering that queue, as app_queue counts it; vaxel's own `waited` runs from the
first arrival in any line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Row = Mapping[str, Any]


@dataclass
class _InQueue:
    queue: str
    entered: float
    original: int
    position: int
    offered_at: float | None = None
    connected_at: float | None = None
    hold: int = 0
    leg: str = ""  # the ringing agent leg's id


@dataclass
class QueueLog:
    """Folds the call log's `events` rows, in order, into queue_log lines; `groups` are each
    agent's groups, where their member lines go."""

    groups: Mapping[str, Iterable[str]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    _callers: dict[str, str] = field(default_factory=dict)
    _calls: dict[str, _InQueue] = field(default_factory=dict)
    _paused: dict[str, str | None] = field(default_factory=dict)  # agent -> pause reason

    def _line(self, at: float, callid: str, queue: str, agent: str, event: str,
              *data: object) -> None:
        self.lines.append("|".join([str(int(at)), callid, queue, agent, event,
                                    *(str(d) for d in data)]))

    def add(self, row: Row) -> None:
        kind, at, call_id, data = row["kind"], row["at"], row["call_id"], row["data"]
        group = row["group_id"]
        q = self._calls.get(call_id) if call_id else None
        if kind == "CallArrived":
            self._callers[call_id] = data["caller"]
        elif kind == "Queued" and group:
            self._enter(at, call_id, group, data["position"])
        elif kind == "Announced" and q is not None and data.get("position"):
            q.position = data["position"]
        elif kind == "Offered" and q is not None:
            q.offered_at = at
            q.leg = data.get("leg") or ""
        elif kind == "OfferFailed" and q is not None and data["missed"]:
            ms = round(1000 * (at - (q.offered_at or at)))
            self._line(at, call_id, q.queue, data["agent"], "RINGNOANSWER", ms)
        elif kind == "Connected" and q is not None:
            q.connected_at, q.hold = at, round(at - q.entered)
            ring = round(at - (q.offered_at or at))
            self._line(at, call_id, q.queue, data["agent"], "CONNECT", q.hold, q.leg, ring)
        elif kind == "Abandoned" and q is not None:
            self._leave(at, call_id, "ABANDON")
        elif kind == "Overflowed" and q is not None:
            self._leave(at, call_id, "EXITWITHTIMEOUT")
            if data["target"] != "partner":
                self._enter(at, call_id, data["target"], 1)
        elif kind == "LeftLine" and q is not None:
            self._leave(at, call_id, "EXITWITHKEY", data.get("key", ""))
        elif kind == "CallEnded":
            if q is not None and q.connected_at is not None:
                event = "COMPLETECALLER" if data["hung_up_by"] == "caller" else "COMPLETEAGENT"
                self._line(at, call_id, q.queue, data.get("agent") or "NONE", event, q.hold,
                           round(at - q.connected_at), q.original)
            self._calls.pop(call_id, None)
            self._callers.pop(call_id, None)
        elif kind == "AgentChanged":
            self._agent(at, data)

    def _enter(self, at: float, call_id: str, queue: str, position: int) -> None:
        self._calls[call_id] = _InQueue(queue, at, position, position)
        self._line(at, call_id, queue, "NONE", "ENTERQUEUE", "", self._callers.get(call_id, ""),
                   position)

    def _leave(self, at: float, call_id: str, event: str, *key: str) -> None:
        q = self._calls.pop(call_id)
        self._line(at, call_id, q.queue, "NONE", event, *key, q.position, q.original,
                   round(at - q.entered))

    def _agent(self, at: float, data: Mapping[str, Any]) -> None:
        agent, state, cause = data["agent"], data["state"], data["cause"]
        queues = list(self.groups.get(agent, ())) or ["NONE"]
        was_paused = agent in self._paused
        reason = "Auto-Pause" if cause == "auto_pause" else (data.get("reason") or "")
        if cause == "login":
            for queue in queues:
                self._line(at, "MANAGER", queue, agent, "ADDMEMBER",
                           "PAUSED" if state == "paused" else "")
        elif state == "logged_out":
            for queue in queues:
                self._line(at, "MANAGER", queue, agent, "REMOVEMEMBER", "")
        elif state == "paused" and self._paused.get(agent, "\0") != reason:
            for queue in queues:  # a new reason is a new PAUSE line, as app_queue writes
                self._line(at, "NONE", queue, agent, "PAUSE", reason)
        elif state == "ready" and was_paused:
            for queue in queues:
                self._line(at, "NONE", queue, agent, "UNPAUSE", "")
        if state == "paused":
            self._paused[agent] = reason
        elif state in ("ready", "logged_out"):
            self._paused.pop(agent, None)


def export(rows: Iterable[Row], groups: Mapping[str, Iterable[str]] | None = None) -> str:
    """queue_log lines of the `events` rows. Without `groups` (the configuration's), each agent's
    member lines go to the groups they were offered calls from in these rows."""
    rows = list(rows)
    if not groups:
        seen: dict[str, list[str]] = {}
        for row in rows:
            if row["kind"] == "Offered" and row["group_id"]:
                mine = seen.setdefault(row["data"]["agent"], [])
                if row["group_id"] not in mine:
                    mine.append(row["group_id"])
        groups = seen
    log = QueueLog(groups)
    for row in rows:
        log.add(row)
    return "".join(line + "\n" for line in log.lines)
