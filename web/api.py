"""The controller's local HTTP API (127.0.0.1): what `vaxel agent` and `vaxel status` use, and what
the web panels will grow from.

    GET  /api/status                      groups, agents and calls now
    GET  /metrics                         the same counts for Prometheus (text format)
    POST /api/agents/{id}/login           log in (ready)
    POST /api/agents/{id}/ready           back from a pause
    POST /api/agents/{id}/pause           {"reason": "lunch"}
    POST /api/agents/{id}/logout
    POST /api/calls/{id}/wrapup           {"agent": "anna", "reason": "rosa2", "resolved": true,
                                           "department": null, "note": "..."}
    POST /api/crisis                      {"on": true}
    POST /api/reload                      read the folder again, check, activate (SIGHUP too)

Errors are JSON {"error": "..."} with 400 (a refused transition; a configuration with errors,
with "problems" as file:line:column lines), 404 (unknown agent). Every change is a line of the
audit log (an Audited event, into the call log): who (the API has no users yet: "api"), what,
from which address.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from agents.state import IllegalTransition
from config.errors import ConfigError
from queues.kpi import COUNTS, Figures
from queues.router import UnknownEntity

if TYPE_CHECKING:
    from controller.bootstrap import Centre

CENTRE: web.AppKey[Centre] = web.AppKey("centre")


def status(centre: Centre) -> dict[str, Any]:
    centre.catch_up()
    ctl = centre.controller
    router = ctl.router
    link = ctl.link.statistics()
    return {
        "version": ctl.version.number,
        "version_id": ctl.version.checksum,  # as `vaxel check` prints it
        "ami": {"connected": ctl.link.connected, "address": ctl.link.address,
                "last_error": link.last_error, "connects": link.connects},
        "hours": {gid: "open" if is_open else "closed" for gid, is_open in ctl.opening().items()},
        "groups": router.statistics(),
        "agents": {aid: {"state": a.state.value, "reason": a.pause_reason,
                         "call": a.call_id} for aid, a in router.agents.items()},
        "overload": {"active": ctl.overloaded, "lag_ms": round(link.lag_ms, 1),
                     "unanswered": link.pending, "held_back": link.waited_for_room},
        "calls": {s.call_id: {"channel": s.channel, "phase": s.phase.value, "group": s.group,
                              "agent": s.agent, "events": centre.journal.story(s.call_id)}
                  for s in ctl.calls},
        "counts": centre.statistics(),
        "kpi": _kpi(centre.counters.figures()),
        "subscribers": centre.bus.statistics(),
        "integrations": {name: i.statistics() for name, i in centre.integrations.items()},
        "store": None if centre.store is None else centre.store.statistics(),
    }


def _kpi(f: Figures) -> dict[str, Any]:
    """The KPIs of the calls ended since start, as the reports count them (docs/kpi.md)."""
    return {**{name: getattr(f, name) for name in COUNTS}, **f.ratios()}


async def _status(request: web.Request) -> web.Response:
    return web.json_response(status(request.app[CENTRE]))


async def _agent(request: web.Request) -> web.Response:
    ctl = request.app[CENTRE].controller
    agent_id, action = request.match_info["agent"], request.match_info["action"]
    body = await request.json() if request.can_read_body else {}
    try:
        if action == "login":
            ctl.agent_login(agent_id)
        elif action == "ready":
            ctl.agent_ready(agent_id)
        elif action == "pause":
            reason = str(body.get("reason") or "").strip()
            if not reason or len(reason) > 60 or any(c in reason for c in "\r\n"):
                return web.json_response({"error": "give a reason of 1-60 characters"},
                                         status=400)
            ctl.agent_pause(agent_id, reason)
        elif action == "logout":
            ctl.agent_logout(agent_id)
        else:
            return web.json_response({"error": f"no action {action!r}"}, status=404)
    except UnknownEntity as err:
        return web.json_response({"error": str(err)}, status=404)
    except IllegalTransition as err:
        return web.json_response({"error": str(err)}, status=400)
    agent = ctl.router.agents[agent_id]
    _audit(request, f"agent {action}", agent_id + (f" ({body.get('reason')})"
                                                    if action == "pause" else ""))
    return web.json_response({"agent": agent_id, "state": agent.state.value})


def _audit(request: web.Request, action: str, detail: str) -> None:
    request.app[CENTRE].controller.audit("api", action, detail, request.remote or "")


CALL_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _text(body: dict[str, Any], key: str, limit: int, *, required: bool = False) -> str | None:
    """A short text from a browser: at most `limit` characters, no control characters."""
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise ValueError(f"give {key}")
        return None
    if not isinstance(value, str) or len(value) > limit \
            or any(ord(c) < 32 and c not in "\n" for c in value):
        raise ValueError(f"{key}: text of at most {limit} characters")
    return value.strip()


async def _wrap_up(request: web.Request) -> web.Response:
    ctl = request.app[CENTRE].controller
    call_id = request.match_info["call"]
    try:
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("send a JSON object")
        if not CALL_ID.match(call_id):
            raise ValueError(f"{call_id!r} is not a call id")
        resolved = body.get("resolved")
        if not isinstance(resolved, bool):
            raise ValueError('resolved: true or false (solved at the first contact?)')
        agent = _text(body, "agent", 64, required=True) or ""
        ended = ctl.wrap_up(agent, call_id, _text(body, "reason", 16, required=True) or "",
                            resolved, _text(body, "department", 100),
                            _text(body, "note", 500) or "")
    except UnknownEntity as err:
        return web.json_response({"error": str(err)}, status=404)
    except ValueError as err:  # json's too
        return web.json_response({"error": str(err)}, status=400)
    _audit(request, "wrap-up", f"{call_id} by {body['agent']}: {body['reason']}")
    return web.json_response({"call": call_id, "wrap_up_ended": ended})


async def _crisis(request: web.Request) -> web.Response:
    body = await request.json()
    on = body.get("on")
    if not isinstance(on, bool):
        return web.json_response({"error": 'send {"on": true} or {"on": false}'}, status=400)
    request.app[CENTRE].controller.set_crisis(on)
    _audit(request, "crisis", "on" if on else "off")
    return web.json_response({"crisis": on})


async def _reload(request: web.Request) -> web.Response:
    centre = request.app[CENTRE]
    try:
        version, changes = await centre.reload()
    except ConfigError as err:
        return web.json_response({"error": "the configuration was not accepted; the running "
                                           "one stays active",
                                  "problems": [str(p) for p in err.problems]}, status=400)
    _audit(request, "reload", f"version {version.number} ({version.checksum}): "
           + ("; ".join(changes) or "no change"))
    return web.json_response({"version": version.number, "version_id": version.checksum,
                              "changes": changes})


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
    metric("ami_connected", "gauge", "1 while the AMI link is up",
           {"": float(ctl.link.connected)})
    metric("overloaded", "gauge", "1 while new callers are told to call again",
           {"": float(ctl.overloaded)})
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


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(text=metrics(request.app[CENTRE]), content_type="text/plain",
                        charset="utf-8")


def make_app(centre: Centre) -> web.Application:
    app = web.Application()
    app[CENTRE] = centre
    app.router.add_get("/api/status", _status)
    app.router.add_get("/metrics", _metrics)
    app.router.add_post("/api/agents/{agent}/{action}", _agent)
    app.router.add_post("/api/calls/{call}/wrapup", _wrap_up)
    app.router.add_post("/api/crisis", _crisis)
    app.router.add_post("/api/reload", _reload)
    return app


async def serve(centre: Centre, host: str = "127.0.0.1", port: int = 8480) -> web.AppRunner:
    runner = web.AppRunner(make_app(centre), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    return runner


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1)
