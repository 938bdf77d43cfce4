"""What every handler of the web app reaches: the running centre, who asks, the login's state,
and the shapes of an answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from web.auth import Sessions, Throttle, Who

if TYPE_CHECKING:
    from controller.bootstrap import Centre
    from store.database import Database


@dataclass
class Web:
    """The web's own state beside the centre's: the sessions and the login throttle (in
    memory), and the call log opened for reading once it is first needed."""

    sessions: Sessions = field(default_factory=Sessions)
    throttle: Throttle = field(default_factory=Throttle)  # failed logins, per user
    # per address: higher, since one office (or one proxy) is many agents
    address_throttle: Throttle = field(default_factory=lambda: Throttle(limit=30))
    reader: Database | None = None


CENTRE: web.AppKey[Centre] = web.AppKey("centre")
WEB: web.AppKey[Web] = web.AppKey("web")
WHO: web.RequestKey[Who] = web.RequestKey("who")  # the logged-in user


def who(request: web.Request) -> Who:
    return request[WHO]


def refuse(status: int, message: str, **more: Any) -> web.Response:
    return web.json_response({"error": message, **more}, status=status)


def address(request: web.Request) -> str:
    """The browser's address: the peer's, or behind a proxy (`web.proxy`) the one the proxy
    added last to X-Forwarded-For."""
    if request.app[CENTRE].history.active.config.web.proxy:
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        if forwarded:
            return forwarded[:100]
    return request.remote or ""


def audit(request: web.Request, action: str, detail: str) -> None:
    """A line of the audit log: who (the user), what, from which address."""
    user = request.get(WHO)
    request.app[CENTRE].controller.audit(user.user if user is not None else "-", action,
                                         detail, address(request))


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; ValueError (a 400 in the user's words) for anything else."""
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise ValueError("send the request as JSON") from None
    if not isinstance(body, dict):
        raise ValueError("send a JSON object")
    return body


def text_field(body: dict[str, Any], key: str, limit: int, *,
               required: bool = False) -> str | None:
    """A short text from a browser: at most `limit` characters, no control characters (only a
    note's line breaks), so nothing a browser sends reaches an AMI header or a log line raw."""
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise ValueError(f"give {key}")
        return None
    if not isinstance(value, str) or len(value) > limit \
            or any(ord(c) < 32 and c != "\n" for c in value):
        raise ValueError(f"{key}: text of at most {limit} characters")
    return value.strip()


async def reader(request: web.Request) -> Database | None:
    """The call log for reading (None without one, or while it cannot be reached)."""
    from store.database import Database, StoreError

    state, url = request.app[WEB], request.app[CENTRE].store_url
    if url is None:
        return None
    if state.reader is None:
        try:
            state.reader = await Database.open(url, migrate=False)
        except StoreError:
            return None
    return state.reader
