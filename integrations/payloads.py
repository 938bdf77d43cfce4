"""Domain events as the outside world reads them: JSON payloads with a schema version, MQTT topics,
and the caller's number as each target may see it (docs/events.md, docs/asyncapi.yaml).

A wallboard needs no phone numbers: per target, the caller's number goes out in full, as a
pseudonym (HMAC-SHA256 of the number under the target's key: the same caller is the same
pseudonym for that target, and cannot be linked across targets), or not at all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from typing import Any, Literal

from controller import events as ev

SCHEMA_VERSION = 1
Callers = Literal["full", "pseudonym", "none"]

# Events of the centre as a whole, under vaxel/<site>/centre/<event>.
CENTRE_EVENTS = (ev.ConfigurationActivated, ev.CrisisSwitched, ev.OpeningChanged,
                 ev.OverloadChanged, ev.LinkUp, ev.LinkDown, ev.Audited, ev.Alarm)
# Events that are alarms too (vaxel/<site>/alarms): a supervisor acts on them.
ALARMS = (ev.OverloadChanged, ev.LinkDown, ev.LinkUp, ev.CrisisSwitched, ev.Alarm)


def caller_as(number: str, callers: Callers, key: bytes) -> str | None:
    if callers == "full" or not number:
        return number
    if callers == "none":
        return None
    return "p-" + hmac.new(key, number.encode(), hashlib.sha256).hexdigest()[:20]


def payload(event: ev.Event, site: str, seq: int, callers: Callers, key: bytes
            ) -> dict[str, Any]:
    """The event's fields, with `schema`, `event` (its name), `site` and `seq` (this
    controller's running number: a gap is a loss, a repeat a redelivery)."""
    body: dict[str, Any] = {"schema": SCHEMA_VERSION, "event": type(event).__name__,
                            "site": site, "seq": seq}
    for f in dataclasses.fields(event):
        body[f.name] = getattr(event, f.name)
    if isinstance(event, ev.CallArrived | ev.CallbackRequested):
        body["caller"] = caller_as(event.caller, callers, key)
    elif isinstance(event, ev.WrappedUp) and callers != "full":
        body["note"] = None  # free text may name the citizen: only where numbers go too
    return body


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def topic(event: ev.Event, site: str) -> str:
    """Where an event goes on MQTT: per call (a callback is a phase of its call), per
    agent, or the centre's."""
    name = type(event).__name__
    if isinstance(event, ev.CallEvent | ev.CallbackEvent):
        return f"vaxel/{site}/calls/{event.call_id}/{name}"
    if isinstance(event, ev.AgentChanged | ev.WrapUpStarted | ev.AgentPhone):
        return f"vaxel/{site}/agents/{event.agent}/{name}"
    return f"vaxel/{site}/centre/{name}"
