"""The JSON API (its routes and roles: web/app.py; the document: GET /api/openapi.json).

Errors are JSON {"error": "..."} with 400 (a refused transition, a bad field; a configuration
with errors, with "problems" as file:line:column lines), 401 (not logged in), 403 (not this
user's to do), 404 (an unknown agent, call or group). Every change is a line of the audit log
(an Audited event, into the call log): who, what, from which address.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from agents.state import AgentState, IllegalTransition
from config.errors import ConfigError
from queues.callback import CallbackPhase
from queues.kpi import COUNTS, WRAP_UP_REASONS, Figures
from queues.router import UnknownEntity
from web.context import CENTRE, audit, json_body, reader, refuse, text_field, who

if TYPE_CHECKING:
    from controller.bootstrap import Centre


def _obj(required: tuple[str, ...] = (), **props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(required)}


_STR, _INT, _BOOL, _NUM = ({"type": "string"}, {"type": "integer"}, {"type": "boolean"},
                           {"type": "number"})
_OPT_STR = {"type": ["string", "null"]}
# The JSON of the requests and answers (web/openapi.py puts them in the document; the tests
# check real answers against them).
SCHEMAS: dict[str, dict[str, Any]] = {
    "health": _obj(("status",), status={"enum": ["ok", "not ready"]}, ami=_BOOL),
    "login": _obj(("user", "password"), user=_STR, password=_STR),
    "whoami": _obj(("user", "role", "csrf"), user=_STR, role={"enum": ["agent", "supervisor",
                                                                       "admin"]},
                   agent=_OPT_STR, name=_STR, csrf=_STR),
    "status": _obj(("version", "ami", "groups", "agents", "calls", "counts", "kpi"),
                   version=_INT, version_id=_STR, ami={"type": "object"},
                   hours={"type": "object"}, groups={"type": "object"},
                   agents={"type": "object"}, calls={"type": "object"},
                   counts={"type": "object"}, kpi={"type": "object"},
                   overload={"type": "object"}, manual={"type": "object"},
                   crisis={"type": "object"}, callbacks={"type": "object"}),
    "agent_action": _obj(reason=_STR),
    "agent_state": _obj(("agent", "state"), agent=_STR, state=_STR),
    "agent_groups": _obj(("groups",), groups={"type": "array", "items": _STR, "minItems": 1}),
    "agent_groups_answer": _obj(("agent", "groups"), agent=_STR,
                                groups={"type": "array", "items": _STR}),
    "wrap_up": _obj(("agent", "reason", "resolved"), agent=_STR,
                    reason={"enum": list(WRAP_UP_REASONS)}, resolved=_BOOL,
                    department=_OPT_STR, note=_OPT_STR),
    "wrap_up_answer": _obj(("call", "wrap_up_ended"), call=_STR, wrap_up_ended=_BOOL),
    "history": _obj(("call", "contacts"), call=_STR, available=_BOOL, contacts={
        "type": "array", "items": _obj(("call_id", "arrived_at", "outcome"), call_id=_STR,
                                       arrived_at=_NUM, group=_OPT_STR, outcome=_STR,
                                       agent=_OPT_STR, reason=_OPT_STR, department=_OPT_STR,
                                       resolved={"type": ["boolean", "null"]}, note=_STR)}),
    "crisis": _obj(("on",), on=_BOOL, minutes={"type": ["integer", "null"], "minimum": 1,
                                               "maximum": 10080}),
    "crisis_answer": _obj(("crisis",), crisis=_BOOL, until=_OPT_STR),
    "opening": _obj(("mode",), mode={"enum": ["open", "closed", "auto"]}),
    "callbacks": _obj(("callbacks",), callbacks={"type": "array", "items": _obj(
        ("id", "group", "phase", "number", "waited", "attempts"), id=_STR, group=_STR,
        phase={"enum": ["pending", "offered", "dialling", "connected"]}, number=_STR,
        waited=_NUM, attempts=_INT, position={"type": ["integer", "null"]},
        next_in={"type": ["number", "null"]}, agent=_OPT_STR)}),
    "callback_answer": _obj(("id", "action"), id=_STR, action={"enum": ["cancel", "first"]}),
    "transfer": _obj(("to",), to=_STR, how={"enum": ["blind", "attended"]}),
    "transfer_step": _obj(("call", "action"), call=_STR,
                          action={"enum": ["complete", "cancel"]}),
    "transfer_answer": _obj(("call", "to", "name"), call=_STR, to=_STR, name=_STR,
                            department=_OPT_STR),
    "directory": _obj(("entries",), entries={"type": "array", "items": _obj(
        ("id", "name", "number"), id=_STR, name=_STR, number=_STR, department=_STR,
        title=_STR, absence=_STR, function=_BOOL)}),
    "opening_answer": _obj(("group", "mode", "open"), group=_STR, mode=_STR, open=_BOOL),
    "overflow": _obj(("on",), on=_BOOL),
    "overflow_answer": _obj(("group", "overflow"), group=_STR, overflow=_BOOL),
    "activated": _obj(("version", "version_id", "changes"), version=_INT, version_id=_STR,
                      changes={"type": "array", "items": _STR}),
    "audit": _obj(("lines",), lines={"type": "array", "items": _obj(
        ("at", "who", "action", "detail", "source"), at=_NUM, who=_STR, action=_STR,
        detail=_STR, source=_STR)}, available=_BOOL),
    "config_files": _obj(("files", "versions"), files={"type": "array", "items": _obj(
        ("name", "text"), name=_STR, text=_STR)}, versions={"type": "array", "items": _obj(
            ("number", "checksum", "active", "kept"), number=_INT, checksum=_STR,
            activated_at=_STR, active=_BOOL, kept=_BOOL)}),
    "config_edit": _obj(("files",), files={"type": "object",
                                           "additionalProperties": _STR}),
    "config_checked": _obj(("ok", "problems", "changes"), ok=_BOOL, problems={
        "type": "array", "items": _obj(("file", "line", "column", "message", "severity"),
                                       file=_STR, line=_INT, column=_INT, message=_STR,
                                       severity=_STR)},
        changes={"type": "array", "items": _STR}),
    "rollback": _obj(("version",), version=_INT),
}


def status(centre: Centre) -> dict[str, Any]:
    centre.catch_up()
    ctl = centre.controller
    router = ctl.router
    link = ctl.link.statistics()
    return {
        "version": ctl.version.number,
        "version_id": ctl.version.checksum,  # as `vaxel check` prints it
        "ami": {"connected": ctl.link.connected, "address": ctl.link.address,
                "last_error": link.last_error, "connects": link.connects,
                "events": link.events, "actions": link.actions_sent},
        "hours": {gid: "open" if is_open else "closed" for gid, is_open in ctl.opening().items()},
        "groups": router.statistics(),
        "agents": {aid: {"state": a.state.value, "reason": a.pause_reason,
                         "call": a.call_id} for aid, a in router.agents.items()},
        "overload": {"active": ctl.overloaded, "lag_ms": round(link.lag_ms, 1),
                     "oldest_unanswered_ms": round(1000 * ctl.link.oldest_unanswered(), 1),
                     "unanswered": link.pending, "held_back": link.waited_for_room},
        "calls": {s.call_id: {"channel": s.channel, "phase": s.phase.value, "group": s.group,
                              "agent": s.agent, "events": centre.journal.story(s.call_id)}
                  for s in ctl.calls},
        "counts": centre.statistics(),
        "kpi": _kpi(centre.counters.figures()),
        "subscribers": centre.bus.statistics(),
        "integrations": {name: i.statistics() for name, i in centre.integrations.items()},
        "store": None if centre.store is None else centre.store.statistics(),
        "manual": {gid: "open" if is_open else "closed" for gid, is_open in ctl.manual.items()},
        "crisis": {"on": router.crisis, "until": _crisis_until(centre)},
        "callbacks": {phase.value: sum(r.phase is phase for r in ctl.desk.requests.values())
                      for phase in CallbackPhase if phase is not CallbackPhase.ENDED},
    }


def _kpi(f: Figures) -> dict[str, Any]:
    """The KPIs of the calls ended since start, as the reports count them (docs/kpi.md)."""
    return {**{name: getattr(f, name) for name in COUNTS}, **f.ratios()}


def metrics(centre: Centre) -> str:
    """Prometheus' text format, by hand: a handful of lines (prometheus_client's registry is
    process-global, and every figure here is already counted)."""
    ctl = centre.controller
    lines: list[str] = []

    def metric(name: str, kind: str, what: str, values: dict[str, float]) -> None:
        lines.append(f"# HELP vaxel_{name} {what}")
        lines.append(f"# TYPE vaxel_{name} {kind}")
        for labels, value in values.items():
            lines.append(f"vaxel_{name}{labels} {value:g}")

    counts = centre.statistics()
    for key in ("calls", "answered", "within_threshold", "within_2_minutes", "abandoned",
                "partner", "refused", "turned_away", "auto_paused", "orphans"):
        metric(f"{key}_total", "counter", f"{key.replace('_', ' ')} since start",
               {"": counts[key]})
    metric("waiting", "gauge", "callers in a line now", {"": counts["waiting"]})
    metric("in_menus", "gauge", "callers in the menus now", {"": counts["in_menus"]})
    stats = ctl.router.statistics()
    metric("group_waiting", "gauge", "callers in each group's line now",
           {f'{{group="{gid}"}}': float(g["waiting"]) for gid, g in stats.items()})
    states = [a.state.value for a in ctl.router.agents.values()]
    metric("agents", "gauge", "agents in each state now",
           {f'{{state="{s.value}"}}': float(states.count(s.value)) for s in AgentState})
    outcomes = centre.counters.tally.n
    metric("calls_ended_total", "counter", "calls ended since start, by outcome (docs/kpi.md)",
           {f'{{outcome="{k}"}}': float(outcomes.get(k, 0)) for k in OUTCOME_COUNTS})
    metric("ami_connected", "gauge", "1 while the AMI link is up",
           {"": float(ctl.link.connected)})
    metric("overloaded", "gauge", "1 while new callers are told to call again",
           {"": float(ctl.overloaded)})
    metric("ami_lag_seconds", "gauge", "how late Asterisk answers actions (moving average)",
           {"": ctl.link.lag})
    metric("ami_oldest_unanswered_seconds", "gauge",
           "how long the oldest action without Asterisk's answer has waited",
           {"": ctl.link.oldest_unanswered()})
    subs = centre.bus.statistics()
    metric("events_dropped_total", "counter", "events a subscriber lost (its queue was full)",
           {f'{{subscriber="{n}"}}': s["dropped"] for n, s in subs.items()})
    metric("events_queued", "gauge", "events waiting for a subscriber",
           {f'{{subscriber="{n}"}}': s["queued"] for n, s in subs.items()})
    per_target = {f'{{target="{n}"}}': i.statistics() for n, i in centre.integrations.items()}
    for key, what in (("published", "events the MQTT broker acknowledged"),
                      ("delivered", "events a webhook's receiver accepted"),
                      ("expired", "events a webhook gave up on")):
        values = {label: float(s[key]) for label, s in per_target.items() if key in s}
        if values:
            metric(f"integration_{key}_total", "counter", what, values)
    connected = {label: float(s["connected"]) for label, s in per_target.items()
                 if "connected" in s}
    if connected:
        metric("integration_connected", "gauge", "1 while connected to the broker", connected)
    if centre.store is not None:
        store = centre.store.statistics()
        metric("store_connected", "gauge", "1 while the call log's database takes writes",
               {"": float(store["connected"])})
        for key, what in (("written", "events written to the call log"),
                          ("spooled", "events spooled to disk while the database was away"),
                          ("replayed", "spooled events written once it was back")):
            metric(f"store_{key}_total", "counter", what, {"": store[key]})
        metric("store_spool", "gauge", "events waiting in the call log's spool",
               {"": store["in_spool"]})
    return "\n".join(lines) + "\n"




async def healthz(request: web.Request) -> web.Response:
    """The process answers: nothing about the calls (it needs no login)."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ready = request.app[CENTRE].controller.link.connected
    return web.json_response({"status": "ok" if ready else "not ready", "ami": ready},
                             status=200 if ready else 503)


async def openapi(request: web.Request) -> web.Response:
    from web.openapi import document

    return web.json_response(document())


async def whoami(request: web.Request) -> web.Response:
    return web.json_response(whoami_of(request))


def whoami_of(request: web.Request) -> dict[str, Any]:
    user = who(request)
    return {"user": user.user, "role": user.role, "agent": user.agent, "name": user.name,
            "csrf": user.csrf}


async def status_page(request: web.Request) -> web.Response:
    return web.json_response(status(request.app[CENTRE]))


ACTIONS = ("login", "ready", "pause", "logout")


async def agent_action(request: web.Request) -> web.Response:
    """An agent for themselves; a supervisor for anyone (a forced pause or logout, with a
    reason of their own words: it goes into the audit log)."""
    centre, user = request.app[CENTRE], who(request)
    ctl = centre.controller
    agent_id, action = request.match_info["agent"], request.match_info["action"]
    if action not in ACTIONS:
        return refuse(404, f"no action {action!r}: {', '.join(ACTIONS)}")
    if agent_id != user.agent and not user.may("supervisor"):
        audit(request, "refused", f"agent {action} {agent_id}: not {user.user}'s agent")
        return refuse(403, f"{user.user} may act only as agent {user.agent!r}")
    try:
        body = await json_body(request)
        reason = text_field(body, "reason", 60)
        if action == "pause":
            allowed = centre.history.active.config.web.pause_reasons
            if reason is None:
                raise ValueError("give a reason of 1-60 characters" + (
                    f": one of {', '.join(allowed)}" if allowed else ""))
            forced = agent_id != user.agent
            if allowed and not forced and reason not in allowed:
                raise ValueError(f"reason {reason!r}: one of {', '.join(allowed)}")
            ctl.agent_pause(agent_id, reason)
        elif action == "login":
            ctl.agent_login(agent_id)
        elif action == "ready":
            ctl.agent_ready(agent_id)
        else:
            ctl.agent_logout(agent_id)
    except UnknownEntity as err:
        return refuse(404, str(err))
    except (IllegalTransition, ValueError) as err:
        return refuse(400, str(err))
    agent = ctl.router.agents[agent_id]
    by = "" if agent_id == user.agent else f" by {user.user}"
    audit(request, f"agent {action}", agent_id + by + (f" ({reason})" if reason else ""))
    return web.json_response({"agent": agent_id, "state": agent.state.value})


OUTCOME_COUNTS = ("answered", "abandoned", "short_abandoned", "abandoned_in_ivr", "overflowed",
                  "partner_answered", "closed", "refused", "callbacks", "resolved_in_ivr",
                  "transferred", "unfinished")
async def agent_groups(request: web.Request) -> web.Response:
    """The groups an agent serves now (of theirs): the agent for themselves, or a
    supervisor."""
    ctl, user = request.app[CENTRE].controller, who(request)
    agent_id = request.match_info["agent"]
    if agent_id != user.agent and not user.may("supervisor"):
        audit(request, "refused", f"agent groups {agent_id}: not {user.user}'s agent")
        return refuse(403, f"{user.user} may act only as agent {user.agent!r}")
    try:
        groups = (await json_body(request)).get("groups")
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise ValueError('send {"groups": ["vaxeln", ...]}')
        ctl.choose_groups(agent_id, groups)
    except UnknownEntity as err:
        return refuse(404, str(err))
    except ValueError as err:
        return refuse(400, str(err))
    serving = sorted(ctl.router.agents[agent_id].memberships)
    audit(request, "agent groups", f"{agent_id}: {', '.join(serving)}")
    return web.json_response({"agent": agent_id, "groups": serving})


CALL_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


async def wrap_up(request: web.Request) -> web.Response:
    ctl, user = request.app[CENTRE].controller, who(request)
    call_id = request.match_info["call"]
    try:
        body = await json_body(request)
        if not CALL_ID.match(call_id):
            raise ValueError(f"{call_id!r} is not a call id")
        resolved = body.get("resolved")
        if not isinstance(resolved, bool):
            raise ValueError("resolved: true or false (solved at the first contact?)")
        agent = text_field(body, "agent", 64) or user.agent or ""
        if agent != user.agent and not user.may("supervisor"):
            return refuse(403, f"{user.user} may wrap up only as agent {user.agent!r}")
        reason = text_field(body, "reason", 16, required=True) or ""
        ended = ctl.wrap_up(agent, call_id, reason, resolved, text_field(body, "department", 100),
                            text_field(body, "note", 500) or "")
    except UnknownEntity as err:
        return refuse(404, str(err))
    except ValueError as err:
        return refuse(400, str(err))
    audit(request, "wrap-up", f"{call_id} by {agent}: {reason}")
    return web.json_response({"call": call_id, "wrap_up_ended": ended})


async def history(request: web.Request) -> web.Response:
    """The caller's earlier contacts, for the agent the call is offered to or taken by (or a
    supervisor): nobody browses callers' numbers."""
    from store.lookup import earlier_contacts

    ctl, user = request.app[CENTRE].controller, who(request)
    call_id = request.match_info["call"]
    state, req = ctl.calls.get(call_id), ctl.desk.requests.get(call_id)
    if req is not None:  # a callback: the call that asked for it is a contact to see too
        agent, caller, besides = req.agent, req.number, ""
    elif state is not None:
        agent, caller, besides = state.agent, state.caller, call_id
    else:
        return refuse(404, f"no call {call_id!r} now")
    if agent != user.agent and not user.may("supervisor"):
        return refuse(403, f"call {call_id} is not offered to {user.user}")
    db = await reader(request)
    if db is None:
        return web.json_response({"call": call_id, "available": False, "contacts": []})
    try:
        found = await earlier_contacts(db, caller, besides=besides)
    except Exception:  # the database's: the panel says the history cannot be read now
        return web.json_response({"call": call_id, "available": False, "contacts": []})
    return web.json_response({"call": call_id, "available": True,
                              "contacts": [dataclasses.asdict(c) for c in found]})


async def crisis(request: web.Request) -> web.Response:
    ctl = request.app[CENTRE].controller
    try:
        body = await json_body(request)
    except ValueError as err:
        return refuse(400, str(err))
    on, minutes = body.get("on"), body.get("minutes")
    if not isinstance(on, bool):
        return refuse(400, 'send {"on": true} or {"on": false}')
    if minutes is not None and (not isinstance(minutes, int) or isinstance(minutes, bool)
                                or not 1 <= minutes <= 10080):
        return refuse(400, "minutes: a whole number from 1 to 10080 (a week), or none")
    ctl.set_crisis(on, None if minutes is None else minutes * 60.0)
    audit(request, "crisis", ("on" + (f" for {minutes} min" if minutes else "")) if on
          else "off")
    return web.json_response({"crisis": on, "until": _crisis_until(request.app[CENTRE])})


def _crisis_until(centre: Centre) -> str | None:
    ctl = centre.controller
    if ctl.crisis_until is None:
        return None
    import datetime as dt

    left = dt.timedelta(seconds=ctl.crisis_until - ctl.now())
    return f"{ctl.wallclock() + left:%Y-%m-%d %H:%M}"


async def opening(request: web.Request) -> web.Response:
    ctl = request.app[CENTRE].controller
    group = request.match_info["group"]
    try:
        mode = (await json_body(request)).get("mode")
        if not isinstance(mode, str):
            raise ValueError("mode: open, closed or auto")
        ctl.set_opening(group, mode)
    except UnknownEntity as err:
        return refuse(404, str(err))
    except ValueError as err:
        return refuse(400, str(err))
    audit(request, "opening", f"{group}: {mode}")
    return web.json_response({"group": group, "mode": mode, "open": ctl.opening()[group]})


async def transfer(request: web.Request) -> web.Response:
    """The agent sends their caller on (blind): `to` is directory:<id>, group:<id> or
    number:<digits>. An agent for their own call; a supervisor for any."""
    from queues.transfer import TransferRefused

    ctl, user = request.app[CENTRE].controller, who(request)
    call_id = request.match_info["call"]
    state = ctl.calls.get(call_id)
    if state is None:
        return refuse(404, f"no call {call_id!r} now")
    if state.agent != user.agent and not user.may("supervisor"):
        audit(request, "refused", f"transfer {call_id}: not {user.user}'s call")
        return refuse(403, f"call {call_id} is not {user.user}'s")
    try:
        body = await json_body(request)
        to = text_field(body, "to", 100)
        how = body.get("how", "blind")
        if to is None:
            raise ValueError("to: directory:<id>, group:<id> or number:<digits>")
        if how not in ("blind", "attended"):
            raise ValueError("how: blind or attended")
        target = await ctl.transfer(call_id, state.agent or "", to, how)
    except (TransferRefused, ValueError) as err:
        audit(request, "transfer refused", f"{call_id}: {err}")
        return refuse(409 if isinstance(err, TransferRefused) else 400, str(err))
    audit(request, "transfer", f"{call_id} to {target.name} ({target.value}), {how}")
    return web.json_response({"call": call_id, "to": target.value, "name": target.name,
                              "department": target.department})


async def transfer_step(request: web.Request) -> web.Response:
    """An attended transfer's end: `complete` hands the caller over, `cancel` takes them
    back. The agent whose transfer it is, or a supervisor."""
    from queues.transfer import TransferRefused

    ctl, user = request.app[CENTRE].controller, who(request)
    call_id, action = request.match_info["call"], request.match_info["action"]
    state = ctl.calls.get(call_id)
    if state is None or state.consult is None:
        return refuse(404, f"no transfer of call {call_id!r} under way")
    agent = state.consult.agent
    if agent != user.agent and not user.may("supervisor"):
        return refuse(403, f"the transfer of call {call_id} is not {user.user}'s")
    try:
        if action == "complete":
            await ctl.complete_transfer(call_id, agent)
        elif action == "cancel":
            ctl.take_back(call_id, agent)
        else:
            return refuse(404, f"no action {action!r}: complete or cancel")
    except TransferRefused as err:
        return refuse(409, str(err))
    audit(request, f"transfer {action}", call_id)
    return web.json_response({"call": call_id, "action": action})


async def directory(request: web.Request) -> web.Response:
    """The directory as the agent types: `q` (words that begin a name, a department or a
    title), at most 20, best first (config/directory.py)."""
    from config.directory import search

    query = request.query.get("q", "")[:100]
    entries = request.app[CENTRE].controller.version.config.directory
    return web.json_response({"entries": [
        {"id": entry_id, "name": e.name, "number": e.number, "department": e.department,
         "title": e.title, "absence": e.absence, "function": e.function}
        for entry_id, e in search(entries, query)]})


async def callbacks(request: web.Request) -> web.Response:
    from web.live import callbacks_view

    return web.json_response({"callbacks": callbacks_view(request.app[CENTRE])})


async def callback_action(request: web.Request) -> web.Response:
    """A supervisor cancels a pending callback request, or puts it first in its line."""
    desk = request.app[CENTRE].controller.desk
    call, action = request.match_info["call"], request.match_info["action"]
    by = who(request).user
    try:
        if action == "cancel":
            desk.cancel(call, by)
        elif action == "first":
            desk.put_first(call, by)
        else:
            return refuse(404, f"no such action {action!r}: cancel or first")
    except KeyError:
        return refuse(404, f"no pending callback {call!r}")
    except ValueError as err:
        return refuse(409, str(err))
    audit(request, f"callback_{action}", call)
    return web.json_response({"id": call, "action": action})


async def overflow(request: web.Request) -> web.Response:
    ctl = request.app[CENTRE].controller
    group = request.match_info["group"]
    try:
        on = (await json_body(request)).get("on")
        if not isinstance(on, bool):
            raise ValueError('send {"on": true} or {"on": false}')
        ctl.set_overflow(group, on)
    except UnknownEntity as err:
        return refuse(404, str(err))
    except ValueError as err:
        return refuse(400, str(err))
    audit(request, "overflow", f"{group}: {'on' if on else 'off'}")
    return web.json_response({"group": group, "overflow": on})


async def reload(request: web.Request) -> web.Response:
    centre = request.app[CENTRE]
    try:
        version, changes = await centre.reload()
    except ConfigError as err:
        return refuse(400, "the configuration was not accepted; the running one stays active",
                      problems=[str(p) for p in err.problems])
    audit(request, "reload", f"version {version.number} ({version.checksum}): "
          + ("; ".join(changes) or "no change"))
    return web.json_response({"version": version.number, "version_id": version.checksum,
                              "changes": changes})


async def audit_log(request: web.Request) -> web.Response:
    from store.lookup import audit_lines

    centre = request.app[CENTRE]
    db = await reader(request)
    lines: list[dict[str, Any]] = []
    if db is not None and centre.store is not None:
        await centre.store.flush()  # the latest lines too (the writer batches)
    if db is not None:
        try:
            lines = [{k: r[k] for k in ("at", "who", "action", "detail", "source")}
                     for r in await audit_lines(db)]
        except Exception:  # the database's: say so
            db = None
    return web.json_response({"lines": lines, "available": db is not None})


async def metrics_page(request: web.Request) -> web.Response:
    return web.Response(text=metrics(request.app[CENTRE]), content_type="text/plain",
                        charset="utf-8")


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1)
