"""The API's OpenAPI 3.1 document, served at /api/openapi.json: made from web/app.py's route
table, so a route cannot be served without being described (tests/test_web_api.py checks real
answers against the schemas)."""

from __future__ import annotations

import re
from typing import Any

from web.api import SCHEMAS

VERSION = "0.1.0"


def document() -> dict[str, Any]:
    from web.app import ROUTES

    paths: dict[str, dict[str, Any]] = {}
    for r in ROUTES:
        if r.page:
            continue
        op: dict[str, Any] = {
            "summary": r.summary,
            "operationId": _operation_id(r.method, r.path),
            "responses": _responses(r.answer, r.role, r.path),
        }
        params = re.findall(r"{(\w+)}", r.path)
        if params:
            op["parameters"] = [{"name": p, "in": "path", "required": True,
                                 "schema": {"type": "string"}} for p in params]
        if r.role is None:
            op["security"] = []
        else:
            op["x-vaxel-role"] = r.role
        if r.body is not None:
            op["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": r.body}}}
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "vaxel", "version": VERSION,
                 "description": "The contact centre's API: the pages use it, and so do `vaxel "
                                "agent` and `vaxel status` (with an API token). Roles rank "
                                "agent < supervisor < admin (x-vaxel-role: the least that "
                                "may). A session's state-changing requests carry its CSRF "
                                "token in X-CSRF-Token."},
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "vaxel_session"},
                "token": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {**SCHEMAS, "error": {
                "type": "object", "required": ["error"],
                "properties": {"error": {"type": "string"}}}},
        },
        "security": [{"session": []}, {"token": []}],
        "paths": paths,
    }


def _operation_id(method: str, path: str) -> str:
    words = [w.strip("{}") for w in path.strip("/").split("/") if w and w != "api"]
    return method.lower() + "".join(w.replace(".", "_").title().replace("_", "")
                                    for w in words or ["root"])


def _responses(answer: dict[str, Any] | None, role: str | None, path: str) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": {"$ref":
                                                         "#/components/schemas/error"}}}}
    ok: dict[str, Any] = {"description": "done"}
    if answer is not None:
        ok["content"] = {"application/json": {"schema": answer}}
    elif path == "/metrics":
        ok["content"] = {"text/plain": {"schema": {"type": "string"}}}
    elif path.startswith("/api/live/"):
        ok["content"] = {"text/event-stream": {"schema": {"type": "string"}}}
    out: dict[str, Any] = {"200": ok}
    if role is not None:
        out["400"] = {"description": "a field is wrong (the error says which)", **error}
        out["401"] = {"description": "not logged in", **error}
        out["403"] = {"description": "not this user's to do, or no CSRF token", **error}
    return out
