"""docs/asyncapi.yaml, made from the events themselves (controller/events.py), so the document
cannot drift from what is published: `python -m integrations.asyncapi > docs/asyncapi.yaml`.
tests/test_asyncapi.py checks the committed file is this one, and validates real payloads
against its schemas."""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from typing import Any

import yaml

from controller import events as ev
from integrations.payloads import ALARMS, CENTRE_EVENTS, SCHEMA_VERSION

AGENT_EVENTS = (ev.AgentChanged, ev.WrapUpStarted, ev.AgentPhone)


def event_classes() -> list[type[ev.Event]]:
    """Every concrete event, in the order controller/events.py defines them."""
    bases = (ev.Event, ev.CallEvent, ev.CallbackEvent)
    return [c for c in vars(ev).values() if isinstance(c, type) and issubclass(c, ev.Event)
            and c not in bases]


def _schema_of(hint: Any) -> dict[str, Any]:
    if hint is float:
        return {"type": "number"}
    if hint is int:
        return {"type": "integer"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is str:
        return {"type": "string"}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in args if a is not type(None)]
        assert len(inner) == 1, hint
        one = _schema_of(inner[0])
        return {"type": [one["type"], "null"]}
    if origin is tuple:
        return {"type": "array", "items": _schema_of(args[0])}
    raise TypeError(f"no JSON schema for {hint!r}")


def payload_schema(cls: type[ev.Event]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {
        "schema": {"const": SCHEMA_VERSION}, "event": {"const": cls.__name__},
        "site": {"type": "string"},
        "seq": {"type": "integer", "description": "the publisher's running number: a gap is "
                "a loss, a repeat a redelivery"}}
    for f in dataclasses.fields(cls):
        properties[f.name] = _schema_of(hints[f.name])
    if cls is ev.CallArrived:  # per target: the number, a pseudonym, or nothing
        properties["caller"] = {"type": ["string", "null"]}
    if cls is ev.WrappedUp:  # the note only where numbers go in full
        properties["note"] = {"type": ["string", "null"]}
    return {"type": "object", "required": list(properties), "properties": properties,
            "additionalProperties": False}


GROUP_LINE = {"type": "object", "additionalProperties": False,
              "required": ["schema", "site", "group", "waiting", "logged_in", "ready",
                           "serving", "opening"],
              "properties": {"schema": {"const": SCHEMA_VERSION}, "site": {"type": "string"},
                             "group": {"type": "string"}, "waiting": {"type": "integer"},
                             "logged_in": {"type": "integer"}, "ready": {"type": "integer"},
                             "serving": {"type": "integer"},
                             "opening": {"enum": ["open", "closed", "forced_open",
                                                  "forced_closed"]}}}


def _refs(classes: typing.Iterable[type[ev.Event]]) -> dict[str, Any]:
    return {c.__name__: {"$ref": f"#/components/messages/{c.__name__}"} for c in classes}


def document() -> dict[str, Any]:
    classes = event_classes()
    calls = [c for c in classes if issubclass(c, ev.CallEvent | ev.CallbackEvent)]

    def site() -> dict[str, Any]:  # a new one each time: YAML would write an anchor
        return {"site": {"description": "events.site of the configuration"}}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "vaxel events", "version": str(SCHEMA_VERSION),
                 "description": "The domain events of a vaxel contact centre on MQTT (QoS 1, "
                                "JSON). The same payloads go to the webhooks. "
                                "docs/events.md says what each event means."},
        "channels": {
            "calls": {"address": "vaxel/{site}/calls/{callId}/{event}",
                      "parameters": {**site(), "callId": {}, "event": {}},
                      "messages": _refs(calls)},
            "agentEvents": {"address": "vaxel/{site}/agents/{agent}/{event}",
                            "parameters": {**site(), "agent": {}, "event": {}},
                            "messages": _refs(AGENT_EVENTS)},
            "agentState": {"address": "vaxel/{site}/agents/{agent}",
                           "description": "retained: the agent's last AgentChanged",
                           "parameters": {**site(), "agent": {}},
                           "messages": _refs([ev.AgentChanged])},
            "groupState": {"address": "vaxel/{site}/groups/{group}",
                           "description": "retained: the group's line, when it changes",
                           "parameters": {**site(), "group": {}},
                           "messages": {"GroupLine": {
                               "$ref": "#/components/messages/GroupLine"}}},
            "centre": {"address": "vaxel/{site}/centre/{event}",
                       "parameters": {**site(), "event": {}},
                       "messages": _refs(CENTRE_EVENTS)},
            "alarms": {"address": "vaxel/{site}/alarms",
                       "description": "what a supervisor acts on (also under centre/)",
                       "parameters": site(), "messages": _refs(ALARMS)},
            "status": {"address": "vaxel/{site}/status",
                       "description": "retained: online while the controller runs; offline "
                                      "when it stops, or (the will) when it dies",
                       "parameters": site(),
                       "messages": {"Status": {"$ref": "#/components/messages/Status"}}},
        },
        "operations": {
            f"publish{name[0].upper()}{name[1:]}": {
                "action": "send", "channel": {"$ref": f"#/channels/{name}"}}
            for name in ("calls", "agentEvents", "agentState", "groupState", "centre",
                         "alarms", "status")},
        "components": {
            "messages": {
                **{c.__name__: {"name": c.__name__, "contentType": "application/json",
                                "payload": {"$ref": f"#/components/schemas/{c.__name__}"}}
                   for c in classes},
                "GroupLine": {"name": "GroupLine", "contentType": "application/json",
                              "payload": {"$ref": "#/components/schemas/GroupLine"}},
                "Status": {"name": "Status", "contentType": "text/plain",
                           "payload": {"type": "string", "enum": ["online", "offline"]}}},
            "schemas": {**{c.__name__: payload_schema(c) for c in classes},
                        "GroupLine": GROUP_LINE},
        },
    }


def dump() -> str:
    text: str = yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=100)
    return "# Made by `python -m integrations.asyncapi` from controller/events.py: do not edit.\n" \
        + text


if __name__ == "__main__":
    sys.stdout.write(dump())
