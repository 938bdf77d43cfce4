"""The web's API through aiohttp's test client, against the whole centre (the fake PBX over
AMI, the virtual clock, a real SQLite call log): who may do what (every route refused to whom it
must be), sessions and their expiry, CSRF, the login's rate limit, the OpenAPI document against
the routes and the real answers, the live views, the crisis switch's expiry, a group closed by
hand, the administrator's check, activation and rollback."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
from aiohttp.test_utils import TestClient, TestServer

from agents import AgentState
from controller import events as ev
from store import schema
from store.database import Database
from telephony.fakepbx.actors import Caller
from web.app import ROUTES, make_app
from web.auth import Sessions, Throttle
from web.context import Web

from .web_users import PASSWORDS, bearer, with_users
from .world import World, run, vaxeln_threshold_line


class Clock:
    """The sessions' and the throttle's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _client(w: World, clock: Clock) -> TestClient:
    state = Web(Sessions(clock), Throttle(clock=clock), Throttle(limit=7, clock=clock))
    client = TestClient(TestServer(make_app(w.centre, state)))
    await client.start_server()
    return client


async def login(client: TestClient, user: str) -> str:
    """Logs in with the JSON API; the session cookie stays in the client: the CSRF token."""
    resp = await client.post("/api/login", json={"user": user, "password": PASSWORDS[user]})
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["csrf"])


def _fill(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: {"view": "wallboard", "agent": "anna",
                                         "action": "ready", "call": "nope",
                                         "group": "vaxeln"}[m.group(1)], path)


def test_nothing_but_healthz_and_the_login_answers_without_a_login(tmp_path: Path) -> None:
    async def main() -> tuple[dict[str, int], list[str]]:
        async with World(with_users(tmp_path)) as w:
            client = await _client(w, Clock())
            try:
                statuses = {}
                for r in ROUTES:
                    resp = await client.request(r.method, _fill(r.path), json={},
                                                allow_redirects=False)
                    statuses[f"{r.method} {r.path}"] = resp.status
                resp = await client.get("/no/such/page", allow_redirects=False)
                statuses["GET /no/such/page"] = resp.status
                refusals = [e.detail for e in w.events if isinstance(e, ev.Audited)
                            and e.action == "refused"]
                return statuses, refusals
            finally:
                await client.close()

    statuses, refusals = run(main())
    open_ = {k: v for k, v in statuses.items() if v not in (401, 303)}
    # the login answers (a JSON login without a user is a 400), and so does /healthz
    assert open_ == {"GET /healthz": 200, "POST /api/login": 400, "GET /login": 200,
                     "POST /login": 403}
    pages = [k for k, v in statuses.items() if v == 303]
    assert "GET /agent" in pages and "GET /no/such/page" in pages
    assert all(statuses[k] == 401 for k in statuses
               if k.split()[1].startswith("/api/") and k not in open_)
    assert "GET /api/status: not logged in" in refusals


def test_each_role_may_what_it_may_and_every_refusal_is_audited(tmp_path: Path) -> None:
    async def main() -> dict[str, Any]:
        async with World(with_users(tmp_path)) as w:
            client = await _client(w, Clock())
            out: dict[str, Any] = {}
            try:
                csrf = await login(client, "anna")
                h = {"X-CSRF-Token": csrf}
                out["own login"] = (await client.post("/api/agents/anna/login", headers=h)).status
                out["bo's login"] = (await client.post("/api/agents/bo/login", headers=h)).status
                out["crisis"] = (await client.post("/api/crisis", json={"on": True},
                                                   headers=h)).status
                out["reload"] = (await client.post("/api/reload", headers=h)).status
                out["metrics"] = (await client.get("/metrics")).status
                out["supervisor view"] = (await client.get("/api/views/supervisor")).status
                out["bo's panel"] = (await client.get("/api/views/agent?agent=bo")).status
                out["own pause, unlisted"] = (await client.post(
                    "/api/agents/anna/pause", json={"reason": "fika"}, headers=h)).status
                out["own pause"] = (await client.post(
                    "/api/agents/anna/pause", json={"reason": "lunch"}, headers=h)).status
                out["admin page"] = (await client.get("/admin", allow_redirects=False)).status
                # the supervisor forces bo's pause in words of their own; the token needs no CSRF
                w.ctl.agent_login("bo")
                resp = await client.post("/api/agents/bo/pause", json={"reason": "samtal med chef"},
                                         headers=bearer("sara"))
                out["forced pause"] = (resp.status, await resp.json())
                out["sara reload"] = (await client.post("/api/reload",
                                                        headers=bearer("sara"))).status
                out["admin reload"] = (await client.post("/api/reload",
                                                         headers=bearer("admin"))).status
                out["bad token"] = (await client.get(
                    "/api/status", headers={"Authorization": "Bearer vx_nonsense"})).status
                out["audit"] = [(e.who, e.action, e.detail) for e in w.events
                                if isinstance(e, ev.Audited)]
                return out
            finally:
                await client.close()

    out = run(main())
    assert out["own login"] == 200
    assert out["bo's login"] == 403
    assert out["crisis"] == out["reload"] == out["metrics"] == out["supervisor view"] == 403
    assert out["bo's panel"] == 403
    assert out["own pause, unlisted"] == 400  # an agent picks one of web.pause_reasons
    assert out["own pause"] == 200
    assert out["admin page"] == 403
    assert out["forced pause"] == (200, {"agent": "bo", "state": "paused"})
    assert out["sara reload"] == 403 and out["admin reload"] == 200
    assert out["bad token"] == 401
    audit = out["audit"]
    assert ("anna", "login", "anna") in audit
    assert ("anna", "agent pause", "anna (lunch)") in audit
    assert ("sara", "agent pause", "bo by sara (samtal med chef)") in audit
    refused = [d for who, a, d in audit if a == "refused"]
    assert any("POST /api/crisis: needs the supervisor role (anna is agent)" in d
               for d in refused)
    assert any("agent login bo: not anna's agent" in d for d in refused)
    assert any("POST /api/reload: needs the admin role (sara is supervisor)" in d
               for d in refused)


def test_a_session_needs_its_csrf_token_and_expires_unused(tmp_path: Path) -> None:
    clock = Clock()

    async def main() -> list[int]:
        async with World(with_users(tmp_path, append="web:\n  session: 30m\n")) as w:
            client = await _client(w, clock)
            try:
                csrf = await login(client, "anna")
                statuses = [(await client.post("/api/agents/anna/login")).status,
                            (await client.post("/api/agents/anna/login",
                                               headers={"X-CSRF-Token": "wrong"})).status,
                            (await client.post("/api/agents/anna/login",
                                               headers={"X-CSRF-Token": csrf})).status]
                clock.now += 29 * 60  # used within its 30 minutes: still good
                statuses.append((await client.get("/api/whoami")).status)
                clock.now += 31 * 60
                statuses.append((await client.get("/api/whoami")).status)
                page = await client.get("/agent", allow_redirects=False)
                statuses.append(page.status)
                assert page.headers["Location"] == "/login?next=/agent"
                return statuses
            finally:
                await client.close()

    assert run(main()) == [403, 403, 200, 200, 401, 303]


def test_failed_logins_are_limited_per_user_and_per_address(tmp_path: Path) -> None:
    clock = Clock()

    async def main() -> list[int]:
        async with World(with_users(tmp_path)) as w:
            client = await _client(w, clock)  # 5 a user, 7 an address (30 by default)

            async def attempt(user: str, password: str) -> int:
                resp = await client.post("/api/login", json={"user": user,
                                                             "password": password})
                return resp.status

            try:
                statuses = [await attempt("anna", "gissning") for _ in range(5)]
                # anna's right password is refused now; bo, from the same office, logs in
                statuses += [await attempt("anna", PASSWORDS["anna"]),
                             await attempt("bo", PASSWORDS["bo"])]
                # two more failures from this address, and it waits too
                statuses += [await attempt("sara", "gissning") for _ in range(2)]
                statuses.append(await attempt("admin", PASSWORDS["admin"]))
                clock.now += 15 * 60
                statuses.append(await attempt("anna", PASSWORDS["anna"]))
                refusals = [e.detail for e in w.events if isinstance(e, ev.Audited)
                            and e.action == "refused"]
                assert sum("wrong user name or password" in d for d in refusals) == 7
                assert sum("too many failed attempts" in d for d in refusals) == 2
                return statuses
            finally:
                await client.close()

    assert run(main()) == [401] * 5 + [429, 200, 401, 401, 429, 200]


def test_behind_a_proxy_the_browser_s_address_is_the_forwarded_one(tmp_path: Path) -> None:
    clock = Clock()

    async def main() -> tuple[list[int], list[str]]:
        async with World(with_users(tmp_path, append="web:\n  proxy: true\n")) as w:
            client = await _client(w, clock)
            try:
                statuses = []
                for n in range(8):  # eight offices: no address reaches its 7
                    resp = await client.post("/api/login", json={
                        "user": f"nobody{n}", "password": "x"},
                        headers={"X-Forwarded-For": f"198.51.100.7, 10.0.0.{n}"})
                    statuses.append(resp.status)
                sources = [e.source for e in w.events if isinstance(e, ev.Audited)]
                return statuses, sources
            finally:
                await client.close()

    statuses, sources = run(main())
    assert statuses == [401] * 8
    assert sources == [f"10.0.0.{n}" for n in range(8)]


def test_the_login_form_sets_a_strict_http_only_cookie(tmp_path: Path) -> None:
    async def main() -> tuple[str, str, int]:
        async with World(with_users(tmp_path)) as w:
            client = await _client(w, Clock())
            try:
                page = await client.get("/login?next=/wallboard")
                html = await page.text()
                token = re.search(r'name="form_token" value="([^"]+)"', html)
                assert token is not None
                resp = await client.post("/login", data={
                    "user": "sara", "password": PASSWORDS["sara"],
                    "form_token": token.group(1), "next": "/wallboard"},
                    allow_redirects=False)
                cookie = resp.headers.getall("Set-Cookie")
                session = next(c for c in cookie if c.startswith("vaxel_session="))
                wall = await client.get("/wallboard")
                return resp.headers["Location"], session, wall.status
            finally:
                await client.close()

    location, cookie, wall = run(main())
    assert location == "/wallboard" and wall == 200
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # served on localhost: a Secure cookie would not be kept


def test_the_openapi_document_describes_every_route_and_the_real_answers(tmp_path: Path
                                                                         ) -> None:
    async def main() -> tuple[dict[str, Any], dict[str, Any], set[tuple[str, str]]]:
        async with World(with_users(tmp_path), store=f"sqlite:///{tmp_path / 'l.sqlite'}") as w:
            client = await _client(w, Clock())
            try:
                doc = await (await client.get("/api/openapi.json",
                                              headers=bearer("admin"))).json()
                served = {(r.method, r.resource.canonical) for r in client.app.router.routes()
                          if r.resource is not None and not r.resource.canonical.startswith(
                              "/static")}
                answers: dict[str, Any] = {}
                h = bearer("admin")
                w.ctl.agent_login("anna")
                for path in ("/healthz", "/readyz", "/api/whoami", "/api/status",
                             "/api/views/wallboard", "/api/audit", "/api/config/files"):
                    answers[f"get {path}"] = await (await client.get(path, headers=h)).json()
                bodies = {
                    "/api/agents/anna/pause": {"reason": "lunch"},
                    "/api/crisis": {"on": True, "minutes": 5},
                    "/api/groups/vaxeln/opening": {"mode": "closed"},
                    "/api/config/check": {"files": {"vaxel.yaml": "numbers: {}\n"}},
                }
                for path, body in bodies.items():
                    resp = await client.post(path, json=body, headers=h)
                    answers[f"post {path}"] = await resp.json()
                return doc, answers, served
            finally:
                await client.close()

    doc, answers, served = run(main())
    jsonschema.Draft202012Validator.check_schema(doc["components"]["schemas"]["status"])
    described = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    pages = {(r.method, r.path) for r in ROUTES if r.page}
    assert described == served - pages - {("HEAD", p) for _, p in served}
    templates = {"get /api/status": "/api/status", "get /healthz": "/healthz",
                 "get /readyz": "/readyz", "get /api/whoami": "/api/whoami",
                 "get /api/audit": "/api/audit", "get /api/config/files": "/api/config/files",
                 "post /api/agents/anna/pause": "/api/agents/{agent}/{action}",
                 "post /api/crisis": "/api/crisis",
                 "post /api/groups/vaxeln/opening": "/api/groups/{group}/opening",
                 "post /api/config/check": "/api/config/check"}
    for key, template in templates.items():
        method = key.split()[0]
        schema_ = doc["paths"][template][method]["responses"]["200"]["content"][
            "application/json"]["schema"]
        jsonschema.validate(answers[key], schema_)
    assert answers["post /api/config/check"]["ok"] is False
    assert answers["post /api/crisis"]["until"] is not None


def test_the_live_stream_sends_the_view_at_once_and_again_when_a_call_waits(tmp_path: Path
                                                                           ) -> None:
    async def main() -> list[dict[str, Any]]:
        async with World(with_users(tmp_path)) as w:
            client = await _client(w, Clock())
            try:
                resp = await client.get("/api/live/wallboard", headers=bearer("sara"))
                assert resp.headers["Content-Type"] == "text/event-stream"
                views: list[dict[str, Any]] = []

                async def read() -> None:
                    async for line in resp.content:
                        if line.startswith(b"data: "):
                            views.append(json.loads(line[6:]))

                reading = asyncio.ensure_future(read())
                await w.until(lambda: len(views) >= 1)
                caller = Caller("2001", "0701112233", keys=((3.0, "0"),))  # växeln
                caller.dial(w.pbx)

                def vaxeln(view: dict[str, Any]) -> dict[str, Any]:
                    return next(g for g in view["groups"] if g["id"] == "vaxeln")

                await w.until(lambda: views and vaxeln(views[-1])["waiting"] == 1)
                # the wait moves on the page each second, with nothing else happening
                await w.until(lambda: vaxeln(views[-1])["longest_wait"] >= 3)
                w.ctl.agent_login("anna")
                await w.until(lambda: vaxeln(views[-1])["talking"] == 1)
                reading.cancel()
                caller.hang_up(w.pbx)
                return views
            finally:
                await client.close()

    views = run(main())
    first = next(g for g in views[0]["groups"] if g["id"] == "vaxeln")
    assert first["waiting"] == 0 and first["level"] == "alarm"  # open, nobody logged in
    assert first["alarms"][0]["kind"] == "no_agents"
    waited = [next(g for g in v["groups"] if g["id"] == "vaxeln") for v in views]
    ticks = [g["longest_wait"] for g in waited if g["waiting"] == 1]
    assert ticks == sorted(ticks) and len(ticks) >= 3
    assert waited[-1]["talking"] == 1 and waited[-1]["alarms"] == []


def test_the_agent_sees_the_call_its_path_script_and_the_earlier_contacts(tmp_path: Path
                                                                          ) -> None:
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"

    async def main() -> tuple[dict[str, Any], dict[str, Any], int]:
        async with World(with_users(tmp_path), store=url) as w:
            client = await _client(w, Clock())
            try:
                w.ctl.agent_login("bo")
                first = Caller("2001", "0701112233", keys=((3.0, "2"), (6.0, "1")))  # bygglov
                first.dial(w.pbx)
                await w.until(lambda: first.channel.hungup and not w.ctl.calls)
                call = f"vx-{first.channel.uniqueid}"
                resp = await client.post(f"/api/calls/{call}/wrapup", headers=bearer("bo"),
                                         json={"reason": "forwarded", "resolved": False,
                                               "department": "Bygglovsenheten",
                                               "note": "Ringer om ritningen"})
                assert resp.status == 200
                await w.centre.store.flush()
                w.phones["bo"].answer_after = 30.0  # the next call rings long enough to look
                again = Caller("2002", "0701112233", keys=((3.0, "2"), (6.0, "1")))
                again.dial(w.pbx)
                await w.until(lambda: w.ctl.router.agents["bo"].state is AgentState.RINGING)
                view = await (await client.get("/api/views/agent", headers=bearer("bo"))).json()
                now = view["call"]["id"]
                history = await (await client.get(f"/api/calls/{now}/history",
                                                  headers=bearer("bo"))).json()
                other = (await client.get(f"/api/calls/{now}/history",
                                          headers=bearer("anna"))).status
                again.hang_up(w.pbx)
                return view, history, other
            finally:
                await client.close()

    view, history, other = run(main())
    call = view["call"]
    assert view["state"] == "ringing"
    assert call["caller"] == "0701112233" and call["group_name"] == "Bygglov"
    assert call["path"] == "huvudmeny 2 → bygg-och-miljo 1 → Bygglov"
    assert call["script"].startswith("Bygglov krävs för nybyggnad")
    assert history["available"] is True
    [earlier] = history["contacts"]
    assert (earlier["reason"], earlier["department"], earlier["resolved"], earlier["note"]) == (
        "forwarded", "Bygglovsenheten", False, "Ringer om ritningen")
    assert other == 403  # anna is not offered this call


def test_the_crisis_switch_expires_and_a_group_closed_by_hand_refuses_callers(tmp_path: Path
                                                                              ) -> None:
    async def main() -> tuple[list[bool], list[str]]:
        async with World(with_users(tmp_path)) as w:
            client = await _client(w, Clock())
            try:
                h = bearer("sara")
                resp = await client.post("/api/crisis", json={"on": True, "minutes": 2},
                                         headers=h)
                assert resp.status == 200
                bad = await client.post("/api/crisis", json={"on": True, "minutes": 0},
                                        headers=h)
                assert bad.status == 400
                await asyncio.sleep(121)
                switched = [e.on for e in w.events if isinstance(e, ev.CrisisSwitched)]
                resp = await client.post("/api/groups/barn-och-utbildning/opening",
                                         json={"mode": "closed"}, headers=h)
                assert resp.status == 200 and (await resp.json())["open"] is False
                w.ctl.agent_login("anna")
                caller = Caller("2001", "0701112233", keys=((3.0, "1"),))
                caller.dial(w.pbx)
                await w.until(lambda: caller.channel.hungup)
                call = f"vx-{caller.channel.uniqueid}"
                unknown = await client.post("/api/groups/nope/opening", json={"mode": "open"},
                                            headers=h)
                assert unknown.status == 404
                return switched, w.kinds(call)
            finally:
                await client.close()

    switched, kinds = run(main())
    assert switched == [True, False]  # on, then off by itself after its 2 minutes
    assert "Connected" not in kinds and kinds[-1] == "CallEnded"
    assert "IvrDone" in kinds


def test_the_admin_checks_activates_and_rolls_back_and_a_broken_file_changes_nothing(
        tmp_path: Path) -> None:
    async def main() -> dict[str, Any]:
        folder = with_users(tmp_path)
        async with World(folder) as w:
            client = await _client(w, Clock())
            out: dict[str, Any] = {}
            try:
                h = bearer("admin")
                text = (folder / "vaxel.yaml").read_text()
                broken = text.replace("    threshold: 2m\n    wrap_up: 10s",
                                      "    threshold: soon\n    wrap_up: 10s", 1)
                resp = await client.post("/api/config/check", json={"files": {
                    "vaxel.yaml": broken}}, headers=h)
                out["check"] = await resp.json()
                resp = await client.post("/api/config/activate", json={"files": {
                    "vaxel.yaml": broken}}, headers=h)
                out["broken"] = (resp.status, await resp.json())
                out["after broken"] = (w.centre.history.active.number,
                                       (folder / "vaxel.yaml").read_text() == text)
                good = text.replace("    name: Växeln\n", "    name: Växeln och kundtjänst\n")
                resp = await client.post("/api/config/check", json={"files": {
                    "vaxel.yaml": good}}, headers=h)
                out["good check"] = await resp.json()
                resp = await client.post("/api/config/activate", json={"files": {
                    "vaxel.yaml": good}}, headers=h)
                out["activated"] = await resp.json()
                out["name now"] = w.ctl.version.config.groups["vaxeln"].name
                listing = await (await client.get("/api/config/files", headers=h)).json()
                out["versions"] = [(v["number"], v["active"], v["kept"])
                                   for v in listing["versions"]]
                resp = await client.post("/api/config/rollback", json={"version": 1},
                                         headers=h)
                out["rollback"] = await resp.json()
                out["name after"] = w.ctl.version.config.groups["vaxeln"].name
                out["folder after"] = (folder / "vaxel.yaml").read_text() == text
                out["bad name"] = (await client.post("/api/config/check", json={"files": {
                    "../etc/passwd.yaml": "x: 1"}}, headers=h)).status
                out["no version"] = (await client.post("/api/config/rollback",
                                                       json={"version": 9}, headers=h)).status
                return out
            finally:
                await client.close()

    out = run(main())
    [problem] = [p for p in out["check"]["problems"] if p["severity"] == "error"]
    assert out["check"]["ok"] is False
    assert problem["file"] == "vaxel.yaml" and problem["line"] == vaxeln_threshold_line()
    assert "soon" in problem["message"]
    status, body = out["broken"]
    assert status == 400 and body["problems"][0]["line"] == vaxeln_threshold_line()
    assert out["after broken"] == (1, True)  # the old configuration runs; the file unchanged
    assert out["good check"]["ok"] is True
    assert any("Växeln och kundtjänst" in c for c in out["good check"]["changes"])
    assert out["activated"]["version"] == 2
    assert out["name now"] == "Växeln och kundtjänst"
    assert out["versions"] == [(2, True, True), (1, False, True)]
    assert out["rollback"]["version"] == 3
    assert out["name after"] == "Växeln" and out["folder after"]
    assert out["bad name"] == 400 and out["no version"] == 404


def test_the_audit_log_is_read_from_the_call_log(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"

    async def main() -> tuple[list[dict[str, Any]], int]:
        async with World(with_users(tmp_path), store=url) as w:
            client = await _client(w, Clock())
            try:
                await client.post("/api/crisis", json={"on": True}, headers=bearer("sara"))
                await w.centre.store.flush()
                data = await (await client.get("/api/audit", headers=bearer("admin"))).json()
                db = await Database.open(url)
                try:
                    rows = await db.rows(schema.audit)
                finally:
                    await db.close()
                return data["lines"], len(rows)
            finally:
                await client.close()

    lines, stored = run(main())
    assert lines[0]["who"] == "sara" and lines[0]["action"] == "crisis"
    assert len(lines) == stored


def test_the_manual_overflow_switch_sends_a_group_s_callers_on(tmp_path: Path) -> None:
    folder = with_users(tmp_path, ("      - {when: crisis, to: partner}\n",
                                   "      - {when: crisis, to: partner}\n"
                                   "      - {when: manual, to: partner}\n"))

    async def main() -> tuple[list[int], list[ev.Event]]:
        async with World(folder) as w:
            client = await _client(w, Clock())
            try:
                h = bearer("sara")
                statuses = [(await client.post(f"/api/groups/{g}/overflow", json=body,
                                               headers=h)).status
                            for g, body in (("bygglov", {"on": True}), ("vaxeln", {"on": 1}),
                                            ("nope", {"on": True}), ("vaxeln", {"on": True}))]
                view = await (await client.get("/api/views/supervisor", headers=h)).json()
                row = next(g for g in view["groups"] if g["id"] == "vaxeln")
                assert (row["overflow"], row["can_overflow"]) == (True, True)
                w.ctl.agent_login("anna")
                caller = Caller("2001", "0701112233", keys=((3.0, "0"),))
                caller.dial(w.pbx)
                await w.until(lambda: any(isinstance(e, ev.Overflowed) for e in w.events))
                return statuses, w.events
            finally:
                await client.close()

    statuses, events = run(main())
    assert statuses == [400, 400, 404, 200]  # bygglov has no manual rule
    [moved] = [e for e in events if isinstance(e, ev.Overflowed)]
    assert moved.target == "partner" and "manual" in moved.rule


def test_the_pages_speak_swedish_and_english_on_the_switch(tmp_path: Path) -> None:
    async def main() -> tuple[str, str, str]:
        async with World(with_users(tmp_path)) as w:
            client = await _client(w, Clock())
            try:
                await login(client, "sara")
                swedish = await (await client.get("/wallboard")).text()
                switched = await client.get("/wallboard?lang=en", allow_redirects=False)
                assert switched.status == 303 and switched.headers["Location"] == "/wallboard"
                english = await (await client.get("/wallboard")).text()
                forbidden = await client.get("/admin")
                return swedish, english, f"{forbidden.status} {await forbidden.text()}"
            finally:
                await client.close()

    swedish, english, forbidden = run(main())
    assert '<html lang="sv">' in swedish and "Längsta väntan" in swedish
    assert '<html lang="en">' in english and "Longest wait" in english
    assert forbidden.startswith("403") and "This page needs the admin role." in forbidden


def test_the_supervisor_opens_the_day_s_report_from_the_call_log(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"

    async def main() -> tuple[int, str, str]:
        async with World(with_users(tmp_path), store=url) as w:
            client = await _client(w, Clock())
            try:
                w.ctl.agent_login("anna")
                caller = Caller("2001", "0701112233", keys=((3.0, "0"),))
                caller.dial(w.pbx)
                await w.until(lambda: caller.channel.hungup and not w.ctl.calls)
                resp = await client.get("/report", headers=bearer("sara"))
                bad = await client.get("/report?day=igår", headers=bearer("sara"))
                return resp.status, await resp.text(), (await bad.json())["error"]
            finally:
                await client.close()

    status, html, bad = run(main())
    assert status == 200 and html.startswith("<!DOCTYPE html>")
    assert "0 → vaxeln" in html and html.count('role="img"') == 5
    assert "a date such as" in bad


def test_wallboard_alarms_are_events_too(tmp_path: Path) -> None:
    async def main() -> list[tuple[str, str, bool]]:
        async with World(with_users(tmp_path)) as w:
            client = await _client(w, Clock())
            try:
                await w.until(lambda: any(isinstance(e, ev.Alarm) for e in w.events))
                w.ctl.agent_login("anna")
                await w.until(lambda: any(isinstance(e, ev.Alarm) and not e.on
                                          for e in w.events))
                return [(e.group, e.kind, e.on) for e in w.events if isinstance(e, ev.Alarm)]
            finally:
                await client.close()

    alarms = run(main())
    assert ("vaxeln", "no_agents", True) in alarms
    assert alarms.index(("vaxeln", "no_agents", True)) < alarms.index(
        ("vaxeln", "no_agents", False))
    assert ("bygglov", "no_agents", False) not in alarms  # still nobody there


def test_a_live_stream_ends_when_its_session_does(tmp_path: Path) -> None:
    clock = Clock()

    async def main() -> tuple[int, int]:
        async with World(with_users(tmp_path, append="web:\n  session: 30m\n")) as w:
            client = await _client(w, clock)
            try:
                await login(client, "sara")
                resp = await client.get("/api/live/wallboard")
                messages = 0
                async for line in resp.content:  # ends when the server closes the stream
                    messages += line.startswith(b"data: ")
                    if messages == 1:
                        clock.now += 31 * 60  # a screen watched, nobody using the session
                after = await client.get("/api/live/wallboard")
                return messages, after.status
            finally:
                await client.close()

    messages, after = run(main())
    assert messages >= 1 and after == 401


def test_an_agent_chooses_the_groups_she_serves_and_a_reload_keeps_it(tmp_path: Path) -> None:
    folder = with_users(tmp_path)

    async def main() -> dict[str, Any]:
        async with World(folder) as w:
            client = await _client(w, Clock())
            out: dict[str, Any] = {}
            try:
                h = bearer("anna")
                post = "/api/agents/anna/groups"
                out["refused"] = [
                    (await client.post(post, json={"groups": []}, headers=h)).status,
                    (await client.post(post, json={"groups": ["bygglov"]}, headers=h)).status,
                    (await client.post("/api/agents/bo/groups", json={"groups": ["miljo"]},
                                       headers=h)).status]
                resp = await client.post(post, json={"groups": ["barn-och-utbildning"]},
                                         headers=h)
                out["chosen"] = await resp.json()
                w.ctl.agent_login("anna")
                caller = Caller("2001", "0701112233", keys=((3.0, "0"),))  # växeln
                caller.dial(w.pbx)
                await w.until(lambda: any(isinstance(e, ev.Queued) for e in w.events))
                await asyncio.sleep(10)
                out["while out of växeln"] = w.ctl.router.agents["anna"].state
                text = (folder / "vaxel.yaml").read_text()
                (folder / "vaxel.yaml").write_text(text.replace("name: Växeln", "name: Växel"))
                resp = await client.post("/api/reload", headers=bearer("admin"))
                assert (await resp.json())["version"] == 2
                out["after reload"] = sorted(w.ctl.router.agents["anna"].memberships)
                view = await (await client.get("/api/views/agent", headers=h)).json()
                out["view"] = [(g["id"], g["serving"]) for g in view["groups"]]
                await client.post(post, json={"groups": ["vaxeln", "barn-och-utbildning"]},
                                  headers=h)
                await w.until(lambda: any(isinstance(e, ev.Connected) for e in w.events))
                caller.hang_up(w.pbx)
                return out
            finally:
                await client.close()

    out = run(main())
    assert out["refused"] == [400, 400, 403]
    assert out["chosen"] == {"agent": "anna", "groups": ["barn-och-utbildning"]}
    assert out["while out of växeln"] is AgentState.READY  # the växeln caller waits
    assert out["after reload"] == ["barn-och-utbildning"]
    assert out["view"] == [("vaxeln", False), ("barn-och-utbildning", True)]


def test_a_callback_in_the_agent_panel_and_the_supervisor_s_list(tmp_path: Path) -> None:
    """The agent called first sees whom to call back and why; the supervisor sees the requests
    waiting, puts one first and cancels another (an agent may not); each is audited."""
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    confirm = ((3.0, "3"), (6.0, "2"), (9.0, "1"), (13.0, "1"))

    async def main() -> dict[str, Any]:
        async with World(with_users(tmp_path), store=url) as w:
            client = await _client(w, Clock())
            out: dict[str, Any] = {}
            try:
                w.operator_trunk(talk=30.0)
                ids = []
                for n, number in enumerate(("0701110001", "0701110002", "0701110003")):
                    caller = Caller(f"200{n}", number, keys=confirm)
                    caller.dial(w.pbx)
                    await w.until(lambda c=caller: c.channel is not None and c.channel.hungup)
                    ids.append(f"vx-{caller.channel.uniqueid}")
                await w.centre.store.flush()
                listed = await (await client.get("/api/callbacks", headers=bearer("sara"))).json()
                out["listed"] = [(c["id"], c["position"], c["caller"]) for c in listed["callbacks"]]
                out["agent may"] = (await client.get("/api/callbacks",
                                                     headers=bearer("anna"))).status
                out["agent cancels"] = (await client.post(f"/api/callbacks/{ids[0]}/cancel",
                                                          headers=bearer("anna"))).status
                out["first"] = (await client.post(f"/api/callbacks/{ids[2]}/first",
                                                  headers=bearer("sara"))).status
                out["cancel"] = (await client.post(f"/api/callbacks/{ids[1]}/cancel",
                                                   headers=bearer("sara"))).status
                out["again"] = (await client.post(f"/api/callbacks/{ids[1]}/cancel",
                                                  headers=bearer("sara"))).status
                view = await (await client.get("/api/views/supervisor",
                                               headers=bearer("sara"))).json()
                out["view"] = [(c["id"], c["position"]) for c in view["callbacks"]]
                w.phones["cecilia"].talk = None
                w.phones["cecilia"].answer_after = 1.0
                w.ctl.agent_login("cecilia")
                await w.until(lambda: w.ctl.desk.requests[ids[2]].phase.value == "dialling")
                panel = await (await client.get("/api/views/agent?agent=cecilia",
                                                headers=bearer("sara"))).json()
                out["panel"] = panel["call"]
                out["history"] = await (await client.get(
                    f"/api/calls/{ids[2]}/history", headers=bearer("sara"))).json()
                out["audit"] = [(e.who, e.action, e.detail) for e in w.events
                                if isinstance(e, ev.Audited) and "callback" in e.action]
                out["ids"] = ids
                return out
            finally:
                await client.close()

    out = run(main())
    ids = out["ids"]
    assert out["listed"] == [(ids[0], 1, "070 111 00 01"), (ids[1], 2, "070 111 00 02"),
                             (ids[2], 3, "070 111 00 03")]
    assert out["agent may"] == out["agent cancels"] == 403
    assert (out["first"], out["cancel"], out["again"]) == (200, 200, 404)
    assert out["view"] == [(ids[2], 1), (ids[0], 2)]
    panel = out["panel"]
    assert (panel["id"], panel["callback"], panel["caller"], panel["phase"]) == (
        ids[2], True, "070 111 00 03", "dialling")
    assert panel["group_name"] == "Socialtjänst och äldreomsorg" and panel["script"]
    assert panel["path"] == "huvudmeny 3 → socialtjanst 2 → Socialtjänst och äldreomsorg"
    [booked] = out["history"]["contacts"]  # the call that asked for it
    assert (booked["call_id"], booked["outcome"]) == (ids[2], "callback")
    assert ("sara", "callback_first", ids[2]) in out["audit"]
    assert ("sara", "callback_cancel", ids[1]) in out["audit"]


def test_the_directory_is_searched_as_the_agent_types(tmp_path: Path) -> None:
    async def main() -> tuple[list[Any], int, list[Any]]:
        async with World(with_users(tmp_path)) as w:
            client = await _client(w, Clock())
            try:
                found = await (await client.get("/api/directory?q=and",
                                                headers=bearer("anna"))).json()
                unauthorised = (await client.get("/api/directory?q=and")).status
                none = await (await client.get("/api/directory?q=%C3%B6berg%20xyz",
                                               headers=bearer("anna"))).json()
                return found["entries"], unauthorised, none["entries"]
            finally:
                await client.close()

    found, unauthorised, none = run(main())
    assert [e["name"] for e in found] == ["Anna Andersson", "Andreas Åberg"]
    assert found[0] == {"id": "anna-andersson", "name": "Anna Andersson",
                        "number": "0812345101", "department": "Bygg- och miljöförvaltningen",
                        "title": "Bygglovshandläggare", "absence": "tillbaka 14:00",
                        "function": False}
    assert unauthorised == 401 and none == []


def test_a_transfer_through_the_api_is_the_agent_s_own_and_audited(tmp_path: Path) -> None:
    async def main() -> dict[str, Any]:
        async with World(with_users(tmp_path)) as w:
            client = await _client(w, Clock())
            out: dict[str, Any] = {}
            try:
                w.operator_trunk(talk=2.0)
                w.phones["anna"].talk = None
                w.ctl.agent_login("anna")
                ch = Caller("2001", "0701112233", keys=((3.0, "0"),)).dial(w.pbx)
                await w.until(lambda: ch.bridge is not None, seconds=60)
                call = w.ctl.calls.on_channel(ch.name).call_id
                path = f"/api/calls/{call}/transfer"
                out["bo"] = (await client.post(path, json={"to": "directory:sandra-lind"},
                                               headers=bearer("bo"))).status
                out["bad"] = (await client.post(path, json={"to": "number:0900123456"},
                                                headers=bearer("anna"))).status
                resp = await client.post(path, json={"to": "directory:sandra-lind"},
                                         headers=bearer("anna"))
                out["ok"] = (resp.status, await resp.json())
                out["audit"] = [(e.who, e.action, e.detail) for e in w.events
                                if isinstance(e, ev.Audited)
                                and "transfer" in e.action + e.detail]
                return out
            finally:
                await client.close()

    out = run(main())
    assert out["bo"] == 403 and out["bad"] == 409
    assert out["ok"] == (200, {"call": out["ok"][1]["call"], "to": "0812345201",
                               "name": "Sandra Lind", "department": "Socialförvaltningen"})
    actions = [a for _, a, _ in out["audit"]]
    assert actions == ["refused", "transfer refused", "transfer"]
