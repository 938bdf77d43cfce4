"""The web app: every route once, with who may use it (the guard checks), its words (the OpenAPI
document, web/openapi.py, is made from this table) and its handler.

Roles rank agent < supervisor < admin. Nothing but `/healthz`, the login page and its static
files answers without a login; a refusal is a JSON error (401, 403) for the API and a way to the
login page for a page, and a line of the audit log either way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from web import admin, api, live, pages
from web.auth import CSRF_HEADER, SESSION_COOKIE, Who, by_token, csrf_ok, session_who
from web.context import CENTRE, WEB, WHO, Web, audit, refuse

if TYPE_CHECKING:
    from controller.bootstrap import Centre

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STATIC = Path(__file__).parent / "static"
SAFE = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    role: str | None  # the least role that may; None: anybody (the login, /healthz)
    summary: str
    body: dict[str, Any] | None = None  # the JSON request body's schema
    answer: dict[str, Any] | None = None  # the JSON answer's schema (200)
    page: bool = False  # an HTML page (not in the API document)


S = api.SCHEMAS
ROUTES = (
    Route("GET", "/healthz", api.healthz, None, "The process answers (no login)",
          answer=S["health"]),
    Route("GET", "/readyz", api.readyz, "agent",
          "Ready to take calls: the AMI link up (503 otherwise)", answer=S["health"]),
    Route("GET", "/metrics", api.metrics_page, "supervisor",
          "The counts for Prometheus (text format)"),
    Route("GET", "/api/openapi.json", api.openapi, "agent", "This document"),
    Route("POST", "/api/login", pages.login_json, None,
          "Log in with a password: a session cookie and its CSRF token",
          body=S["login"], answer=S["whoami"]),
    Route("POST", "/api/logout", pages.logout_json, "agent", "End this session"),
    Route("GET", "/api/whoami", api.whoami, "agent", "The logged-in user",
          answer=S["whoami"]),
    Route("GET", "/api/status", api.status_page, "agent",
          "Groups, agents, calls, KPIs, the AMI link and the call log now",
          answer=S["status"]),
    Route("GET", "/api/live/{view}", live.stream, "agent",
          "Server-sent events: the view (agent, wallboard, supervisor) at once and on every "
          "change"),
    Route("GET", "/api/views/{view}", live.view, "agent",
          "One view (agent, wallboard, supervisor) now, as the live stream sends it"),
    Route("POST", "/api/agents/{agent}/groups", api.agent_groups, "agent",
          "The groups an agent serves now, of the configuration's for them",
          body=S["agent_groups"], answer=S["agent_groups_answer"]),
    Route("POST", "/api/agents/{agent}/{action}", api.agent_action, "agent",
          "An agent's login, ready, pause (with a reason) or logout: an agent for themselves, a "
          "supervisor for anyone", body=S["agent_action"], answer=S["agent_state"]),
    Route("POST", "/api/calls/{call}/wrapup", api.wrap_up, "agent",
          "The wrap-up form: contact reason, resolved at first contact, note",
          body=S["wrap_up"], answer=S["wrap_up_answer"]),
    Route("GET", "/api/calls/{call}/history", api.history, "agent",
          "Earlier contacts from the caller of a call offered to or taken by this agent",
          answer=S["history"]),
    Route("POST", "/api/crisis", api.crisis, "supervisor",
          "The crisis switch, with an expiry", body=S["crisis"], answer=S["crisis_answer"]),
    Route("POST", "/api/groups/{group}/opening", api.opening, "supervisor",
          "A group open or closed by hand, or by its hours again", body=S["opening"],
          answer=S["opening_answer"]),
    Route("POST", "/api/groups/{group}/overflow", api.overflow, "supervisor",
          "A group's manual overflow switch: its `when: manual` overflow rules apply while on",
          body=S["overflow"], answer=S["overflow_answer"]),
    Route("POST", "/api/calls/{call}/transfer", api.transfer, "agent",
          "Send the caller on (blind): to a directory entry, another group's line or a "
          "number; not reached, they come back to the agent", body=S["transfer"],
          answer=S["transfer_answer"]),
    Route("POST", "/api/calls/{call}/transfer/{action}", api.transfer_step, "agent",
          "An attended transfer's end: complete (hand the caller over) or cancel (take them "
          "back)", answer=S["transfer_step"]),
    Route("GET", "/api/directory", api.directory, "agent",
          "The directory (katalog) searched as the agent types: ?q=words",
          answer=S["directory"]),
    Route("GET", "/api/callbacks", api.callbacks, "supervisor",
          "The callback requests not yet done, in line order per group",
          answer=S["callbacks"]),
    Route("POST", "/api/callbacks/{call}/{action}", api.callback_action, "supervisor",
          "A pending callback request cancelled, or put first in its group's line",
          answer=S["callback_answer"]),
    Route("POST", "/api/reload", api.reload, "admin",
          "Read the configuration folder again, check it, activate it (SIGHUP too)",
          answer=S["activated"]),
    Route("GET", "/api/audit", api.audit_log, "admin", "The newest lines of the audit log",
          answer=S["audit"]),
    Route("GET", "/api/config/files", admin.files, "admin",
          "The configuration folder's files and the versions", answer=S["config_files"]),
    Route("POST", "/api/config/check", admin.check, "admin",
          "Check edited files against the active version: problems at their lines, and the "
          "changes in words", body=S["config_edit"], answer=S["config_checked"]),
    Route("POST", "/api/config/activate", admin.activate, "admin",
          "Write edited files into the folder and activate them (if they check)",
          body=S["config_edit"], answer=S["activated"]),
    Route("POST", "/api/config/rollback", admin.rollback, "admin",
          "Activate an earlier version's files again", body=S["rollback"],
          answer=S["activated"]),
    Route("GET", "/login", pages.login_page, None, "The login page", page=True),
    Route("POST", "/login", pages.login_form, None, "The login form", page=True),
    Route("POST", "/logout", pages.logout_form, "agent", "Log out", page=True),
    Route("GET", "/", pages.home, "agent", "Where each role starts", page=True),
    Route("GET", "/agent", pages.agent_page, "agent", "The agent panel", page=True),
    Route("GET", "/wallboard", pages.wallboard_page, "agent", "The wallboard", page=True),
    Route("GET", "/supervisor", pages.supervisor_page, "supervisor", "The supervisor's page",
          page=True),
    Route("GET", "/admin", pages.admin_page, "admin", "The administrator's page", page=True),
    Route("GET", "/report", pages.report_page, "supervisor",
          "A day's report from the call log (?day=2026-12-02; today by default)", page=True),
)


async def identify(request: web.Request) -> Who | None:
    """The user of an API token (Authorization: Bearer) or of a session cookie."""
    centre, state = request.app[CENTRE], request.app[WEB]
    config = centre.history.active.config
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return by_token(config.users, header[7:].strip())
    key = request.cookies.get(SESSION_COOKIE)
    if not key:
        return None
    session = state.sessions.find(key, config.web.session)
    return None if session is None else session_who(config.users, session)


def _wants_page(request: web.Request) -> bool:
    return request.method == "GET" and not request.path.startswith(("/api/", "/metrics",
                                                                     "/readyz"))


async def _csrf_of(request: web.Request) -> str | None:
    """The CSRF token: the header the pages' scripts send, or a plain form's `csrf` field."""
    if CSRF_HEADER in request.headers:
        return request.headers[CSRF_HEADER]
    if request.content_type == "application/x-www-form-urlencoded":
        value = (await request.post()).get("csrf")
        return value if isinstance(value, str) else None
    return None


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    route: Route | None = request.app[ROUTE_OF].get(request.match_info.route)
    if (route is not None and route.role is None) or request.path.startswith("/static/"):
        return await handler(request)
    user = await identify(request)
    if user is None:
        audit(request, "refused", f"{request.method} {request.path}: not logged in")
        if _wants_page(request):
            raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='')}")
        return refuse(401, "log in first (a session, or an API token as "
                           "Authorization: Bearer)", login="/login")
    request[WHO] = user
    if request.method not in SAFE and user.via == "session" \
            and not csrf_ok(user.csrf, await _csrf_of(request)):
        audit(request, "refused", f"{request.method} {request.path}: no CSRF token")
        return refuse(403, f"the request lacks this session's CSRF token ({CSRF_HEADER}): "
                           "reload the page")
    if route is not None and route.role is not None and not user.may(route.role):
        audit(request, "refused", f"{request.method} {request.path}: needs the {route.role} "
                                  f"role ({user.user} is {user.role})")
        if _wants_page(request):
            return await pages.forbidden(request, route.role)
        return refuse(403, f"this needs the {route.role} role; {user.user} is {user.role}")
    return await handler(request)


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    """What every answer says to the browser: only our own scripts, styles and connections;
    never in a frame; no sniffing."""
    response.headers.setdefault(
        "Content-Security-Policy", "default-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")


ROUTE_OF: web.AppKey[dict[Any, Route]] = web.AppKey("routes")


def make_app(centre: Centre, state: Web | None = None) -> web.Application:
    app = web.Application(middlewares=[guard], client_max_size=2 * 1024 * 1024)
    app[CENTRE] = centre
    app[WEB] = state or Web()
    table: dict[Any, Route] = {}
    for r in ROUTES:
        table[app.router.add_route(r.method, r.path, r.handler)] = r
    app.router.add_static("/static", STATIC)
    app[ROUTE_OF] = table
    app.on_response_prepare.append(_headers)
    app.cleanup_ctx.append(_alarms)
    app.on_cleanup.append(_close_reader)
    return app


async def _alarms(app: web.Application) -> AsyncIterator[None]:
    """The wallboard's alarms as events, while the pages are served."""
    task = asyncio.get_running_loop().create_task(live.watch_alarms(app[CENTRE]))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_reader(app: web.Application) -> None:
    reader = app[WEB].reader
    if reader is not None:
        await reader.close()


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
