"""The live pages' views: the agent's, the wallboard's and the supervisor's, each a JSON picture
of the contact centre now, sent as server-sent events at once and again whenever the bus moved
(and each second, for the waits). A page that reconnects gets the whole picture again, so it is
right after any drop; nothing is sent incrementally.

The wallboard's alarms (a group's day below the goal, a wait over the alarm level, an open group
with nobody logged in) are worked out here, shown on the wallboard, and published as Alarm
events when they go on or off (web/app.py runs `watch_alarms`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from agents.state import AgentState
from controller import events as ev
from queues.callback import CallbackRequest, grouped
from queues.lifecycle import CallPhase
from web.auth import SESSION_COOKIE, Who, by_token
from web.context import CENTRE, WEB, refuse, who

if TYPE_CHECKING:
    from config.schema import IvrConfig
    from controller.bootstrap import Centre
    from controller.engine import CallState

VIEWS = ("agent", "wallboard", "supervisor")
TICK = 1.0  # seconds: the waits move on the pages at least this often
KEEPALIVE = 15.0  # seconds: a comment on a quiet stream keeps proxies from closing it
MIN_GOAL_CALLS = 5  # a day's goal share alarms only once this many calls count


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def ivr_words(events: Sequence[ev.Event], config: IvrConfig) -> str:
    """The caller's way through the menus in words: "huvudmeny 2 → bygg-och-miljo 1 →
    Bygglov"."""
    steps: list[str] = []
    for e in events:
        if isinstance(e, ev.IvrStep) and e.step == "key" and e.key:
            steps.append(f"{e.menu} {e.key}")
        elif isinstance(e, ev.IvrDone) and e.target:
            group = config.groups.get(e.target)
            steps.append(group.name if group is not None else e.target)
            if e.language != "sv":
                steps.append(f"({e.language})")
    return " → ".join(steps)


def _waited(centre: Centre, state: CallState) -> float | None:
    if state.arrival is None:
        return None
    return round(centre.controller.now() - state.arrival, 1)


def _call(centre: Centre, state: CallState, *, caller: bool) -> dict[str, Any]:
    config = state.version.config
    group = config.groups.get(state.group or "")
    out: dict[str, Any] = {"id": state.call_id, "phase": state.phase.value, "group": state.group,
           "group_name": group.name if group is not None else None,
           "waited": _waited(centre, state), "agent": state.agent,
           "path": ivr_words(centre.journal.calls.get(state.call_id, []), config),
           "language": state.language}
    if caller:
        out["caller"] = state.caller or None
        out["number"] = state.number
    if state.consult is not None:  # an attended transfer under way
        out["consult"] = {"name": state.consult.target.name,
                          "answered": state.consult.answered}
    return out


def _callback(centre: Centre, req: CallbackRequest) -> dict[str, Any]:
    """A callback request as the pages show it: the number to call, the caller's way through
    the menus (while the journal has it), its attempts."""
    ctl = centre.controller
    config = ctl.version.config
    group = config.groups.get(req.group)
    now = ctl.now()
    position = ctl.router.position(req.call_id) if req.in_line and req.pending else None
    return {"id": req.call_id, "phase": req.phase.value, "group": req.group,
            "group_name": group.name if group is not None else req.group,
            "waited": round(now - req.arrival, 1), "agent": req.agent,
            "path": ivr_words(centre.journal.events_of(req.call_id), config),
            "language": req.language, "caller": grouped(req.number), "number": req.number,
            "callback": True, "attempts": req.attempts, "results": list(req.results),
            "requested": round(now - req.requested_at, 1), "position": position,
            "next_in": round(req.due - now) if req.pending and req.due > now else None,
            "priority": req.priority}


def callbacks_view(centre: Centre) -> list[dict[str, Any]]:
    """Every callback request not yet done, in line order per group."""
    ctl = centre.controller
    return [_callback(centre, r) for r in sorted(
        ctl.desk.requests.values(), key=lambda r: (r.group, -r.priority, r.arrival))]


def agent_view(centre: Centre, agent_id: str) -> dict[str, Any]:
    """What one agent's panel shows: their state, the call offered or taken (number, the way
    through the menus, the group's answer script), the wrap-up, the pause reasons."""
    centre.catch_up()
    ctl = centre.controller
    config = ctl.version.config
    agent = ctl.router.agents[agent_id]
    call = None
    if agent.call_id is not None and (req := ctl.desk.requests.get(agent.call_id)) is not None:
        group = config.groups.get(req.group)
        call = {**_callback(centre, req), "script": group.script if group is not None else ""}
    elif agent.call_id is not None and (state := ctl.calls.get(agent.call_id)) is not None:
        group = state.version.config.groups.get(state.group or "")
        call = {**_call(centre, state, caller=True),
                "script": group.script if group is not None else ""}
    wrapping = forwarded_to = None
    if agent.state is AgentState.WRAP_UP:
        wrapping = ctl.wrapping(agent_id)
        forwarded = ctl.forwarded.get(agent_id)
        if forwarded is not None and forwarded[0] == wrapping:
            forwarded_to = forwarded[1]  # the wrap-up's department, filled in
    known = config.agents.get(agent_id)
    return {
        "view": "agent", "agent": agent_id, "name": agent.name or agent_id,
        "state": agent.state.value, "reason": agent.pause_reason,
        "in_state": round(ctl.now() - agent.state_since),
        "groups": [{"id": gid, "name": config.groups[gid].name if gid in config.groups
                    else gid, "level": level, "serving": gid in agent.memberships}
                   for gid, level in (known.groups.items() if known else ())],
        "call": call, "wrap_up_call": wrapping, "forwarded_to": forwarded_to,
        "pause_reasons": list(config.web.pause_reasons),
        "all_groups": [{"id": gid, "name": g.name} for gid, g in config.groups.items()],
    }


def _groups(centre: Centre) -> list[dict[str, Any]]:
    ctl = centre.controller
    config = ctl.version.config
    opening = ctl.opening()
    wb = config.web.wallboard
    goals = config.goals
    waits: dict[str, list[float]] = {}
    for state in ctl.calls:
        if state.phase is CallPhase.WAITING and state.group is not None:
            waited = _waited(centre, state)
            waits.setdefault(state.group, []).append(waited or 0.0)
    out = []
    for gid, group in config.groups.items():
        members = [ctl.router.agents[a] for a, known in config.agents.items()
                   if gid in known.groups and a in ctl.router.agents]
        states = [a.state for a in members]
        day = centre.counters.today.get(gid)
        f = day.figures() if day is not None else None
        waiting = waits.get(gid, [])
        longest = max(waiting, default=0.0)
        goal = f.goal if f is not None else None
        counted = f.counted if f is not None else 0
        row = {
            "id": gid, "name": group.name, "open": opening.get(gid, True),
            "manual": gid in ctl.manual, "waiting": len(waiting), "longest_wait": longest,
            "callbacks": sum(1 for r in ctl.desk.requests.values() if r.group == gid),
            "overflow": ctl.overflowing(gid) if gid in ctl.router.group_ids() else False,
            "can_overflow": any(rule.when == "manual" for rule in group.overflow),
            "ready": states.count(AgentState.READY),
            "talking": states.count(AgentState.BUSY) + states.count(AgentState.RINGING),
            "wrap_up": states.count(AgentState.WRAP_UP),
            "paused": states.count(AgentState.PAUSED),
            "logged_in": sum(s is not AgentState.LOGGED_OUT for s in states),
            "answered": f.answered if f else 0,
            "service_level": f.service_level if f else None,
            "goal": goal, "counted": counted,
            "partner": _share(f.partner_answered, f.answered + f.partner_answered) if f else None,
        }
        alarms = []  # (kind, detail in words for the event, the figure the page words)
        slipping = goal is not None and counted >= MIN_GOAL_CALLS
        if slipping and goal is not None and goal < goals.answered_target:
            alarms.append(("goal", f"{100 * goal:.0f} % answered within "
                                   f"{goals.answered_within / 60:g} min today (goal "
                                   f"{100 * goals.answered_target:.0f} %)", goal))
        if longest >= wb.wait_alarm:
            alarms.append(("wait", f"a caller has waited {longest / 60:.0f} min", longest))
        if row["open"] and row["logged_in"] == 0:
            alarms.append(("no_agents", "open, and nobody logged in", 0))
        row["alarms"] = [{"kind": k, "detail": d, "value": v} for k, d, v in alarms]
        level = "ok"
        if len(waiting) >= wb.waiting_warn or longest >= wb.wait_warn or (
                slipping and goal is not None and goal < goals.answered_aim):
            level = "warn"
        if alarms or len(waiting) >= wb.waiting_alarm:
            level = "alarm"
        row["level"] = level
        out.append(row)
    return out


def wallboard_view(centre: Centre) -> dict[str, Any]:
    """The big screen: per group the line, the day against the goal, the agents, alarms."""
    centre.catch_up()
    ctl = centre.controller
    config = ctl.version.config
    return {"view": "wallboard", "time": f"{ctl.wallclock():%H:%M}",
            "crisis": ctl.router.crisis, "overload": ctl.overloaded,
            "link": ctl.link.connected, "groups": _groups(centre),
            "goal": {"within": config.goals.answered_within,
                     "target": config.goals.answered_target, "aim": config.goals.answered_aim}}


def supervisor_view(centre: Centre) -> dict[str, Any]:
    """The supervisor's page: every live call, every agent with time in state, the groups,
    the crisis switch, today's KPIs."""
    from web.api import _crisis_until, _kpi

    centre.catch_up()
    ctl = centre.controller
    config = ctl.version.config
    now = ctl.now()
    calls = sorted((_call(centre, s, caller=True) for s in ctl.calls),
                   key=lambda c: -(c["waited"] or 0.0))
    agents = [{"id": aid, "name": a.name or aid, "state": a.state.value,
               "reason": a.pause_reason, "in_state": round(now - a.state_since),
               "call": a.call_id} for aid, a in ctl.router.agents.items()]
    return {"view": "supervisor", "time": f"{ctl.wallclock():%H:%M}",
            "crisis": {"on": ctl.router.crisis, "until": _crisis_until(centre),
                       "prompt": config.crisis.prompt},
            "overload": ctl.overloaded, "link": ctl.link.connected, "calls": calls,
            "agents": agents, "groups": _groups(centre),
            "callbacks": callbacks_view(centre),
            "kpi": _kpi(centre.counters.figures()),
            "pause_reasons": list(config.web.pause_reasons)}


def view_of(centre: Centre, name: str, user: Who, agent: str | None) -> dict[str, Any]:
    """A view for a user; raises LookupError (404), PermissionError (403)."""
    if name == "wallboard":
        return wallboard_view(centre)
    if name == "supervisor":
        if not user.may("supervisor"):
            raise PermissionError("the supervisor's view needs the supervisor role")
        return supervisor_view(centre)
    if name == "agent":
        agent = agent or user.agent
        if agent is None:
            raise LookupError(f"{user.user} is no agent: name one (?agent=)")
        if agent != user.agent and not user.may("supervisor"):
            raise PermissionError(f"{user.user} may see only agent {user.agent!r}'s panel")
        if agent not in centre.controller.router.agents:
            raise LookupError(f"unknown agent {agent!r}")
        return agent_view(centre, agent)
    raise LookupError(f"no view {name!r}: {', '.join(VIEWS)}")


async def view(request: web.Request) -> web.Response:
    try:
        data = view_of(request.app[CENTRE], request.match_info["view"], who(request),
                       request.query.get("agent"))
    except LookupError as err:
        return refuse(404, str(err).strip("'\""))
    except PermissionError as err:
        return refuse(403, str(err))
    return web.json_response(data)


async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the view as `data:` whenever it differs from the last one sent; a
    comment every 15 s keeps proxies from closing a quiet stream."""
    centre, user = request.app[CENTRE], who(request)
    name, agent = request.match_info["view"], request.query.get("agent")
    try:
        data = view_of(centre, name, user, agent)
    except LookupError as err:
        return refuse(404, str(err).strip("'\""))
    except PermissionError as err:
        return refuse(403, str(err))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    last, written, serial = "", loop.time(), centre.changes.serial
    with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
        while True:
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            if text != last:
                await response.write(f"retry: 2000\ndata: {text}\n\n".encode())
                last, written = text, loop.time()
            elif loop.time() - written >= KEEPALIVE:
                await response.write(b": still here\n\n")
                written = loop.time()
            serial = await centre.changes.wait(serial, TICK)
            if not _still_in(request, user):
                break  # logged out, expired or removed: the page reconnects, and logs in
            try:
                data = view_of(centre, name, user, agent)
            except (LookupError, PermissionError):
                break  # the agent is gone from the configuration: the page reconnects
    return response


def _still_in(request: web.Request, user: Who) -> bool:
    config = request.app[CENTRE].history.active.config
    if user.via == "token":
        token = request.headers.get("Authorization", "")[7:].strip()
        return by_token(config.users, token) is not None
    key = request.cookies.get(SESSION_COOKIE, "")
    return user.user in config.users and request.app[WEB].sessions.alive(key,
                                                                          config.web.session)


async def watch_alarms(centre: Centre, every: float = TICK) -> None:
    """Publishes an Alarm event when a wallboard alarm goes on or off (web/app.py's task)."""
    active: dict[tuple[str, str], str] = {}
    while True:
        ctl = centre.controller
        now_on: dict[tuple[str, str], str] = {}
        for row in _groups(centre):
            for alarm in row["alarms"]:
                now_on[(row["id"], alarm["kind"])] = alarm["detail"]
        for key in now_on.keys() - active.keys():
            ctl.bus.publish(ev.Alarm(at=ctl.now(), version=ctl.version.number, group=key[0],
                                     kind=key[1], on=True, detail=now_on[key]))
        for key in active.keys() - now_on.keys():
            ctl.bus.publish(ev.Alarm(at=ctl.now(), version=ctl.version.number, group=key[0],
                                     kind=key[1], on=False, detail=active[key]))
        active = now_on
        await asyncio.sleep(every * ctl.time_scale)
