"""The HTML pages (jinja2, web/templates) and the login.

Each page is a frame the server renders, in the user's language, with the session's CSRF
token; web/static/vaxel.js fills it from the live view (web/live.py) and sends the actions to
the JSON API. The pages work from the keyboard and a screen reader: landmarks, headings, labels
on every control, live regions for what changes, focus where the work is.
"""

from __future__ import annotations

import datetime as dt
import secrets
import zoneinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from aiohttp import web

from queues.kpi import WRAP_UP_REASONS
from web.auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Who,
    check_password,
    csrf_ok,
    secure_cookie,
)
from web.context import CENTRE, WEB, WHO, address, audit, reader, refuse, who
from web.texts import LANGUAGES, texts

LANG_COOKIE = "vaxel_lang"
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                          autoescape=True, trim_blocks=True, lstrip_blocks=True)
HOME = {"agent": "/agent", "supervisor": "/supervisor", "admin": "/admin"}


def _lang(request: web.Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "sv")
    return lang if lang in LANGUAGES else "sv"


def _cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, *,
            http_only: bool = True, max_age: int | None = None) -> None:
    response.set_cookie(name, value, httponly=http_only, samesite="Strict", path="/",
                        secure=secure_cookie(request.host, request.secure), max_age=max_age)


def render(request: web.Request, template: str, *, status: int = 200,
           **context: Any) -> web.Response:
    lang = _lang(request)
    user: Who | None = request.get(WHO)
    t = texts(lang)
    html = _ENV.get_template(template).render(
        lang=lang, t=t, texts=t, user=user, csrf=user.csrf if user else "",
        other_lang="en" if lang == "sv" else "sv", path=request.path, **context)
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=status)


def _language_switch(request: web.Request) -> web.Response | None:
    """`?lang=en` on any page: remembered in a cookie, and the page again without it."""
    lang = request.query.get("lang")
    if lang is None:
        return None
    response = web.HTTPSeeOther(request.path)
    if lang in LANGUAGES:
        _cookie(request, response, LANG_COOKIE, lang, max_age=365 * 86400)
    raise response


def _safe_next(target: str | None) -> str:
    """Only a path of this site after the login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def login_page(request: web.Request, *, error: str | None = None,
                     status: int = 200) -> web.Response:
    _language_switch(request)
    # one token a browser: a second login page (another tab) must not void the first
    token = request.cookies.get(LOGIN_COOKIE, "")
    if not (30 <= len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum()):
        token = secrets.token_urlsafe(24)
    response = render(request, "login.html.j2", status=status, error=error, form_token=token,
                      next=_safe_next(request.query.get("next")))
    _cookie(request, response, LOGIN_COOKIE, token)
    return response


async def _login(request: web.Request, user: str, password: str
                 ) -> tuple[Who | None, str | None, web.Response | None]:
    """(who, the session's cookie value, None) on success; else (None, None, a refusal
    for the JSON API) with the refusal in the audit log."""
    state, centre = request.app[WEB], request.app[CENTRE]
    where = address(request)
    wait = max(state.throttle.wait(user), state.address_throttle.wait(where))
    if wait > 0:
        audit(request, "refused", f"login {user[:64]!r}: too many failed attempts")
        minutes = max(1, round(wait / 60))
        return None, None, refuse(429, f"too many failed logins: try again in {minutes} min",
                                  retry_after=round(wait))
    found = await check_password(centre.history.active.config.users, user, password)
    if found is None:
        state.throttle.failed(user)
        state.address_throttle.failed(where)
        audit(request, "refused", f"login {user[:64]!r}: wrong user name or password")
        return None, None, refuse(401, "wrong user name or password")
    state.throttle.succeeded(user)
    session = state.sessions.open(user)
    request[WHO] = found
    audit(request, "login", user)
    return Who(found.user, found.role, found.agent, found.name, "session", session.csrf), \
        session.key, None


async def login_form(request: web.Request) -> web.Response:
    form = await request.post()
    user, password = str(form.get("user", ""))[:100], str(form.get("password", ""))[:1000]
    target = _safe_next(str(form.get("next", "")))
    t = texts(_lang(request))
    if not csrf_ok(request.cookies.get(LOGIN_COOKIE, ""), str(form.get("form_token", ""))):
        audit(request, "refused", "login: the form's token did not match (an old page?)")
        return await login_page(request, error=t["login_expired"], status=403)
    found, key, refusal = await _login(request, user, password)
    if found is None or key is None:
        assert refusal is not None
        if refusal.status == 429:
            wait = int(refusal.headers.get("Retry-After", "0") or 0)
            message = t["login_throttled"].format(minutes=max(1, round(wait / 60)))
            return await login_page(request, error=message, status=429)
        return await login_page(request, error=t["login_failed"], status=401)
    response = web.HTTPSeeOther(target if target != "/" else HOME[found.role])
    _cookie(request, response, SESSION_COOKIE, key)
    response.del_cookie(LOGIN_COOKIE, path="/")
    raise response


async def login_json(request: web.Request) -> web.Response:
    """The API's login (JSON only: a cross-site form cannot send it)."""
    if request.content_type != "application/json":
        return refuse(415, 'send {"user": ..., "password": ...} as application/json')
    try:
        body = await request.json()
    except ValueError:
        return refuse(400, "send the request as JSON")
    user, password = body.get("user") if isinstance(body, dict) else None, \
        body.get("password") if isinstance(body, dict) else None
    if not isinstance(user, str) or not isinstance(password, str) or len(user) > 100:
        return refuse(400, 'send {"user": ..., "password": ...}')
    found, key, refusal = await _login(request, user, password)
    if found is None or key is None:
        assert refusal is not None
        return refusal
    response = web.json_response({"user": found.user, "role": found.role,
                                  "agent": found.agent, "name": found.name,
                                  "csrf": found.csrf})
    _cookie(request, response, SESSION_COOKIE, key)
    return response


def _logout(request: web.Request, response: web.StreamResponse) -> None:
    key = request.cookies.get(SESSION_COOKIE)
    if key:
        request.app[WEB].sessions.close(key)
    response.del_cookie(SESSION_COOKIE, path="/")
    audit(request, "logout", who(request).user)


async def logout_form(request: web.Request) -> web.Response:
    response = web.HTTPSeeOther("/login")
    _logout(request, response)
    raise response


async def logout_json(request: web.Request) -> web.Response:
    response = web.json_response({"logged_out": True})
    _logout(request, response)
    return response


async def home(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther(HOME[who(request).role])


async def forbidden(request: web.Request, role: str) -> web.Response:
    return render(request, "forbidden.html.j2", status=403, role=role)


async def agent_page(request: web.Request) -> web.Response:
    _language_switch(request)
    user = who(request)
    agent = request.query.get("agent") or user.agent
    if agent is None:  # a supervisor or an administrator who is no agent
        agents = request.app[CENTRE].controller.router.agents
        return render(request, "choose_agent.html.j2", page="agent", agents=sorted(agents))
    return render(request, "agent.html.j2", page="agent", agent=agent,
                  reasons=WRAP_UP_REASONS)


async def wallboard_page(request: web.Request) -> web.Response:
    _language_switch(request)
    goals = request.app[CENTRE].history.active.config.goals
    return render(request, "wallboard.html.j2", page="wallboard",
                  goal_minutes=f"{goals.answered_within / 60:g}",
                  target=round(100 * goals.answered_target), aim=round(100 * goals.answered_aim))


async def supervisor_page(request: web.Request) -> web.Response:
    _language_switch(request)
    config = request.app[CENTRE].history.active.config
    return render(request, "supervisor.html.j2", page="supervisor",
                  prompt=config.crisis.prompt,
                  goal_minutes=f"{config.goals.answered_within / 60:g}")


async def admin_page(request: web.Request) -> web.Response:
    _language_switch(request)
    return render(request, "admin.html.j2", page="admin")


async def report_page(request: web.Request) -> web.Response:
    """Today's report from the call log, as `vaxel report --format html` makes it."""
    from controller.reporting import goals_of
    from store.report import Period, build, html, load

    centre = request.app[CENTRE]
    config = centre.history.active.config
    db = await reader(request)
    if db is None:
        return refuse(503, "the call log cannot be read now")
    try:
        day = dt.date.fromisoformat(request.query.get("day") or
                                    f"{centre.controller.wallclock():%Y-%m-%d}")
    except ValueError:
        return refuse(400, "day: a date such as 2026-12-02")
    period = Period(day, day, zoneinfo.ZoneInfo(config.timezone))
    if centre.store is not None:
        await centre.store.flush()
    data = await load(db, period)
    response = web.Response(text=html(build(data, period, goals_of(config))),
                            content_type="text/html", charset="utf-8")
    # the report is one self-contained file: its styles are inline
    response.headers["Content-Security-Policy"] = ("default-src 'none'; img-src data:; "
                                                   "style-src 'unsafe-inline'; "
                                                   "frame-ancestors 'none'")
    return response
